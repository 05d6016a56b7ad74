"""Namespaces, apps, operations and configuration export. Writes answer 202: they never wait for Pulumi."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlalchemy import select

from controlplane.accounts.principal import Principal, RequireScope
from controlplane.accounts.scopes import Access
from controlplane.api.deps import PageDep, RuntimeDep, SessionDep
from controlplane.api.schemas import Page, json_response
from controlplane.audit.service import OperatorWriteAudit
from controlplane.deployments import service
from controlplane.deployments.models import Namespace, Operation, OperationEvent, OperationResult
from controlplane.deployments.schemas import (
    Accepted,
    AppIn,
    AppPatch,
    NamespaceConfig,
    NamespaceCreate,
    NamespaceOut,
    OperationOut,
)
from controlplane.deployments.spec import app_document
from controlplane.engine.interface import LEVEL_ORDER, EventLevel
from controlplane.errors import BadRequest, Unprocessable
from controlplane.runtime import Runtime

router = APIRouter(prefix="/v1/namespaces", tags=["namespaces"])

ReadNs = Annotated[Principal, Depends(RequireScope("namespaces", Access.READ))]
WriteNs = Annotated[Principal, Depends(RequireScope("namespaces", Access.WRITE))]
_STREAM_POLL_S = 0.5


def _ctx(runtime: Runtime) -> service.Context:
    return service.Context(runtime.settings, runtime.redis)


def namespace_out(namespace: Namespace) -> NamespaceOut:
    return NamespaceOut.model_validate(
        {
            **{field: getattr(namespace, field) for field in NamespaceOut.model_fields if field != "apps"},
            "apps": [app_document(app) for app in namespace.apps],
        }
    )


def accepted(namespace: Namespace) -> Response:
    body = Accepted(namespace=namespace.name, generation=namespace.generation, status=namespace.status)
    return json_response(body, status.HTTP_202_ACCEPTED)


@router.post("", status_code=202, response_model=Accepted)
def create_namespace(body: NamespaceCreate, principal: WriteNs, session: SessionDep, runtime: RuntimeDep) -> Response:
    return accepted(service.create_namespace(session, _ctx(runtime), principal.account_id, body))


@router.get("", response_model=Page[NamespaceOut])
def list_namespaces(principal: ReadNs, session: SessionDep, page: PageDep) -> Response:
    rows, next_cursor = service.list_namespaces(session, principal.account_id, page)
    return json_response(Page[NamespaceOut](items=[namespace_out(row) for row in rows], next_cursor=next_cursor))


@router.get("/{name}", response_model=NamespaceOut)
def get_namespace(name: str, principal: ReadNs, session: SessionDep) -> Response:
    return json_response(namespace_out(service.get_namespace(session, principal.account_id, name)))


@router.delete("/{name}", status_code=202, response_model=Accepted)
def delete_namespace(name: str, principal: WriteNs, session: SessionDep, runtime: RuntimeDep) -> Response:
    return accepted(service.delete_namespace(session, _ctx(runtime), principal.account_id, name))


@router.post("/{name}/apps", status_code=202, response_model=Accepted)
def add_app(name: str, body: AppIn, principal: WriteNs, session: SessionDep, runtime: RuntimeDep) -> Response:
    return accepted(service.add_app(session, _ctx(runtime), principal.account_id, name, body))


@router.patch("/{name}/apps/{app}", status_code=202, response_model=Accepted)
def update_app(
    name: str, app: str, body: AppPatch, principal: WriteNs, session: SessionDep, runtime: RuntimeDep
) -> Response:
    return accepted(service.update_app(session, _ctx(runtime), principal.account_id, name, app, body))


@router.delete("/{name}/apps/{app}", status_code=202, response_model=Accepted)
def delete_app(name: str, app: str, principal: WriteNs, session: SessionDep, runtime: RuntimeDep) -> Response:
    return accepted(service.delete_app(session, _ctx(runtime), principal.account_id, name, app))


@router.get("/{name}/config", response_class=Response, responses={200: {"content": {"application/yaml": {}}}})
def export_config(name: str, principal: ReadNs, session: SessionDep) -> Response:
    """The namespace's configuration as YAML; ``PUT`` it back to apply it again."""
    namespace = service.get_namespace(session, principal.account_id, name)
    return Response(config_yaml(namespace), media_type="application/yaml")


