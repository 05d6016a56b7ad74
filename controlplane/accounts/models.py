"""Accounts and the ways into them: phone (as a keyed hash), wallets, server-side sessions, API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, Boolean, ForeignKey, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from controlplane.db import Base, IdMixin, TimestampMixin


class Account(IdMixin, TimestampMixin, Base):
    __tablename__ = "accounts"

    # HMAC-SHA256(phone pepper, E.164 number): the number itself is never stored.
    phone_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    age_confirmed_at: Mapped[datetime]
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")

    wallets: Mapped[list[Wallet]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="Wallet.created_at"
    )


class Wallet(IdMixin, TimestampMixin, Base):
    __tablename__ = "wallets"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(42), unique=True)  # EIP-55 checksummed

    account: Mapped[Account] = relationship(back_populates="wallets")


class AuthSession(IdMixin, TimestampMixin, Base):
    __tablename__ = "auth_sessions"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    csrf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]
    # What the person sees in their list of sessions: the browser's own description and a reduced address.
    user_agent: Mapped[str | None] = mapped_column(String(200))
    client: Mapped[str | None] = mapped_column(String(64))


class ApiKey(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_keys"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
