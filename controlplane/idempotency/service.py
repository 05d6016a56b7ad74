"""Claiming a key, settling it with the answer, and forgetting records. Functions flush; the caller commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from controlplane.db import utcnow
from controlplane.idempotency.models import IdempotencyRecord


class Outcome(StrEnum):
    NEW = "new"  # first time: run the request
    REPLAY = "replay"  # answered before: send the stored answer
    SECRET = "secret"  # answered before with a secret, which is not kept  # noqa: S105
    MISMATCH = "mismatch"  # the key was used with another request
    IN_PROGRESS = "in_progress"  # the first request is still running


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    record_id: uuid.UUID | None = None
    status_code: int = 0
    headers: list[list[str]] | None = None
    body: bytes = b""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[list[str]]
    body: bytes
    shows_secret: bool  # it set a cookie or said ``Cache-Control: no-store``


def claim(
    session: Session,
    scope_hash: bytes,
    key: str,
    request_hash: bytes,
    *,
    account_id: uuid.UUID | None,
    ttl: timedelta,
) -> Claim:
    now = utcnow()
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
            account_id=account_id,
            replayable=True,
            expires_at=now + ttl,
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.id)
    ).scalar_one_or_none()
    if inserted is not None:
        return Claim(Outcome.NEW, inserted)
    record = session.scalars(
        select(IdempotencyRecord).where(IdempotencyRecord.scope_hash == scope_hash, IdempotencyRecord.key == key)
    ).one()
    if record.request_hash != request_hash:
        return Claim(Outcome.MISMATCH)
    if record.status_code is None:
        return Claim(Outcome.IN_PROGRESS)
    if not record.replayable:
        return Claim(Outcome.SECRET, record.id, record.status_code)
    return Claim(Outcome.REPLAY, record.id, record.status_code, record.response_headers, record.response_body or b"")


def settle(session: Session, record_id: uuid.UUID, answer: Answer) -> None:
    """Keep a successful answer for replay; for one that showed a secret keep only that it succeeded; forget a
    failure (so the request can be retried with its key)."""
    record = session.get(IdempotencyRecord, record_id)
    if record is None:
        return
    if not 200 <= answer.status < 300:
        session.delete(record)
        return
    record.status_code = answer.status
    if answer.shows_secret:
        record.replayable = False
        record.response_headers, record.response_body = None, None
    else:
        record.response_headers, record.response_body = answer.headers, answer.body


def purge_expired(session: Session, now: datetime | None = None) -> int:
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= (now or utcnow())))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def forget_account(session: Session, account_id: uuid.UUID) -> None:
    """Account deletion: what the person asked for, and when, goes with them."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.account_id == account_id))
