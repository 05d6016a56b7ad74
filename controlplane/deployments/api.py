"""Namespaces, apps, operations and configuration export. Writes answer 202: they never wait for Pulumi."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlalchemy import select

from controlplane.accounts.principal import Principal, RequireScope
from controlplane.accounts.scopes import Access
from controlplane.api.contract import answers
from controlplane.api.deps import PageDep, RuntimeDep, SessionDep, SettingsDep
from controlplane.api.schemas import Page, json_response
from controlplane.api.uploads import parse_yaml
from controlplane.audit.service import OperatorWriteAudit
from controlplane.deployments import changes, revisions, service
from controlplane.deployments.domains import challenge_name
from controlplane.deployments.models import CustomDomain, Namespace, Operation, OperationEvent, OperationResult
from controlplane.deployments.revision_schemas import revision_yaml
from controlplane.deployments.schemas import (
    Accepted,
    AppIn,
    AppName,
    AppPatch,
    DnsChallenge,
    DomainName,
    DomainOut,
    NamespaceConfig,
    NamespaceCreate,
    NamespaceDeletion,
    NamespaceName,
    NamespaceOut,
    OperationOut,
)
from controlplane.deployments.spec import app_document
from controlplane.deployments.write_route import WriteRoute
from controlplane.engine.interface import LEVEL_ORDER, EventLevel
from controlplane.errors import Unprocessable
from controlplane.runtime import Runtime
from controlplane.settings import Settings

# Every write takes ?dry_run=true and records its author on the revisions it makes (deployments.write_route).
router = APIRouter(prefix="/v1/namespaces", tags=["namespaces"], route_class=WriteRoute)

# Path parameters take the names' own types: a name that cannot exist is a 422 naming it, before any query.
NamePath = Annotated[NamespaceName, Path(description="The namespace's name")]
AppPath = Annotated[AppName, Path(description="The app's name")]
DomainPath = Annotated[DomainName, Path(description="The custom domain (as listed, or as written: it is normalised)")]
ReadNs = Annotated[Principal, Depends(RequireScope("namespaces", Access.READ))]
WriteNs = Annotated[Principal, Depends(RequireScope("namespaces", Access.WRITE))]
_STREAM_POLL_S = 0.5


def _ctx(runtime: Runtime) -> service.Context:
    return service.Context(runtime.settings, runtime.redis)


_DERIVED = frozenset({"apps", "hourly_cost", "running_revision", "wanted_revision"})


def namespace_out(namespace: Namespace, settings: Settings) -> NamespaceOut:
    return NamespaceOut.model_validate(
        {
            **{field: getattr(namespace, field) for field in NamespaceOut.model_fields if field not in _DERIVED},
            "apps": [app_document(app) for app in namespace.apps],
            "hourly_cost": changes.namespace_price(settings, namespace),
            "running_revision": namespace.observed_generation or None,
            "wanted_revision": namespace.generation,
        }
    )


def accepted(namespace: Namespace, *, changed: bool = True) -> Response:
    """202 for a change (a reconcile is queued); 200 for a write that left the desired state as it was."""
    body = Accepted(
        namespace=namespace.name, namespace_id=namespace.id, generation=namespace.generation, status=namespace.status
    )
    return json_response(body, status.HTTP_202_ACCEPTED if changed else status.HTTP_200_OK)


_NO_OP: dict[int | str, dict[str, Any]] = {
    200: {"model": Accepted, "description": "Nothing changed: the current generation, nothing queued"}
}
# Writes that can raise the namespace's price are held to the balance (deployments.changes).
_PRICED = answers({402: "The balance would last less than min_runway_hours at the new price (`insufficient_credits`)"})


@router.post(
    "",
    status_code=202,
    response_model=Accepted,
    responses={**_PRICED, **answers({409: "The name is taken (`name_taken`)"})},
)
def create_namespace(body: NamespaceCreate, principal: WriteNs, session: SessionDep, runtime: RuntimeDep) -> Response:
    return accepted(service.create_namespace(session, _ctx(runtime), principal.account_id, body))


@router.get("", response_model=Page[NamespaceOut])
def list_namespaces(principal: ReadNs, session: SessionDep, page: PageDep, settings: SettingsDep) -> Response:
    rows, next_cursor = service.list_namespaces(session, principal.account_id, page)
    items = [namespace_out(row, settings) for row in rows]
    return json_response(Page[NamespaceOut](items=items, next_cursor=next_cursor))


@router.get("/{name}", response_model=NamespaceOut)
def get_namespace(name: NamePath, principal: ReadNs, session: SessionDep, settings: SettingsDep) -> Response:
    return json_response(namespace_out(service.get_namespace(session, principal.account_id, name), settings))


@router.delete("/{name}", status_code=202, response_model=Accepted)
def delete_namespace(name: NamePath, principal: WriteNs, session: SessionDep, runtime: RuntimeDep) -> Response:
    return accepted(service.delete_namespace(session, _ctx(runtime), principal.account_id, name))


@router.post(
    "/{name}/apps",
    status_code=202,
    response_model=Accepted,
    responses={**_PRICED, **answers({409: "The namespace has an app of that name (`duplicate_app`)"})},
)
def add_app(name: NamePath, body: AppIn, principal: WriteNs, session: SessionDep, runtime: RuntimeDep) -> Response:
    return accepted(service.add_app(session, _ctx(runtime), principal.account_id, name, body))


@router.patch("/{name}/apps/{app}", status_code=202, response_model=Accepted, responses={**_NO_OP, **_PRICED})
def update_app(
    name: NamePath, app: AppPath, body: AppPatch, principal: WriteNs, session: SessionDep, runtime: RuntimeDep
) -> Response:
    written = service.update_app(session, _ctx(runtime), principal.account_id, name, app, body)
    return accepted(written.namespace, changed=written.changed)


@router.delete("/{name}/apps/{app}", status_code=202, response_model=Accepted)
def delete_app(name: NamePath, app: AppPath, principal: WriteNs, session: SessionDep, runtime: RuntimeDep) -> Response:
    return accepted(service.delete_app(session, _ctx(runtime), principal.account_id, name, app))


def domain_out(claim: CustomDomain) -> DomainOut:
    return DomainOut(
        domain=claim.domain,
        status=claim.status,
        challenge=DnsChallenge(name=challenge_name(claim.domain), value=claim.token),
        created_at=claim.created_at,
        verified_at=claim.verified_at,
        last_checked_at=claim.last_checked_at,
        failing_since=claim.failing_since,
        last_error=claim.last_error,
    )


@router.get("/{name}/domains", response_model=Page[DomainOut])
def list_domains(name: NamePath, principal: ReadNs, session: SessionDep) -> Response:
    """The namespace's custom domains: each app's domains are claimed here, and routed once verified."""
    claims = service.list_domains(session, principal.account_id, name)
    return json_response(Page[DomainOut](items=[domain_out(claim) for claim in claims], next_cursor=None))


@router.post("/{name}/domains/{domain}/verify", status_code=202, response_model=DomainOut)
def verify_domain(
    name: NamePath, domain: DomainPath, principal: WriteNs, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Check the domain's TXT challenge now (in the background; read the domain again for the outcome)."""
    claim = service.request_verification(session, _ctx(runtime), principal.account_id, name, domain)
    return json_response(domain_out(claim), status.HTTP_202_ACCEPTED)


