"""HumanDayNotifier on a real ledger: the day, the counts and the link; no token, no personal field."""

from __future__ import annotations

import asyncio
import logging

import pytest

from airflow_provider_human.exceptions import HumanConfigError, ReconciliationNeedsAttentionError
from airflow_provider_human.notifications.day import HumanDayNotifier, day_interval
from tests.conftest import TOKEN
from tests.reconciliation.conftest import DAY, NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states

BASE = "https://airflow.example.com"


@pytest.fixture
def failed_day(case_db, fake_api, reconcile, monkeypatch):
    """2026-11-18 with one upload in doubt that no lookup can tell (a person decides) and two sent."""
    case_db.add(outcome("c1", "a1", "suspected_fraud"), outcome("c2", "a2", "confirmed_fraud"),
                outcome("c3", "a3", "legitimate"))  # fmt: skip
    seed_states(fake_api, none=["a1", "a2"], pending=["a3"])
    fake_api.seed_accounts([{"account_id": "a3", "email": "person@example.com", "incidents": [{"attack_type": "ato"}]}])
    fake_api.configure(reset_rate=1.0, fault_kinds=["feedback"])
    with pytest.raises(ReconciliationNeedsAttentionError):
        reconcile()
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", f'{{"conn_type": "sqlite", "host": "{case_db.path}"}}')
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE + "/")
    return case_db


def _says_the_day(text: str) -> None:
    assert "the day 2026-11-18" in text
    assert "1 item waits for a person" in text and "2 sent" in text
    assert "DAG human_case_review on the Required Actions page: https://airflow.example.com/required_actions" in text
    assert "https://airflow.example.com/human/ledger/human_case_db/days/2026-11-18" in text
    assert TOKEN not in text and "@" not in text and "person" not in text.replace("for a person", "")


def _Dag():  # the DAG the callback belongs to
    from airflow.sdk import DAG

    return DAG("human_case_reconciliation", schedule=None)


def test_a_failed_runs_callback_names_the_day_the_counts_and_where_to_answer(failed_day, caplog):
    context = {"dag": _Dag(), "run_id": "scheduled__2026-11-18T00:00:00+00:00", "reason": "task_failure",
               "data_interval_start": DAY, "data_interval_end": NEXT_DAY}  # fmt: skip
    caplog.set_level(logging.WARNING)
    HumanDayNotifier()(context)  # as the dag processor calls an on_failure_callback
    [record] = [r for r in caplog.records if "HUMAN reconciliation" in r.getMessage()]
    text = record.getMessage()
    _says_the_day(text)
    assert "human_case_reconciliation: the day 2026-11-18 failed (run scheduled__2026-11-18T00:00:00+00:00)" in text


def test_the_deadline_callback_runs_as_the_triggerer_runs_it(failed_day, caplog):
    from airflow.triggers.callback import CallbackTrigger

    run = {"dag_id": "human_case_reconciliation", "run_id": "backfill__2026-11-18T00:00:00+00:00",
           "data_interval_start": "2026-11-18T00:00:00Z", "data_interval_end": "2026-11-19T00:00:00Z"}  # fmt: skip
    kwargs = {"ledger_conn_id": "human_case_db", "review_dag_id": "human_case_review",
              "context": {"dag_run": run, "deadline": {"id": "d1", "deadline_time": "2026-11-19T06:00:00Z"}}}  # fmt: skip
    trigger = CallbackTrigger("airflow_provider_human.notifications.day.HumanDayNotifier", kwargs)
    caplog.set_level(logging.WARNING)

    async def events():
        return [e.payload async for e in trigger.run()]

    payloads = asyncio.run(events())
    assert [p["state"] for p in payloads] == ["running", "success"], payloads
    [record] = [r for r in caplog.records if "HUMAN reconciliation" in r.getMessage()]
    _says_the_day(record.getMessage())
    assert "missed its deadline" in record.getMessage()


