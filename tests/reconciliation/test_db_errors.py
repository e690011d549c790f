"""Database failures a new user meets first name their cause and their fix (issue 26)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_human.docs_links import DOCS_URL
from airflow_provider_human.exceptions import HumanConfigError
from airflow_provider_human.reconciliation.sources import sql_engine


class _ProvidersWithout:
    """Airflow's providers manager as it is on a worker where one database provider is not installed."""

    def __init__(self, real, missing: str) -> None:
        self.hooks = {k: v for k, v in real().hooks.items() if k != missing}


@pytest.mark.parametrize(("conn_type", "extra"), [("sqlite", "sqlite"), ("postgres", "postgres")])
def test_a_missing_database_provider_names_the_extra_to_install(monkeypatch, tmp_path, conn_type, extra):
    import airflow.sdk.definitions.connection as sdk_connection

    real = sdk_connection.ProvidersManagerTaskRuntime
    monkeypatch.setattr(sdk_connection, "ProvidersManagerTaskRuntime", lambda: _ProvidersWithout(real, conn_type))
    conn = {"conn_type": conn_type, "host": str(tmp_path / "cases.db")}
    monkeypatch.setenv("AIRFLOW_CONN_MY_CASES", json.dumps(conn))
    with pytest.raises(HumanConfigError) as caught:
        sql_engine("my_cases")
    message = str(caught.value)
    assert "'my_cases'" in message and f"conn_type '{conn_type}'" in message
    assert f'pip install "airflow-provider-human[{extra}]"' in message
    assert f"{DOCS_URL}/getting-started/#install-the-provider-in-your-airflow" in message
    assert f'Unknown hook type "{conn_type}"' in str(caught.value.__cause__)  # what Airflow itself raised


def test_an_installed_provider_still_gives_an_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_MY_CASES", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "c.db")}))
    assert sql_engine("my_cases").dialect.name == "sqlite"
