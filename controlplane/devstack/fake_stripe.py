"""A local stand-in for Stripe's API, at the network boundary: the real ``stripe`` SDK talks to it over HTTP.

Point the SDK at it with ``StripeClient(key, base_addresses={"api": fake.url})`` (the service does this from the
``stripe_api_base`` setting). It implements the one call a card top-up makes, in Stripe's shape:

- ``POST /v1/checkout/sessions`` (form-encoded, nested keys such as ``line_items[0][price_data][currency]``):
  answers a ``checkout.session`` object, ``status: open``, with a ``url`` on checkout.stripe.com.

Every request is recorded (path, the form fields as sent, the bearer key, the ``Idempotency-Key``). A second create
with the same idempotency key answers the first session again, as Stripe does. :meth:`fail_next` makes the next
call answer with a Stripe error instead. :func:`signed_headers` signs a webhook payload as Stripe documents it.

Under ``controlplane dev`` the session's ``url`` is the dev checkout page (``checkout_page``), whose Pay button
calls :meth:`FakeStripe.pay`: the session completes and the signed ``checkout.session.completed`` event is
delivered to the platform's webhook, as Stripe would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

import httpx

from controlplane.devstack.local_server import LocalHttpServer, reply_json


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]
    api_key: str | None
    idempotency_key: str | None


@dataclass(frozen=True)
class Webhook:
    """Where paid sessions are announced, and the endpoint's signing secret."""

    url: str
    secret: str


@dataclass(frozen=True)
class Payment:
    """What the Pay button did: the session as it now is, and the webhook's answer."""

    session: dict[str, Any]
    already_paid: bool
    delivered: bool
    webhook_status: int | None
    webhook_answer: str


@dataclass
class FakeStripe(LocalHttpServer):
    api_key: str = "sk_test_fake_" + "0" * 24
    requests: list[RecordedRequest] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, str] = field(default_factory=dict)  # what each session sells, as the checkout page shows it
    checkout_page: str = "https://checkout.stripe.com/c/pay/{session_id}"  # a session's url
    webhook: Webhook | None = None
    _by_idempotency_key: dict[str, str] = field(default_factory=dict)
    _failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, checkout_page: str | None = None, webhook: Webhook | None = None) -> FakeStripe:
        fake = cls(webhook=webhook)
        if checkout_page is not None:
            fake.checkout_page = checkout_page
        fake.serve(_handler(fake), "fake-stripe")
        return fake

    def session(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.sessions.get(session_id)
            return dict(found) if found is not None else None

    def pay(self, session_id: str, timeout_s: float = 20.0) -> Payment:
        """The person paid: complete the session and deliver the signed event to the webhook (once)."""
        assert self.webhook is not None, "no webhook to announce payments to"
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] == "complete":
                return Payment(dict(session), True, delivered=False, webhook_status=None, webhook_answer="")
            session.update(status="complete", payment_status="paid")
            paid = dict(session)
        payload = json.dumps(event("evt_" + secrets.token_hex(12), "checkout.session.completed", paid)).encode()
        try:
            answer = httpx.post(
                self.webhook.url,
                content=payload,
                headers=signed_headers(payload, self.webhook.secret),
                timeout=timeout_s,
            )
        except httpx.HTTPError as exc:
            return Payment(paid, False, delivered=False, webhook_status=None, webhook_answer=f"not delivered: {exc}")
        return Payment(paid, False, answer.is_success, webhook_status=answer.status_code, webhook_answer=answer.text)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.sessions.clear()
            self.products.clear()
            self._by_idempotency_key.clear()
            self._failures.clear()

    def fail_next(self, status: int, message: str = "error", error_type: str = "api_error") -> None:
        with self._lock:
            self._failures.append((status, {"error": {"type": error_type, "message": message}}))

    def creates(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"]

    # The endpoint --------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, form: dict[str, str], api_key: str | None, idempotency_key: str | None
    ) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, form, api_key, idempotency_key))
            if self._failures:
                return self._failures.pop(0)
            if api_key != self.api_key:
                return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}
            if method == "POST" and path == "/v1/checkout/sessions":
                return self._create_session(form, idempotency_key)
            return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL {path}"}}

    def _create_session(self, form: dict[str, str], idempotency_key: str | None) -> tuple[int, Any]:
        if idempotency_key and idempotency_key in self._by_idempotency_key:
            return 200, self.sessions[self._by_idempotency_key[idempotency_key]]
        for required in ("mode", "success_url", "line_items[0][price_data][currency]"):
            if required not in form:
                return 400, {"error": {"type": "invalid_request_error", "message": f"Missing {required}"}}
        session_id = "cs_test_" + secrets.token_hex(16)
        unit_amount = int(form["line_items[0][price_data][unit_amount]"])
        quantity = int(form.get("line_items[0][quantity]", "1"))
        created = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": unit_amount * quantity,
            "currency": form["line_items[0][price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "metadata": _nested(form, "metadata"),
            "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"),
            "url": self.checkout_page.format(session_id=session_id),
            "created": created,
            "expires_at": created + 24 * 3600,
            "livemode": False,
        }
        self.sessions[session_id] = session
        self.products[session_id] = form.get("line_items[0][price_data][product_data][name]", "")
        if idempotency_key:
            self._by_idempotency_key[idempotency_key] = session_id
        return 200, session

    def completed_event(self, session_id: str, *, event_id: str | None = None, **changes: Any) -> dict[str, Any]:
        """The ``checkout.session.completed`` event Stripe sends once the person has paid."""
        session = {**self.sessions[session_id], "status": "complete", "payment_status": "paid", **changes}
        return event(event_id or "evt_" + secrets.token_hex(12), "checkout.session.completed", session)


def event(event_id: str, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": int(time.time()),
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def signed_headers(payload: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """``Stripe-Signature: t=TS,v1=HMAC_SHA256(secret, "TS.payload")``, as Stripe documents it."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}


def _nested(form: dict[str, str], name: str) -> dict[str, str]:
    prefix = f"{name}["
    return {key[len(prefix) : -1]: value for key, value in form.items() if key.startswith(prefix)}


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._answer("POST")

        def do_GET(self) -> None:
            self._answer("GET")

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode() if length else ""
            form = dict(parse_qsl(raw, keep_blank_values=True))
            authorization = self.headers.get("Authorization", "")
            api_key = authorization[7:] if authorization.startswith("Bearer ") else None
            path = self.path.split("?", 1)[0]
            status, body = fake.handle(method, path, form, api_key, self.headers.get("Idempotency-Key"))
            reply_json(self, status, body, {"Request-Id": "req_" + secrets.token_hex(8)})

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler
