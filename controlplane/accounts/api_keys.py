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

from controlplane.accounts.models import ApiKey
from controlplane.accounts.principal import API_KEY_PREFIX
from controlplane.accounts.scopes import ALL_SCOPES
from controlplane.accounts.secrets import keyed_hash
from controlplane.api.pagination import AnySelect
from controlplane.db import utcnow
from controlplane.errors import NotFound, Unprocessable
from controlplane.settings import Settings


@dataclass(frozen=True)
class IssuedKey:
    row: ApiKey
    key: str


def issue_api_key(
    session: Session,
    settings: Settings,
    account_id: uuid.UUID,
    *,
    name: str,
    scopes: Sequence[str],
    expires_at: datetime | None,
) -> IssuedKey:
    unknown = sorted(set(scopes) - ALL_SCOPES)
    if unknown:
        raise Unprocessable(f"unknown scopes: {', '.join(unknown)}", details={"allowed": sorted(ALL_SCOPES)})
    if not scopes:
        raise Unprocessable("an API key needs at least one scope", details={"allowed": sorted(ALL_SCOPES)})
    if expires_at is not None and expires_at <= utcnow():
        raise Unprocessable("expires_at must be in the future")
    prefix = f"{API_KEY_PREFIX}{secrets.token_hex(6)}"
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        account_id=account_id,
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
