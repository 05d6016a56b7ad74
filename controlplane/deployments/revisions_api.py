"""A namespace's revisions, the diff between two, and rollback to one (202, like any write)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from controlplane.accounts.principal import Principal, RequireScope
from controlplane.accounts.scopes import Access
from controlplane.api.contract import answers
from controlplane.api.deps import PageDep, RuntimeDep, SessionDep, SettingsDep
from controlplane.api.schemas import Page, json_response
from controlplane.deployments import changes, revisions, service
from controlplane.deployments.api import NamePath
from controlplane.deployments.models import Revision
from controlplane.deployments.revision_schemas import RevisionDiffOut, RevisionOut, RollbackAccepted, RollbackIn
from controlplane.deployments.revisions import Spec
from controlplane.deployments.rollback import rollback
from controlplane.deployments.write_route import WriteRoute
from controlplane.settings import Settings

router = APIRouter(prefix="/v1/namespaces", tags=["namespaces"], route_class=WriteRoute)

ReadNs = Annotated[Principal, Depends(RequireScope("namespaces", Access.READ))]
WriteNs = Annotated[Principal, Depends(RequireScope("namespaces", Access.WRITE))]
Generation = Annotated[int, Path(ge=1, le=2**31 - 1, description="A revision's generation")]


def revision_out(settings: Settings, revision: Revision) -> RevisionOut:
    return RevisionOut.of(revision, changes.price_of(settings, Spec.of_revision(revision)))


@router.get("/{name}/revisions", response_model=Page[RevisionOut])
def list_revisions(
    name: NamePath, principal: ReadNs, session: SessionDep, page: PageDep, settings: SettingsDep
) -> Response:
    """Every accepted change of the namespace's desired state, newest first."""
    namespace = service.get_namespace(session, principal.account_id, name)
    rows, next_cursor = revisions.list_revisions(session, namespace, page)
    return json_response(
        Page[RevisionOut](items=[revision_out(settings, row) for row in rows], next_cursor=next_cursor)
    )


@router.get("/{name}/revisions/{generation}", response_model=RevisionOut)
def get_revision(
    name: NamePath, generation: Generation, principal: ReadNs, session: SessionDep, settings: SettingsDep
) -> Response:
    namespace = service.get_namespace(session, principal.account_id, name)
    return json_response(revision_out(settings, revisions.get_revision(session, namespace, generation)))


@router.get("/{name}/revisions/{generation}/diff/{other}", response_model=RevisionDiffOut)
def diff_revisions(
    name: NamePath, generation: Generation, other: Generation, principal: ReadNs, session: SessionDep
) -> Response:
    """What changes from revision ``generation`` to revision ``other`` (either may be the older)."""
    namespace = service.get_namespace(session, principal.account_id, name)
    old = revisions.get_revision(session, namespace, generation)
    new = revisions.get_revision(session, namespace, other)
    diff = revisions.diff_specs(Spec.of_revision(old), Spec.of_revision(new))
    return json_response(RevisionDiffOut(from_generation=generation, to_generation=other, diff=diff))


@router.post(
    "/{name}/rollback",
    status_code=202,
    response_model=RollbackAccepted,
    responses=answers(
        {
            402: "The balance would last less than min_runway_hours at the new price (`insufficient_credits`)",
            422: "The revision was refused by the policy pack (`revision_refused`)",
        }
    ),
)
def rollback_namespace(
    name: NamePath, body: RollbackIn, principal: WriteNs, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """A new revision with revision ``generation``'s configuration (volumes never shrink; the lifecycle state is
    not rolled back), admitted like any change."""
    ctx = service.Context(runtime.settings, runtime.redis)
    namespace, kept = rollback(session, ctx, principal.account_id, name, body.generation)
    answer = RollbackAccepted(
        namespace=namespace.name,
        namespace_id=namespace.id,
        generation=namespace.generation,
        status=namespace.status,
        rollback_of=body.generation,
        kept_volumes=kept,
    )
    return json_response(answer, status.HTTP_202_ACCEPTED)
