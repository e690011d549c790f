"""The ``human://`` scheme as Airflow uses it: registered through provider info, normalized by
Airflow's own ``Asset``, converted by the openlineage provider's translation, and never holding
a token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_human.assets import feedback_asset, human_uri, table_uri
from airflow_provider_human.get_provider_info import get_provider_info
from airflow_provider_human.run_label import run_label


def test_provider_info_validates_against_airflows_schema():
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)
    [entry] = get_provider_info()["asset-uris"]
    assert entry["schemes"] == ["human"]


def test_airflow_registers_the_scheme_and_its_links():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    from airflow_provider_human import assets

    assert ProvidersManagerTaskRuntime().asset_uri_handlers["human"] is assets.sanitize_uri
    assert ProvidersManager().asset_factories["human"] is assets.create_asset
    assert ProvidersManager().asset_to_openlineage_converters["human"] is assets.convert_asset_to_openlineage
    assert {
        "airflow_provider_human.links.HumanConsoleLink",
        "airflow_provider_human.links.HumanDayPageLink",
        "airflow_provider_human.links.HumanReportLink",
    } <= set(ProvidersManager().extra_links_class_names)


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("HUMAN://Console.HumanSecurity.com/feedback/", "human://console.humansecurity.com/feedback"),
        ("human://console.humansecurity.com:443/accounts", "human://console.humansecurity.com/accounts"),
        ("human://127.0.0.1:8765/identities", "human://127.0.0.1:8765/identities"),
        ("human://someone@console.humansecurity.com/feedback", "human://console.humansecurity.com/feedback"),
    ],
)
def test_airflows_asset_normalizes_human_uris(given, normalized):
    from airflow.sdk import Asset

    assert Asset(uri=given).uri == normalized


def test_a_token_in_an_asset_uri_is_dropped_and_bad_uris_are_refused():
    from airflow.sdk import Asset

    with pytest.warns(UserWarning, match="password"):
        assert Asset(uri="human://key:tok-secret@console.humansecurity.com/feedback").uri == (
            "human://console.humansecurity.com/feedback")  # fmt: skip
    for bad in ("human://console.humansecurity.com/api/v1/account_defender", "human:///feedback",
                "human://console.humansecurity.com/feedback?token=x"):  # fmt: skip
        with pytest.raises(ValueError, match="human://"):
            Asset(uri=bad)


def test_feedback_asset_of_a_base_url_keeps_only_the_host():
    asset = feedback_asset("https://user:tok-secret@Console.HumanSecurity.com/some/base/")
    assert asset.uri == asset.name == "human://console.humansecurity.com/feedback"
    assert human_uri("console.humansecurity.com", "accounts") == "human://console.humansecurity.com/accounts"


def test_openlineage_translates_a_human_asset_through_the_registered_converter():
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    dataset = translate_airflow_asset(Asset(uri="human://console.humansecurity.com/feedback"), None)
    assert (dataset.namespace, dataset.name) == ("human://console.humansecurity.com", "feedback")


def test_table_uris_name_host_database_and_table_never_the_password():
    import sqlalchemy as sa

    pg = sa.engine.make_url("postgresql+psycopg2://fraud:pw-secret@db.internal/cases")
    assert table_uri(pg, "case_outcomes") == "postgres://db.internal:5432/cases/public/case_outcomes"
    assert table_uri(pg, "exports.case_outcomes") == "postgres://db.internal:5432/cases/exports/case_outcomes"
    lite = sa.engine.make_url("sqlite:////data/cases.sqlite")
    assert table_uri(lite, "case_outcomes") == "sqlite://localhost/data/cases.sqlite/case_outcomes"


def test_run_label_says_the_interval_the_shard_and_dry_run():
    from datetime import UTC, datetime

    day, next_day = datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC)
    assert run_label(day, next_day) == "cases closed 2026-11-18"
    assert run_label(day, next_day, shard=(2, 4), dry_run=True) == "cases closed 2026-11-18 · shard 2/4 · DRY RUN"
    assert run_label(day, datetime(2026, 11, 18, 6, tzinfo=UTC), shard=(0, 1)) == (
        "cases closed 2026-11-18 00:00 to 2026-11-18 06:00 UTC")  # fmt: skip
