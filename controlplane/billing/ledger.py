"""The credit ledger: append-only entries, and the balance they add up to.

Every change of an account's money goes through :func:`credit`, :func:`charge` or :func:`adjust` (the hourly
metering pass does the same in SQL, set-based, see ``metering``). Each one:

1. locks the account's ``billing_accounts`` row (creating it on first use), so changes to one account's balance
   are serialised while different accounts never wait for each other;
2. inserts the entry with ``ON CONFLICT DO NOTHING`` on (billing account, idempotency key): a retried or
   concurrent duplicate finds the first entry and applies nothing;
3. updates the balance row in the same transaction. ``balance >= 0`` is a CHECK on the row and on every entry's
   ``balance_after``, so a race can never take an account below zero: at worst the transaction fails.

Overdraft rule: a usage charge takes at most the available balance; the rest is recorded as *unpaid* on the same
entry (and summed on the balance row). The next top-up pays unpaid usage first (a ``usage`` entry with source
``unpaid_usage``) and the remainder becomes balance. So ``balance == sum(amount)`` and
``unpaid == sum(unpaid)`` over the account's entries, always.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account
from controlplane.api.pagination import PageParams, paginate
from controlplane.billing.models import BillingAccount, EntryKind, EntrySource, LedgerEntry
from controlplane.db import utcnow
from controlplane.errors import Conflict, NotFound, Unprocessable
from controlplane.queue import PendingJob, enqueue_after_commit, job_id
from controlplane.settings import Settings

MICRO_CREDITS_PER_CREDIT = 1_000_000
SYNC_JOB = "controlplane.billing.jobs.sync_account"
# Beyond this an amount is refused rather than risk a BIGINT overflow (it is over 9 trillion credits).
MAX_AMOUNT = 2**62


@dataclass(frozen=True)
class Applied:
    entry: LedgerEntry
    created: bool  # False: the idempotency key had been used; the first entry is returned and nothing applied
    settled: LedgerEntry | None = None  # the unpaid usage this top-up paid first


def credits_text(micro_credits: int) -> str:
    """``12345678`` -> ``"12.345678"``: exact, for people (the API's integers are the amounts)."""
    sign = "-" if micro_credits < 0 else ""
    whole, fraction = divmod(abs(micro_credits), MICRO_CREDITS_PER_CREDIT)
    return f"{sign}{whole}.{fraction:06d}"


def sync_job(account_id: uuid.UUID, now: datetime) -> PendingJob:
    """The lifecycle job (suspend at zero, resume after a top-up): one id per account, coalesced."""
    return PendingJob(SYNC_JOB, (str(account_id), now.isoformat()), job_id=job_id("billing-sync", account_id))


# --- the balance row ---------------------------------------------------------------------------------------------


def get_billing_account(session: Session, account_id: uuid.UUID) -> BillingAccount | None:
    return session.scalar(select(BillingAccount).where(BillingAccount.account_id == account_id))


def ensure_billing_account(session: Session, account_id: uuid.UUID, now: datetime) -> BillingAccount:
    """The account's balance row, created at zero on first use (concurrent first uses create one)."""
    found = get_billing_account(session, account_id)
    if found is not None:
        return found
    if session.scalar(select(Account.id).where(Account.id == account_id)) is None:
        raise NotFound("no such account")
    session.execute(
        pg_insert(BillingAccount)
        .values(
            id=uuid.uuid4(),
            account_id=account_id,
            balance=0,
            unpaid=0,
            hourly_cost=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[BillingAccount.account_id])
    )
    return session.scalars(select(BillingAccount).where(BillingAccount.account_id == account_id)).one()


def lock_billing_account(session: Session, account_id: uuid.UUID, now: datetime) -> BillingAccount:
    """The balance row, locked until the transaction ends (every balance change holds this lock)."""
    ensure_billing_account(session, account_id, now)
    return session.scalars(
        select(BillingAccount)
        .where(BillingAccount.account_id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


# --- changes -----------------------------------------------------------------------------------------------------


def credit(
    session: Session,
    settings: Settings,
    account_id: uuid.UUID,
    amount: int,
    *,
    source: EntrySource,
    idempotency_key: str,
    reference: str | None = None,
    details: dict[str, Any] | None = None,
    kind: EntryKind = EntryKind.TOP_UP,
    now: datetime | None = None,
) -> Applied:
    """Add ``amount`` micro-credits (once per idempotency key), pay unpaid usage from it first, and queue the
    resumption of a suspended account once the balance is above zero."""
    _check_amount(amount, positive=True)
    now = now or utcnow()
    account = lock_billing_account(session, account_id, now)
    entry = _append(session, account, kind, source, amount, 0, idempotency_key, reference, details, now)
    if entry is None:
        return Applied(_existing(session, account, idempotency_key), created=False)
    settled = None
    if account.unpaid > 0 and account.balance > 0:
        paid = min(account.unpaid, account.balance)
        settled = _append(
            session,
            account,
            EntryKind.USAGE,
            EntrySource.UNPAID_USAGE,
            -paid,
            -paid,
            f"settle:{entry.id}",
            str(entry.id),
            {"paid_from": str(entry.id)},
            now,
        )
    if account.suspended_at is not None and account.balance > 0 and account.account_id is not None:
        enqueue_after_commit(session, sync_job(account.account_id, now))
    session.flush()
    return Applied(entry, created=True, settled=settled)


def charge(
    session: Session,
    account_id: uuid.UUID,
    amount: int,
    *,
    source: EntrySource,
    idempotency_key: str,
    reference: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Applied:
    """Charge usage: at most the balance is taken, the rest is recorded as unpaid. At zero, the lifecycle job is
    queued (it suspends the account's namespaces)."""
    _check_amount(amount, positive=True)
    now = now or utcnow()
    account = lock_billing_account(session, account_id, now)
    taken = min(amount, account.balance)
    entry = _append(
        session, account, EntryKind.USAGE, source, -taken, amount - taken, idempotency_key, reference, details, now
    )
    if entry is None:
        return Applied(_existing(session, account, idempotency_key), created=False)
    if account.balance == 0:
        enqueue_after_commit(session, sync_job(account_id, now))
    return Applied(entry, created=True)


def adjust(
    session: Session,
    settings: Settings,
    account_id: uuid.UUID,
    amount: int,
    *,
    kind: EntryKind,
    reason: str,
    idempotency_key: str,
    now: datetime | None = None,
) -> Applied:
    """An operator's adjustment (either sign) or refund (negative). A debit never goes below zero: refused."""
    if kind not in (EntryKind.ADJUSTMENT, EntryKind.REFUND):
        raise Unprocessable(f"an operator records adjustments and refunds, not {kind}", code="invalid_kind")
    if kind is EntryKind.REFUND and amount >= 0:
        raise Unprocessable("a refund takes credits back: its amount is negative", code="invalid_amount")
    if amount == 0:
        raise Unprocessable("the amount must not be zero", code="invalid_amount")
    _check_amount(abs(amount), positive=True)
    if amount > 0:
        return credit(
            session,
            settings,
            account_id,
            amount,
            source=EntrySource.OPERATOR,
            idempotency_key=idempotency_key,
            details={"reason": reason},
            kind=kind,
            now=now,
        )
    now = now or utcnow()
    account = lock_billing_account(session, account_id, now)
    duplicate = session.scalar(
        select(LedgerEntry).where(
            LedgerEntry.billing_account_id == account.id, LedgerEntry.idempotency_key == idempotency_key
        )
    )
    if duplicate is not None:
        return Applied(duplicate, created=False)
    if account.balance + amount < 0:
        raise Conflict(
            f"the balance is {credits_text(account.balance)} credits; a debit cannot take it below zero",
            code="insufficient_balance",
        )
    entry = _append(
        session, account, kind, EntrySource.OPERATOR, amount, 0, idempotency_key, None, {"reason": reason}, now
    )
    assert entry is not None
    return Applied(entry, created=True)


# --- reads -------------------------------------------------------------------------------------------------------


def list_entries(
    session: Session,
    account_id: uuid.UUID,
    page: PageParams,
    *,
    kind: EntryKind | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[Sequence[LedgerEntry], str | None]:
    """The caller's entries, newest first; ``since`` inclusive, ``until`` exclusive."""
    if since is not None and until is not None and since >= until:
        raise Unprocessable("since must be before until", code="invalid_time_range")
    stmt = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    if kind is not None:
        stmt = stmt.where(LedgerEntry.kind == kind)
    if since is not None:
        stmt = stmt.where(LedgerEntry.created_at >= since)
    if until is not None:
        stmt = stmt.where(LedgerEntry.created_at < until)
    return paginate(session, stmt, LedgerEntry.created_at, LedgerEntry.id, page)


@dataclass(frozen=True)
class Balance:
    balance: int
    unpaid: int
    hourly_cost: int  # what the account's current declaration costs per hour
    low_balance: bool  # the runway is below the highest runway notice threshold
    suspended_at: datetime | None
    volumes_release_at: datetime | None  # when suspended and the volumes still exist
    volumes_released_at: datetime | None

    @property
    def hours_left(self) -> int | None:
        return None if self.hourly_cost == 0 else self.balance // self.hourly_cost


def balance_of(
    session: Session, settings: Settings, account_id: uuid.UUID, hourly_cost: int, *, now: datetime | None = None
) -> Balance:
    account = get_billing_account(session, account_id)
    low_below = hourly_cost * max(settings.runway_notice_hours)
    if account is None:
        return Balance(0, 0, hourly_cost, hourly_cost > 0, None, None, None)
    release_at = None
    if account.suspended_at is not None and account.volumes_released_at is None:
        release_at = account.suspended_at + timedelta(hours=settings.volume_release_after_hours)
    return Balance(
        balance=account.balance,
        unpaid=account.unpaid,
        hourly_cost=hourly_cost,
        low_balance=account.balance < low_below,
        suspended_at=account.suspended_at,
        volumes_release_at=release_at,
        volumes_released_at=account.volumes_released_at,
    )


# --- helpers -----------------------------------------------------------------------------------------------------


def _append(
    session: Session,
    account: BillingAccount,
    kind: EntryKind,
    source: EntrySource,
    amount: int,
    unpaid: int,
    idempotency_key: str,
    reference: str | None,
    details: dict[str, Any] | None,
    now: datetime,
) -> LedgerEntry | None:
    """Insert the entry and apply it to the locked balance row; None when the key was used before."""
    balance_after = account.balance + amount
    entry = session.scalars(
        pg_insert(LedgerEntry)
        .values(
            id=uuid.uuid4(),
            billing_account_id=account.id,
            account_id=account.account_id,
            kind=kind,
            source=source,
            amount=amount,
            unpaid=unpaid,
            balance_after=balance_after,
            idempotency_key=idempotency_key,
            reference=reference,
            details=details or {},
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[LedgerEntry.billing_account_id, LedgerEntry.idempotency_key])
        .returning(LedgerEntry)
    ).one_or_none()
    if entry is None:
        return None
    account.balance = balance_after
    account.unpaid += unpaid
    account.updated_at = now
    session.flush()
    return entry


def _existing(session: Session, account: BillingAccount, idempotency_key: str) -> LedgerEntry:
    return session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.billing_account_id == account.id, LedgerEntry.idempotency_key == idempotency_key
        )
    ).one()


def _check_amount(amount: int, *, positive: bool) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amounts are integer micro-credits")
    if positive and amount <= 0:
        raise Unprocessable("the amount must be positive", code="invalid_amount")
    if abs(amount) >= MAX_AMOUNT:
        raise Unprocessable("the amount is too large", code="invalid_amount")
