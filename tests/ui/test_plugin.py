"""The plugin is registered where Airflow looks for a provider's plugins, and costs a task process nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from airflow_provider_human.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "airflow_provider_human.ui.plugin.HumanUIPlugin"


def test_the_provider_info_and_the_entry_point_name_the_same_plugin_class():
    [plugin] = get_provider_info()["plugins"]
    assert plugin == {"name": "human", "plugin-class": PLUGIN}
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert entry_points["airflow.plugins"] == {"human": PLUGIN.rsplit(".", 1)[0] + ":HumanUIPlugin"}


def test_airflow_lists_the_plugin_with_its_app_at_human_and_its_navigation_entry(airflow_db):
    env = {**os.environ, "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": "False", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "airflow", "plugins", "-o", "json"], capture_output=True,
                         text=True, check=True, env=env, cwd=ROOT, timeout=300).stdout  # fmt: skip
    [line] = [line for line in out.splitlines() if line.startswith("[{")]
    listing = json.loads(line)
    [human] = [p for p in listing if p["name"] == "human"]
    assert "/human" in str(human["fastapi_apps"]) and "'url_route': 'human'" in str(human["external_views"])


def test_importing_the_plugin_imports_neither_fastapi_nor_the_api_server():
    """Every task process imports entry-point plugins (for their macros): the app is built on first use."""
    code = (
        "import sys; import airflow.plugins_manager; before = set(sys.modules); "
        "import airflow_provider_human.ui.plugin; "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('fastapi', 'starlette', 'jinja2')"
        " or m.startswith(('airflow.api_fastapi', 'airflow_provider_human.reconciliation'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120).stdout  # fmt: skip
    assert out.strip().splitlines()[-1] == "[]"


def test_the_app_is_mounted_at_human_in_airflows_api_server_app(airflow_app):
    from starlette.routing import Mount

    mounts = {r.path: r.app for r in airflow_app.routes if isinstance(r, Mount)}
    from airflow_provider_human.ui.plugin import HumanUIPlugin

    assert mounts["/human"] is HumanUIPlugin.fastapi_apps[0]["app"]