def test_a_day_with_nothing_in_the_ledger_and_an_unknown_day_still_say_so(case_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", f'{{"conn_type": "sqlite", "host": "{case_db.path}"}}')
    text = HumanDayNotifier().message({"dag": _Dag(), "run_id": "r", "data_interval_start": DAY,
                                       "data_interval_end": NEXT_DAY})  # fmt: skip
    assert "2026-11-18 failed" in text and "holds nothing of this day" in text and "Required Actions" not in text
    assert "(day unknown)" in HumanDayNotifier().message({"dag": _Dag(), "run_id": "r"})
    assert day_interval({"dag_run": {"data_interval_start": None}}) is None


def test_bad_settings_are_refused_when_the_dag_is_parsed():
    with pytest.raises(HumanConfigError, match="send_with='teams'"):
        HumanDayNotifier(send_with="teams")
    with pytest.raises(HumanConfigError, match="email_to"):
        HumanDayNotifier(send_with="smtp")


def test_the_deadline_is_left_out_under_airflow_dags_test_and_when_switched_off(monkeypatch):
    from datetime import timedelta

    from airflow_provider_human.notifications.deadline import day_deadline

    alert = day_deadline(timedelta(hours=6), ledger_conn_id="db")
    assert (
        alert is not None
        and alert.interval == timedelta(hours=30)
        and alert.callback.kwargs == {"ledger_conn_id": "db"}
    )
    assert day_deadline(None) is None
    monkeypatch.setattr("sys.argv", ["/venv/bin/airflow", "dags", "test", "human_case_reconciliation", "2026-11-19"])
    assert day_deadline(timedelta(hours=6)) is None  # apache/airflow#73428: dags test fails a green run otherwise


class _Mailbox:
    """A minimal SMTP server on 127.0.0.1 (plain, no auth): keeps what each DATA delivered."""

    def __init__(self) -> None:
        import socketserver
        import threading

        self.messages: list[str] = []
        box = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                say = lambda line: self.wfile.write(line.encode() + b"\r\n")  # noqa: E731
                say("220 test")
                while line := self.rfile.readline():
                    verb = line.decode().strip().split(" ")[0].upper()
                    if verb in ("EHLO", "HELO"):
                        say("250 test")
                    elif verb == "DATA":
                        say("354 go on")
                        data = []
                        while (part := self.rfile.readline()) not in (b".\r\n", b""):
                            data.append(part.decode())
                        box.messages.append("".join(data))
                        say("250 kept")
                    elif verb == "QUIT":
                        say("221 bye")
                        return
                    else:
                        say("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_send_with_smtp_delivers_the_message_through_the_smtp_providers_notifier(failed_day, monkeypatch):
    import email

    box = _Mailbox()
    try:
        extra = {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@example.com"}
        conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": box.port, "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_TEST", __import__("json").dumps(conn))
        notifier = HumanDayNotifier(send_with="smtp", smtp_conn_id="smtp_test", email_to="fraud-lead@example.com")
        notifier({"dag": _Dag(), "run_id": "r1", "data_interval_start": DAY, "data_interval_end": NEXT_DAY})
    finally:
        box.close()
    [raw] = box.messages
    mail = email.message_from_string(raw)
    assert mail["To"] == "fraud-lead@example.com" and "the day 2026-11-18 failed" in mail["Subject"]
    body = "".join(p.get_payload(decode=True).decode() for p in mail.walk() if p.get_content_maintype() == "text")
    assert "1 item waits for a person" in body and "/human/ledger/human_case_db/days/2026-11-18" in body
    assert TOKEN not in raw


def test_a_ledger_that_cannot_be_read_still_sends_the_alert_without_the_databases_url(monkeypatch):
    url = "postgresql://fraud:s3cret-pw@127.0.0.1:1/cases"  # nothing listens on port 1
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", url)
    text = HumanDayNotifier().message({"dag": _Dag(), "run_id": "r", "data_interval_start": DAY,
                                       "data_interval_end": NEXT_DAY})  # fmt: skip
    assert "the day 2026-11-18 failed" in text and "could not be read (" in text and "'human_case_db'" in text
    assert "s3cret-pw" not in text and "days/2026-11-18" in text


def test_a_backfilled_days_deadline_says_nothing_its_failure_does(failed_day, caplog):
    run = {"dag_id": "human_case_reconciliation", "run_id": "backfill__2026-11-18T00:00:00+00:00",
           "run_type": "backfill", "data_interval_start": "2026-11-18T00:00:00Z",
           "data_interval_end": "2026-11-19T00:00:00Z"}  # fmt: skip
    caplog.set_level(logging.INFO)
    HumanDayNotifier().notify({"dag_run": run, "deadline": {"id": "d1"}})
    assert not [r for r in caplog.records if "HUMAN reconciliation" in r.getMessage()]
    HumanDayNotifier().notify({"dag_run": run})  # the run failed: on_failure_callback
    assert [r for r in caplog.records if "HUMAN reconciliation" in r.getMessage()]
