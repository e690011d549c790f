"""Extra links on HUMAN tasks: the HUMAN console, the day's HUMAN page in Airflow, the report file.

A task records its addresses while it runs (XCom ``human_links``, a small dict of URLs, never
a token); each link reads its entry, as Airflow's own links read theirs. The Task SDK calls
``get_link`` on the worker when the try ends and stores the result for the UI, so a try that
failed still links what it knew (the console and the day from its start, the report once written).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseOperatorLink

LINKS_KEY = "human_links"
CONSOLE = "console"
DAY = "day"
REPORT = "report"


class _RecordedLink(BaseOperatorLink):
    entry: ClassVar[str]

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        links = XCom.get_value(ti_key=ti_key, key=LINKS_KEY)
        return str(links.get(self.entry) or "") if isinstance(links, dict) else ""


class HumanConsoleLink(_RecordedLink):
    """The HUMAN console of the task's connection (extra ``console_url``)."""

    name = "HUMAN console"
    entry = CONSOLE


class HumanDayPageLink(_RecordedLink):
    """The HUMAN page of the day the task reconciled, checked or reviewed (the overview for several days)."""

    name = "HUMAN day page"
    entry = DAY


class HumanReportLink(_RecordedLink):
    """The try's report (Markdown) or review list, served by the HUMAN page: Airflow's UI draws no
    ``file://`` link, and a worker's disk is not the browser's (``ui/reports.py`` serves what it may read)."""

    name = "HUMAN report"
    entry = REPORT

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if not super().get_link(operator, ti_key=ti_key):
            return ""
        from airflow_provider_human.ui_links import report_page_url

        return report_page_url(ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.map_index)


def record_links(operator: Any, context: Any, **urls: str | None) -> None:
    """Add ``urls`` to what the task instance links (kept on the operator, pushed whole each time)."""
    ti = context.get("ti") if context else None
    known: dict[str, str] = operator.__dict__.setdefault("_human_links", {})
    known.update({k: v for k, v in urls.items() if v})
    if ti is not None and hasattr(ti, "xcom_push"):
        ti.xcom_push(key=LINKS_KEY, value=dict(known))


def location_url(location: str) -> str:
    """A report's location as a URL: ``file:///abs/path`` for a path; a ``conn_id@`` in an object URL dropped."""
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_human.assets import file_uri

    text = location if "://" in location else f"file://{location}"
    return file_uri(ObjectStoragePath(text))
