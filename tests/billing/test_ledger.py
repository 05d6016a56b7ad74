"""The ledger: exact integer balances, one application per idempotency key, the overdraft rule, concurrency,
the API's views of it, and records that outlive the account."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.accounts.api_keys import issue_api_key
from controlplane.accounts.models import Account
from controlplane.accounts.principal import account_owner
from controlplane.accounts.service import create_account, set_operator
from controlplane.billing import ledger
from controlplane.billing.models import BillingAccount, EntryKind, EntrySource, LedgerEntry
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from tests.billing.conftest import Clock, Customer
from tests.billing.helpers import balance_row, entries, ledger_sums


def top_up(
    db: Session, settings: Settings, account_id: uuid.UUID, amount: int, key: str | None = None
) -> ledger.Applied:
    return ledger.credit(
        db, settings, account_id, amount, source=EntrySource.STRIPE, idempotency_key=key or f"t-{uuid.uuid4()}"
    )


def use(db: Session, account_id: uuid.UUID, amount: int, key: str | None = None) -> ledger.Applied:
    return ledger.charge(
        db, account_id, amount, source=EntrySource.METERING, idempotency_key=key or f"c-{uuid.uuid4()}"
    )


def test_balance_is_the_exact_sum_of_the_entries(db: Session, settings: Settings, customer: Customer) -> None:
    top_up(db, settings, customer.id, 5_000_000)
    top_up(db, settings, customer.id, 1)
    use(db, customer.id, 1_234_567)
    row = balance_row(db, customer.id)
    assert row.balance == 5_000_000 + 1 - 1_234_567 == 3_765_434
    assert ledger_sums(db, customer.id) == (row.balance, 0)
    assert [e.balance_after for e in entries(db, customer.id)] == [5_000_000, 5_000_001, 3_765_434]


def test_an_idempotency_key_applies_once(db: Session, settings: Settings, customer: Customer) -> None:
    first = top_up(db, settings, customer.id, 700, key="stripe:checkout:cs_1")
    again = top_up(db, settings, customer.id, 700, key="stripe:checkout:cs_1")
    assert first.created
    assert not again.created
    assert again.entry.id == first.entry.id
    assert balance_row(db, customer.id).balance == 700
    charged = use(db, customer.id, 100, key="usage:2026-01-01T00Z")
    repeated = use(db, customer.id, 100, key="usage:2026-01-01T00Z")
    assert charged.created
    assert not repeated.created
    assert balance_row(db, customer.id).balance == 600
    assert len(entries(db, customer.id)) == 2


def test_the_same_key_on_two_accounts_is_two_entries(
    db: Session, settings: Settings, make_customer: Callable[..., Customer]
) -> None:
    one, two = make_customer(), make_customer()
    top_up(db, settings, one.id, 10, key="same")
    top_up(db, settings, two.id, 20, key="same")
    assert (balance_row(db, one.id).balance, balance_row(db, two.id).balance) == (10, 20)


def test_a_charge_beyond_the_balance_takes_it_to_zero_and_the_next_top_up_pays_the_rest_first(
    db: Session, settings: Settings, customer: Customer
) -> None:
    top_up(db, settings, customer.id, 1_000)
    charged = use(db, customer.id, 1_500)
    assert (charged.entry.amount, charged.entry.unpaid, charged.entry.balance_after) == (-1_000, 500, 0)
    row = balance_row(db, customer.id)
    assert (row.balance, row.unpaid) == (0, 500)

    topped = top_up(db, settings, customer.id, 2_000)
    assert topped.settled is not None
    assert (topped.settled.kind, topped.settled.source) == (EntryKind.USAGE, EntrySource.UNPAID_USAGE)
    assert (topped.settled.amount, topped.settled.unpaid) == (-500, -500)
    row = balance_row(db, customer.id)
    assert (row.balance, row.unpaid) == (1_500, 0)
    assert ledger_sums(db, customer.id) == (1_500, 0)

    # A top-up smaller than the unpaid usage leaves the balance at zero.
    use(db, customer.id, 4_000)
    small = top_up(db, settings, customer.id, 1_000)
    assert small.settled is not None
    assert small.settled.amount == -1_000
    row = balance_row(db, customer.id)
    assert (row.balance, row.unpaid) == (0, 1_500)
    assert ledger_sums(db, customer.id) == (0, 1_500)


def test_the_database_refuses_a_negative_balance(db: Session, settings: Settings, customer: Customer) -> None:
    top_up(db, settings, customer.id, 10)
    with pytest.raises(IntegrityError, match="balance_not_negative"), db.begin_nested():
        db.execute(update(BillingAccount).where(BillingAccount.account_id == customer.id).values(balance=-1))
    wrong_sign = LedgerEntry(
        billing_account_id=balance_row(db, customer.id).id,
        account_id=customer.id,
        kind="top_up",
        source="operator",
        amount=-5,
        balance_after=5,
        idempotency_key="bad",
        details={},
    )
    savepoint = db.begin_nested()
    db.add(wrong_sign)
    with pytest.raises(IntegrityError, match="amount_sign"):
        db.flush()
    savepoint.rollback()


def test_amounts_are_integers_only(db: Session, settings: Settings, customer: Customer) -> None:
    with pytest.raises(TypeError):
        top_up(db, settings, customer.id, 1.5)  # type: ignore[arg-type]
    assert ledger.credits_text(12_345_678) == "12.345678"
    assert ledger.credits_text(-5) == "-0.000005"


def test_concurrent_charges_and_top_ups_lose_nothing_and_never_go_negative(
    runtime: Runtime, committed: Callable[[], Session]
) -> None:
    with committed() as session:
        account_id = create_account(session).id
        session.commit()
    rng = random.Random(7)
    operations = []
    for index in range(240):
        kind = rng.choice(["top_up", "charge", "charge"])
        amount = rng.randint(1, 50_000)
        operations.append((kind, amount, f"{kind}-{index}"))
    # Every tenth operation is sent twice (a retry racing its original): it must apply once.
    submitted = operations + [op for index, op in enumerate(operations) if index % 10 == 0]
    rng.shuffle(submitted)
    start = threading.Barrier(12)

    def apply(op: tuple[str, int, str]) -> None:
        kind, amount, key = op
        with runtime.transaction() as session:
            if kind == "top_up":
                ledger.credit(
                    session, runtime.settings, account_id, amount, source=EntrySource.STRIPE, idempotency_key=key
                )
            else:
                ledger.charge(session, account_id, amount, source=EntrySource.METERING, idempotency_key=key)

    def worker(chunk: list[tuple[str, int, str]]) -> None:
        start.wait()
        for op in chunk:
            apply(op)

    chunks = [submitted[index::12] for index in range(12)]
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(worker, chunks))

    with runtime.new_session() as session:
        row = balance_row(session, account_id)
        assert ledger_sums(session, account_id) == (row.balance, row.unpaid)
        keys = session.scalars(select(LedgerEntry.idempotency_key).where(LedgerEntry.account_id == account_id)).all()
        ordinary = [key for key in keys if not key.startswith("settle:")]
        assert sorted(ordinary) == sorted(key for _, _, key in operations)  # each once, none lost
        lowest = session.scalar(select(func.min(LedgerEntry.balance_after)).where(LedgerEntry.account_id == account_id))
        assert lowest is not None
        assert lowest >= 0
    # balance - unpaid is order-independent (a charge lowers it by its cost, a top-up raises it, a settlement
    # moves money between the two), and one of the two is always zero.
    net = sum(amount if kind == "top_up" else -amount for kind, amount, _ in operations)
    assert (row.balance, row.unpaid) == (max(net, 0), max(-net, 0))


# --- the API ------------------------------------------------------------------------------------------------------


def test_balance_of_a_new_account_is_zero(client: TestClient, customer: Customer) -> None:
    response = client.get("/v1/billing/balance", headers=customer.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["balance"], body["balance_credits"], body["unpaid"], body["hourly_cost"]) == (0, "0.000000", 0, 0)
    assert body["suspended"] is False
    assert body["volumes_released"] is False
    assert body["hours_left"] is None


def test_transactions_are_paginated_filtered_and_scoped(
    client: TestClient, db: Session, settings: Settings, make_customer: Callable[..., Customer], clock: Clock
) -> None:
    me, other = make_customer(), make_customer()
    start = clock.now
    for index in range(5):
        ledger.credit(
            db, settings, me.id, 1_000 + index, source=EntrySource.STRIPE, idempotency_key=f"t{index}",
            now=start + timedelta(minutes=index),
        )  # fmt: skip
    ledger.charge(db, me.id, 300, source=EntrySource.METERING, idempotency_key="u1", now=start + timedelta(minutes=10))
    ledger.credit(db, settings, other.id, 99, source=EntrySource.STRIPE, idempotency_key="t0", now=start)

    seen, cursor = [], None
    while True:
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/billing/transactions", params=params, headers=me.headers).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6
    assert [item["amount"] for item in seen] == [-300, 1004, 1003, 1002, 1001, 1000]  # newest first
    assert seen[0]["kind"] == "usage"
    assert seen[0]["amount_credits"] == "-0.000300"

    usage = client.get("/v1/billing/transactions", params={"kind": "usage"}, headers=me.headers).json()["items"]
    assert [item["amount"] for item in usage] == [-300]
    window = {"since": (start + timedelta(minutes=1)).isoformat(), "until": (start + timedelta(minutes=3)).isoformat()}
    ranged = client.get("/v1/billing/transactions", params=window, headers=me.headers).json()["items"]
    assert [item["amount"] for item in ranged] == [1002, 1001]
    backwards = {"since": window["until"], "until": window["since"]}
    assert client.get("/v1/billing/transactions", params=backwards, headers=me.headers).status_code == 422
    assert client.get("/v1/billing/transactions", params={"kind": "gift"}, headers=me.headers).status_code == 422

    theirs = client.get("/v1/billing/transactions", headers=other.headers).json()["items"]
    assert [item["amount"] for item in theirs] == [99]


def test_billing_scopes(client: TestClient, make_customer: Callable[..., Customer]) -> None:
    reader = make_customer(["billing:read"])
    assert client.get("/v1/billing/balance", headers=reader.headers).status_code == 200
    refused = client.post("/v1/billing/checkout", json={"amount": 1000}, headers=reader.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
    outsider = make_customer(["namespaces:write"])
    assert client.get("/v1/billing/transactions", headers=outsider.headers).status_code == 403
    assert client.get("/v1/billing/balance").status_code == 401


def test_operators_record_adjustments_and_refunds(
    client: TestClient, db: Session, settings: Settings, make_customer: Callable[..., Customer]
) -> None:
    operator, someone = make_customer(), make_customer()
    url = f"/v1/operator/billing/accounts/{someone.id}/entries"
    body = {"kind": "adjustment", "amount": 5_000, "reason": "goodwill", "idempotency_key": "goodwill-1"}
    assert client.post(url, json=body, headers=someone.headers).status_code == 403  # not an operator
    set_operator(db, operator.id, True)
    assert client.post(url, json=body, headers=operator.headers).status_code == 403  # a key without operator:write
    owner = account_owner(operator.id, is_operator=True)
    ops_key = issue_api_key(db, settings, owner, name="ops", scopes=["operator:write"], expires_at=None).key
    operator = Customer(operator.account, {"Authorization": f"Bearer {ops_key}"})
    first = client.post(url, json=body, headers=operator.headers)
    again = client.post(url, json=body, headers=operator.headers)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json()["id"] == again.json()["id"]
    assert balance_row(db, someone.id).balance == 5_000
    refund = {"kind": "refund", "amount": -2_000, "reason": "refunded by card"}
    assert client.post(url, json=refund, headers=operator.headers).json()["balance_after"] == 3_000
    too_much = client.post(url, json={**refund, "amount": -9_000}, headers=operator.headers)
    assert too_much.status_code == 409
    assert too_much.json()["error"]["code"] == "insufficient_balance"
    wrong_sign = client.post(url, json={**refund, "amount": 10}, headers=operator.headers)
    assert wrong_sign.status_code == 422
    nobody = f"/v1/operator/billing/accounts/{uuid.uuid4()}/entries"
    assert client.post(nobody, json=body, headers=operator.headers).status_code == 404
    assert ledger_sums(db, someone.id) == (3_000, 0)
    audited = client.get("/v1/operator/audit-log", headers=operator.headers)
    assert audited.status_code == 200, audited.text  # operator:write includes operator:read
    # Newest first; the retried adjustment answered 201 again (the ledger applied it once), so it is there twice.
    assert [entry["details"]["amount"] for entry in audited.json()["items"]] == [-2_000, 5_000, 5_000]


def test_billing_records_outlive_the_account_detached_from_the_person(
    db: Session, settings: Settings, customer: Customer
) -> None:
    top_up(db, settings, customer.id, 4_000)
    use(db, customer.id, 1_000)
    billing_ref = balance_row(db, customer.id).id
    db.execute(text("DELETE FROM api_keys WHERE account_id = :id"), {"id": customer.id})
    db.execute(delete(Account).where(Account.id == customer.id))
    db.expire_all()
    kept = db.scalars(select(LedgerEntry).where(LedgerEntry.billing_account_id == billing_ref)).all()
    assert len(kept) == 2
    assert {entry.account_id for entry in kept} == {None}
    account_row = db.get(BillingAccount, billing_ref)
    assert account_row is not None
    assert (account_row.account_id, account_row.balance) == (None, 3_000)


def test_entries_cannot_be_changed_or_deleted(db: Session, settings: Settings, customer: Customer) -> None:
    entry = top_up(db, settings, customer.id, 4_000).entry
    for statement in (
        update(LedgerEntry).where(LedgerEntry.id == entry.id).values(amount=4_000_000),
        update(LedgerEntry).where(LedgerEntry.id == entry.id).values(account_id=None, reference="x"),
        delete(LedgerEntry).where(LedgerEntry.id == entry.id),
    ):
        savepoint = db.begin_nested()
        with pytest.raises(IntegrityError, match="append-only"):
            db.execute(statement)
        savepoint.rollback()
    assert entries(db, customer.id)[0].amount == 4_000
