"""A local stand-in for Twilio Verify, at the network boundary: the real SDK talks to it over HTTP.

Point the SDK at it with ``client.verify.base_url = fake.url`` (the service does this from the
``twilio_verify_base_url`` setting). It implements the two calls a sign-in makes, in Twilio's shapes:

- ``POST /v2/Services/{sid}/Verifications`` (form ``To``, ``Channel``): creates a pending verification with a fresh
  six-digit code, which tests read with :meth:`FakeTwilioVerify.code_for` (a person would get it by SMS);
- ``POST /v2/Services/{sid}/VerificationCheck`` (form ``To``, ``Code``): ``approved`` for the right code, ``pending``
  for a wrong one, and 404 (Twilio's 20404) when there is no pending verification (never sent, already approved,
  or five wrong codes).

Every request is recorded (path, form fields, basic-auth user) so tests can assert what was sent. :meth:`fail_next`
makes the next call answer with a Twilio error instead. The test suite and ``controlplane dev`` use the same
server: under dev, ``on_code`` prints each code in the console, and :meth:`outbox` feeds ``GET /v1/dev/phone-codes``.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from controlplane.devstack.local_server import LocalHttpServer, reply_json

MAX_CHECK_ATTEMPTS = 5
OUTBOX_SIZE = 100  # the most recent texts kept for the dev endpoint


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]
    account_sid: str | None


@dataclass(frozen=True)
class SentCode:
    """One text the stand-in "sent": a person would have read ``code`` on the phone ``to``."""

    to: str
    code: str
    sent_at: datetime


@dataclass
class _Pending:
    sid: str
    code: str
    channel: str
    created: datetime
    wrong_attempts: int = 0


@dataclass
class FakeTwilioVerify(LocalHttpServer):
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "fake-auth-token"  # noqa: S105 (the stand-in's own, well known)
    service_sid: str = "VA" + "1" * 32
    requests: list[RecordedRequest] = field(default_factory=list)
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _outbox: list[SentCode] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    on_code: Callable[[SentCode], None] | None = None  # told of every text sent (dev prints it)

    @classmethod
    def start(cls, on_code: Callable[[SentCode], None] | None = None) -> FakeTwilioVerify:
        fake = cls(on_code=on_code)
        fake.serve(_handler(fake), "fake-twilio")
        return fake

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._pending.clear()
            self._failures.clear()
            self._outbox.clear()

    def outbox(self, to: str | None = None) -> list[SentCode]:
        """The texts sent, newest first (only those to ``to`` when given)."""
        with self._lock:
            return [sent for sent in reversed(self._outbox) if to is None or sent.to == to]

    def code_for(self, to: str) -> str:
        """The code texted to ``to`` (E.164) by the latest verification still pending."""
        with self._lock:
            return self._pending[to].code

    def fail_next(self, status: int, code: int, message: str = "error") -> None:
        """The next request gets a Twilio error response (``{"code", "message", "more_info", "status"}``)."""
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
        with self._lock:
            self._failures.append((status, {**body, "status": status}))

    def sent_to(self) -> list[str]:
        """The ``To`` of every Verifications request, in order."""
        return [r.form.get("To", "") for r in self.requests if r.path.endswith("/Verifications")]

    # The two endpoints -------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, form: dict[str, str], account_sid: str | None) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, form, account_sid))
            if self._failures:
                return self._failures.pop(0)
            if account_sid != self.account_sid:
                return 401, _error(20003, "Authenticate", 401)
            parts = path.strip("/").split("/")
            if method != "POST" or len(parts) != 4 or parts[:2] != ["v2", "Services"]:
                return 404, _error(20404, f"The requested resource {path} was not found", 404)
            if parts[2] != self.service_sid:
                return 404, _error(20404, f"The requested resource {path} was not found", 404)
            if parts[3] == "Verifications":
                return self._start(form)
            if parts[3] == "VerificationCheck":
                return self._check(path, form)
            return 404, _error(20404, f"The requested resource {path} was not found", 404)

    def _start(self, form: dict[str, str]) -> tuple[int, Any]:
        to, channel = form.get("To", ""), form.get("Channel", "")
        if not to.startswith("+") or not to[1:].isdigit():
            return 400, _error(60200, "Invalid parameter `To`", 400)
        if channel not in ("sms", "call", "whatsapp"):
            return 400, _error(60200, "Invalid parameter: Channel", 400)
        pending = self._pending.get(to)
        if pending is None:
            pending = _Pending("VE" + secrets.token_hex(16), f"{secrets.randbelow(10**6):06d}", channel, _now())
            self._pending[to] = pending
        else:  # Twilio resends the same code while a verification is pending
            pending.channel = channel
        sent = SentCode(to, pending.code, _now())
        self._outbox = [*self._outbox[-(OUTBOX_SIZE - 1) :], sent]
        if self.on_code is not None:
            self.on_code(sent)
        return 201, self._instance(to, pending, "pending")

    def _check(self, path: str, form: dict[str, str]) -> tuple[int, Any]:
        to, code = form.get("To", ""), form.get("Code", "")
        pending = self._pending.get(to)
        if pending is None:
            return 404, _error(20404, f"The requested resource {path} was not found", 404)
        if code == pending.code:
            del self._pending[to]
            return 200, self._instance(to, pending, "approved")
        pending.wrong_attempts += 1
        if pending.wrong_attempts >= MAX_CHECK_ATTEMPTS:
            del self._pending[to]
        return 200, self._instance(to, pending, "pending")

    def _instance(self, to: str, pending: _Pending, status: str) -> dict[str, Any]:
        stamp = pending.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "sid": pending.sid,
            "service_sid": self.service_sid,
            "account_sid": self.account_sid,
            "to": to,
            "channel": pending.channel,
            "status": status,
            "valid": status == "approved",
            "amount": None,
            "payee": None,
            "lookup": {},
            "send_code_attempts": [{"channel": pending.channel, "time": stamp}],
            "sna": None,
            "date_created": stamp,
            "date_updated": _now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "url": f"https://verify.twilio.com/v2/Services/{self.service_sid}/Verifications/{pending.sid}",
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _handler(fake: FakeTwilioVerify) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode()
            form = {name: values[0] for name, values in parse_qs(raw, keep_blank_values=True).items()}
            status, body = fake.handle("POST", self.path, form, _basic_auth_user(self.headers.get("Authorization")))
            reply_json(self, status, body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: these requests carry phone numbers, which must not reach any log."""

    return Handler


def _basic_auth_user(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
    return user
