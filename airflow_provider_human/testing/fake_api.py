"""A local fake of the HUMAN APIs, faithful to the vendor pages, for tests, demos and benchmarks.

Serves the four documented endpoints with strict validation and a small account state
that feedback uploads change (so a later lookup sees them), plus knobs for latency,
rate limiting (429 + ``Retry-After``), failures (503), connection resets, a maximum
batch size, and a request log. Control endpoints live under ``/_fake/`` and need no token.

Run it as a process::

    python -m airflow_provider_human.testing.fake_api --port 8765 --token T

or in a thread with :class:`FakeHumanAPI` (``with FakeHumanAPI(token="T") as api: api.url``).

Behaviour the vendor pages do not pin down, and what this fake assumes:

- v1 ``attack_types`` is answered only in the page's own form, a list literal (``attack_types=['ato']``,
  ``[]`` included); the repeated and ``attack_types[]=`` forms are knobs (``v1_query_forms``), else 400.
- Bad tokens: v2 answers 403 (its page lists 403), v1 and feedback 401, identity 401 ``bad_authtoken``.
- Feedback for an account HUMAN has never seen creates it. ``resolved`` with ``no_attack`` or
  ``resolved`` closes the account's Pending incidents of that type; ``manually_identified``
  opens a new Pending incident, ``manually_identified_and_resolved`` a new Resolved one, each
  time they are sent (which is why uploads must never repeat). ``pending`` reopens or opens one.
- Updating an identity that was never seeded answers 404 ``not_found``.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from airflow_provider_human.docs_links import docs_link

V1_PREFIX = "/api/v1/account_defender/account/"
V2_PREFIX = "/api/v2/account_defender/account/"
FEEDBACK_PATH = "/api/v1/account_defender/account/update_status"
IDENTITY_PREFIX = "/api/v1/identity/"

ATTACK_TYPES = {"ato", "fake_account"}
FEEDBACK_ATTACK_TYPES = {"fa": "fake_account", "ato": "ato"}
V2_NAMES = {"ato": "account_takeover", "fake_account": "fake_account"}
STATUSES = {"pending", "resolved"}
RESULTS = {"no_attack", "resolved", "manually_identified_and_resolved", "manually_identified"}
IDENTITY_ERROR_CODES = {
    "bad_request", "bad_authtoken", "not_authenticated", "not_permitted", "not_implemented", "unknown",
    "not_found", "unexpected_ref_type", "unexpected", "invalid_action", "invalid_value", "required_value",
}  # fmt: skip


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class FakeConfig:
    """Knobs; change them with ``POST /_fake/config`` or :meth:`FakeHumanAPI.configure`."""

    latency_ms: float = 0.0
    latency_kinds: list[str] | None = None  # endpoints latency_ms applies to (None = all)
    latency_spike_ms: float = 0.0
    latency_spike_rate: float = 0.0
    rate_limit_rps: float = 0.0  # 0 = no limit
    rate_limit_burst: float = 0.0  # 0 = same as rate_limit_rps
    retry_after: float = 1.0
    retry_after_format: str = "seconds"  # or "http-date"
    failure_rate: float = 0.0  # share of API requests answered failure_status before acting
    failure_status: int = 503
    reset_rate: float = 0.0  # share of API requests whose connection is reset after acting
    max_batch_size: int = 0  # 0 = no limit
    fault_kinds: list[str] | None = None  # endpoints the failure/reset knobs hit: v1, v2, feedback, identity
    override_kinds: list[str] | None = None  # endpoints answered with override_status/override_body instead
    override_status: int = 200
    override_body: Any = None
    revoke_after_feedback: int = 0  # revoke every token after this many accepted uploads (0 = never)
    # Feedback uploads that are APPLIED and then answered badly (what a gateway in front of HUMAN can do):
    # "status" answers after_apply_status, "non_json" a 200 whose body is the text OK, "stall" answers
    # only after stall_seconds (the client times out first). after_apply_limit caps how many (0 = all).
    after_apply: str | None = None
    after_apply_status: int = 503
    after_apply_rate: float = 1.0
    after_apply_limit: int = 0
    stall_seconds: float = 5.0
    # Hold feedback uploads "before_apply" or "after_apply" until release() (crash tests kill the client then).
    hold_feedback: str | None = None
    hold_match: dict[str, Any] | None = None  # hold only uploads whose body has these values (e.g. a result)
    # Lookups (v1, v2) of these account ids answer this status: an account HUMAN refuses for good.
    lookup_status: dict[str, int] | None = None
    # v2 incident names per attack type; incidents seeded with any other type are shown under their own name.
    v2_incident_names: dict[str, str] | None = None
    # v1 attack_types forms answered; others get the page's 400. The page shows only a list literal
    # (``attack_types=['ato']``); "repeated" (attack_types=ato&...) and "brackets" (attack_types[]=ato) are guesses.
    v1_query_forms: list[str] = field(default_factory=lambda: ["list_literal"])
    seed: int | None = None

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown fake API knob {key!r}; known: {sorted(known)}")
            setattr(self, key, value)
        if self.after_apply not in (None, "status", "non_json", "stall"):
            raise ValueError(f"after_apply={self.after_apply!r}: use status, non_json or stall")
        if self.hold_feedback not in (None, "before_apply", "after_apply"):
            raise ValueError(f"hold_feedback={self.hold_feedback!r}: use before_apply or after_apply")


@dataclass
class Incident:
    attack_type: str  # "ato" | "fake_account"
    status: str = "pending"  # "pending" | "resolved" | "archived"
    risk_score: float = 0.9
    is_manually_created: bool = False
    incident_creation: str = field(default_factory=_now_iso)
    result: str | None = None
    additional: dict[str, Any] = field(default_factory=dict)


@dataclass
class Account:
    account_id: str
    exists: bool = True
    email: str | None = None
    first_seen: str = field(default_factory=_now_iso)
    last_seen: str = field(default_factory=_now_iso)
    registration_date: str = field(default_factory=_now_iso)
    incidents: list[Incident] = field(default_factory=list)
    aggregative_data: dict[str, Any] | None = None
    feedback: list[dict[str, Any]] = field(default_factory=list)
    under_attack: bool | None = None  # seeded is_under_attack; None = whether a Pending incident exists

    def pending(self, attack_type: str | None = None) -> list[Incident]:
        return [i for i in self.incidents if i.status == "pending" and attack_type in (None, i.attack_type)]


class FakeState:
    """Accounts, identities, tokens, knobs and the request log, behind one lock."""

    def __init__(self, tokens: set[str]) -> None:
        self.lock = threading.RLock()
        self.tokens = set(tokens)
        self.config = FakeConfig()
        self.accounts: dict[str, Account] = {}
        self.identities: dict[str, dict[str, Any]] = {}
        self.log: list[dict[str, Any]] = []
        self.random = random.Random()
        self._bucket_tokens = 0.0
        self._bucket_time = time.monotonic()
        self.in_flight = 0
        self.max_in_flight = 0
        self.feedback_accepted = 0
        self.after_apply_done = 0
        #: Every feedback effect HUMAN applied, one entry per account: what tests count.
        self.effects: list[dict[str, Any]] = []
        self.released = threading.Event()
        self.release_applies = True

    def reset(self) -> None:
        with self.lock:
            self.config = FakeConfig()
            self.accounts.clear()
            self.identities.clear()
            self.log.clear()
            self.effects.clear()
            self.after_apply_done = 0
            self.random = random.Random()

    def configure(self, values: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.config.update(values)
            if "seed" in values:
                self.random = random.Random(values["seed"])
            if "rate_limit_rps" in values or "rate_limit_burst" in values:
                self._bucket_tokens = self._burst()
                self._bucket_time = time.monotonic()
            return asdict(self.config)

    def _burst(self) -> float:
        return self.config.rate_limit_burst or max(self.config.rate_limit_rps, 1.0)

    def rate_limited(self) -> bool:
        with self.lock:
            rps = self.config.rate_limit_rps
            if not rps:
                return False
            now = time.monotonic()
            self._bucket_tokens = min(self._burst(), self._bucket_tokens + (now - self._bucket_time) * rps)
            self._bucket_time = now
            if self._bucket_tokens >= 1:
                self._bucket_tokens -= 1
                return False
            return True

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self.lock:
            return self.random.random() < rate

    def seed_accounts(self, items: list[dict[str, Any]]) -> int:
        with self.lock:
            for item in items:
                incidents = [
                    Incident(
                        attack_type=FEEDBACK_ATTACK_TYPES.get(i["attack_type"], i["attack_type"]),
                        status=i.get("status", "pending"),
                        risk_score=float(i.get("risk_score", 0.9)),
                        is_manually_created=bool(i.get("is_manually_created", False)),
                        incident_creation=i.get("incident_creation") or _now_iso(),
                        additional=i.get("additional", {}),
                    )
                    for i in item.get("incidents", [])
                ]
                account = Account(
                    account_id=str(item["account_id"]),
                    exists=bool(item.get("exists", True)),
                    email=item.get("email"),
                    incidents=incidents,
                    aggregative_data=item.get("aggregative_data"),
                    under_attack=item.get("is_under_attack"),
                )
                self.accounts[account.account_id] = account
            return len(items)

    def open_incident(self, account_id: str, item: dict[str, Any]) -> dict[str, Any]:
        """HUMAN opens a new Pending incident on an existing account (its own detection, weeks later).

        ``incident_creation`` may be given (any time, past or future) to stage an incident
        older or newer than an upload; it defaults to now.
        """
        attack_type = item.get("attack_type") if isinstance(item, dict) else None
        if not isinstance(attack_type, str):
            raise ValueError("attack_type is required (ato or fake_account)")
        with self.lock:
            account = self.accounts.get(account_id)
            if account is None or not account.exists:
                raise KeyError(account_id)
            incident = Incident(
                attack_type=FEEDBACK_ATTACK_TYPES.get(attack_type, attack_type),
                risk_score=float(item.get("risk_score", 0.9)),
                is_manually_created=bool(item.get("is_manually_created", False)),
                incident_creation=item.get("incident_creation") or _now_iso(),
            )
            account.incidents.append(incident)
            return asdict(incident)

    def account_view(self, account_id: str) -> dict[str, Any] | None:
        with self.lock:
            account = self.accounts.get(account_id)
            return None if account is None else asdict(account)


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle plus delayed ACKs
    # add ~40 ms to every keep-alive response, which would distort latency knobs and benchmarks.
    disable_nagle_algorithm = True
    server: _FakeServer

    # -------------------------------------------------------------- plumbing

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    @property
    def state(self) -> FakeState:
        return self.server.state

    def _read_body(self) -> tuple[Any, bool]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None, True
        try:
            return json.loads(raw), True
        except ValueError:
            return raw.decode("utf-8", "replace"), False

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _reset_connection(self) -> None:
        """Start a response, then drop the connection: the client sees a reset mid-response."""
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        self.connection.close()

    # -------------------------------------------------------------- dispatch

    def _dispatch(self, method: str) -> None:
        target = urlsplit(self.path)
        raw_path = target.path
        query = parse_qs(target.query, keep_blank_values=True)
        body, body_ok = self._read_body()
        if raw_path.startswith("/_fake/"):
            self._control(method, raw_path, body)
            return
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": method,
            "path": raw_path,
            "target": self.path,
            "query": query,
            "body": body,
            "user_agent": self.headers.get("User-Agent"),
            "content_type": self.headers.get("Content-Type"),
        }
        with self.state.lock:
            entry["seq"] = len(self.state.log)
            self.state.log.append(entry)
            config = FakeConfig(**asdict(self.state.config))
            self.state.in_flight += 1
            self.state.max_in_flight = max(self.state.max_in_flight, self.state.in_flight)
        try:
            self._serve_api(method, raw_path, query, body, body_ok, entry, config)
        finally:
            with self.state.lock:
                self.state.in_flight -= 1

    def _serve_api(
        self,
        method: str,
        raw_path: str,
        query: dict[str, list[str]],
        body: Any,
        body_ok: bool,
        entry: dict[str, Any],
        config: FakeConfig,
    ) -> None:
        route = self._route(method, raw_path)
        entry["kind"], entry["id"] = route or (None, None)
        slow = config.latency_kinds is None or entry["kind"] in config.latency_kinds
        delay = config.latency_ms if slow else 0.0
        if config.latency_spike_ms and self.state.chance(config.latency_spike_rate):
            delay += config.latency_spike_ms
        if delay:
            time.sleep(delay / 1000.0)
        if route is None:
            entry["status"] = 404
            self._send(404, {"result": False, "content": f"No route for {method} {raw_path}"})
            return
        kind, ident = route
        entry["authorised"] = self._authorised()
        if not entry["authorised"]:
            entry["status"] = self._unauthorised(kind)
            return
        if self.state.rate_limited():
            entry["status"] = 429
            self._send(429, {"result": False, "content": "Too Many Requests"}, {"Retry-After": self._retry_after()})
            return
        faulty = config.fault_kinds is None or kind in config.fault_kinds
        if faulty and self.state.chance(config.failure_rate):
            entry["status"] = config.failure_status
            phrase = HTTPStatus(config.failure_status).phrase
            self._send(config.failure_status, {"result": False, "content": f"{phrase} (injected failure)"})
            return
        if config.override_kinds and kind in config.override_kinds:
            entry["status"] = config.override_status
            self._send(config.override_status, config.override_body)
            return
        if kind in ("v1", "v2") and config.lookup_status and ident in config.lookup_status:
            entry["status"] = config.lookup_status[ident]
            self._send(entry["status"], {"result": False, "content": HTTPStatus(entry["status"]).phrase})
            return
        if not body_ok:
            entry["status"] = 400
            self._send(400, {"result": False, "content": "Body is not valid JSON"})
            return
        hold = config.hold_feedback if kind == "feedback" and _matches(body, config.hold_match) else None
        if hold == "before_apply" and not self._held(entry, "before_apply"):
            return
        status, response = getattr(self, f"_handle_{kind}")(ident, query, body, config)
        entry["status"] = status
        if kind == "feedback" and status < 300:
            entry["applied"] = True
            if hold == "after_apply":
                self._held(entry, "after_apply")
            if self._answer_after_apply(entry, config):
                return
        if faulty and status < 300 and self.state.chance(config.reset_rate):
            entry["reset"] = True
            self._reset_connection()
            return
        self._send(status, response)

    def _held(self, entry: dict[str, Any], where: str) -> bool:
        """Wait for :meth:`FakeHumanAPI.release`; False when released without applying (the upload is dropped)."""
        with self.state.lock:
            entry["held"] = where
            entry["waiting"] = True
        self.state.released.wait()
        with self.state.lock:
            entry["waiting"] = False
        if where == "before_apply" and not self.state.release_applies:
            entry["status"] = "dropped"
            self.close_connection = True
            return False
        return True

    def _answer_after_apply(self, entry: dict[str, Any], config: FakeConfig) -> bool:
        """The upload is applied; answer it the way ``after_apply`` says. True when answered here."""
        if config.after_apply is None or not self.state.chance(config.after_apply_rate):
            return False
        with self.state.lock:
            if config.after_apply_limit and self.state.after_apply_done >= config.after_apply_limit:
                return False
            self.state.after_apply_done += 1
        entry["after_apply"] = config.after_apply
        if config.after_apply == "status":
            entry["status"] = config.after_apply_status
            phrase = HTTPStatus(config.after_apply_status).phrase
            self._send(config.after_apply_status, {"result": False, "content": phrase})
        elif config.after_apply == "non_json":
            payload = b"OK"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        else:  # stall: the effect is there, the answer comes too late for the client
            time.sleep(config.stall_seconds)
            self._send(200, {})
        return True

    def _route(self, method: str, path: str) -> tuple[str, str | None] | None:
        if method == "POST" and path == FEEDBACK_PATH:
            return "feedback", None
        for prefix, kind, verb in (
            (V1_PREFIX, "v1", "GET"),
            (V2_PREFIX, "v2", "GET"),
            (IDENTITY_PREFIX, "identity", "PUT"),
        ):
            if method == verb and path.startswith(prefix):
                segment = path[len(prefix) :]
                if segment and "/" not in segment:
                    return kind, unquote(segment)
        return None

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        with self.state.lock:
            return any(header == f"Bearer {t}" for t in self.state.tokens)

    def _unauthorised(self, kind: str) -> int:
        if kind == "identity":
            self._send(401, {"status": "error", "code": "bad_authtoken", "message": "Invalid or expired token"})
            return 401
        if kind == "v2":
            self._send(403, {"result": False, "content": "Forbidden"})
            return 403
        self._send(401, {"result": False, "content": "Unauthorized"})
        return 401

    def _retry_after(self) -> str:
        seconds = self.state.config.retry_after
        if self.state.config.retry_after_format == "http-date":
            return format_datetime(datetime.fromtimestamp(time.time() + seconds, UTC), usegmt=True)
        return str(int(seconds)) if float(seconds).is_integer() else str(seconds)

    # -------------------------------------------------------------- endpoints

    def _handle_v1(self, account_id: str, query: dict[str, list[str]], body: Any, config: FakeConfig):
        requested: list[str] = []
        forms = set(config.v1_query_forms)
        for key in ("attack_types", "attack_types[]"):
            for value in query.get(key, []):
                if value.startswith("[") and key == "attack_types" and "list_literal" in forms:
                    try:  # Python's and JSON's list spellings both parse as a literal
                        parsed = ast.literal_eval(value)
                    except (ValueError, SyntaxError):
                        parsed = None
                    if not isinstance(parsed, list):
                        return 400, {"result": False, "content": "Invalid value: attack_types"}
                    requested.extend(str(v) for v in parsed)
                elif ("repeated" if key == "attack_types" else "brackets") in forms:
                    requested.append(value)
                else:
                    return 400, {"result": False, "content": "Invalid value: attack_types.0"}
        for index, value in enumerate(requested):
            if value not in ATTACK_TYPES:
                return 400, {"result": False, "content": f"Invalid value: attack_types.{index}"}
        with self.state.lock:
            account = self.state.accounts.get(account_id)
            if account is None or not account.exists:  # v1 has no "exists": unknown looks like never attacked
                return 200, {"account_id": account_id, "is_under_attack": False, "risk_score": 0}
            wanted = set(requested) or ATTACK_TYPES
            candidates = [i for i in account.incidents if i.attack_type in wanted]
            pending = [i for i in candidates if i.status == "pending"]
            pool = pending or candidates
            best = max(pool, key=lambda i: i.risk_score) if pool else None
        response: dict[str, Any] = {
            "account_id": account_id,
            "is_under_attack": bool(pending),
            "risk_score": round(best.risk_score * 100) if best else 0,
        }
        if best is not None and best.is_manually_created:
            response["is_manually_created"] = True
        return 200, response

    def _handle_v2(self, account_id: str, query: dict[str, list[str]], body: Any, config: FakeConfig):
        raw = query.get("days_range", ["30"])[-1]
        if not raw.isdigit() or int(raw) < 1:
            return 400, {"result": False, "content": "Invalid value: days_range"}
        with self.state.lock:
            account = self.state.accounts.get(account_id)
            if account is None or not account.exists:
                return 200, {"account_id": account_id, "exists": False}
            pending = account.pending()
            names = {**V2_NAMES, **(config.v2_incident_names or {})}
            response: dict[str, Any] = {
                "account_id": account_id,
                "exists": True,
                "is_under_attack": bool(pending) if account.under_attack is None else account.under_attack,
                "first_seen": account.first_seen,
                "last_seen": account.last_seen,
                "email": account.email,
                "registration_date": account.registration_date,
            }
            if pending:
                response["active_incidents"] = [
                    {
                        "attack_type": names.get(i.attack_type, i.attack_type),
                        "event_type": "single",
                        "risk_score": i.risk_score,
                        "is_manually_created": i.is_manually_created,
                        "incident_creation": i.incident_creation,
                        "additional": i.additional,
                    }
                    for i in pending
                ]
            if account.aggregative_data is not None:
                response["aggregative_data"] = account.aggregative_data
        return 200, response

    def _handle_feedback(self, _: None, query: dict[str, list[str]], body: Any, config: FakeConfig):
        problem = _feedback_problem(body, config.max_batch_size)
        if problem:
            return 400, {"result": False, "content": problem}
        attack = FEEDBACK_ATTACK_TYPES[body["attackType"]]
        status, result = body["status"], body.get("result")
        with self.state.lock:
            for account_id in body["accountIds"]:
                account = self.state.accounts.get(account_id)
                if account is None:
                    account = self.state.accounts[account_id] = Account(account_id=account_id)
                account.exists = True
                account.feedback.append(
                    {"attackType": body["attackType"], "status": status, "result": result,
                     "comment": body.get("comment"), "time": _now_iso()}
                )  # fmt: skip
                _apply_feedback(account, attack, status, result)
                self.state.effects.append(
                    {"account_id": account_id, "attackType": body["attackType"], "status": status,
                     "result": result, "time": time.time()}
                )  # fmt: skip
            self.state.feedback_accepted += 1
            if config.revoke_after_feedback and self.state.feedback_accepted >= config.revoke_after_feedback:
                self.state.tokens.clear()  # the token is revoked from now on
        return 200, {}

    def _handle_identity(self, identity_id: str, query: dict[str, list[str]], body: Any, config: FakeConfig):
        problem = _identity_problem(body)
        if problem:
            code, message = problem
            return 400, {"status": "error", "code": code, "message": message}
        with self.state.lock:
            identity = self.state.identities.get(identity_id)
            if identity is None:
                return 404, {"status": "error", "code": "not_found", "message": f"Identity {identity_id} not found"}
            if "factors" in body:
                identity["factors"] = [
                    {"identifier": True, "name": f["name"], "nid": f"nid-{f['name']}", "persistent": True,
                     "type": f["type"], "value": f["value"]}
                    for f in body["factors"]
                ]  # fmt: skip
                identity["title"] = body["factors"][0]["value"] if body["factors"] else identity.get("title")
            if "metadata" in body:
                identity["metadata"] = dict(body["metadata"])
            identity["updates"] = identity.get("updates", 0) + 1
            details = {k: v for k, v in identity.items() if k != "updates"}
        return 200, {"status": "success", "details": details}

    # -------------------------------------------------------------- control

    def _control(self, method: str, path: str, body: Any) -> None:
        state = self.state
        if path == "/_fake/health":
            self._send(200, {"status": "ok"})
        elif path == "/_fake/requests" and method == "GET":
            with state.lock:
                self._send(200, {"requests": list(state.log), "max_in_flight": state.max_in_flight})
        elif path == "/_fake/requests" and method == "DELETE":
            with state.lock:
                state.log.clear()
            self._send(200, {})
        elif path == "/_fake/effects" and method == "GET":
            with state.lock:
                self._send(200, {"effects": list(state.effects)})
        elif path == "/_fake/release" and method == "POST":
            state.release_applies = bool((body or {}).get("apply", True))
            state.released.set()
            self._send(200, {})
        elif path == "/_fake/reset" and method == "POST":
            state.reset()
            self._send(200, {})
        elif path == "/_fake/config" and method == "POST":
            try:
                self._send(200, state.configure(body or {}))
            except (ValueError, TypeError) as exc:
                self._send(400, {"error": str(exc)})
        elif path == "/_fake/tokens" and method == "POST":
            with state.lock:
                state.tokens = set(body["tokens"])
            self._send(200, {})
        elif path == "/_fake/accounts" and method == "POST":
            self._send(200, {"seeded": state.seed_accounts(body["accounts"])})
        elif path.startswith("/_fake/accounts/") and path.endswith("/incidents") and method == "POST":
            try:
                opened = state.open_incident(unquote(path[len("/_fake/accounts/") : -len("/incidents")]), body or {})
            except KeyError:
                self._send(404, {"error": "no such account"})
            except (TypeError, ValueError) as exc:
                self._send(400, {"error": str(exc)})
            else:
                self._send(200, opened)
        elif path.startswith("/_fake/accounts/") and method == "GET":
            view = state.account_view(unquote(path[len("/_fake/accounts/") :]))
            self._send(200 if view else 404, view or {})
        elif path == "/_fake/identities" and method == "POST":
            with state.lock:
                for item in body["identities"]:
                    state.identities[item["id"]] = _new_identity(item)
            self._send(200, {"seeded": len(body["identities"])})
        elif path.startswith("/_fake/identities/") and method == "GET":
            with state.lock:
                identity = state.identities.get(unquote(path[len("/_fake/identities/") :]))
                self._send(200 if identity else 404, identity or {})
        else:
            self._send(404, {"error": f"no control endpoint {method} {path}"})


def _matches(body: Any, wanted: dict[str, Any] | None) -> bool:
    return not wanted or (isinstance(body, dict) and all(body.get(k) == v for k, v in wanted.items()))


def _feedback_problem(body: Any, max_batch_size: int) -> str | None:
    if not isinstance(body, dict):
        return "Body must be a JSON object"
    unknown = set(body) - {"accountIds", "attackType", "status", "result", "comment"}
    if unknown:
        return f"Unknown field: {sorted(unknown)[0]}"
    ids = body.get("accountIds")
    if not isinstance(ids, list) or not ids:
        return "Invalid value: accountIds"
    for index, value in enumerate(ids):
        if not isinstance(value, str) or not value:
            return f"Invalid value: accountIds.{index}"
    if max_batch_size and len(ids) > max_batch_size:
        return f"Invalid value: accountIds exceeds the maximum of {max_batch_size} ids"
    if body.get("attackType") not in FEEDBACK_ATTACK_TYPES:
        return "Invalid value: attackType"
    if body.get("status") not in STATUSES:
        return "Invalid value: status"
    result = body.get("result")
    if result is not None and result not in RESULTS:
        return "Invalid value: result"
    if body["status"] == "resolved" and result is None:
        return "Missing value: result is required when status is resolved"
    if body["status"] == "pending" and result is not None:
        return "Mismatched values: result is only allowed when status is resolved"
    if "comment" in body and not isinstance(body["comment"], str):
        return "Invalid value: comment"
    return None


# Manually created incidents carry risk 100 in the vendor's v1 example, so v1 shows them first.
MANUAL_RISK = 1.0


def _apply_feedback(account: Account, attack: str, status: str, result: str | None) -> None:
    pending = account.pending(attack)
    if status == "pending":
        if not pending:
            account.incidents.append(Incident(attack_type=attack, risk_score=MANUAL_RISK, is_manually_created=True))
        return
    if result in ("no_attack", "resolved"):
        for incident in pending:
            incident.status = "resolved"
            incident.result = result
    elif result == "manually_identified_and_resolved":
        account.incidents.append(
            Incident(
                attack_type=attack, status="resolved", risk_score=MANUAL_RISK, is_manually_created=True, result=result
            )
        )
    elif result == "manually_identified":
        account.incidents.append(
            Incident(attack_type=attack, risk_score=MANUAL_RISK, is_manually_created=True, result=result)
        )


def _identity_problem(body: Any) -> tuple[str, str] | None:
    if not isinstance(body, dict):
        return "bad_request", "Body must be an Identity_DetailsForUpdate object"
    unknown = set(body) - {"factors", "metadata"}
    if unknown:
        return "invalid_value", f"Unknown field: {sorted(unknown)[0]}"
    factors = body.get("factors")
    if factors is not None:
        if not isinstance(factors, list):
            return "invalid_value", "factors must be an array"
        for index, factor in enumerate(factors):
            if not isinstance(factor, dict):
                return "invalid_value", f"factors.{index} must be an object"
            for key in ("name", "type", "value"):
                if not isinstance(factor.get(key), str) or not factor[key]:
                    return "required_value", f"factors.{index}.{key} is required"
            if factor["type"] != "email":
                return "invalid_value", f"factors.{index}.type must be email"
            local, _, domain = factor["value"].partition("@")
            if not local or "." not in domain:
                return "invalid_value", f"factors.{index}.value must be an email address"
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            return "invalid_value", "metadata must be an object"
        for key, value in metadata.items():
            if not isinstance(value, str):
                return "invalid_value", f"metadata.{key} must be a string"
    return None


def _new_identity(item: dict[str, Any]) -> dict[str, Any]:
    ident = str(item["id"])
    return {
        "id": ident,
        "account_id": item.get("account_id", f"acct-{ident}"),
        "domain_id": item.get("domain_id", "domain-1"),
        "pool_id": item.get("pool_id", "pool-1"),
        "status": "extant",
        "title": item.get("title", ident),
        "type": "identity",
        "claims": item.get("claims", {}),
        "metadata": item.get("metadata", {}),
        "factors": item.get("factors", []),
        "vid": item.get("vid", f"vid-{ident}"),
        "first_seen": {"at": 1700000000, "country_code": "US"},
        "last_seen": {"at": 1700000000, "country_code": "US"},
    }


class _FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: FakeState) -> None:
        self.state = state
        super().__init__(address, FakeHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, reset) is part of the tests, not an error to print."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeHumanAPI:
    """The fake as a real HTTP server on 127.0.0.1 in a background thread.

    :param token: the server token it accepts.
    :param port: 0 picks a free port.
    """

    def __init__(self, token: str = "fake-token", port: int = 0, host: str = "127.0.0.1") -> None:  # noqa: S107
        self.state = FakeState({token})
        self._server = _FakeServer((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHumanAPI:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-human-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeHumanAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # in-process conveniences mirroring the /_fake/ endpoints
    def configure(self, **values: Any) -> dict[str, Any]:
        return self.state.configure(values)

    def seed_accounts(self, accounts: list[dict[str, Any]]) -> int:
        return self.state.seed_accounts(accounts)

    def seed_identities(self, identities: list[dict[str, Any]]) -> None:
        with self.state.lock:
            for item in identities:
                self.state.identities[str(item["id"])] = _new_identity(item)

    def requests(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(e) for e in self.state.log if kind is None or e.get("kind") == kind]

    def effects(self) -> list[dict[str, Any]]:
        """Every feedback effect applied so far, one entry per account (what exactly-once is judged by)."""
        with self.state.lock:
            return [dict(e) for e in self.state.effects]

    def held(self) -> list[dict[str, Any]]:
        """Feedback requests waiting in a ``hold_feedback`` hold."""
        with self.state.lock:
            return [dict(e) for e in self.state.log if e.get("waiting")]

    def release(self, *, apply: bool = True) -> None:
        """Let held uploads go on; ``apply=False`` drops the ones held before applying (never applied)."""
        self.state.release_applies = apply
        self.state.released.set()

    def clear_log(self) -> None:
        with self.state.lock:
            self.state.log.clear()
            self.state.max_in_flight = 0

    @property
    def max_in_flight(self) -> int:
        """Most API requests the fake was serving at the same moment (proves concurrency)."""
        return self.state.max_in_flight

    def account(self, account_id: str) -> dict[str, Any] | None:
        return self.state.account_view(account_id)

    def open_incident(
        self, account_id: str, attack_type: str = "ato", *, at: str | None = None, manual: bool = False
    ) -> dict[str, Any]:
        """Open a new Pending incident on ``account_id`` (created ``at``, an ISO time; default now)."""
        return self.state.open_incident(
            account_id, {"attack_type": attack_type, "incident_creation": at, "is_manually_created": manual}
        )

    def set_tokens(self, *tokens: str) -> None:
        with self.state.lock:
            self.state.tokens = set(tokens)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's default in ``--help``; an option without one (required or off) says so in its text."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.required:
            return action.help
        return super()._get_help_string(action)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_human.testing.fake_api",
        description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
        epilog=f"More knobs (faults after applying, held uploads, per-endpoint faults) through POST "
        f"/_fake/config; see {docs_link('fake-api')}",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port to listen on; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind: loopback only by default")
    parser.add_argument("--token", required=True, help="the server token to accept (required)")
    parser.add_argument(
        "--seed-file", help="JSON file {accounts: [...], identities: [...]} to load at start (default: none)"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each API answer, in ms")
    parser.add_argument(
        "--rate-limit-rps",
        type=float,
        default=0.0,
        help="API requests per second before answering 429 with Retry-After; 0 = no limit",
    )
    parser.add_argument(
        "--failure-rate",
        type=float,
        default=0.0,
        help="share (0 to 1) of API requests answered 503 before acting",
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=0,
        help="most account ids one feedback upload may carry, else 400; 0 = no limit",
    )
    parser.add_argument("--port-file", help="write the bound port to this file once listening (default: not written)")
    args = parser.parse_args(argv)

    api = FakeHumanAPI(token=args.token, port=args.port, host=args.host)
    api.configure(
        latency_ms=args.latency_ms,
        rate_limit_rps=args.rate_limit_rps,
        failure_rate=args.failure_rate,
        max_batch_size=args.max_batch_size,
    )
    if args.seed_file:
        with open(args.seed_file) as handle:
            seed = json.load(handle)
        api.seed_accounts(seed.get("accounts", []))
        api.seed_identities(seed.get("identities", []))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    api.start()
    if args.port_file:
        with open(args.port_file, "w") as handle:
            handle.write(str(api.port))
    print(f"fake HUMAN API listening on http://{args.host}:{api.port}", flush=True)
    stop.wait()
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
