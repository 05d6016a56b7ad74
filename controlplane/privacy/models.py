"""The privacy package's tables: API usage logs and account deletions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.db import Base, IdMixin, TimestampMixin


class ApiLog(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_logs"

    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    api_key_id: Mapped[uuid.UUID | None]
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(String(128))
    client: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))


class AccountDeletion(IdMixin, TimestampMixin, Base):
    __tablename__ = "account_deletions"

    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # destroying -> completed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    namespaces_pending: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None]