@router.put("/{name}/config", status_code=202, response_model=Accepted)
async def apply_config(
    name: str, request: Request, principal: WriteNs, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Apply a configuration document (YAML or JSON, the format ``GET .../config`` exports)."""
    config = _parse_config(await request.body())
    namespace = await run_in_threadpool(
        service.apply_config, session, _ctx(runtime), principal.account_id, name, config
    )
    return accepted(namespace)


@router.post("/{name}/preview", status_code=202, response_model=OperationOut)
def preview(name: str, principal: WriteNs, session: SessionDep, runtime: RuntimeDep) -> Response:
    operation = service.request_preview(session, _ctx(runtime), principal.account_id, name)
    return json_response(OperationOut.model_validate(operation), status.HTTP_202_ACCEPTED)


@router.get("/{name}/operations", response_model=Page[OperationOut])
def list_operations(name: str, principal: ReadNs, session: SessionDep, page: PageDep) -> Response:
    namespace = service.get_namespace(session, principal.account_id, name)
    rows, next_cursor = service.list_operations(session, namespace, page)
    return json_response(
        Page[OperationOut](items=[OperationOut.model_validate(r) for r in rows], next_cursor=next_cursor)
    )


@router.get("/{name}/operations/{operation_id}", response_model=OperationOut)
def get_operation(name: str, operation_id: uuid.UUID, principal: ReadNs, session: SessionDep) -> Response:
    namespace = service.get_namespace(session, principal.account_id, name)
    return json_response(OperationOut.model_validate(service.get_operation(session, namespace, operation_id)))


@router.get("/{name}/operations/{operation_id}/events", response_class=StreamingResponse)
def stream_events(
    name: str,
    operation_id: uuid.UUID,
    principal: ReadNs,
    session: SessionDep,
    runtime: RuntimeDep,
    request: Request,
    level: Annotated[EventLevel, Query(description="The least level shown (`debug` shows the engine's chatter)")] = (
        EventLevel.INFO
    ),
) -> StreamingResponse:
    """Server-sent events: the run's engine events, replayed from the start, then live until the run ends with an
    `end` event whose data holds the run's `result`. Each event's data has a `level`; those below `level` are left
    out."""
    namespace = service.get_namespace(session, principal.account_id, name)
    service.get_operation(session, namespace, operation_id)
    return StreamingResponse(_event_stream(runtime, operation_id, request, level), media_type="text/event-stream")


async def _event_stream(
    runtime: Runtime, operation_id: uuid.UUID, request: Request, level: EventLevel
) -> AsyncIterator[str]:
    last_id = 0
    least = LEVEL_ORDER[level]
    deadline = asyncio.get_running_loop().time() + runtime.settings.operation_timeout_s * 2 + 300
    while asyncio.get_running_loop().time() < deadline:
        events, result = await run_in_threadpool(_events_after, runtime, operation_id, last_id)
        for event_id, sequence, kind, data in events:
            last_id = event_id
            if _rank(data) >= least:
                yield f"id: {sequence}\nevent: {kind}\ndata: {json.dumps(data)}\n\n"
        if result is not None and not events:
            yield f"event: end\ndata: {json.dumps({'result': result})}\n\n"
            return
        if await request.is_disconnected():
            return
        if not events:
            await asyncio.sleep(_STREAM_POLL_S)


def _rank(data: dict[str, Any]) -> int:
    """An event's level (stored by the engine; events from before levels existed count as info)."""
    try:
        return LEVEL_ORDER[EventLevel(data.get("level", EventLevel.INFO))]
    except ValueError:
        return LEVEL_ORDER[EventLevel.INFO]


def _events_after(runtime: Runtime, operation_id: uuid.UUID, after: int) -> tuple[list[tuple[Any, ...]], str | None]:
    """Events after ``after``, and the run's result once it has ended (None while it is queued or running)."""
    with runtime.transaction() as session:
        result = session.scalar(select(Operation.result).where(Operation.id == operation_id))
        finished = None if result in (OperationResult.RUNNING, "queued") else str(result)
        rows = session.execute(
            select(OperationEvent.id, OperationEvent.sequence, OperationEvent.type, OperationEvent.data)
            .where(OperationEvent.operation_id == operation_id, OperationEvent.id > after)
            .order_by(OperationEvent.id)
            .limit(500)
        ).all()
    return [tuple(row) for row in rows], finished


def config_yaml(namespace: Namespace) -> str:
    document = NamespaceConfig(name=namespace.name, apps=[AppIn(**app_document(app)) for app in namespace.apps])
    return yaml.safe_dump(document.model_dump(mode="json", exclude_none=True), sort_keys=False)


def _parse_config(raw: bytes) -> NamespaceConfig:
    try:
        loaded = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BadRequest("the configuration is not valid YAML or JSON", code="malformed_config") from exc
    try:
        return NamespaceConfig.model_validate(loaded)
    except ValidationError as exc:
        problems = [{"location": list(e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise Unprocessable("the configuration does not match the expected shape", details=problems) from exc


operator_router = APIRouter(prefix="/v1/operator/namespaces", tags=["operator"])


@operator_router.post("/{namespace_id}/retry", status_code=202, response_model=Accepted)
def retry_namespace(
    namespace_id: uuid.UUID, _audit: OperatorWriteAudit, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Reconcile a stalled namespace again, its failure count reset."""
    return accepted(service.retry_stalled(session, _ctx(runtime), namespace_id))
