"""``GET /v1/operator/audit-log``: the operators' writes, newest first (operators holding operator:read)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response

from controlplane.accounts.principal import OperatorReader
from controlplane.api.deps import PageDep, PageReaderDep
from controlplane.api.pagination import columns_for
from controlplane.api.schemas import Page, ResponseModel, json_response
from controlplane.audit import service
from controlplane.audit.models import AuditEntry

router = APIRouter(prefix="/v1/operator/audit-log", tags=["operator"])


class AuditEntryOut(ResponseModel):
    id: uuid.UUID
    created_at: datetime
    actor_account_id: uuid.UUID | None
    credential: str
    action: str
    target: dict[str, Any]
    details: dict[str, Any]
    request_id: str


@router.get("", response_model=Page[AuditEntryOut], summary="Every operator write (operators only)")
async def audit_log(
    _operator: OperatorReader, reader: PageReaderDep, page: PageDep, actor_account_id: uuid.UUID | None = None
) -> Response:
    stmt = service.listing(columns_for(AuditEntryOut, AuditEntry), actor_account_id=actor_account_id)
    rows, next_cursor = await reader.page(stmt, AuditEntry.created_at, AuditEntry.id, page)
    return json_response(
        Page[AuditEntryOut](items=[AuditEntryOut.model_validate(row) for row in rows], next_cursor=next_cursor)
    )
