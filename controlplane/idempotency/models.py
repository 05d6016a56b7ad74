"""One row per (caller, Idempotency-Key): the request's digest and, once it succeeded, what to replay."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, LargeBinary, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.db import Base, IdMixin, TimestampMixin


class IdempotencyRecord(IdMixin, TimestampMixin, Base):
    __tablename__ = "idempotency_records"

    scope_hash: Mapped[bytes] = mapped_column(LargeBinary(32))  # keyed hash of the credential (or client address)
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Personal (what someone did): erased with the account (``service.forget_account``). No foreign key: the
    # record is written in its own transaction, before the request's, and must not wait on the account's row.
    account_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[list[str]] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    # False for an answer that showed a secret once (a new API key, a session): only the fact that it happened
    # is kept, and a retry is told so instead of getting the secret again.
    replayable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    expires_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (UniqueConstraint("scope_hash", "key"),)
