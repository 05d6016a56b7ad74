"""Where the API looks up a caller's credential: on the event loop (``controlplane.api.async_db``).

Every authenticated request starts with this lookup. Done with the request's (synchronous) SQLAlchemy session it
would cost a trip to the thread pool before the endpoint's own trip; done here it costs one prepared statement on
the event loop, and an unknown or revoked credential is refused without taking a worker thread at all.

The lookup runs outside the request's transaction: it reads committed rows, and its "last used" writes commit by
themselves (they are bookkeeping, at most one a minute per credential).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, select, update

from controlplane.accounts.models import Account, ApiKey, AuthSession
from controlplane.api.async_db import LoopDatabase


@dataclass(frozen=True)
class ApiKeyRecord:
    id: uuid.UUID
    account_id: uuid.UUID
    secret_hash: bytes
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    is_operator: bool
    status: str


@dataclass(frozen=True)
class SessionRecord:
    id: uuid.UUID
    account_id: uuid.UUID
    csrf_hash: bytes
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    is_operator: bool
    status: str


API_KEY_BY_PREFIX = (
    select(
        ApiKey.id,
        ApiKey.account_id,
        ApiKey.secret_hash,
        ApiKey.scopes,
        ApiKey.expires_at,
        ApiKey.revoked_at,
        ApiKey.last_used_at,
        Account.is_operator,
        Account.status,
    )
    .join(Account, Account.id == ApiKey.account_id)
    .where(ApiKey.prefix == bindparam("prefix"))
)
SESSION_BY_TOKEN_HASH = (
    select(
        AuthSession.id,
        AuthSession.account_id,
        AuthSession.csrf_hash,
        AuthSession.created_at,
        AuthSession.expires_at,
        AuthSession.last_seen_at,
        Account.is_operator,
        Account.status,
    )
    .join(Account, Account.id == AuthSession.account_id)
    .where(AuthSession.token_hash == bindparam("token_hash"))
)
TOUCH_API_KEY = update(ApiKey).where(ApiKey.id == bindparam("key_id")).values(last_used_at=bindparam("now"))
TOUCH_SESSION = (
    update(AuthSession).where(AuthSession.id == bindparam("session_id")).values(last_seen_at=bindparam("now"))
)


class CredentialStore(Protocol):
    """The four statements authentication needs; ``PooledCredentialStore`` is the API's."""

    async def api_key(self, prefix: str) -> ApiKeyRecord | None: ...

    async def session(self, token_hash: bytes) -> SessionRecord | None: ...

    async def touch_api_key(self, key_id: uuid.UUID, now: datetime) -> None: ...

    async def touch_session(self, session_id: uuid.UUID, now: datetime) -> None: ...


class PooledCredentialStore:
    """The API's credential store: the statements above, run on the event loop's database."""

    def __init__(self, db: LoopDatabase) -> None:
        self.db = db

    async def api_key(self, prefix: str) -> ApiKeyRecord | None:
        row = await self.db.one_or_none(API_KEY_BY_PREFIX, {"prefix": prefix})
        return None if row is None else ApiKeyRecord(**row)

    async def session(self, token_hash: bytes) -> SessionRecord | None:
        row = await self.db.one_or_none(SESSION_BY_TOKEN_HASH, {"token_hash": token_hash})
        return None if row is None else SessionRecord(**row)

    async def touch_api_key(self, key_id: uuid.UUID, now: datetime) -> None:
        await self.db.execute(TOUCH_API_KEY, {"key_id": key_id, "now": now})

    async def touch_session(self, session_id: uuid.UUID, now: datetime) -> None:
        await self.db.execute(TOUCH_SESSION, {"session_id": session_id, "now": now})
