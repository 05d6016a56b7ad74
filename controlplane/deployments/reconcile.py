"""The reconcile jobs: make a namespace's stack match its newest desired state, one run per stack at a time.

Level-triggered, like a Kubernetes controller: a job reads the desired state when it starts (not when it was
queued), applies the newest generation, and does nothing when the stack is already there. Every run is an
:class:`Operation` with its engine events. Failures retry with exponential backoff; repeated failures stall the
namespace until an operator retries it. Missing engine tools are no failure: the namespace waits for the engine
(``waiting_for_engine``), and the resync picks it up once the engine reports its tools available.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from rq import Queue, get_current_job
from rq.exceptions import DuplicateJobError
from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from controlplane.db import utcnow
from controlplane.deployments import revisions
from controlplane.deployments.digest import digest_or_none
from controlplane.deployments.identity import stack_name_of
from controlplane.deployments.models import (
    DesiredState,
    Namespace,
    Operation,
    OperationEvent,
    OperationKind,
    OperationResult,
    Status,
)
from controlplane.deployments.platform import platform_settings
from controlplane.deployments.service import PREVIEW_JOB, RECONCILE_JOB, job_timeout, reconcile_job
from controlplane.deployments.spec import build_tenant_spec
from controlplane.deployments.stack_lock import StackLock
from controlplane.engine.interface import (
    Engine,
    EngineError,
    EngineEvent,
    EngineUnavailable,
    PolicyViolation,
    RunKind,
    RunResult,
    load_engine,
)
from controlplane.errors import AppError
from controlplane.metrics.registry import observe_reconcile
from controlplane.queue import FLEET_QUEUE, PendingJob, enqueue, job_id
from controlplane.runtime import Runtime, get_runtime
from programs.tenant import TenantSpec

log = logging.getLogger(__name__)

# Runs per job: edits made while a run is in progress are applied by the next pass of the same job.
MAX_PASSES = 3


@dataclass(frozen=True)
class Plan:
    namespace_id: uuid.UUID
    operation_id: uuid.UUID
    kind: RunKind
    generation: int
    desired_state: str
    spec: TenantSpec | None
    digest: str | None = None  # what the update applies (controlplane.deployments.digest); None for a destroy
    refresh_first: bool = False  # the cluster drifted: read it back into the state, then update


# --- jobs --------------------------------------------------------------------------------------------------------


def reconcile(namespace_id: str) -> str:
    runtime = get_runtime()
    ns_id = uuid.UUID(namespace_id)
    lock = StackLock(runtime.redis, stack_name_of(ns_id), runtime.settings.stack_lock_lease_s)
    if _at_rest(runtime, ns_id, lock):
        return "up to date"
    if not lock.acquire():
        _schedule(runtime, RECONCILE_JOB, namespace_id, "reconcile-busy", runtime.settings.stack_lock_lease_s / 2)
        return "stack busy: retry scheduled"
    try:
        engine = load_engine(runtime.settings)
        try:
            engine.check_available()
        except EngineUnavailable as exc:
            _wait_for_engine(runtime, ns_id, exc.message)
            return "waiting for the engine's tools"
        cut_short = lock.interrupted_run()
        if cut_short:
            _recover(runtime, engine, lock, ns_id)
        for _ in range(MAX_PASSES):
            plan = _plan(runtime, ns_id, cut_short)
            cut_short = False
            if plan is None:
                return "up to date"
            if not _execute(runtime, engine, lock, plan):
                return "failed"
        return "more changes pending"
    finally:
        lock.release()


def run_preview(operation_id: str) -> str:
    runtime = get_runtime()
    with runtime.transaction() as session:
        operation = session.get(Operation, uuid.UUID(operation_id))
        if operation is None:
            return "operation gone"
        namespace_id = operation.namespace_id
    lock = StackLock(runtime.redis, stack_name_of(namespace_id), runtime.settings.stack_lock_lease_s)
    if not lock.acquire():
        _schedule(runtime, PREVIEW_JOB, operation_id, "preview-busy", runtime.settings.stack_lock_lease_s / 2)
        return "stack busy: retry scheduled"
    try:
        with runtime.transaction() as session:
            namespace = session.get(Namespace, namespace_id)
            operation = session.get(Operation, uuid.UUID(operation_id))
            if namespace is None or operation is None:
                return "namespace gone"
            spec = build_tenant_spec(namespace, platform_settings(runtime.settings, runtime.redis))
            operation.result, operation.started_at = OperationResult.RUNNING, utcnow()
        result, error = _run(
            runtime, load_engine(runtime.settings), lock, RunKind.PREVIEW, namespace_id, spec, uuid.UUID(operation_id)
        )
        _finish_operation(runtime, uuid.UUID(operation_id), result, error)
        return "previewed" if error is None else "preview failed"
    finally:
        lock.release()


def check_drift(namespace_id: str) -> str:
    """``refresh --preview-only``: flag the namespace when the cluster no longer matches the stack's state."""
    runtime = get_runtime()
    ns_id = uuid.UUID(namespace_id)
    lock = StackLock(runtime.redis, stack_name_of(ns_id), runtime.settings.stack_lock_lease_s)
    if not lock.acquire():
        return "stack busy: next sweep"
    try:
        with runtime.transaction() as session:
            namespace = session.get(Namespace, ns_id)
            if namespace is None or namespace.status != Status.READY:
                return "not ready: skipped"
            spec, operation_id = _open_observation(session, runtime, namespace, OperationKind.DRIFT_CHECK)
        result, error = _run(
            runtime, load_engine(runtime.settings), lock, RunKind.DRIFT_CHECK, ns_id, spec, operation_id
        )
        _finish_operation(runtime, operation_id, result, error)
        if result is not None:
            with runtime.transaction() as session:
                namespace = session.get(Namespace, ns_id, with_for_update=True)
                if namespace is not None:
                    namespace.drift_detected = result.changed
        return "drift" if result is not None and result.changed else "no drift"
    finally:
        lock.release()


