"""``GET /v1/notifications`` (newest first, paginated) and marking one as read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from controlplane.accounts.principal import Principal, RequireScope
from controlplane.accounts.scopes import Access
from controlplane.api.deps import PageDep, PageReaderDep, SessionDep
from controlplane.api.pagination import columns_for
from controlplane.api.schemas import Page, ResponseModel, json_response
from controlplane.notifications import service
from controlplane.notifications.models import Notification

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
async def list_notifications(
    principal: ReadAccount,
    reader: PageReaderDep,
    page: PageDep,
    unread: Annotated[bool, Query(description="Only those not yet marked as read")] = False,
) -> Response:
    stmt = service.listing(principal.account_id, columns_for(NotificationOut, Notification), unread_only=unread)
    rows, next_cursor = await reader.page(stmt, Notification.created_at, Notification.id, page)
    return json_response(
        Page[NotificationOut](items=[NotificationOut.model_validate(row) for row in rows], next_cursor=next_cursor)
    )


@router.post("/{notification_id}/read", response_model=NotificationOut)
def mark_read(notification_id: uuid.UUID, principal: WriteAccount, session: SessionDep) -> Response:
    return json_response(
        NotificationOut.model_validate(service.mark_read(session, principal.account_id, notification_id))
    )
