"""Billing tables: the per-account balance row, the append-only ledger, card checkouts, Stripe events, on-chain
deposits and the metering runs.

Amounts are integer micro-credits (``BigInteger``) unless a column says otherwise. Every billing record carries a
nullable ``account_id`` that becomes NULL when the account is deleted, and the opaque ``billing_account_id``
that keeps an account's records together afterwards, detached from the person.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.db import Base, IdMixin, TimestampMixin, utcnow


class EntryKind(StrEnum):
    TOP_UP = "top_up"  # credits bought: a card payment or an on-chain deposit (amount > 0)
    USAGE = "usage"  # an hourly usage charge, or unpaid usage settled from a later top-up (amount <= 0)
    REFUND = "refund"  # credits paid back to the customer (amount < 0)
    ADJUSTMENT = "adjustment"  # an operator's correction, either sign


class EntrySource(StrEnum):
    STRIPE = "stripe_checkout"
    DEPOSIT = "onchain_deposit"
    METERING = "metering"
    UNPAID_USAGE = "unpaid_usage"  # a top-up paying the usage that an empty balance could not cover
    OPERATOR = "operator"


class DepositStatus(StrEnum):
    PENDING = "pending"  # seen on chain, waiting for enough confirmations
    CREDITED = "credited"
    FAILED = "failed"  # the transaction was found reverted (or its transfer vanished) on a later check


class BillingAccount(IdMixin, TimestampMixin, Base):
    """One per account: the balance (a cache of the ledger's sum, updated in the same transaction as each entry,
    under this row's lock) and the zero-balance lifecycle. Its ``id`` is the opaque billing reference that Stripe
    metadata and detached records use."""

    __tablename__ = "billing_accounts"

    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), unique=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # Usage the balance could not cover (charged at most down to zero); the next top-up pays it first.
    unpaid: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    hourly_cost: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))  # last metered hour
    # The lowest runway notice threshold the runway was below at the last metering pass (NULL: above them all):
    # thresholds at or above it have been told in this descent (see ``metering``).
    runway_notice_hours: Mapped[int | None] = mapped_column(Integer)
    suspended_at: Mapped[datetime | None]  # namespaces suspended for zero balance at this time
    volumes_released_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("unpaid >= 0", name="unpaid_not_negative"),
    )


class LedgerEntry(IdMixin, TimestampMixin, Base):
    """Append-only: a row is never updated or deleted. The balance is the sum of ``amount``; the unpaid usage is
    the sum of ``unpaid``."""

    __tablename__ = "billing_ledger_entries"

    billing_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("billing_accounts.id"))
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(30))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed micro-credits applied to the balance
    unpaid: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))  # change of unpaid usage
    balance_after: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(255))  # Stripe session, deposit id, metered hour...
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        UniqueConstraint("billing_account_id", "idempotency_key"),
        Index("ix_billing_ledger_entries_account_created", "account_id", "created_at", "id"),
        Index("ix_billing_ledger_entries_billing_account_created", "billing_account_id", "created_at"),
        CheckConstraint("kind IN ('top_up', 'usage', 'refund', 'adjustment')", name="kind_known"),
        CheckConstraint(
            "(kind = 'top_up' AND amount > 0) OR (kind = 'usage' AND amount <= 0)"
            " OR (kind = 'refund' AND amount < 0) OR kind = 'adjustment'",
            name="amount_sign",
        ),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
    )


# Append-only, enforced by the database: an entry is never changed or deleted, except that deleting the account
# detaches it (the foreign key sets account_id to NULL). Migration 0003 creates the same function and trigger.
APPEND_ONLY_FUNCTION = """
CREATE FUNCTION billing_ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The one change allowed: the foreign key detaching the entry from a deleted account.
    IF TG_OP = 'UPDATE' AND NEW.account_id IS NULL
       AND to_jsonb(NEW) - 'account_id' = to_jsonb(OLD) - 'account_id' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'billing ledger entries are append-only (% refused)', TG_OP USING ERRCODE = 'restrict_violation';
END
$$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER billing_ledger_entries_append_only BEFORE UPDATE OR DELETE ON billing_ledger_entries
FOR EACH ROW EXECUTE FUNCTION billing_ledger_entries_append_only()
"""


def _create_append_only_trigger(_table: Any, connection: Connection, **_kw: Any) -> None:
    """``metadata.create_all`` gets the trigger too (``text()`` escapes the body's ``%`` for the driver)."""
    connection.execute(text(APPEND_ONLY_FUNCTION))
    connection.execute(text(APPEND_ONLY_TRIGGER))


event.listen(LedgerEntry.__table__, "after_create", _create_append_only_trigger)


class Checkout(IdMixin, TimestampMixin, Base):
    """A Stripe Checkout Session we created. No card data: Stripe keeps it; we keep the session id and amount."""

    __tablename__ = "billing_checkouts"

    billing_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("billing_accounts.id"), index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    stripe_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units of currency (cents)
    currency: Mapped[str] = mapped_column(String(3))
    credits: Mapped[int] = mapped_column(BigInteger)  # micro-credits bought
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, completed, mismatch
    url: Mapped[str | None] = mapped_column(String(2048))
    completed_at: Mapped[datetime | None]
    ledger_entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("billing_ledger_entries.id"))


class StripeEvent(Base):
    """Each webhook event applied once: a replay of the same event id finds its row."""

    __tablename__ = "billing_stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Deposit(IdMixin, TimestampMixin, Base):
    """One ERC-20 transfer to the platform's deposit address, credited once per (chain, transaction, log index).
    The sender's wallet address and the transaction hash are kept to prove the deposit."""

    __tablename__ = "billing_deposits"

    billing_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("billing_accounts.id"), index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))  # 0x-prefixed, lower case
    log_index: Mapped[int] = mapped_column(Integer)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    token_address: Mapped[str] = mapped_column(String(42))  # EIP-55
    token_symbol: Mapped[str] = mapped_column(String(20))
    wallet_address: Mapped[str] = mapped_column(String(42))  # the sender, EIP-55
    amount_raw: Mapped[Decimal] = mapped_column(Numeric(78, 0))  # token base units (a uint256)
    credits: Mapped[int] = mapped_column(BigInteger)  # micro-credits
    status: Mapped[str] = mapped_column(String(20), default=DepositStatus.PENDING)
    confirmations: Mapped[int] = mapped_column(Integer, default=0)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    credited_at: Mapped[datetime | None]
    ledger_entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("billing_ledger_entries.id"))

    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index"),
        Index("ix_billing_deposits_account_created", "account_id", "created_at", "id"),
        Index("ix_billing_deposits_pending", "checked_at", postgresql_where=text("status = 'pending'")),
        CheckConstraint("credits > 0", name="credits_positive"),
    )


class MeteringRun(Base):
    """One per metered hour: what the pass charged. The hour itself is charged once per account by the ledger's
    idempotency key; this row lets the periodic job find the hours not yet metered."""

    __tablename__ = "billing_metering_runs"

    hour_start: Mapped[datetime] = mapped_column(primary_key=True)
    accounts: Mapped[int] = mapped_column(Integer)
    charged: Mapped[int] = mapped_column(BigInteger)
    unpaid: Mapped[int] = mapped_column(BigInteger)
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