def resync() -> int:
    """Safety net: queue a reconcile for every namespace whose desired state is not yet applied (those waiting for
    the engine only once it reports its tools available)."""
    runtime = get_runtime()
    left_alone = [Status.STALLED, Status.DELETED]
    if not _engine_available(runtime):
        left_alone.append(Status.WAITING_FOR_ENGINE)
    with runtime.transaction() as session:
        ids = session.scalars(
            select(Namespace.id).where(
                Namespace.status.not_in(left_alone),
                or_(
                    Namespace.observed_generation < Namespace.generation,
                    Namespace.desired_state == DesiredState.DELETED,
                ),
            )
        ).all()
    for ns_id in ids:
        enqueue(runtime.queue, reconcile_job(ns_id, job_timeout(runtime.settings), FLEET_QUEUE))
    return len(ids)


def drift_sweep() -> int:
    runtime = get_runtime()
    with runtime.transaction() as session:
        ids = session.scalars(
            select(Namespace.id).where(Namespace.status == Status.READY, Namespace.desired_state == DesiredState.ACTIVE)
        ).all()
    for ns_id in ids:
        enqueue(
            runtime.queue,
            PendingJob(
                check_drift,
                (str(ns_id),),
                job_id=job_id("drift", ns_id),
                timeout_s=job_timeout(runtime.settings),
                queue=FLEET_QUEUE,
            ),
        )
    return len(ids)


# --- one pass ----------------------------------------------------------------------------------------------------


def _plan(runtime: Runtime, ns_id: uuid.UUID, cut_short: bool = False) -> Plan | None:
    """Read the newest desired state and open an operation for it; None when there is nothing to do.

    Nothing to do: the stack already has what this desired state declares (its applied digest is the one this
    spec gives, and no drift was seen), so no Pulumi run is needed, whatever the generation says.
    """
    started = time.perf_counter()
    with runtime.transaction() as session:
        namespace = session.get(Namespace, ns_id, with_for_update=True)
        if namespace is None or namespace.status in (Status.STALLED, Status.DELETED):
            return None
        if cut_short or namespace.status == Status.RECONCILING:  # a run that never finished
            _close_interrupted_operations(session, ns_id)
        digest = None
        if namespace.desired_state == DesiredState.DELETED:
            kind, spec = RunKind.DESTROY, None
        else:
            kind = RunKind.UP
            try:
                spec = build_tenant_spec(namespace, platform_settings(runtime.settings, runtime.redis))
            except AppError as exc:
                _stall(namespace, f"the desired state no longer validates: {exc.message}")
                revisions.mark_failed(session, ns_id, namespace.generation, None, exc.message, refused=False)
                return None
            digest = digest_or_none(spec, runtime.settings)
            if digest is not None and digest == namespace.applied_digest and not namespace.drift_detected:
                _skip(session, namespace)
                observe_reconcile("up", OperationResult.SKIPPED, time.perf_counter() - started)
                return None
        operation = Operation(
            namespace_id=ns_id,
            kind=OperationKind(kind.value),
            generation=namespace.generation,
            started_at=utcnow(),
            attempt=namespace.failure_count + 1,
            changes={},
        )
        session.add(operation)
        namespace.status = Status.RECONCILING
        namespace.applied_digest = None  # until this run succeeds, the stack may hold anything in between
        session.flush()
        refresh_first = kind is RunKind.UP and namespace.drift_detected
        return Plan(
            ns_id, operation.id, kind, namespace.generation, namespace.desired_state, spec, digest, refresh_first
        )


