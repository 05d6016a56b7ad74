"""The zero-balance lifecycle, with the clock moved: suspended at zero (and told), volumes released a day later,
resumed after a top-up (told first whether the volumes are gone). Desired-state changes and reconciles only."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from controlplane.billing import ledger, lifecycle, metering
from controlplane.billing.models import EntryKind, EntrySource
from controlplane.deployments import service as deployments
from controlplane.deployments.models import Namespace
from controlplane.deployments.schemas import AppIn, NamespaceCreate
from controlplane.devstack.fake_stripe import FakeStripe, signed_headers
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from tests.billing.conftest import Clock, Customer
from tests.billing.helpers import balance_row
from tests.support.engine_double import calls
from tests.support.live import APP, Live

# APP: 2 replicas of 250 millicores and 256 MiB, a 5 GiB volume.
APP_COMPUTE = (2 * 250, 2 * 256)


def notifications(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    items = client.get("/v1/notifications", params={"limit": 50}, headers=headers).json()["items"]
    by_kind: dict[str, dict[str, Any]] = {}
    for item in items:
        assert item["kind"] not in by_kind, f"told twice: {item['kind']}"
        by_kind[item["kind"]] = item
    return by_kind


def lifecycles(live: Live) -> list[str]:
    return [call["lifecycle"] for call in calls(live.runtime.redis) if call["kind"] == "up"]


def test_zero_balance_suspends_then_releases_volumes_then_a_top_up_resumes(
    live: Live, runtime: Runtime, billing_settings: Settings, stripe_api: FakeStripe, clock: Clock
) -> None:
    settings = runtime.settings
    live.client.app.state.runtime = dataclasses.replace(runtime, settings=billing_settings)  # type: ignore[attr-defined]
    cost = metering.hourly_cost(settings, *APP_COMPUTE, 5)
    live.headers = live.new_key(credits=2 * cost)  # two hours of the namespace: enough to create it (one is needed)
    live.create("shop")
    live.work()
    namespace = live.namespace("shop")
    assert (namespace.desired_state, namespace.observed_state) == ("active", "active")
    assert namespace.account_id is not None
    account_id = namespace.account_id

    def meter() -> metering.MeteringResult:
        with runtime.transaction() as session:
            return metering.meter_hour(session, settings, clock.hour, now=clock.now)

    # Hour 1: one hour of credit left, under every runway notice threshold: told once, for the lowest (2 hours).
    assert meter().charged == cost
    told = notifications(live.client, live.headers)
    assert set(told) == {"runway"}
    assert told["runway"]["data"]["threshold_hours"] == 2
    # Hour 2: the balance reaches zero. The lifecycle job (queued after the metering commit) suspends.
    clock.advance(hours=1)
    suspended_at = clock.now
    assert meter().depleted == [account_id]
    live.work()
    namespace = live.namespace("shop")
    assert (namespace.desired_state, namespace.observed_state, namespace.status) == ("suspended", "suspended", "ready")
    assert lifecycles(live) == ["active", "suspended"]
    told = notifications(live.client, live.headers)
    assert set(told) == {"runway", "balance_zero"}
    assert told["balance_zero"]["data"]["namespaces"] == ["shop"]
    release_at = suspended_at + timedelta(hours=billing_settings.volume_release_after_hours)
    assert told["balance_zero"]["data"]["volumes_release_at"] == release_at.isoformat()
    balance = live.client.get("/v1/billing/balance", headers=live.headers).json()
    assert (balance["balance"], balance["suspended"], balance["volumes_released"]) == (0, True, False)
    assert balance["volumes_release_at"].replace("Z", "+00:00") == release_at.isoformat()
    assert balance["hourly_cost"] == metering.hourly_cost(settings, 0, 0, 5)  # a suspended namespace: volumes only

    # Hour 3, suspended: only the volume is charged, and the empty balance records it as unpaid.
    clock.advance(hours=1)
    volume_cost = metering.hourly_cost(settings, 0, 0, 5)
    third = meter()
    assert (third.charged, third.unpaid) == (0, volume_cost)
    live.work()  # the lifecycle job finds nothing more to suspend and says nothing more
    assert set(notifications(live.client, live.headers)) == {"runway", "balance_zero"}

    # 23 hours after the suspension nothing is released; after 24 the volumes are.
    with runtime.transaction() as session:
        ctx = deployments.Context(settings, runtime.redis)
        assert lifecycle.release_volumes(session, ctx, now=suspended_at + timedelta(hours=23)) == 0
    with runtime.transaction() as session:
        assert lifecycle.release_volumes(session, ctx, now=release_at + timedelta(minutes=1)) == 1
    with runtime.transaction() as session:
        assert lifecycle.release_volumes(session, ctx, now=release_at + timedelta(minutes=10)) == 0  # done once
    live.work()
    namespace = live.namespace("shop")
    assert (namespace.desired_state, namespace.observed_state) == ("volumes_released", "volumes_released")
    assert lifecycles(live) == ["active", "suspended", "volumes_released"]
    assert notifications(live.client, live.headers)["volumes_released"]["data"]["namespaces"] == ["shop"]
    balance = live.client.get("/v1/billing/balance", headers=live.headers).json()
    assert (balance["volumes_released"], balance["volumes_release_at"], balance["hourly_cost"]) == (True, None, 0)

    # A card top-up (Stripe Checkout, then its signed webhook) pays the unpaid hour first and resumes the namespace.
    response = live.client.post("/v1/billing/checkout", json={"amount": 1_000}, headers=live.headers)
    assert response.status_code == 201, response.text
    session_id = next(iter(stripe_api.sessions))
    payload = json.dumps(stripe_api.completed_event(session_id)).encode()
    secret = billing_settings.stripe_webhook_secret.get_secret_value()
    hook = live.client.post("/v1/billing/webhooks/stripe", content=payload, headers=signed_headers(payload, secret))
    assert hook.json()["outcome"] == "credited"
    balance = live.client.get("/v1/billing/balance", headers=live.headers).json()
    assert (balance["balance"], balance["unpaid"]) == (10_000_000 - volume_cost, 0)
    live.work()
    told = notifications(live.client, live.headers)
    assert told["resuming"]["data"]["volumes_released"] is True
    assert told["resuming"]["data"]["namespaces"] == ["shop"]
    assert "new, empty volumes" in told["resuming"]["body"]
    namespace = live.namespace("shop")
    assert (namespace.desired_state, namespace.observed_state) == ("active", "active")
    assert lifecycles(live) == ["active", "suspended", "volumes_released", "active"]
    balance = live.client.get("/v1/billing/balance", headers=live.headers).json()
    assert (balance["suspended"], balance["volumes_released"]) == (False, False)


def make_namespace(db: Session, runtime: Runtime, account_id: uuid.UUID, name: str) -> Namespace:
    """A namespace through the deployments service (admission included), then marked as applied.

    Creating it needs credit (a change that raises the price is refused without): the account is lent enough
    for the create, and the balance taken back to zero after, as if spent meanwhile."""
    settings = runtime.settings
    ctx = deployments.Context(settings, runtime.redis)
    lent = 10 * metering.hourly_cost(settings, *APP_COMPUTE, 5)
    ledger.credit(db, settings, account_id, lent, source=EntrySource.OPERATOR, kind=EntryKind.ADJUSTMENT,
                  idempotency_key=f"lend-{name}")  # fmt: skip
    namespace = deployments.create_namespace(
        db, ctx, account_id, NamespaceCreate(name=name, apps=[AppIn.model_validate(APP)])
    )
    spent = balance_row(db, account_id).balance
    ledger.adjust(db, settings, account_id, -spent, kind=EntryKind.ADJUSTMENT, reason="spent",
                  idempotency_key=f"spent-{name}")  # fmt: skip
    namespace.observed_state = namespace.desired_state
    namespace.observed_generation = namespace.generation
    db.flush()
    return namespace


def test_a_top_up_before_the_release_resumes_with_the_volumes_kept(
    client: TestClient, db: Session, runtime: Runtime, customer: Customer, clock: Clock
) -> None:
    settings = runtime.settings
    ctx = deployments.Context(settings, runtime.redis)
    name = f"kept-{uuid.uuid4().hex[:8]}"
    make_namespace(db, runtime, customer.id, name)
    ledger.credit(db, settings, customer.id, 1_000, source=EntrySource.STRIPE, idempotency_key="t1", now=clock.now)
    assert metering.meter_hour(db, settings, clock.hour, now=clock.now).depleted == [customer.id]
    assert lifecycle.sync_account(db, ctx, customer.id, now=clock.now) == "suspended 1 namespace(s)"
    assert lifecycle.sync_account(db, ctx, customer.id, now=clock.now) == "already suspended"

    # Twelve hours later a top-up arrives: the release sweep leaves a topped-up account alone.
    later = clock.advance(hours=12)
    ledger.credit(db, settings, customer.id, 5_000_000, source=EntrySource.STRIPE, idempotency_key="t2", now=later)
    assert lifecycle.release_volumes(db, ctx, now=later + timedelta(days=2)) == 0
    assert lifecycle.sync_account(db, ctx, customer.id, now=later) == "resumed 1 namespace(s)"
    told = notifications(client, customer.headers)
    assert set(told) == {"balance_zero", "resuming"}
    assert told["resuming"]["data"]["volumes_released"] is False
    assert "volumes were kept" in told["resuming"]["body"]
    db.expire_all()
    namespace = deployments.get_namespace(db, customer.id, name)
    assert namespace.desired_state == "active"
    assert namespace.volumes_released_at is None
    row = balance_row(db, customer.id)
    assert (row.suspended_at, row.volumes_released_at) == (None, None)


def test_a_namespace_started_while_suspended_is_suspended_at_the_next_charge(
    db: Session, runtime: Runtime, customer: Customer, clock: Clock
) -> None:
    settings = runtime.settings
    ctx = deployments.Context(settings, runtime.redis)
    first = make_namespace(db, runtime, customer.id, f"a-{uuid.uuid4().hex[:8]}")
    metering.meter_hour(db, settings, clock.hour, now=clock.now)  # never paid: zero at once
    lifecycle.sync_account(db, ctx, customer.id, now=clock.now)
    assert first.desired_state == "suspended"
    second = make_namespace(db, runtime, customer.id, f"b-{uuid.uuid4().hex[:8]}")
    clock.advance(hours=1)
    assert customer.id in metering.meter_hour(db, settings, clock.hour, now=clock.now).depleted
    assert lifecycle.sync_account(db, ctx, customer.id, now=clock.now) == "suspended 1 namespace(s)"
    assert second.desired_state == "suspended"
    # The account's suspension time is the first one: the volume release counts from it.
    assert balance_row(db, customer.id).suspended_at == clock.now - timedelta(hours=1)


def test_notifications_are_paginated_scoped_and_can_be_marked_read(
    client: TestClient, db: Session, make_customer: Callable[..., Customer], clock: Clock
) -> None:
    from controlplane.notifications.service import notify

    me, other = make_customer(), make_customer()
    for index in range(5):
        notify(db, me.id, "test", f"n{index}", "body", {"index": index}, now=clock.now + timedelta(minutes=index))
    notify(db, other.id, "test", "theirs", "body")
    page = client.get("/v1/notifications", params={"limit": 3}, headers=me.headers).json()
    assert [item["title"] for item in page["items"]] == ["n4", "n3", "n2"]
    rest = client.get("/v1/notifications", params={"cursor": page["next_cursor"]}, headers=me.headers).json()
    assert [item["title"] for item in rest["items"]] == ["n1", "n0"]
    assert rest["next_cursor"] is None
    target = page["items"][0]["id"]
    read = client.post(f"/v1/notifications/{target}/read", headers=me.headers)
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    unread = client.get("/v1/notifications", params={"unread": "true"}, headers=me.headers).json()["items"]
    assert target not in [item["id"] for item in unread]
    assert len(unread) == 4
    assert client.post(f"/v1/notifications/{target}/read", headers=other.headers).status_code == 404
    theirs = client.get("/v1/notifications", headers=other.headers).json()["items"]
    assert [item["title"] for item in theirs] == ["theirs"]
