"""The FastAPI app the api-server mounts at ``/human``: the overview, a day's page, and the same as JSON.

Routes (the contract other parts of the provider link to, docs/ui.md):

- ``/`` and ``/ledger/{ledger_conn_id}/days/{YYYY-MM-DD}``: server-rendered pages (Jinja2);
- ``/api/ledger/{ledger_conn_id}/days`` and ``/api/ledger/{ledger_conn_id}/days/{YYYY-MM-DD}``: JSON;
- ``/report/{dag_id}/{run_id}/{task_id}?map_index=N``: a task's report, for its extra link (:mod:`.reports`).

Only the ledger connections of ``[human] ui_ledger_conn_ids`` are read (any other id is a
404, so the page never opens a connection a user names), each through
:mod:`.ledger_access`, read-only.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import sqlalchemy as sa
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import get_user, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.templating import Jinja2Templates

from airflow_provider_human.exceptions import HumanInputError
from airflow_provider_human.ui import links
from airflow_provider_human.ui.access import Reader
from airflow_provider_human.ui.airflow_records import DayRun, OpenReview, day_runs, open_review
from airflow_provider_human.ui.day_detail import ReviewRow, RunRef, review_rows
from airflow_provider_human.ui.figures import DAYS_SHOWN, DayFigures, day_bounds, ledger_days, one_day, recent_days
from airflow_provider_human.ui.ledger_access import LedgerTables, read_only_engine
from airflow_provider_human.ui.reports import ReportUnavailable, read_report, recorded_report
from airflow_provider_human.ui.settings import REVIEW_DAG, ledger_conn_ids, reader_dag_id
from airflow_provider_human.ui_links_review import open_review_url

log = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
TABLES = LedgerTables()
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#017cee" stroke-width="2" '
    'stroke-linecap="round" stroke-linejoin="round"><path d="M12 2l8 4v6c0 5-3.5 8.5-8 10-4.5-1.5-8-5-8-10V6z"/>'
    '<path d="M9 12l2 2 4-4"/></svg>'
)


class LedgerUnavailable(Exception):
    """The ledger could not be read; the message is safe to show (no connection details)."""


def _conn_id(ledger_conn_id: str) -> str:
    if ledger_conn_id not in ledger_conn_ids():
        raise HTTPException(404, f"{ledger_conn_id!r} is not in [human] ui_ledger_conn_ids")
    return ledger_conn_id


def _day(text: str) -> date:
    try:
        if len(text) != 10:  # fromisoformat also takes 20261118
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(404, "a day is YYYY-MM-DD") from None


def _read(conn_id: str, reader: Any) -> Any:
    """``reader(connection)`` on the ledger, read-only; a missing ledger reads as empty."""
    try:
        engine = read_only_engine(conn_id)
        with engine.connect() as conn:
            try:
                return reader(conn)
            except sa.exc.DBAPIError:
                conn.rollback()  # PostgreSQL: the failed statement aborted the transaction
                if not sa.inspect(conn).has_table(TABLES.table.name):
                    return None
                raise
    except HumanInputError as exc:
        raise LedgerUnavailable(str(exc)) from exc
    except Exception as exc:
        log.warning("The HUMAN page could not read ledger %s", conn_id, exc_info=True)
        raise LedgerUnavailable(
            f"Could not read ledger {conn_id!r} ({type(exc).__name__}); see the api-server log."
        ) from exc


def _owner_links(owner: str) -> dict[str, Any]:
    """An item's holder as links: its run's page and its task's page (none for an owner outside Airflow)."""
    parts = RunRef(owner).parts
    if parts is None:
        return {"run_link": None, "task_link": None}
    dag, run, task, index = parts
    return {"dag_id": dag, "run_id": run, "task_id": task, "map_index": index, "run_link": links.run_page(dag, run),
            "task_link": links.task_page(dag, run, task, index)}  # fmt: skip


def _runs(runs: list[DayRun]) -> list[dict[str, Any]]:
    return [{**run.__dict__, "link": links.run_page(run.dag_id, run.run_id)} for run in runs]


def _review_link(review: OpenReview | None) -> str | None:
    return links.task_page(review.dag_id, review.run_id, review.task_id, str(review.map_index)) if review else None


def _page_of_days(conn_id: str, limit: int, before: date | None) -> tuple[list[DayFigures], date | None]:
    """The newest ``limit`` days of a ledger before ``before``, and the day the next page starts at."""

    def read(conn: sa.Connection) -> tuple[list[DayFigures], date | None]:
        shown, older = recent_days(conn, TABLES, limit, before)
        if not shown:
            return [], None
        bounds = (shown[-1].isoformat(), day_bounds(shown[0])[1])
        return ledger_days(conn, TABLES, bounds), older

    return _read(conn_id, read) or ([], None)


def _overview(conn_ids: list[str], before: date | None) -> list[dict[str, Any]]:
    ledgers = []
    for conn_id in conn_ids:
        try:
            days, older = _page_of_days(conn_id, DAYS_SHOWN, before)
            ledgers.append({"conn_id": conn_id, "days": days, "older": older, "error": None})
        except LedgerUnavailable as exc:
            ledgers.append({"conn_id": conn_id, "days": [], "older": None, "error": str(exc)})
    return ledgers


def _before(text: str | None) -> date | None:
    return None if not text else _day(text)