def _at_rest(runtime: Runtime, ns_id: uuid.UUID, lock: StackLock) -> bool:
    """The common case of a fleet at rest, answered with one read and no stack lock or engine: the namespace is
    settled and its stack holds what its desired state declares. Nothing is written. It cannot race a run: a run
    clears ``applied_digest`` when it starts, and a run cut short (an update, a refresh, a drift check) leaves its
    in-flight marker for the full path to recover."""
    started = time.perf_counter()
    with runtime.new_session(autocommit=True) as session:
        namespace = session.get(Namespace, ns_id)
        if namespace is None or namespace.applied_digest is None or not _settled(namespace):
            return False
        if lock.run_in_flight():
            return False
        try:
            spec = build_tenant_spec(namespace, platform_settings(runtime.settings, runtime.redis))
        except AppError:
            return False
        if digest_or_none(spec, runtime.settings) != namespace.applied_digest:
            return False
    observe_reconcile("up", OperationResult.SKIPPED, time.perf_counter() - started)
    return True


def _settled(namespace: Namespace) -> bool:
    return (
        namespace.status == Status.READY
        and namespace.desired_state != DesiredState.DELETED
        and namespace.observed_generation >= namespace.generation
        and namespace.observed_state == namespace.desired_state
        and namespace.rollout_id is None
        and not namespace.drift_detected
    )


def _skip(session: Session, namespace: Namespace) -> None:
    """The stack already applies this desired state: mark it applied; a tenant's change gets a skipped operation.
    Nothing is written when nothing changes and no rollout waits for this namespace (the cheap, common case)."""
    if _settled(namespace):
        return
    now = utcnow()
    if namespace.observed_generation < namespace.generation:
        operation = Operation(
            namespace_id=namespace.id,
            kind=OperationKind.UP,
            generation=namespace.generation,
            result=OperationResult.SKIPPED,
            started_at=now,
            finished_at=now,
            changes={},
        )
        session.add(operation)
        session.flush()
        # The revision is applied as surely as by a run: the stack already holds exactly what it declares.
        revisions.mark_applied(session, namespace.id, namespace.generation, operation.id, now)
        namespace.observed_generation = namespace.generation
        namespace.conditions = [
            _condition("Ready", True, "Unchanged", f"generation {namespace.generation} declares what is applied")
        ]
    namespace.observed_state = namespace.desired_state
    namespace.status = Status.READY
    namespace.failure_count = 0
    namespace.last_error = None
    namespace.reconciled_at = now
    namespace.rollout_id = None


def _close_interrupted_operations(session: Session, ns_id: uuid.UUID) -> None:
    """Operations still marked running were cut short: every run holds the stack lock, and we hold it now. (A run
    cut short leaves its namespace ``reconciling``, or its in-flight marker: only then is this looked for.)"""
    session.execute(
        update(Operation)
        .where(Operation.namespace_id == ns_id, Operation.result == OperationResult.RUNNING)
        .values(result=OperationResult.FAILED, finished_at=utcnow(), error="interrupted: its worker stopped")
        .execution_options(synchronize_session=False)
    )


