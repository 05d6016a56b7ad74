"""Card top-ups: a Stripe Checkout Session per top-up, credited by Stripe's signed webhook.

No card data ever reaches the platform: Stripe's page takes the card; we keep the session id, the amount and the
currency. The session carries only the opaque billing reference (``billing_accounts.id``) and our checkout id.

The webhook is verified with the SDK (``Webhook.construct_event``: HMAC-SHA256 of ``"<t>.<payload>"`` with the
endpoint secret, and ``t`` within ``stripe_webhook_tolerance_s``), then applied once per event id (a row in
``billing_stripe_events``, inserted first; a replay finds it) and credited once per session (the ledger key
``stripe:checkout:<session id>``). Events it does not handle are acknowledged with a 2xx and ignored.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Any

import stripe
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from controlplane.billing import ledger
from controlplane.billing.models import Checkout, EntrySource, StripeEvent
from controlplane.db import utcnow
from controlplane.errors import BadRequest, ServiceUnavailable, Unprocessable, UpstreamError
from controlplane.settings import Settings

log = logging.getLogger(__name__)

# A session is paid when it completes with payment_status "paid", or later for delayed payment methods.
PAID_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})


def stripe_client(settings: Settings) -> stripe.StripeClient:
    if settings.stripe_api_key is None:
        raise ServiceUnavailable(
            "card payments are not configured on this server: set CONTROLPLANE_STRIPE_API_KEY",
            code="card_payments_unavailable",
        )
    base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    return stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        base_addresses=base,  # type: ignore[arg-type]
        http_client=stripe.RequestsClient(timeout=settings.stripe_timeout_s),
        max_network_retries=1,  # safe: the create carries an idempotency key
    )


def create_checkout(
    session: Session, settings: Settings, account_id: uuid.UUID, amount: int, *, now: datetime | None = None
) -> Checkout:
    """Open a Checkout Session for ``amount`` minor units of ``checkout_currency``; the caller is sent to its URL."""
    client = stripe_client(settings)
    if not settings.checkout_min_amount <= amount <= settings.checkout_max_amount:
        raise Unprocessable(
            f"amount must be between {settings.checkout_min_amount} and {settings.checkout_max_amount} "
            f"(minor units of {settings.checkout_currency.upper()})",
            code="amount_out_of_range",
            details=[{"location": ["body", "amount"], "message": "out of range"}],
        )
    now = now or utcnow()
    account = ledger.ensure_billing_account(session, account_id, now)
    credits = amount * settings.micro_credits_per_minor_unit
    checkout = Checkout(
        billing_account_id=account.id,
        account_id=account_id,
        amount=amount,
        currency=settings.checkout_currency.lower(),
        credits=credits,
        status="open",
        created_at=now,
    )
    session.add(checkout)
    session.flush()
    public = settings.public_url.rstrip("/")
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": checkout.currency,
                    "unit_amount": amount,
                    "product_data": {"name": f"{ledger.credits_text(credits)} platform credits"},
                },
            }
        ],
        "success_url": settings.checkout_success_url or f"{public}/billing?checkout=success",
        "cancel_url": settings.checkout_cancel_url or f"{public}/billing?checkout=cancelled",
        "client_reference_id": str(account.id),
        "metadata": {"checkout_id": str(checkout.id), "billing_account": str(account.id)},
        "payment_intent_data": {"metadata": {"checkout_id": str(checkout.id), "billing_account": str(account.id)}},
    }
    try:
        created = client.v1.checkout.sessions.create(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": f"checkout-{checkout.id}"},
        )
    except stripe.StripeError as exc:
        log.warning("Stripe refused or failed a checkout: %s", type(exc).__name__)
        raise UpstreamError("the card payment provider did not answer; try again", code="stripe_error") from exc
    checkout.stripe_session_id = created.id
    checkout.url = created.url
    session.flush()
    return checkout


def handle_webhook(
    session: Session, settings: Settings, payload: bytes, signature: str | None, *, now: datetime | None = None
) -> str:
    """Verify and apply one webhook delivery; returns what was done (``credited``, ``duplicate``, ``ignored``...)."""
    now = now or utcnow()
    try:
        stripe.Webhook.construct_event(
            payload,
            signature or "",
            settings.stripe_webhook_secret.get_secret_value(),
            tolerance=settings.stripe_webhook_tolerance_s,
        )
        event: dict[str, Any] = json.loads(payload)
        event_id, event_type = str(event["id"]), str(event["type"])
    except (stripe.SignatureVerificationError, ValueError, KeyError, TypeError) as exc:
        raise BadRequest("the Stripe-Signature header does not verify", code="invalid_signature") from exc
    claimed = session.execute(
        pg_insert(StripeEvent)
        .values(id=event_id, type=event_type, outcome="processing", received_at=now)
        .on_conflict_do_nothing(index_elements=[StripeEvent.id])
        .returning(StripeEvent.id)
    ).scalar_one_or_none()
    if claimed is None:
        return "duplicate"
    outcome = "ignored"
    if event_type in PAID_EVENTS:
        obj = (event.get("data") or {}).get("object") or {}
        outcome = _credit_session(session, settings, event_id, obj, now)
    session.execute(update(StripeEvent).where(StripeEvent.id == event_id).values(outcome=outcome))
    log.info("Stripe event %s (%s): %s", event_id, event_type, outcome)
    return outcome


def _credit_session(session: Session, settings: Settings, event_id: str, obj: dict[str, Any], now: datetime) -> str:
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return "awaiting_payment"
    session_id = str(obj.get("id", ""))
    checkout = session.scalar(select(Checkout).where(Checkout.stripe_session_id == session_id).with_for_update())
    if checkout is None:
        return "unknown_session"  # not one of ours (another integration on the same Stripe account)
    if obj.get("amount_total") != checkout.amount or str(obj.get("currency", "")).lower() != checkout.currency:
        log.error("Stripe session %s paid %s %s, not the %s %s it was created for", session_id,
                  obj.get("amount_total"), obj.get("currency"), checkout.amount, checkout.currency)  # fmt: skip
        checkout.status = "mismatch"
        return "amount_mismatch"
    if checkout.account_id is None:
        return "account_deleted"
    applied = ledger.credit(
        session,
        settings,
        checkout.account_id,
        checkout.credits,
        source=EntrySource.STRIPE,
        idempotency_key=f"stripe:checkout:{session_id}",
        reference=session_id,
        details={"amount": checkout.amount, "currency": checkout.currency, "event": event_id},
        now=now,
    )
    if not applied.created:
        return "already_credited"
    checkout.status = "completed"
    checkout.completed_at = now
    checkout.ledger_entry_id = applied.entry.id
    return "credited"
