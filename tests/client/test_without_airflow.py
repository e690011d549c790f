"""The client is plain Python: it works in an interpreter where Airflow cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_client_runs_with_airflow_unimportable(fake_api, token):
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["airflow"] = None  # any "import airflow..." now raises ImportError
        from airflow_provider_human.client import HumanClient, ClientSettings, HumanAPIError
        client = HumanClient(ClientSettings(token={token!r}, base_url={fake_api.url!r}))
        print(client.get_account_info_v2("a1").exists)
        print(HumanAPIError.__mro__[-3].__name__)
        print(any(name == "airflow" or name.startswith("airflow.") for name, mod in sys.modules.items() if mod))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "Exception", "False"]


def test_errors_are_airflow_exceptions_when_airflow_is_installed():
    from airflow.sdk.exceptions import AirflowException

    from airflow_provider_human.client import HumanAPIError, HumanInputError

    assert issubclass(HumanAPIError, AirflowException) and issubclass(HumanInputError, ValueError)
