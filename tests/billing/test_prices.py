"""One price function for metering and every price shown; the price of a change before it is made; 402 when the
credit does not cover it. Real database, Redis and RQ workers, through the HTTP app."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Numeric, cast, literal, select, text
from sqlalchemy.orm import Session

from controlplane.billing import metering
from controlplane.billing.models import LedgerEntry
from controlplane.billing.prices import PriceList, cost_sql, hourly_price
from controlplane.db import utcnow
from controlplane.deployments.models import DesiredState, Namespace
from controlplane.deployments.service import Context, transition
from tests.support.live import APP, Live, fund

BIG = {**copy.deepcopy(APP), "name": "db", "replicas": 3, "cpu_millicores": 700, "memory_mib": 900,
       "volume": {"size_gib": 13, "mount_path": "/var/lib/db"}}  # fmt: skip
SMALL = {**copy.deepcopy(APP), "name": "cron", "replicas": 1, "cpu_millicores": 100, "memory_mib": 64, "volume": None}


def account_of(live: Live, name: str) -> uuid.UUID:
    account_id = live.row(name).account_id
    assert account_id is not None
    return account_id


def test_a_metering_pass_charges_the_sum_of_the_prices_shown(live: Live) -> None:
    live.create("shop", [APP])
    live.create("shop-two", [APP])
    live.create("data", [BIG, SMALL])
    live.create("cold", [BIG])
    with live.new_session() as session:  # billing suspends one: it pays for its volume only
        cold = session.get(Namespace, live.row("cold").id)
        assert cold is not None
        transition(session, Context(live.runtime.settings), cold, DesiredState.SUSPENDED, reason="test")
        session.commit()
    live.work()
    shown = live.client.get("/v1/namespaces", headers=live.headers).json()["items"]
    assert {ns["name"]: ns["running_revision"] == ns["wanted_revision"] for ns in shown} == dict.fromkeys(
        ["shop", "shop-two", "data", "cold"], True
    )
    prices = {ns["name"]: ns["hourly_cost"] for ns in shown}
    assert prices["cold"] == metering.hourly_cost(live.runtime.settings, 0, 0, 13)
    assert live.client.get("/v1/billing/balance", headers=live.headers).json()["hourly_cost"] == sum(prices.values())

    hour = metering.hour_floor(utcnow())
    with live.runtime.transaction() as session:
        result = metering.meter_hour(session, live.runtime.settings, hour, now=hour + timedelta(hours=1))
    assert result.charged == sum(prices.values())
    with live.new_session() as session:
        [entry] = session.scalars(
            select(LedgerEntry).where(LedgerEntry.account_id == account_of(live, "shop"), LedgerEntry.kind == "usage")
        ).all()
    assert -entry.amount == sum(prices.values())
    # Why per namespace: priced as one lump, the account's usage would round to another amount.
    settings_ = live.runtime.settings
    lump = metering.hourly_cost(
        settings_, entry.details["vcpu_millicores"], entry.details["memory_mib"], entry.details["volume_gib"]
    )
    assert lump != sum(prices.values())


def test_the_price_of_a_declaration_is_known_at_once(live: Live) -> None:
    live.create("shop", [APP])
    shown = live.client.get("/v1/namespaces/shop", headers=live.headers).json()
    assert shown["running_revision"] is None  # nothing applied yet
    assert shown["hourly_cost"] == metering.hourly_cost(live.runtime.settings, 2 * 250, 2 * 256, 5) > 0
    assert live.client.get("/v1/billing/balance", headers=live.headers).json()["hourly_cost"] == shown["hourly_cost"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    usage=st.tuples(*(st.integers(0, 10**9) for _ in range(3))),
    price=st.tuples(st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**8), st.integers(1, 10**4)),
)
def test_the_price_function_gives_the_same_on_integers_and_in_sql(
    db: Session, usage: tuple[int, int, int], price: tuple[int, int, int, int]
) -> None:
    prices = PriceList(*price)
    expected = hourly_price(prices, *usage)
    as_expression = db.scalar(select(hourly_price(prices, *(cast(literal(value), Numeric) for value in usage))))
    as_metering_writes_it = db.scalar(
        text(f"SELECT {cost_sql(prices, 'CAST(:c AS numeric)', 'CAST(:m AS numeric)', 'CAST(:v AS numeric)')}"),
        {"c": usage[0], "m": usage[1], "v": usage[2]},
    )
    assert int(as_expression) == int(as_metering_writes_it) == expected


# --- 402: the credit must cover the change -----------------------------------------------------------------------


def test_creating_a_namespace_at_zero_balance_is_refused_naming_price_balance_and_what_to_add(live: Live) -> None:
    live.headers = live.new_key(credits=0)
    price = metering.hourly_cost(live.runtime.settings, 2 * 250, 2 * 256, 5)
    refused = live.client.post("/v1/namespaces", json={"name": "shop", "apps": [APP]}, headers=live.headers)
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "insufficient_credits"
    assert (error["details"]["hourly_cost_after"], error["details"]["balance"]) == (price, 0)
    assert error["details"]["to_add"] == price  # one hour (min_runway_hours) of it
    assert "Add at least" in error["message"]
    assert live.client.get("/v1/namespaces/shop", headers=live.headers).status_code == 404
    assert live.queued() == 0
    # A namespace that costs nothing is not a price raise.
    empty = live.client.post("/v1/namespaces", json={"name": "empty", "apps": []}, headers=live.headers)
    assert empty.status_code == 202


def test_adding_exactly_what_the_refusal_names_lets_the_change_through(live: Live) -> None:
    live.headers = live.new_key(credits=0)
    body = {"name": "shop", "apps": [APP, BIG]}
    to_add = live.client.post("/v1/namespaces", json=body, headers=live.headers).json()["error"]["details"]["to_add"]
    account_id = _account_id(live)
    with live.new_session() as session:
        fund(session, live.runtime.settings, account_id, to_add - 1)
        session.commit()
    short = live.client.post("/v1/namespaces", json=body, headers=live.headers)
    assert short.status_code == 402
    assert short.json()["error"]["details"]["to_add"] == 1
    with live.new_session() as session:
        fund(session, live.runtime.settings, account_id, 1)
        session.commit()
    assert live.client.post("/v1/namespaces", json=body, headers=live.headers).status_code == 202


def test_a_change_that_raises_the_price_needs_runway_and_lowering_it_is_always_allowed(live: Live) -> None:
    settings_ = live.runtime.settings
    one_app = metering.hourly_cost(settings_, 2 * 250, 2 * 256, 5)
    live.headers = live.new_key(credits=3 * one_app)  # three hours of one app
    live.create("shop", [APP])
    up = live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": 8}, headers=live.headers)
    assert up.status_code == 402  # about 4x the price: less than an hour left
    details = up.json()["error"]["details"]
    assert details["hourly_cost_before"] == one_app
    assert details["runway_hours_after"] < 1 <= details["runway_hours_before"]
    small_up = live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": 3}, headers=live.headers)
    assert small_up.status_code == 202  # 1.5x: two hours left
    with live.new_session() as session:  # the balance is spent: it is zero now
        from controlplane.billing import ledger
        from controlplane.billing.models import EntryKind

        ledger.adjust(session, settings_, _account_id(live), -3 * one_app, kind=EntryKind.ADJUSTMENT, reason="spent",
                      idempotency_key="spent")  # fmt: skip
        session.commit()
    down = live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": 1}, headers=live.headers)
    assert down.status_code == 202
    same_price = live.client.patch("/v1/namespaces/shop/apps/web", json={"image": "ghcr.io/acme/web:9.0.0"},
                                   headers=live.headers)  # fmt: skip
    assert same_price.status_code == 202
    assert live.client.delete("/v1/namespaces/shop/apps/web", headers=live.headers).status_code == 202
    assert live.client.delete("/v1/namespaces/shop", headers=live.headers).status_code == 202


def test_unpaid_usage_counts_in_what_to_add(live: Live) -> None:
    settings_ = live.runtime.settings
    price = metering.hourly_cost(settings_, 2 * 250, 2 * 256, 5)
    live.headers = live.new_key(credits=price)
    live.create("shop", [APP])
    live.work()
    hour = metering.hour_floor(utcnow())
    for offset in range(3):  # one hour paid, two unpaid
        with live.runtime.transaction() as session:
            metering.meter_hour(session, settings_, hour + timedelta(hours=offset), now=hour + timedelta(hours=4))
    refused = live.client.post("/v1/namespaces/shop/apps", json=SMALL, headers=live.headers)
    assert refused.status_code == 402
    details = refused.json()["error"]["details"]
    assert (details["balance"], details["unpaid"]) == (0, 2 * price)
    assert details["to_add"] == details["hourly_cost_after"] + 2 * price


def _account_id(live: Live) -> uuid.UUID:
    """The account behind ``live.headers`` (an empty namespace costs nothing, so it is always accepted)."""
    created = live.client.post("/v1/namespaces", json={"name": "whoami", "apps": []}, headers=live.headers)
    assert created.status_code == 202
    return account_of(live, "whoami")
