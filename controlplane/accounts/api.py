"""Account endpoints: API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from pydantic import Field

from controlplane.accounts import api_keys
from controlplane.accounts.principal import Principal, RequireScope
from controlplane.accounts.scopes import Access
from controlplane.api.deps import PageDep, SessionDep, SettingsDep
from controlplane.api.schemas import ApiModel, Page, ResponseModel, json_response

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])

ReadKeys = Annotated[Principal, Depends(RequireScope("api-keys", Access.READ))]
WriteKeys = Annotated[Principal, Depends(RequireScope("api-keys", Access.WRITE))]


class ApiKeyCreate(ApiModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=20)
    expires_at: datetime | None = None


class ApiKeyOut(ResponseModel):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. It is shown this once and cannot be recovered.")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
def create_api_key(
    body: ApiKeyCreate, principal: WriteKeys, session: SessionDep, settings: SettingsDep
) -> ApiKeyCreated:
    issued = api_keys.issue_api_key(
        session,
        settings,
        principal.account_id,
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expires_at,
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(issued.row).model_dump(), key=issued.key)


@router.get("", response_model=Page[ApiKeyOut])
def list_api_keys(principal: ReadKeys, session: SessionDep, page: PageDep) -> Response:
    rows, next_cursor = api_keys.list_api_keys(session, principal.account_id, page)
    return json_response(
        Page[ApiKeyOut](items=[ApiKeyOut.model_validate(row) for row in rows], next_cursor=next_cursor)
    )


@router.delete("/{key_id}", response_model=ApiKeyOut)
def revoke_api_key(key_id: uuid.UUID, principal: WriteKeys, session: SessionDep) -> ApiKeyOut:
    return ApiKeyOut.model_validate(api_keys.revoke_api_key(session, principal.account_id, key_id))
