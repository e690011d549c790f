"""A task's report served by the api-server, so the UI can draw its link (it drops ``file://`` links).

The task records where it wrote its report (XCom ``human_links``, entry ``report``); this reads
that entry and serves the file only when it lies under the api-server's own reports directory
(``[human] reports_dir`` or ``$AIRFLOW_HOME/reports/human``), so an XCom can never make the page
read another file. A report written on another machine's disk cannot be read here: the answer
says so and names the setting that puts reports on object storage.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from airflow_provider_human.links import LINKS_KEY, REPORT, location_url
from airflow_provider_human.reports_location import reports_base

#: the files a HUMAN task writes as its report or review list
SUFFIXES = (".md", ".json", ".csv", ".txt")


class ReportUnavailable(Exception):
    """No report can be served for this task instance; the message says why (never the file's content)."""


def recorded_report(session: Any, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """Where the task instance's latest try said it wrote its report (a URL)."""
    from airflow.models.xcom import XComModel

    x = XComModel
    query = (
        sa.select(x.value)
        .where(x.dag_id == dag_id, x.run_id == run_id, x.task_id == task_id, x.map_index == map_index,
               x.key == LINKS_KEY)
        .order_by(x.timestamp.desc())
        .limit(1)
    )  # fmt: skip
    value = session.execute(query).scalar_one_or_none()
    links = None if value is None else XComModel.deserialize_value(_Row(value))
    location = links.get(REPORT) if isinstance(links, dict) else None
    if not location:
        raise ReportUnavailable("This task instance recorded no report.")
    return str(location)


def read_report(location: str) -> str:
    """The report's text, when ``location`` is a report file under this api-server's reports directory."""
    from airflow.sdk import ObjectStoragePath

    base = reports_base()
    base_url = location_url(base).rstrip("/")
    if not location.startswith(base_url + "/") or ".." in location[len(base_url) :].split("/"):
        raise ReportUnavailable(
            f"The report was written to {location}, outside this api-server's reports directory ({base_url}): "
            "set [human] reports_dir to the same place on every machine (object storage for several workers)."
        )
    if not location.endswith(SUFFIXES):
        raise ReportUnavailable(f"{location} is not a report file.")
    target = base.rstrip("/") + location[len(base_url) :]  # the configured base keeps its conn_id@ for reading
    try:
        with ObjectStoragePath(target).open("r", encoding="utf-8") as handle:
            return handle.read()
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise ReportUnavailable(
            f"The report {location} cannot be read from the api-server ({type(exc).__name__}): a report on a "
            "worker's own disk stays there; set [human] reports_dir to object storage to read it here."
        ) from None


class _Row:
    """What ``XComModel.deserialize_value`` reads: an object with ``value``."""

    def __init__(self, value: Any) -> None:
        self.value = value
