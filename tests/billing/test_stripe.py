"""Card top-ups: the Checkout Session as Stripe receives it, and the signed webhook that credits it once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.billing.models import Checkout, StripeEvent
from controlplane.devstack.fake_stripe import FakeStripe, event, signed_headers
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from tests.billing.conftest import Customer
from tests.billing.helpers import balance_row, entries


@pytest.fixture
def secret(billing_settings: Settings) -> str:
    return billing_settings.stripe_webhook_secret.get_secret_value()


def checkout(client: TestClient, customer: Customer, amount: int = 2_500) -> dict[str, Any]:
    response = client.post("/v1/billing/checkout", json={"amount": amount}, headers=customer.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def deliver(client: TestClient, payload: bytes, headers: dict[str, str]) -> Any:
    return client.post("/v1/billing/webhooks/stripe", content=payload, headers=headers)


def paid(stripe_api: FakeStripe, session_id: str, **changes: Any) -> bytes:
    return json.dumps(stripe_api.completed_event(session_id, **changes)).encode()


def session_id_of(stripe_api: FakeStripe) -> str:
    return next(iter(stripe_api.sessions))


def test_checkout_sends_stripe_the_amount_currency_and_an_opaque_reference(
    client: TestClient, db: Session, stripe_api: FakeStripe, customer: Customer
) -> None:
    body = checkout(client, customer, 2_500)
    [sent] = stripe_api.creates()
    form = sent.form
    assert sent.api_key == stripe_api.api_key
    assert form["mode"] == "payment"
    assert form["line_items[0][price_data][unit_amount]"] == "2500"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][product_data][name]"] == "25.000000 platform credits"
    assert form["metadata[checkout_id]"] == body["id"]
    billing_ref = str(balance_row(db, customer.id).id)
    assert form["metadata[billing_account]"] == form["client_reference_id"] == billing_ref
    assert form["success_url"].startswith("http://127.0.0.1:8000/billing")
    assert sent.idempotency_key == f"checkout-{body['id']}"
    assert str(customer.id) not in json.dumps(form)  # Stripe never learns who the person is
    session_id = session_id_of(stripe_api)
    assert body["url"] == f"https://checkout.stripe.com/c/pay/{session_id}"
    assert (body["amount"], body["currency"], body["credits"], body["status"]) == (2_500, "usd", 25_000_000, "open")
    stored = db.scalars(select(Checkout).where(Checkout.stripe_session_id == session_id)).one()
    assert (stored.amount, stored.account_id) == (2_500, customer.id)


def test_checkout_refuses_amounts_out_of_range(client: TestClient, stripe_api: FakeStripe, customer: Customer) -> None:
    for amount in (499, 1_000_001):
        response = client.post("/v1/billing/checkout", json={"amount": amount}, headers=customer.headers)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "amount_out_of_range"
    for bad in ({"amount": 10.5}, {"amount": "1000"}, {"amount": 0}, {"amount": 1000, "currency": "eur"}):
        assert client.post("/v1/billing/checkout", json=bad, headers=customer.headers).status_code == 422
    assert stripe_api.creates() == []


def test_checkout_when_stripe_fails_is_a_502(client: TestClient, stripe_api: FakeStripe, customer: Customer) -> None:
    stripe_api.fail_next(500, "boom")
    stripe_api.fail_next(500, "boom")  # the SDK retries once (safe: the create has an idempotency key)
    response = client.post("/v1/billing/checkout", json={"amount": 1_000}, headers=customer.headers)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "stripe_error"
    assert len(stripe_api.creates()) == 2
    assert {r.idempotency_key for r in stripe_api.creates()} == {stripe_api.creates()[0].idempotency_key}


def test_checkout_without_a_stripe_key_is_a_503(app_client: TestClient, runtime: Runtime, customer: Customer) -> None:
    response = app_client.post("/v1/billing/checkout", json={"amount": 1_000}, headers=customer.headers)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "card_payments_unavailable"


def test_a_signed_completed_event_credits_the_account(
    client: TestClient, db: Session, stripe_api: FakeStripe, customer: Customer, secret: str
) -> None:
    checkout(client, customer, 2_500)
    payload = paid(stripe_api, session_id_of(stripe_api))
    response = deliver(client, payload, signed_headers(payload, secret))
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "outcome": "credited"}
    [entry] = entries(db, customer.id)
    assert (entry.kind, entry.source, entry.amount) == ("top_up", "stripe_checkout", 25_000_000)
    assert entry.reference == session_id_of(stripe_api)
    balance = client.get("/v1/billing/balance", headers=customer.headers).json()
    assert (balance["balance"], balance["balance_credits"]) == (25_000_000, "25.000000")
    stored = db.scalars(select(Checkout).where(Checkout.account_id == customer.id)).one()
    assert (stored.status, stored.ledger_entry_id) == ("completed", entry.id)


def test_a_replayed_event_is_acknowledged_and_not_applied_again(
    client: TestClient, db: Session, stripe_api: FakeStripe, customer: Customer, secret: str
) -> None:
    checkout(client, customer)
    payload = paid(stripe_api, session_id_of(stripe_api), event_id="evt_replayed")
    assert deliver(client, payload, signed_headers(payload, secret)).json()["outcome"] == "credited"
    again = deliver(client, payload, signed_headers(payload, secret))
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    # Another event about the same paid session (Stripe may send one again with a new id): credited once.
    other = paid(stripe_api, session_id_of(stripe_api), event_id="evt_second")
    assert deliver(client, other, signed_headers(other, secret)).json()["outcome"] == "already_credited"
    assert balance_row(db, customer.id).balance == 25_000_000
    assert len(entries(db, customer.id)) == 1
    outcomes = dict(db.execute(select(StripeEvent.id, StripeEvent.outcome)).tuples().all())
    assert outcomes == {"evt_replayed": "credited", "evt_second": "already_credited"}


def test_a_tampered_payload_is_refused(
    client: TestClient, db: Session, stripe_api: FakeStripe, customer: Customer, secret: str
) -> None:
    checkout(client, customer)
    payload = paid(stripe_api, session_id_of(stripe_api))
    headers = signed_headers(payload, secret)
    tampered = payload.replace(b'"amount_total": 2500', b'"amount_total": 250000')
    assert tampered != payload
    response = deliver(client, tampered, headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    wrong_secret = deliver(client, payload, signed_headers(payload, "whsec_someone_else"))
    assert wrong_secret.status_code == 400
    assert deliver(client, payload, {"Content-Type": "application/json"}).status_code == 400  # no signature
    garbage = deliver(client, payload, {"Stripe-Signature": "nonsense"})
    assert garbage.status_code == 400
    assert entries(db, customer.id) == []
    assert db.scalars(select(StripeEvent)).all() == []


def test_a_stale_signature_is_refused(
    client: TestClient, db: Session, stripe_api: FakeStripe, customer: Customer, secret: str, billing_settings: Settings
) -> None:
    checkout(client, customer)
    payload = paid(stripe_api, session_id_of(stripe_api))
    stale = int(time.time()) - billing_settings.stripe_webhook_tolerance_s - 60
    response = deliver(client, payload, signed_headers(payload, secret, timestamp=stale))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert entries(db, customer.id) == []
    recent = int(time.time()) - 60  # within the tolerance: accepted
    assert deliver(client, payload, signed_headers(payload, secret, timestamp=recent)).status_code == 200


def test_events_it_does_not_handle_get_a_2xx(
    client: TestClient, db: Session, stripe_api: FakeStripe, customer: Customer, secret: str
) -> None:
    checkout(client, customer)
    session_id = session_id_of(stripe_api)
    cases = [
        (event("evt_intent", "payment_intent.succeeded", {"id": "pi_1", "object": "payment_intent"}), "ignored"),
        (stripe_api.completed_event(session_id, payment_status="unpaid"), "awaiting_payment"),
        (event("evt_foreign", "checkout.session.completed", {"id": "cs_not_ours", "payment_status": "paid"}),
         "unknown_session"),
        (stripe_api.completed_event(session_id, amount_total=1), "amount_mismatch"),
    ]  # fmt: skip
    for body, outcome in cases:
        payload = json.dumps(body).encode()
        response = deliver(client, payload, signed_headers(payload, secret))
        assert response.status_code == 200
        assert response.json()["outcome"] == outcome
    assert entries(db, customer.id) == []


def test_a_delayed_payment_is_credited_when_it_succeeds(
    client: TestClient, db: Session, stripe_api: FakeStripe, customer: Customer, secret: str
) -> None:
    checkout(client, customer, 1_000)
    session_id = session_id_of(stripe_api)
    pending = json.dumps(stripe_api.completed_event(session_id, payment_status="unpaid")).encode()
    assert deliver(client, pending, signed_headers(pending, secret)).json()["outcome"] == "awaiting_payment"
    succeeded_session = {**stripe_api.sessions[session_id], "status": "complete", "payment_status": "paid"}
    succeeded = json.dumps(event("evt_async", "checkout.session.async_payment_succeeded", succeeded_session)).encode()
    assert deliver(client, succeeded, signed_headers(succeeded, secret)).json()["outcome"] == "credited"
    assert balance_row(db, customer.id).balance == 10_000_000


def test_the_webhook_needs_no_credentials_and_no_csrf_token(
    client: TestClient,
    db: Session,
    stripe_api: FakeStripe,
    customer: Customer,
    secret: str,
    make_customer: Callable[..., Customer],
) -> None:
    checkout(client, customer)
    payload = paid(stripe_api, session_id_of(stripe_api))
    # As a browser would send it from another site, with some session cookie: neither matters, the signature does.
    client.cookies.set("cp_session", "not-a-session")
    headers = {**signed_headers(payload, secret), "Origin": "https://evil.example"}
    response = deliver(client, payload, headers)
    client.cookies.clear()
    assert response.status_code == 200, response.text
    assert balance_row(db, customer.id).balance == 25_000_000
