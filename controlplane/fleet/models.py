"""Rollouts: one program, provider or platform change taken to every stack it changes, in waves."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.db import Base, IdMixin, TimestampMixin


class RolloutStatus(StrEnum):
    PLANNING = "planning"  # the stacks whose digest differs are being found
    RUNNING = "running"
    PAUSED = "paused"  # by an operator, or by a wave that failed too often; resume or abort
    ABORTED = "aborted"
    COMPLETED = "completed"


ACTIVE_STATUSES = (RolloutStatus.PLANNING, RolloutStatus.RUNNING, RolloutStatus.PAUSED)


class ItemState(StrEnum):
    PENDING = "pending"  # its wave has not started
    QUEUED = "queued"  # its update is queued or running
    DONE = "done"
    FAILED = "failed"  # the namespace stalled (retries exhausted)
    SKIPPED = "skipped"  # when its wave came, the stack already had the new digest, or the namespace was gone
    CANCELLED = "cancelled"  # the rollout was aborted first


TERMINAL_STATES = (ItemState.DONE, ItemState.FAILED, ItemState.SKIPPED, ItemState.CANCELLED)


class Rollout(IdMixin, TimestampMixin, Base):
    __tablename__ = "rollouts"

    status: Mapped[str] = mapped_column(String(20), default=RolloutStatus.PLANNING, index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    started_by_account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    credential: Mapped[str] = mapped_column(String(80))
    canary_percent: Mapped[float] = mapped_column(Float)
    wave_growth: Mapped[float] = mapped_column(Float)
    failure_threshold: Mapped[float] = mapped_column(Float)
    program_version: Mapped[str] = mapped_column(String(64))
    current_wave: Mapped[int] = mapped_column(Integer, default=-1)  # -1: no wave started yet
    waves: Mapped[int] = mapped_column(Integer, default=0)
    considered: Mapped[int] = mapped_column(Integer, default=0)  # namespaces whose digest was checked
    paused_reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class RolloutItem(Base):
    __tablename__ = "rollout_items"

    rollout_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), primary_key=True)
    namespace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    wave: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default=ItemState.PENDING)
    previous_digest: Mapped[str | None] = mapped_column(String(64))
    target_digest: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_rollout_items_rollout_wave_state", "rollout_id", "wave", "state"),)
