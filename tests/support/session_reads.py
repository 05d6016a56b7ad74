"""The API's event-loop reads, pointed at the rolled-back test session.

The API reads credentials and pages of lists through its own connections (``controlplane.api.async_db``), which
see committed rows only; tests that keep their data in one rolled-back transaction (``app_client``) point those
reads at that transaction instead. They run the API's own statements: only the connection differs. Tests on real
commits (``live``, the outage tests) use the event-loop readers themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import InstrumentedAttribute, Session

from controlplane.accounts.credentials import (
    API_KEY_BY_PREFIX,
    SESSION_BY_TOKEN_HASH,
    TOUCH_API_KEY,
    TOUCH_SESSION,
    ApiKeyRecord,
    SessionRecord,
)
from controlplane.api.pagination import AnySelect, PageParams, cut_row_page, page_statement


class SessionCredentialStore:
    def __init__(self, session: Session) -> None:
        self.db = session

    async def api_key(self, prefix: str) -> ApiKeyRecord | None:
        row = self.db.execute(API_KEY_BY_PREFIX, {"prefix": prefix}).one_or_none()
        return None if row is None else ApiKeyRecord(**row._asdict())

    async def session(self, token_hash: bytes) -> SessionRecord | None:
        row = self.db.execute(SESSION_BY_TOKEN_HASH, {"token_hash": token_hash}).one_or_none()
        return None if row is None else SessionRecord(**row._asdict())

    async def touch_api_key(self, key_id: uuid.UUID, now: datetime) -> None:
        self.db.execute(TOUCH_API_KEY, {"key_id": key_id, "now": now})

    async def touch_session(self, session_id: uuid.UUID, now: datetime) -> None:
        self.db.execute(TOUCH_SESSION, {"session_id": session_id, "now": now})


class SessionPageReader:
    def __init__(self, session: Session) -> None:
        self.db = session

    async def page(
        self,
        stmt: AnySelect,
        created_at: InstrumentedAttribute[datetime],
        row_id: InstrumentedAttribute[uuid.UUID],
        params: PageParams,
    ) -> tuple[Sequence[dict[str, Any]], str | None]:
        rows = [dict(row._mapping) for row in self.db.execute(page_statement(stmt, created_at, row_id, params))]
        return cut_row_page(rows, params, created_at, row_id)
