"""Writing, listing and marking notifications. Services flush; the caller's edge commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from controlplane.api.pagination import AnySelect
from controlplane.db import utcnow
from controlplane.errors import NotFound
from controlplane.notifications.models import Notification


def notify(
    session: Session,
    account_id: uuid.UUID,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> Notification:
    notification = Notification(
        account_id=account_id, kind=kind, title=title, body=body, data=data or {}, created_at=now or utcnow()
    )
    session.add(notification)
    session.flush()
    return notification


def listing(
    account_id: uuid.UUID, columns: Sequence[InstrumentedAttribute[Any]], *, unread_only: bool = False
) -> AnySelect:
    """The account's notifications, for a page reader; ``columns`` are what the list shows."""
    stmt = select(*columns).where(Notification.account_id == account_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return stmt


def mark_read(
    session: Session, account_id: uuid.UUID, notification_id: uuid.UUID, *, now: datetime | None = None
) -> Notification:
    notification = session.scalar(
        select(Notification).where(Notification.id == notification_id, Notification.account_id == account_id)
    )
    if notification is None:
        raise NotFound("no such notification")
    if notification.read_at is None:
        notification.read_at = now or utcnow()
        session.flush()
    return notification
