"""Privacy endpoints: the caller's API logs; operators search everyone's."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field
from sqlalchemy import select

from controlplane.accounts.principal import (
    OperatorReader,
    Principal,
    Public,
    RecentSession,
    RequireScope,
    RequireScopes,
)
from controlplane.accounts.scopes import Access
from controlplane.api.contract import answers
from controlplane.api.deps import PageDep, PageReaderDep, RuntimeDep, SessionDep
from controlplane.api.pagination import AnySelect, PageParams, PageReader, columns_for
from controlplane.api.schemas import ApiModel, Page, ResponseModel, json_response
from controlplane.api.text import Line, Timestamp
from controlplane.deployments.service import Context
from controlplane.privacy.deletion import get_deletion, request_deletion
from controlplane.privacy.export import configs_archive, export_account
from controlplane.privacy.models import AccountDeletion, ApiLog

router = APIRouter(prefix="/v1/account", tags=["privacy"])
operator_router = APIRouter(prefix="/v1/operator", tags=["operator"])

ReadAccount = Annotated[Principal, Depends(RequireScope("account", Access.READ))]


class ApiLogOut(ResponseModel):
    id: uuid.UUID
    created_at: datetime
    account_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    method: str
    route: str
    status: int
    latency_ms: int
    request_id: str
    client: str | None
    user_agent: str | None


LISTED = columns_for(ApiLogOut, ApiLog)


async def _page(reader: PageReader, stmt: AnySelect, page: PageParams) -> Response:
    rows, next_cursor = await reader.page(stmt, ApiLog.created_at, ApiLog.id, page)
    return json_response(Page[ApiLogOut](items=[ApiLogOut.model_validate(r) for r in rows], next_cursor=next_cursor))


@router.get("/api-logs", response_model=Page[ApiLogOut])
async def my_api_logs(principal: ReadAccount, reader: PageReaderDep, page: PageDep) -> Response:
    """The metadata of your own API requests, newest first (kept 90 days)."""
    return await _page(reader, select(*LISTED).where(ApiLog.account_id == principal.account_id), page)


@operator_router.get("/api-logs", response_model=Page[ApiLogOut])
async def search_api_logs(
    _operator: OperatorReader,
    reader: PageReaderDep,
    page: PageDep,
    account_id: uuid.UUID | None = None,
    route: Annotated[Line | None, Query(min_length=1, max_length=200)] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    request_id: Annotated[Line | None, Query(min_length=1, max_length=128)] = None,
    since: Annotated[Timestamp | None, Query(description="From this time (inclusive), with a time zone")] = None,
    until: Annotated[Timestamp | None, Query(description="Before this time (exclusive), with a time zone")] = None,
) -> Response:
    """Operators: every account's API logs, filtered."""
    stmt = select(*LISTED)
    filters = {ApiLog.account_id: account_id, ApiLog.route: route, ApiLog.status: status, ApiLog.request_id: request_id}
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(ApiLog.created_at >= since)
    if until is not None:
        stmt = stmt.where(ApiLog.created_at < until)
    return await _page(reader, stmt, page)


class DeletionRequest(ApiModel):
    confirm: Literal["delete my account"] = Field(
        description='Type "delete my account": the account, its namespaces and their volumes are deleted.'
    )


class DeletionOut(ResponseModel):
    id: uuid.UUID
    status: str
    created_at: datetime
    completed_at: datetime | None
    namespaces_pending: int
    last_error: str | None
    status_url: str


def _deletion_out(deletion: AccountDeletion) -> DeletionOut:
    return DeletionOut.model_validate(
        {**{f: getattr(deletion, f) for f in DeletionOut.model_fields if f != "status_url"},
         "status_url": f"/v1/account-deletions/{deletion.id}"}
    )  # fmt: skip


# The export holds every family's data: a key needs every family's read scope for it (a session has them all).
ReadEverything = Annotated[
    Principal,
    Depends(
        RequireScopes(("account", Access.READ), ("api-keys", Access.READ), ("namespaces", Access.READ),
                      ("billing", Access.READ))
    ),
]  # fmt: skip
ReadConfigs = Annotated[Principal, Depends(RequireScope("namespaces", Access.READ))]


@router.get("/export")
def export(principal: ReadEverything, session: SessionDep) -> dict[str, Any]:
    """Everything held about you, in one JSON document.

    It holds the data of every scope family (the account, API keys, namespaces with their environment values,
    billing), so an API key needs `account:read`, `api-keys:read`, `namespaces:read` and `billing:read`; a
    session may always."""
    return export_account(session, principal.account_id)


@router.get("/configs", response_class=Response, responses={200: {"content": {"application/zip": {}}}})
def configs(principal: ReadConfigs, session: SessionDep) -> Response:
    """Every namespace's configuration as YAML (the format ``PUT /v1/namespaces/{name}/config`` applies), zipped.

    It holds namespace configurations only (environment values included), so it needs `namespaces:read`."""
    return Response(
        configs_archive(session, principal.account_id),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="namespaces.zip"'},
    )


@router.delete(
    "",
    status_code=202,
    response_model=DeletionOut,
    responses=answers({409: "The account is already being deleted (`deletion_in_progress`)"}),
)
def delete_account(
    body: DeletionRequest, principal: RecentSession, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Delete the account: stacks are destroyed first, then personal data is erased; billing records are kept,
    detached from you. Answers at once; follow ``status_url``. Needs a session that signed in recently (never an
    API key)."""
    deletion = request_deletion(session, Context(runtime.settings, runtime.redis), principal.account_id)
    response = json_response(_deletion_out(deletion), 202)
    response.headers["Cache-Control"] = "no-store"  # the deletion id is the status page's only credential
    response.delete_cookie(runtime.settings.session_cookie_name, path="/")
    return response


deletions_router = APIRouter(prefix="/v1/account-deletions", tags=["privacy"])


@deletions_router.get(
    "/{deletion_id}",
    response_model=DeletionOut,
    dependencies=[Depends(Public("the account's credentials are gone; the unguessable deletion id is the credential"))],
)
def deletion_status(deletion_id: uuid.UUID, session: SessionDep) -> DeletionOut:
    """Where an account deletion stands. The id, returned once by ``DELETE /v1/account``, is the credential."""
    return _deletion_out(get_deletion(session, deletion_id))
