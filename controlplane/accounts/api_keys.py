"""API keys: shown once at creation, stored only as a keyed hash, revoked at once."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from controlplane.accounts.grants import check_key_grant
from controlplane.accounts.models import ApiKey
from controlplane.accounts.principal import API_KEY_PREFIX, Principal
from controlplane.accounts.secrets import keyed_hash
from controlplane.api.pagination import AnySelect
from controlplane.db import utcnow
from controlplane.errors import NotFound
from controlplane.settings import Settings


@dataclass(frozen=True)
class IssuedKey:
    row: ApiKey
    key: str


def issue_api_key(
    session: Session,
    settings: Settings,
    issuer: Principal,
    *,
    name: str,
    scopes: Sequence[str],
    expires_at: datetime | None,
) -> IssuedKey:
    """A new key of ``issuer``'s account, with no more than ``issuer`` holds (``check_key_grant``)."""
    check_key_grant(issuer, scopes, expires_at)
    prefix = f"{API_KEY_PREFIX}{secrets.token_hex(6)}"
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        account_id=issuer.account_id,
        name=name,
        prefix=prefix,
        secret_hash=keyed_hash(settings.api_key_pepper, key),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return IssuedKey(row, key)


def listing(account_id: uuid.UUID, columns: Sequence[InstrumentedAttribute[Any]]) -> AnySelect:
    """The account's keys, for a page reader; ``columns`` are what the list shows (never the secret's hash)."""
    return select(*columns).where(ApiKey.account_id == account_id)


def revoke_api_key(session: Session, account_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.account_id == account_id))
    if key is None:
        raise NotFound("no such API key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