def _execute(runtime: Runtime, engine: Engine, lock: StackLock, plan: Plan) -> bool:
    refreshed = bool(_refresh(runtime, engine, lock, plan.namespace_id)) if plan.refresh_first else False
    result, error = _run(runtime, engine, lock, plan.kind, plan.namespace_id, plan.spec, plan.operation_id)
    _finish_operation(runtime, plan.operation_id, result, error)
    with runtime.transaction() as session:
        namespace = session.get(Namespace, plan.namespace_id, with_for_update=True)
        if namespace is None:
            return False
        if error is None:
            assert result is not None
            _succeeded(namespace, plan, result, drift_repaired=refreshed)
            revisions.mark_applied(session, plan.namespace_id, plan.generation, plan.operation_id)
            return True
        _failed(runtime, namespace, error)
        refused = isinstance(error, PolicyViolation)
        revisions.mark_failed(session, plan.namespace_id, plan.generation, plan.operation_id, error.message,
                              refused=refused)  # fmt: skip
        return False


def _run(
    runtime: Runtime,
    engine: Engine,
    lock: StackLock,
    kind: RunKind,
    ns_id: uuid.UUID,
    spec: TenantSpec | None,
    operation_id: uuid.UUID,
) -> tuple[RunResult | None, EngineError | None]:
    sink = _EventWriter(runtime, operation_id)
    lock.run_started()
    started = time.perf_counter()
    result = OperationResult.FAILED
    try:
        outcome = engine.run(kind, stack_name_of(ns_id), spec, sink)
        result = OperationResult.SUCCEEDED
        return outcome, None
    except EngineError as exc:
        log.warning("%s of %s failed: %s", kind, stack_name_of(ns_id), exc.message)
        return None, exc
    finally:
        lock.run_ended()
        observe_reconcile(kind.value, result, time.perf_counter() - started)


def _recover(runtime: Runtime, engine: Engine, lock: StackLock, ns_id: uuid.UUID) -> None:
    """A worker died mid-run: cancel its update (Pulumi's lock), then refresh the state before updating."""
    log.warning("recovering %s from an interrupted run", stack_name_of(ns_id))
    engine.cancel(stack_name_of(ns_id))
    if _refresh(runtime, engine, lock, ns_id) is None:
        lock.run_ended()


def _refresh(runtime: Runtime, engine: Engine, lock: StackLock, ns_id: uuid.UUID) -> bool | None:
    """Read the cluster back into the stack's state: whether that succeeded, None when there is no stack to
    refresh (the namespace is deleted or being deleted)."""
    with runtime.transaction() as session:
        namespace = session.get(Namespace, ns_id)
        if namespace is None or namespace.desired_state == DesiredState.DELETED:
            return None
        spec, operation_id = _open_observation(session, runtime, namespace, OperationKind.REFRESH)
    result, error = _run(runtime, engine, lock, RunKind.REFRESH, ns_id, spec, operation_id)
    _finish_operation(runtime, operation_id, result, error)
    return error is None


def _open_observation(
    session: Session, runtime: Runtime, namespace: Namespace, kind: OperationKind
) -> tuple[TenantSpec, uuid.UUID]:
    """The spec of what is applied, and a new operation for a run that only looks (a refresh, a drift check)."""
    spec = build_tenant_spec(namespace, platform_settings(runtime.settings, runtime.redis))
    operation = Operation(
        namespace_id=namespace.id, kind=kind, generation=namespace.observed_generation, started_at=utcnow(), changes={}
    )
    session.add(operation)
    session.flush()
    return spec, operation.id


def _succeeded(namespace: Namespace, plan: Plan, result: RunResult, *, drift_repaired: bool = False) -> None:
    namespace.observed_generation = max(namespace.observed_generation, plan.generation)
    namespace.observed_state = plan.desired_state
    namespace.failure_count = 0
    namespace.last_error = None
    namespace.applied_digest = plan.digest
    namespace.rollout_id = None
    if drift_repaired:
        namespace.drift_detected = False  # the state was read back from the cluster, and the update applied over it
    if plan.kind is RunKind.DESTROY:
        namespace.status = Status.DELETED
        namespace.outputs = {}
    else:
        namespace.outputs = result.outputs
        namespace.status = Status.READY if namespace.generation == plan.generation else Status.PENDING
    if namespace.status in (Status.READY, Status.DELETED):
        namespace.reconciled_at = utcnow()
    namespace.conditions = [
        _condition("Ready", namespace.status == Status.READY, "Applied", f"generation {plan.generation} applied")
    ]


