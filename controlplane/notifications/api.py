"""``GET /v1/notifications`` (newest first, paginated) and marking one as read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from controlplane.accounts.principal import Principal, RequireScope
from controlplane.accounts.scopes import Access
from controlplane.api.deps import PageDep, SessionDep
from controlplane.api.schemas import Page, ResponseModel, json_response
from controlplane.notifications import service

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])

ReadAccount = Annotated[Principal, Depends(RequireScope("account", Access.READ))]
WriteAccount = Annotated[Principal, Depends(RequireScope("account", Access.WRITE))]


class NotificationOut(ResponseModel):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


@router.get("", response_model=Page[NotificationOut])
def list_notifications(
    principal: ReadAccount,
    session: SessionDep,
    page: PageDep,
    unread: Annotated[bool, Query(description="Only those not yet marked as read")] = False,
) -> Response:
    rows, next_cursor = service.list_notifications(session, principal.account_id, page, unread_only=unread)
    return json_response(
        Page[NotificationOut](items=[NotificationOut.model_validate(row) for row in rows], next_cursor=next_cursor)
    )


@router.post("/{notification_id}/read", response_model=NotificationOut)
def mark_read(notification_id: uuid.UUID, principal: WriteAccount, session: SessionDep) -> Response:
    return json_response(
        NotificationOut.model_validate(service.mark_read(session, principal.account_id, notification_id))
    )