def _day_view(conn_id: str, day: date, session: Any) -> dict[str, Any]:
    """The day's figures and items (the ledger) and its runs of ``[human] ui_dag_id`` (Airflow's database)."""
    bounds = day_bounds(day)

    def read(conn: sa.Connection) -> tuple[DayFigures, list[ReviewRow]]:
        return one_day(conn, TABLES, day), review_rows(conn, TABLES, bounds)

    found = _read(conn_id, read)
    figures, items = found if found else (DayFigures(day.isoformat()), [])
    listed = [{**item.as_json(), **_owner_links(item.owner)} for item in items]
    return {"figures": figures, "runs": _runs(day_runs(session, reader_dag_id(), day)), "items": listed}


def create_app() -> FastAPI:
    app = FastAPI(title="HUMAN Account Defender", docs_url=None, redoc_url=None, openapi_url=None)

    def home(request: Request) -> str:
        """This app's path (``<root path>/human/``): asked of the router once per page, not once per link
        (Starlette searches every route of Airflow's app for each ``url_for``)."""
        return request.url_for("overview").path

    @app.get("/", response_class=HTMLResponse, name="overview")
    def overview(request: Request, _user: Reader, session: SessionDep, before: str | None = None) -> Response:
        review = open_review(session, REVIEW_DAG)
        return TEMPLATES.TemplateResponse(request, "overview.html", {
            "ledgers": _overview(ledger_conn_ids(), _before(before)), "review": review,
            "review_link": _review_link(review), "overview_url": (base := home(request)),
            "required_actions": links.required_actions_page(),
            "day_url": lambda conn_id, day: f"{base}ledger/{quote(conn_id, safe='')}/days/{day}",
            "day_after": lambda day: day_bounds(day)[1],
        })  # fmt: skip

    @app.get("/ledger/{ledger_conn_id}/days/{day}", response_class=HTMLResponse, name="day_page")
    def day_page(request: Request, ledger_conn_id: str, day: str, _user: Reader, session: SessionDep) -> Response:
        conn_id, moment = _conn_id(ledger_conn_id), _day(day)
        review = open_review(session, REVIEW_DAG)
        context: dict[str, Any] = {
            "conn_id": conn_id, "day": moment.isoformat(), "review": review, "review_link": _review_link(review),
            "day_review_link": open_review_url(conn_id, moment, session=session),
            "review_dag": REVIEW_DAG, "dag_id": reader_dag_id(), "required_actions": links.required_actions_page(),
            "overview_url": home(request), "error": None,
        }  # fmt: skip
        try:
            view = _day_view(conn_id, moment, session)
            context.update(f=view["figures"], runs=view["runs"], items=view["items"])
        except LedgerUnavailable as exc:
            context.update(f=DayFigures(moment.isoformat()), runs=[], items=[], error=str(exc))
        return TEMPLATES.TemplateResponse(request, "day.html", context)

    @app.get("/api/ledger/{ledger_conn_id}/days")
    def api_days(
        ledger_conn_id: str, _user: Reader, before: str | None = None, limit: int = DAYS_SHOWN
    ) -> dict[str, Any]:
        """The newest ``limit`` days (at most 366) before ``before``; ``next_before`` asks for the older ones."""
        conn_id = _conn_id(ledger_conn_id)
        if not 1 <= limit <= 366:
            raise HTTPException(422, "limit is 1 to 366 days")
        try:
            days, older = _page_of_days(conn_id, limit, _before(before))
        except LedgerUnavailable as exc:
            raise HTTPException(503, str(exc)) from exc
        following = None if older is None else day_bounds(older)[1]
        return {"ledger_conn_id": conn_id, "days": [d.as_json() for d in days], "next_before": following}

    @app.get("/api/ledger/{ledger_conn_id}/days/{day}")
    def api_day(ledger_conn_id: str, day: str, _user: Reader, session: SessionDep) -> dict[str, Any]:
        conn_id, moment = _conn_id(ledger_conn_id), _day(day)
        try:
            view = _day_view(conn_id, moment, session)
        except LedgerUnavailable as exc:
            raise HTTPException(503, str(exc)) from exc
        review = open_review(session, REVIEW_DAG)
        return {
            "ledger_conn_id": conn_id, **view["figures"].as_json(), "runs": view["runs"],
            "items": view["items"],
            "open_review": None if review is None else {**review.__dict__, "link": _review_link(review)},
            "day_review_link": open_review_url(conn_id, moment, session=session),
            "required_actions": links.required_actions_page(),
        }  # fmt: skip

    @app.get("/report/{dag_id}/{run_id}/{task_id}", name="report")
    def report(
        request: Request,
        dag_id: str,
        run_id: str,
        task_id: str,
        user: Annotated[BaseUser, Depends(get_user)],
        session: SessionDep,
        map_index: int = -1,
    ) -> Response:
        """The task's report as text, for users who may read that DAG's task instances."""
        requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE, param_dag_id=dag_id)(request, user)
        try:
            text = read_report(recorded_report(session, dag_id, run_id, task_id, map_index))
        except ReportUnavailable as exc:
            raise HTTPException(404, str(exc)) from None
        return PlainTextResponse(text, headers={"Content-Disposition": "inline", "X-Content-Type-Options": "nosniff"})

    @app.get("/icon.svg", include_in_schema=False)
    def icon() -> Response:
        return Response(ICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    return app