def _failed(runtime: Runtime, namespace: Namespace, error: EngineError) -> None:
    if isinstance(error, EngineUnavailable):  # a tool went missing mid-run: wait, as before a run
        _mark_waiting(namespace, error.message)
        return
    namespace.failure_count += 1
    namespace.last_error = error.message
    hopeless = isinstance(error, PolicyViolation)
    if hopeless or namespace.failure_count >= runtime.settings.reconcile_max_attempts:
        _stall(namespace, error.message)
        return
    namespace.status = Status.FAILED
    delay = _backoff(runtime, namespace.failure_count)
    namespace.conditions = [_condition("Ready", False, "RunFailed", f"{error.message} (retry in {delay:.0f} s)")]
    _schedule(runtime, RECONCILE_JOB, str(namespace.id), f"reconcile-retry{namespace.failure_count}", delay)


def _engine_available(runtime: Runtime) -> bool:
    try:
        load_engine(runtime.settings).check_available()
    except EngineUnavailable:
        return False
    return True


def _wait_for_engine(runtime: Runtime, ns_id: uuid.UUID, message: str) -> None:
    """No run without the tools: the namespace waits (no operation, no failure counted, no retry scheduled)."""
    with runtime.transaction() as session:
        namespace = session.get(Namespace, ns_id, with_for_update=True)
        if namespace is None or namespace.status in (Status.STALLED, Status.DELETED):
            return
        if namespace.desired_state != DesiredState.DELETED and namespace.observed_generation >= namespace.generation:
            return  # nothing to apply: nothing to wait for
        _mark_waiting(namespace, message)


def _mark_waiting(namespace: Namespace, message: str) -> None:
    namespace.status = Status.WAITING_FOR_ENGINE
    namespace.last_error = message
    namespace.conditions = [_condition("Ready", False, "WaitingForEngine", message)]


def _stall(namespace: Namespace, message: str) -> None:
    namespace.status = Status.STALLED
    namespace.last_error = message
    namespace.conditions = [_condition("Stalled", True, "RetriesExhausted", message)]


def _backoff(runtime: Runtime, failures: int) -> float:
    base: float = runtime.settings.retry_base_delay_s * (2.0 ** (failures - 1))
    jitter: float = random.uniform(0.8, 1.2)
    return min(runtime.settings.retry_max_delay_s, base) * jitter


def _condition(kind: str, status: bool, reason: str, message: str) -> dict[str, str]:
    return {"type": kind, "status": str(status), "reason": reason, "message": message, "at": utcnow().isoformat()}


def _finish_operation(
    runtime: Runtime, operation_id: uuid.UUID, result: RunResult | None, error: EngineError | None
) -> None:
    with runtime.transaction() as session:
        operation = session.get(Operation, operation_id)
        if operation is None:
            return
        operation.finished_at = utcnow()
        operation.result = OperationResult.SUCCEEDED if error is None else OperationResult.FAILED
        operation.changes = result.changes if result is not None else {}
        operation.error = None if error is None else error.message


def _schedule(runtime: Runtime, func: str, target: str, kind: str, delay_s: float) -> None:
    """Run ``func(target)`` later. The id names the kind of retry and, for busy stacks, the time slot, so that a
    job scheduling its own successor never collides with its own id."""
    slot = int(time.time() // max(delay_s, 1))
    current = get_current_job()  # a retry keeps the priority of the job it retries
    queue = Queue(current.origin, connection=runtime.redis) if current is not None else runtime.queue
    with contextlib.suppress(DuplicateJobError):  # that retry is already scheduled
        queue.enqueue_in(
            timedelta(seconds=delay_s),
            func,
            target,
            job_id=job_id(kind, target, slot),
            unique=True,
            job_timeout=job_timeout(runtime.settings),
            result_ttl=0,
        )


class _EventWriter:
    """Stores each engine event as it arrives, so the API can stream a run while it is in progress."""

    def __init__(self, runtime: Runtime, operation_id: uuid.UUID) -> None:
        self.runtime = runtime
        self.operation_id = operation_id

    def __call__(self, event: EngineEvent) -> None:
        with self.runtime.engine.begin() as conn:
            conn.execute(
                insert(OperationEvent).values(
                    operation_id=self.operation_id,
                    sequence=event.sequence,
                    at=utcnow(),
                    type=event.type,
                    data=event.data,
                )
            )
