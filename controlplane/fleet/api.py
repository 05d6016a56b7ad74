"""``/v1/operator/rollouts``: start, follow, pause, resume and abort rollouts (operators only; writes audited)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from controlplane.accounts.principal import OperatorReader
from controlplane.api.deps import PageDep, RuntimeDep, SessionDep
from controlplane.api.schemas import Page, json_response
from controlplane.audit.service import OperatorWriteAudit
from controlplane.fleet import service
from controlplane.fleet.schemas import PauseIn, RolloutOut, RolloutStart, rollout_out

router = APIRouter(prefix="/v1/operator/rollouts", tags=["operator"])


@router.post("", status_code=202, response_model=RolloutOut, summary="Start a rollout of the current program")
def start_rollout(body: RolloutStart, audit: OperatorWriteAudit, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Finds (in the background) every stack whose applied digest differs from what the current program would
    apply, and updates them in waves: a canary first, then growing waves. 409 while another rollout is active."""
    actor = service.Actor(audit.actor_account_id, audit.credential)
    options = service.RolloutOptions(**body.model_dump())
    rollout = service.start(session, runtime.settings, actor, options)
    audit.details = {"rollout_id": str(rollout.id), **body.model_dump(exclude_none=True)}
    return json_response(rollout_out(service.progress(session, rollout)), status.HTTP_202_ACCEPTED)


@router.get("", response_model=Page[RolloutOut], summary="Rollouts, newest first")
def list_rollouts(_operator: OperatorReader, session: SessionDep, page: PageDep) -> Response:
    rows, next_cursor = service.listing(session, page)
    items = [rollout_out(service.progress(session, rollout)) for rollout in rows]
    return json_response(Page[RolloutOut](items=items, next_cursor=next_cursor))


@router.get("/{rollout_id}", response_model=RolloutOut, summary="A rollout's progress, wave by wave")
def get_rollout(rollout_id: uuid.UUID, _operator: OperatorReader, session: SessionDep) -> Response:
    return json_response(rollout_out(service.progress(session, service.get(session, rollout_id))))


@router.post("/{rollout_id}/pause", response_model=RolloutOut, summary="Queue no more of it; take back what waits")
def pause_rollout(
    rollout_id: uuid.UUID,
    audit: OperatorWriteAudit,
    session: SessionDep,
    runtime: RuntimeDep,
    body: PauseIn | None = None,
) -> Response:
    reason = (body or PauseIn()).reason
    audit.details = {"reason": reason}
    rollout = service.pause(session, runtime.redis, rollout_id, reason)
    return json_response(rollout_out(service.progress(session, rollout)))


@router.post("/{rollout_id}/resume", response_model=RolloutOut, summary="Go on with a paused rollout")
def resume_rollout(
    rollout_id: uuid.UUID, _audit: OperatorWriteAudit, session: SessionDep, runtime: RuntimeDep
) -> Response:
    rollout = service.resume(session, runtime.settings, rollout_id)
    return json_response(rollout_out(service.progress(session, rollout)))


@router.post("/{rollout_id}/abort", response_model=RolloutOut, summary="Cancel every update not yet running")
def abort_rollout(
    rollout_id: uuid.UUID, _audit: OperatorWriteAudit, session: SessionDep, runtime: RuntimeDep
) -> Response:
    rollout = service.abort(session, runtime.redis, rollout_id)
    return json_response(rollout_out(service.progress(session, rollout)))
