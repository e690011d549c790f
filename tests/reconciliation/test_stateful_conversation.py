"""A hypothesis state machine over conversations: one (account, attack type) across days, runs and faults.

Days of the same pairs run in any order, alone or two at once (threads, each its own
reconciler), while uploads meet 429, 502, answers after the effect (503, non-JSON 200), and
HUMAN opens new incidents; people take review listings and answer them later, from a
listing that may be stale by then (another answer moved its items since). A person is
right when they look: *Mark as applied* for an upload the HUMAN console shows, *Resend* for
one it does not. Invariant, judged by what the fake API applied, per pair:

* the applied feedback sequence is one the decision table allows for the verdicts in
  closing order (each applied upload answers a distinct, later case outcome, given what AD
  showed and what we had told it then), so no incident is opened twice for one case outcome;
* after the storm, when every day has run without faults, a pair whose latest verdict is
  ``confirmed_fraud`` or ``legitimate`` has no Pending incident left, unless an item of the
  pair waits for a person.
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from airflow_provider_human.client import ClientSettings, HumanClient
from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Answer, Ledger, ReviewItem
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource
from airflow_provider_human.testing.fake_api import FakeHumanAPI
from tests.conftest import TOKEN
from tests.reconciliation.conftest import CaseDB, outcome

DAYS = [datetime(2026, 11, 16 + d, tzinfo=UTC) for d in range(3)]
VERDICTS = ("confirmed_fraud", "suspected_fraud", "legitimate")
FAULTS = ("none", "429", "502_before_apply", "applied_then_503", "non_json_200")

# What an applied upload means for what we told AD: fraud opened, fraud closed, legitimate.
MEANING = {"manually_identified": "open", "pending/-": "open", "resolved": "closed",
           "manually_identified_and_resolved": "closed", "no_attack": "legitimate"}  # fmt: skip


def allowed(verdict: str, pending: bool, told: str | None) -> str | None:
    """The upload the three-way table may send for ``verdict`` (None: nothing; a person may always stop it)."""
    fraud = verdict != "legitimate"
    if told is not None and (told != "legitimate") != fraud:
        return None  # a reversal: for a person
    if told == "open" and verdict == "suspected_fraud":
        return None  # already reported
    if told is not None and not pending:
        return None  # already reported / our incident closed in AD
    if pending:
        return {"confirmed_fraud": "resolved", "legitimate": "no_attack", "suspected_fraud": None}[verdict]
    return {"confirmed_fraud": "manually_identified_and_resolved", "legitimate": None,
            "suspected_fraud": "manually_identified"}[verdict]  # fmt: skip


def explains(verdicts: list[str], events: list[tuple[str, str]], pending: bool) -> bool:
    """Whether the pair's events (applied uploads and HUMAN's own new incidents, in order) fit the table.

    Search: each upload must be the table's answer for a later case outcome than the one
    before it, given what the last upload told and what AD showed when it was *decided*:
    an upload is decided after the one before it landed, but may land later (a 429, a
    retry), so an incident opened in between may or may not have been seen.
    """

    def fits(i: int, at: int, pending: bool, seen: bool, told: str | None) -> bool:
        # pending: AD now; seen: AD right after the last upload (what a decision since may have read)
        if i == len(events):
            return True
        kind, value = events[i]
        if kind == "incident":
            return fits(i + 1, at, True, seen, told)
        for j in range(at, len(verdicts)):
            if value in (allowed(verdicts[j], pending, told), allowed(verdicts[j], seen, told)):
                after = {"resolved": False, "no_attack": False, "manually_identified": True}.get(value, pending)
                if fits(i + 1, j + 1, after, after, MEANING[value]):
                    return True
        return False

    return fits(0, 0, pending, pending, None)


class ConversationMachine(RuleBasedStateMachine):
    @initialize(
        pairs=st.lists(
            st.tuples(st.lists(st.sampled_from(VERDICTS), min_size=2, max_size=3), st.booleans()),
            min_size=2,
            max_size=4,
        )
    )
    def setup(self, pairs):
        self.dir = tempfile.TemporaryDirectory(prefix="human-conversation-")
        self.db = CaseDB(Path(self.dir.name) / "cases.sqlite")
        self.api = FakeHumanAPI(token=TOKEN).start()
        self.verdicts: dict[str, list[str]] = {}
        self.start_pending: dict[str, bool] = {}
        self.opened: list[tuple[float, str]] = []  # (time, account): HUMAN's own new incidents
        for n, (verdicts, pending) in enumerate(pairs):
            account = f"acct-{n}"
            self.verdicts[account] = verdicts
            self.start_pending[account] = pending
            for d, verdict in enumerate(verdicts):
                self.db.add(outcome(f"case-{n}-{d}", account, verdict, (DAYS[d] + timedelta(hours=10)).isoformat()))
            self.api.seed_accounts([{"account_id": account, "incidents": [{"attack_type": "ato"}] if pending else []}])
        self.runs = 0
        self.listings: list[dict[Answer, dict[int, str]]] = []

    def teardown(self) -> None:
        if not hasattr(self, "api"):
            return
        try:
            self._finish_everything()
        finally:
            self.api.stop()
            self.db.engine.dispose()
            self.dir.cleanup()

    # ------------------------------------------------------------------ helpers

    def _client(self) -> HumanClient:
        return HumanClient(ClientSettings(token=TOKEN, base_url=self.api.url, requests_per_second=1000,
                                          max_retries=0, backoff_initial=0.001, timeout=2))  # fmt: skip

    def _reconcile(self, day: datetime, owner: str):
        client = self._client()
        try:
            reconciler = Reconciler(
                client, SqlOutcomeSource(engine=self.db.engine), Ledger(self.db.engine, lease_seconds=30),
                settings=ReconcileSettings(batch_size=2, verify_after_seconds=0, wait_for_others_seconds=0.5,
                                           poll_seconds=0.05, lookup_chunk=3, clock_skew_seconds=0),
            )  # fmt: skip
            result = reconciler.run(day, day + timedelta(days=1), owner)
        finally:
            client.close()
        if result.ok:  # a green run: its interval is done
            rows = reconciler.ledger.open_rows((result.report.interval_start, result.report.interval_end))
            assert rows == [], f"{owner} reported success with {rows}"
        return result

    def _fault(self, fault: str) -> None:
        if fault == "429":
            self.api.configure(override_kinds=["feedback"], override_status=429, override_body={"result": False})
        elif fault == "502_before_apply":
            self.api.configure(failure_rate=1.0, failure_status=502, fault_kinds=["feedback"])
        elif fault == "applied_then_503":
            self.api.configure(after_apply="status", after_apply_status=503, after_apply_limit=1)
        elif fault == "non_json_200":
            self.api.configure(after_apply="non_json")

    def _clear_faults(self) -> None:
        self.api.configure(after_apply=None, after_apply_limit=0, failure_rate=0.0, fault_kinds=None,
                           override_kinds=None)  # fmt: skip
        self.api.state.after_apply_done = 0

    def _events(self, account: str) -> list[tuple[str, str]]:
        timed = [(e["time"], "upload", e["result"] or f"{e['status']}/-") for e in self.api.effects()
                 if e["account_id"] == account]  # fmt: skip
        timed += [(t, "incident", "") for t, a in self.opened if a == account]
        return [(kind, value) for _, kind, value in sorted(timed)]

    def _console_shows(self, item: ReviewItem) -> bool:
        """What a person sees in HUMAN's console: more applied uploads like this one than rows recorded sent."""
        upload = (item.account_id, item.feedback_status, item.feedback_result)
        applied = sum(1 for e in self.api.effects() if (e["account_id"], e["status"], e["result"]) == upload)
        sent = self.db.ledger_rows(f"account_id = '{item.account_id}' AND state = 'sent' AND feedback_status = "
                                   f"'{item.feedback_status}' AND feedback_result = '{item.feedback_result}'")  # fmt: skip
        return applied > len(sent)

    def _waits_for_a_person(self, account: str) -> bool:
        return any(r["state"] in ("needs_review", "failed") for r in self.db.ledger_rows(f"account_id = '{account}'"))

    def _finish_everything(self) -> None:
        self._clear_faults()
        for _ in range(2):  # a day waiting for an earlier day's upload is done on the next pass
            for day in DAYS:
                self._reconcile(day, f"final/{day.day}")
        self.check_conversations()
        for account, verdicts in self.verdicts.items():
            if verdicts[-1] == "suspected_fraud" or self._waits_for_a_person(account):
                continue
            latest = self.db.ledger_rows(f"case_id = 'case-{account[5:]}-{len(verdicts) - 1}'")[0]
            claimed = datetime.fromisoformat(latest["created_at"]).timestamp()
            if any(t > claimed and a == account for t, a in self.opened):
                continue  # HUMAN opened it after the latest case outcome was read: no case answers it yet
            pending = [i for i in self.api.account(account)["incidents"] if i["status"] == "pending"]
            assert pending == [], (account, verdicts, self._events(account), self.db.ledger_rows())

    # ------------------------------------------------------------------ rules

    @rule(day=st.sampled_from(DAYS), same_task=st.booleans(), fault=st.sampled_from(FAULTS))
    def run(self, day, same_task, fault):
        self._fault(fault)
        try:
            self.runs += 1
            self._reconcile(day, f"dag/{'run-1' if same_task else f'run-{self.runs}'}/reconcile/-1")
        finally:
            self._clear_faults()

    @rule(days=st.lists(st.sampled_from(DAYS), min_size=2, max_size=2, unique=True), fault=st.sampled_from(FAULTS))
    def two_days_at_once(self, days, fault):
        """A backfill: two days of the same pairs reconciled at the same moment."""
        self._fault(fault)
        errors: list[BaseException] = []

        def one(day: datetime) -> None:
            try:
                self._reconcile(day, f"backfill/{day.day}-{self.runs}/reconcile/-1")
            except BaseException as exc:
                errors.append(exc)

        try:
            self.runs += 1
            threads = [threading.Thread(target=one, args=(d,)) for d in days]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        finally:
            self._clear_faults()
        assert not errors, errors

    @precondition(lambda self: self.runs > 0)
    @rule(n=st.integers(0, 3))
    def human_opens_an_incident(self, n):
        """Weeks later, HUMAN's own detection opens a new Pending incident on a pair with none."""
        account = list(self.verdicts)[n % len(self.verdicts)]  # drawn from fixed choices: runs are not replayable
        if any(i["status"] == "pending" for i in self.api.account(account)["incidents"]):
            return
        time.sleep(0.002)
        self.opened.append((time.time(), account))
        self.api.open_incident(account, "ato")

    @precondition(lambda self: self.runs > 0)
    @rule()
    def a_person_takes_the_review_listing(self):
        """A review request lists the uploads waiting for a person; its reader checks each in the console."""
        listing: dict[Answer, dict[int, str]] = {Answer.RESEND: {}, Answer.MARK_APPLIED: {}}
        for item in Ledger(self.db.engine).review_items():
            if item.feedback_status is None:
                continue  # a reversal, an edit, an ambiguous state: nothing a right answer would send
            listing[Answer.MARK_APPLIED if self._console_shows(item) else Answer.RESEND][item.id] = item.version
        self.listings.append(listing)

    @precondition(lambda self: self.listings)
    @rule(n=st.integers(0, 3), option=st.sampled_from([Answer.RESEND, Answer.MARK_APPLIED]),
          fault=st.sampled_from(FAULTS))  # fmt: skip
    def a_person_answers_from_a_listing(self, n, option, fault):
        """The answer arrives later: other answers and runs may have moved the listed items since.

        As the review step does, a Resend is carried out at once, for each day it freed."""
        listing = self.listings[n % len(self.listings)]
        moved = Ledger(self.db.engine).answer_review(listing[option], option, f"person-{n}")
        if option is not Answer.RESEND or not moved:
            return
        days = {r["interval_start"] for r in self.db.ledger_rows() if r["id"] in set(moved)}
        self._fault(fault)
        try:
            for start in sorted(days):
                self._reconcile(datetime.fromisoformat(start.replace("Z", "+00:00")), f"review/{n}/review/-1")
        finally:
            self._clear_faults()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def check_conversations(self):
        if not hasattr(self, "api"):
            return
        for account, verdicts in self.verdicts.items():
            events = self._events(account)
            assert explains(verdicts, events, self.start_pending[account]), (account, verdicts, events)


ConversationMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=6, deadline=None)
test_conversation_state_machine = ConversationMachine.TestCase


def test_a_resend_from_a_stale_listing_is_caught_by_the_invariant_and_applies_nothing():
    """Item 3 as a fixed walk through the machine's own rules (the random walk rarely finds it).

    An upload in doubt that HUMAN did not apply waits for a person; two listings show it; the
    first Resend is applied and answered 503 (in doubt again); the second listing's Resend
    comes later. Before item 3 the upload was applied twice for one case outcome, and
    ``check_conversations`` failed.
    """
    machine = ConversationMachine()
    try:
        machine.setup(pairs=[(["confirmed_fraud", "suspected_fraud"], False), (["legitimate", "legitimate"], False)])
        machine.run(day=DAYS[0], same_task=False, fault="502_before_apply")  # refused before applied: in doubt
        assert machine._waits_for_a_person("acct-0")
        machine.a_person_takes_the_review_listing()
        machine.a_person_takes_the_review_listing()
        assert list(machine.listings[0][Answer.RESEND]) == list(machine.listings[1][Answer.RESEND]) != []
        machine.a_person_answers_from_a_listing(n=0, option=Answer.RESEND, fault="applied_then_503")
        assert machine._waits_for_a_person("acct-0")  # applied, answered 503, nothing documented tells
        machine.a_person_answers_from_a_listing(n=1, option=Answer.RESEND, fault="none")
        machine.check_conversations()
        applied = [e for e in machine.api.effects() if e["account_id"] == "acct-0"]
        assert [e["result"] for e in applied] == ["manually_identified_and_resolved"]
    finally:
        machine.teardown()


def test_the_checker_rejects_what_issue_25_saw():
    """The invariant itself can fail: the sequences the issue's items produced are not explained."""
    # (item 1's loss, one manually_identified left Pending after a confirmation, is what the final check sees)
    assert not explains(["suspected_fraud", "confirmed_fraud"], [("upload", "manually_identified")] * 2, False)
    # item 2: the same manually_identified applied twice around a confirmation
    seen = [("upload", "manually_identified"), ("upload", "resolved"), ("upload", "manually_identified")]
    assert not explains(["suspected_fraud", "confirmed_fraud"], seen, False)
    # the right conversation is explained
    assert explains(["suspected_fraud", "confirmed_fraud"], [("upload", "manually_identified"),
                                                             ("upload", "resolved")], False)  # fmt: skip
    # item 4: told closed, then a new incident: the table's answer is explained, and so is nothing (a person)
    assert explains(["confirmed_fraud", "confirmed_fraud"], [("upload", "manually_identified_and_resolved"),
                                                             ("incident", ""), ("upload", "resolved")], False)  # fmt: skip