@router.delete(
    "/{name}/domains/{domain}",
    status_code=204,
    response_class=Response,
    responses=answers({409: "An app of the namespace still lists the domain (`domain_in_use`)"}),
)
def release_domain(
    name: NamePath, domain: DomainPath, principal: WriteNs, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Give the domain up: it is no longer reserved to this namespace. Refused while an app lists it."""
    service.release_domain(session, _ctx(runtime), principal.account_id, name, domain)
    return Response(status_code=204)


@router.get("/{name}/config", response_class=Response, responses={200: {"content": {"application/yaml": {}}}})
def export_config(
    name: NamePath,
    principal: ReadNs,
    session: SessionDep,
    generation: Annotated[int | None, Query(ge=1, description="That revision's configuration instead")] = None,
) -> Response:
    """The namespace's configuration as YAML; ``PUT`` it back to apply it again."""
    namespace = service.get_namespace(session, principal.account_id, name)
    if generation is not None:
        return Response(revision_yaml(revisions.get_revision(session, namespace, generation)),
                        media_type="application/yaml")  # fmt: skip
    return Response(service.config_yaml(namespace), media_type="application/yaml")


@router.put(
    "/{name}/config",
    status_code=202,
    response_model=Accepted,
    responses={
        **_NO_OP,
        **_PRICED,
        **answers(
            {
                400: "Not YAML or JSON, nested too deep, or expanding too far (`malformed_config`)",
                413: "The document is over the size limit",
            }
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media_type: {"schema": {"$ref": "#/components/schemas/NamespaceConfig"}}
                for media_type in ("application/yaml", "application/json")
            },
        }
    },
)
async def apply_config(
    name: NamePath, request: Request, principal: WriteNs, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Apply a configuration document (YAML or JSON, the format ``GET .../config`` exports). Unchanged, it is a
    no-op: 200 with the current generation, nothing queued."""
    loaded = await parse_yaml(await request.body(), max_bytes=runtime.settings.max_body_bytes)
    config = await run_in_threadpool(_validated_config, loaded)
    written = await run_in_threadpool(service.apply_config, session, _ctx(runtime), principal.account_id, name, config)
    return accepted(written.namespace, changed=written.changed)


@router.post("/{name}/preview", status_code=202, response_model=OperationOut)
def preview(name: NamePath, principal: WriteNs, session: SessionDep, runtime: RuntimeDep) -> Response:
    operation = service.request_preview(session, _ctx(runtime), principal.account_id, name)
    return json_response(OperationOut.model_validate(operation), status.HTTP_202_ACCEPTED)


@router.get("/{name}/operations", response_model=Page[OperationOut])
def list_operations(name: NamePath, principal: ReadNs, session: SessionDep, page: PageDep) -> Response:
    namespace = service.get_namespace(session, principal.account_id, name)
    rows, next_cursor = service.list_operations(session, namespace, page)
    return json_response(
        Page[OperationOut](items=[OperationOut.model_validate(r) for r in rows], next_cursor=next_cursor)
    )


@router.get("/{name}/operations/{operation_id}", response_model=OperationOut)
def get_operation(name: NamePath, operation_id: uuid.UUID, principal: ReadNs, session: SessionDep) -> Response:
    namespace = service.get_namespace(session, principal.account_id, name)
    return json_response(OperationOut.model_validate(service.get_operation(session, namespace, operation_id)))


@router.get("/{name}/operations/{operation_id}/events", response_class=StreamingResponse)
def stream_events(
    name: NamePath,
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


def _validated_config(loaded: Any) -> NamespaceConfig:
    try:
        return NamespaceConfig.model_validate(loaded)
    except ValidationError as exc:
        problems = [
            {"location": ["body", *e["loc"]], "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)
        ]
        raise Unprocessable(
            "the configuration does not match the expected shape", code="validation_error", details=problems
        ) from exc


deletions_router = APIRouter(prefix="/v1/namespace-deletions", tags=["namespaces"])


@deletions_router.get(
    "/{namespace_id}",
    response_model=NamespaceDeletion,
    responses=answers({404: "No namespace of this account was deleted with that id (`not_found`)"}),
)
def get_namespace_deletion(namespace_id: uuid.UUID, principal: ReadNs, session: SessionDep) -> Response:
    """How the destroy of a deleted namespace goes: `DELETE /v1/namespaces/{name}` answers the id to follow."""
    namespace = service.get_deleted_namespace(session, principal.account_id, namespace_id)
    return json_response(NamespaceDeletion.of(namespace))


operator_router = APIRouter(prefix="/v1/operator/namespaces", tags=["operator"])


@operator_router.post("/{namespace_id}/retry", status_code=202, response_model=Accepted)
def retry_namespace(
    namespace_id: uuid.UUID, _audit: OperatorWriteAudit, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Reconcile a stalled namespace again, its failure count reset."""
    return accepted(service.retry_stalled(session, _ctx(runtime), namespace_id))
