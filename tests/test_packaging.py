"""What the wheel ships and declares: everything the package imports, and no test fixtures."""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    [built] = out.glob("airflow_provider_human-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_ships_the_fake_api_but_no_test_fixtures(wheel):
    names = set(wheel.namelist())
    assert "airflow_provider_human/testing/fake_api.py" in names  # a documented public testing utility
    assert not [n for n in names if "local_airflow" in n or "demo_cases" in n or n.startswith("tests/")]


def test_the_wheel_ships_the_ledger_migrations(wheel):
    """Alembic runs them from the installed package: every revision file must be in the wheel."""
    names = set(wheel.namelist())
    shipped = sorted(
        n for n in names if n.startswith("airflow_provider_human/reconciliation/ledger/migrations/versions/")
    )
    assert [n.rsplit("/", 1)[1] for n in shipped if n.endswith(".py")] == [
        "rev_0001_base.py",
        "rev_0002_rejects_by_interval.py",
        "rev_0003_rate_budget.py",
        "rev_0004_day_index.py",
    ]


def test_the_wheel_ships_the_ui_pages_and_declares_the_plugin_entry_point(wheel):
    """Airflow loads provider plugins from the airflow.plugins entry point by default (lazily discovered providers)."""
    names = set(wheel.namelist())
    assert {f"airflow_provider_human/ui/templates/{t}.html" for t in ("base", "overview", "day")} <= names
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "[airflow.plugins]\nhuman = airflow_provider_human.ui.plugin:HumanUIPlugin" in text


def test_every_third_party_package_the_code_imports_is_declared(wheel):
    [metadata] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    message = email.message_from_bytes(wheel.read(metadata))
    required = {r.split(";")[0].split(">")[0].split("=")[0].split("[")[0].strip().lower()
                for r in message.get_all("Requires-Dist") if "extra ==" not in r}  # fmt: skip
    for needed in ("apache-airflow", "apache-airflow-providers-common-sql", "apache-airflow-providers-standard",
                   "requests", "urllib3", "pendulum", "pydantic", "sqlalchemy", "tenacity", "alembic",
                   "fastapi", "jinja2"):  # fmt: skip
        assert needed in required, (needed, required)
    assert "apache-airflow-providers-sqlite" not in required  # an extra: no package code imports it


def test_the_wheel_ships_the_license_its_metadata_names(wheel):
    """Issue 26: the metadata said Apache-2.0 and the wheel held no license text."""
    [metadata] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    message = email.message_from_bytes(wheel.read(metadata))
    assert message["License-Expression"] == "Apache-2.0"
    [license_file] = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    assert b"Apache License" in wheel.read(license_file) and b"Version 2.0" in wheel.read(license_file)
