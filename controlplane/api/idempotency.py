"""``Idempotency-Key`` on POST: a retried create returns the first answer instead of creating twice.

The key is scoped to the caller's credential (a keyed hash of it; the client address for anonymous calls). The
first request claims the key; a retry with the same body replays the stored response; the same key with another
body is refused (422); a retry while the first is still running gets 409. Only successful answers are kept, so a
request that failed can be retried with its key. Records expire after ``idempotency_ttl_hours``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import JSON, Integer, LargeBinary, String, UniqueConstraint, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, mapped_column
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.accounts.secrets import keyed_hash
from controlplane.api.middleware import send_json
from controlplane.db import Base, IdMixin, TimestampMixin, utcnow
from controlplane.errors import AppError, error_body
from controlplane.runtime import Runtime

HEADER = b"idempotency-key"
_KEPT_HEADERS = (b"content-type", b"location")


class IdempotencyRecord(IdMixin, TimestampMixin, Base):
    __tablename__ = "idempotency_records"

    scope_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[list[str]] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (UniqueConstraint("scope_hash", "key"),)


@dataclass(frozen=True)
class Claim:
    outcome: str  # "new", "replay", "mismatch", "in_progress"
    record_id: uuid.UUID | None = None
    status_code: int = 0
    headers: list[list[str]] | None = None
    body: bytes = b""


def claim(runtime: Runtime, scope_hash: bytes, key: str, request_hash: bytes) -> Claim:
    now = utcnow()
    with runtime.transaction() as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope_hash == scope_hash,
                IdempotencyRecord.key == key,
                IdempotencyRecord.expires_at <= now,
            )
        )
        inserted = session.execute(
            insert(IdempotencyRecord)
            .values(
                id=uuid.uuid4(),
                scope_hash=scope_hash,
                key=key,
                request_hash=request_hash,
                expires_at=now + timedelta(hours=runtime.settings.idempotency_ttl_hours),
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyRecord.id)
        ).scalar_one_or_none()
        if inserted is not None:
            return Claim("new", inserted)
        record = session.scalars(
            select(IdempotencyRecord).where(IdempotencyRecord.scope_hash == scope_hash, IdempotencyRecord.key == key)
        ).one()
        if record.request_hash != request_hash:
            return Claim("mismatch")
        if record.status_code is None:
            return Claim("in_progress")
        return Claim("replay", record.id, record.status_code, record.response_headers, record.response_body or b"")


def settle(
    runtime: Runtime, record_id: uuid.UUID, status: int, headers: list[list[str]], body: bytes, sets_cookie: bool
) -> None:
    with runtime.transaction() as session:
        record = session.get(IdempotencyRecord, record_id)
        if record is None:
            return
        # A response that signs someone in (sets a cookie, carries a CSRF token) is never stored for replay.
        if 200 <= status < 300 and not sets_cookie:
            record.status_code, record.response_headers, record.response_body = status, headers, body
        else:
            session.delete(record)


def purge_expired(runtime: Runtime) -> int:
    with runtime.transaction() as session:
        result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow()))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, runtime: Callable[[], Runtime]) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, HEADER) if scope["type"] == "http" and scope["method"] == "POST" else None
        if key is None:
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= 255 or not key.isprintable():
            body = error_body("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable characters")
            await send_json(send, 400, body, [])
            return
        try:
            request_body = await _read_body(receive)
        except AppError as exc:
            await send_json(send, exc.status_code, exc.to_body(), [])
            return
        await self._idempotent(scope, send, key, request_body)

    async def _idempotent(self, scope: Scope, send: Send, key: str, request_body: bytes) -> None:
        runtime = self.runtime()
        scope_hash = keyed_hash(runtime.settings.session_secret, _credential(scope))
        # Keyed: a request body (a phone number, say) must not be recoverable from the stored digest.
        request_hash = keyed_hash(
            runtime.settings.session_secret,
            "\0".join([scope["path"], scope.get("query_string", b"").decode("latin-1"), request_body.hex()]),
        )
        found = await anyio.to_thread.run_sync(claim, runtime, scope_hash, key, request_hash)
        if found.outcome == "mismatch":
            message = "this Idempotency-Key was used with a different request"
            await send_json(send, 422, error_body("idempotency_key_reused", message), [])
        elif found.outcome == "in_progress":
            message = "a request with this Idempotency-Key is still in progress"
            await send_json(send, 409, error_body("idempotency_key_in_use", message), [])
        elif found.outcome == "replay":
            await _replay(send, found)
        else:
            assert found.record_id is not None
            await self._run_and_settle(scope, send, runtime, found.record_id, request_body)

    async def _run_and_settle(
        self, scope: Scope, send: Send, runtime: Runtime, record_id: uuid.UUID, request_body: bytes
    ) -> None:
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": [], "sets_cookie": False}
        delivered = False

        async def replay_body() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": request_body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    [name.decode(), value.decode()] for name, value in message["headers"] if name in _KEPT_HEADERS
                ]
                captured["sets_cookie"] = any(name == b"set-cookie" for name, _ in message["headers"])
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            body = b"".join(captured["body"])
            await anyio.to_thread.run_sync(
                settle, runtime, record_id, captured["status"], captured["headers"], body, captured["sets_cookie"]
            )


async def _replay(send: Send, found: Claim) -> None:
    headers = [(name.encode(), value.encode()) for name, value in found.headers or []]
    headers.append((b"idempotent-replayed", b"true"))
    headers.append((b"content-length", str(len(found.body)).encode()))
    await send({"type": "http.response.start", "status": found.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": found.body})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for header, value in scope["headers"]:
        if header == name:
            return str(value.decode("latin-1"))
    return None


def _credential(scope: Scope) -> str:
    authorization = _header(scope, b"authorization")
    if authorization:
        return "authorization:" + authorization
    cookie = _header(scope, b"cookie")
    if cookie:
        return "cookie:" + cookie
    client = scope.get("client") or ("unknown", 0)
    return f"anonymous:{client[0]}"
