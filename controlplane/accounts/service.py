"""Accounts: creation on first sign-in, lookups, operator grants."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account
from controlplane.db import utcnow
from controlplane.errors import NotFound


def create_account(session: Session, *, phone_hash: bytes | None = None) -> Account:
    account = Account(phone_hash=phone_hash, age_confirmed_at=utcnow())
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, account_id: uuid.UUID) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("no such account")
    return account


def set_operator(session: Session, account_id: uuid.UUID, is_operator: bool) -> Account:
    account = session.scalar(select(Account).where(Account.id == account_id).with_for_update())
    if account is None:
        raise NotFound(f"no account {account_id}")
    account.is_operator = is_operator
    return account
