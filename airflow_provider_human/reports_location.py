"""Where report files go, and writing them there through Airflow's ObjectStoragePath.

A worker's disk goes with its pod (Kubernetes) or machine (Celery), so a deployment can
send every report to object storage once, with ``[human] reports_dir`` in airflow.cfg or
``AIRFLOW__HUMAN__REPORTS_DIR``; an operator's ``reports_dir`` argument wins over it. A URL
``s3://aws_default@bucket/reports`` uses the Airflow connection ``aws_default``
(ObjectStoragePath's ``conn_id@`` form); credentials belong in that connection, never in
the URL.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from airflow_provider_human.exceptions import HumanInputError

CONFIG_SECTION = "human"
CONFIG_KEY = "reports_dir"

#: protocols whose directories must exist before a file is written in them (object stores have none)
_LOCAL_PROTOCOLS = ("", "file", "local")


def default_reports_dir() -> str:
    """``$AIRFLOW_HOME/reports/human``, with ``~`` and variables expanded as Airflow expands its home."""
    home = os.path.expanduser(os.path.expandvars(os.environ.get("AIRFLOW_HOME", "~/airflow")))
    return os.path.join(home, "reports", "human")


def reports_base(explicit: str | None = None) -> str:
    """The operator's ``reports_dir``, else ``[human] reports_dir``, else :func:`default_reports_dir`."""
    for value in (explicit, _configured()):
        if value is not None and str(value).strip():
            return _checked(str(value).strip())
    return default_reports_dir()


def write_text(target: str, text: str) -> str:
    """Write ``text`` to ``target`` (a path or URL); returns ``target`` as given, for logs, XCom and HITL bodies."""
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(target)
    if path.protocol in _LOCAL_PROTOCOLS:
        path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
    return target


def _configured() -> str | None:
    from airflow.sdk import conf

    return conf.get(CONFIG_SECTION, CONFIG_KEY, fallback=None)


def _checked(base: str) -> str:
    if "://" in base and urlsplit(base).password is not None:  # the value itself is not echoed: it holds a secret
        raise HumanInputError(
            "reports_dir", "<redacted>", "has a password in it; put credentials in an Airflow connection and "
            "write scheme://<conn_id>@bucket/path"
        )  # fmt: skip
    return base
