"""Rollouts: the stacks whose applied digest differs from what the current program would apply, updated in waves.

- **Start** (an operator, through the API or ``controlplane rollout start``): a rollout row in ``planning``; a job
  (:func:`plan`) checks every namespace's digest (:func:`stale_namespaces`, milliseconds each, no Pulumi) and
  spreads the stacks that differ over waves: a canary of ``canary_percent`` (at least one stack), then waves
  growing by ``wave_growth``. One rollout is active at a time.
- **Advance** (:func:`advance`, every few seconds from the scheduler, and right after planning): items follow
  their namespaces (done once a reconcile has found the stack as desired after the item was queued; failed once
  the namespace stalls), lost work is queued again (a worker killed mid-run leaves no job and no lock), and when
  every item of the current wave is settled the next wave is queued, unless the wave's failed share passes
  ``failure_threshold``: then the rollout pauses and every operator is notified.
- **Pause, resume, abort**: a pause takes the wave's updates that still wait in the fleet queue back out of it
  (those already running finish); a resume queues them again and goes on; an abort cancels every item left.

The updates are ordinary reconcile jobs in the ``fleet`` queue: workers serve tenants' edits and lifecycle changes
first, and a namespace that gets one while its rollout update waits is moved up rather than run twice.
Tenants see ``queued_by_rollout`` on their namespace while its update is queued.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from controlplane.accounts.service import operator_account_ids
from controlplane.api.pagination import PageParams, paginate
from controlplane.db import utcnow
from controlplane.deployments.models import DesiredState, Namespace, Status
from controlplane.deployments.service import (
    desired_digest,
    job_timeout,
    platform_settings,
    program_version,
    reconcile_job,
    stack_locked,
)
from controlplane.errors import Conflict, NotFound
from controlplane.fleet.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATES,
    ItemState,
    Rollout,
    RolloutItem,
    RolloutStatus,
)
from controlplane.notifications.service import notify
from controlplane.queue import (
    DEFAULT_QUEUE,
    FLEET_QUEUE,
    PendingJob,
    enqueue_after_commit,
    job_id,
    waiting,
    withdraw,
)
from controlplane.settings import Settings

PLAN_JOB = "controlplane.fleet.jobs.plan_rollout"
ADVANCE_JOB = "controlplane.fleet.jobs.advance_rollouts"
ROLLOUT_PAUSED = "rollout_paused"
CHECK_BATCH = 500
_START_LOCK = 1_913_019  # pg_advisory_xact_lock key: two starts never both find no active rollout


@dataclass(frozen=True)
class RolloutOptions:
    note: str = ""
    canary_percent: float | None = None
    wave_growth: float | None = None
    failure_threshold: float | None = None


@dataclass(frozen=True)
class Actor:
    """Who acts: an operator's account and credential, or the server-side CLI (no account, credential "cli")."""

    account_id: uuid.UUID | None
    credential: str


@dataclass
class WaveProgress:
    wave: int
    size: int
    counts: dict[str, int] = field(default_factory=dict)
    eta_s: float | None = None

    @property
    def settled(self) -> int:
        return sum(self.counts.get(state, 0) for state in TERMINAL_STATES)


@dataclass
class Progress:
    rollout: Rollout
    waves: list[WaveProgress]
    counts: dict[str, int]
    eta_s: float | None


# --- operators' actions ---------------------------------------------------------------------------------------------


def start(session: Session, settings: Settings, actor: Actor, options: RolloutOptions) -> Rollout:
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _START_LOCK})
    active = session.scalar(select(Rollout.id).where(Rollout.status.in_([s.value for s in ACTIVE_STATUSES])))
    if active is not None:
        raise Conflict(f"rollout {active} is still active: finish or abort it first", code="rollout_active")
    rollout = Rollout(
        status=RolloutStatus.PLANNING,
        note=options.note,
        started_by_account_id=actor.account_id,
        credential=actor.credential,
        canary_percent=options.canary_percent or settings.rollout_canary_percent,
        wave_growth=options.wave_growth or settings.rollout_wave_growth,
        failure_threshold=(
            settings.rollout_failure_threshold if options.failure_threshold is None else options.failure_threshold
        ),
        program_version=program_version(),
        current_wave=-1,
        waves=0,
        considered=0,
    )
    session.add(rollout)
    session.flush()
    enqueue_after_commit(
        session,
        PendingJob(PLAN_JOB, (str(rollout.id),), job_id=job_id("rollout-plan", rollout.id), queue=DEFAULT_QUEUE),
    )
    return rollout


def get(session: Session, rollout_id: uuid.UUID, *, for_update: bool = False) -> Rollout:
    stmt = select(Rollout).where(Rollout.id == rollout_id)
    rollout = session.scalar(stmt.with_for_update() if for_update else stmt)
    if rollout is None:
        raise NotFound("no such rollout")
    return rollout


def latest(session: Session) -> Rollout:
    rollout = session.scalar(select(Rollout).order_by(Rollout.created_at.desc(), Rollout.id.desc()).limit(1))
    if rollout is None:
        raise NotFound("no rollout has been started")
    return rollout


def listing(session: Session, page: PageParams) -> tuple[Sequence[Rollout], str | None]:
    return paginate(session, select(Rollout), Rollout.created_at, Rollout.id, page)


def pause(session: Session, redis: Redis, rollout_id: uuid.UUID, reason: str = "paused by an operator") -> Rollout:
    rollout = get(session, rollout_id, for_update=True)
    if rollout.status != RolloutStatus.RUNNING:
        raise Conflict(f"the rollout is {rollout.status}, not running", code="rollout_not_running")
    _pause(session, redis, rollout, reason)
    return rollout


def resume(session: Session, settings: Settings, rollout_id: uuid.UUID) -> Rollout:
    """Go on: the wave's updates that the pause took out of the queue go again; a wave that paused the rollout by
    failing is accepted as it is (the operator looked at it), and the next one starts."""
    rollout = get(session, rollout_id, for_update=True)
    if rollout.status != RolloutStatus.PAUSED:
        raise Conflict(f"the rollout is {rollout.status}, not paused", code="rollout_not_paused")
    rollout.status = RolloutStatus.RUNNING
    rollout.paused_reason = None
    if _queue_items(session, rollout, rollout.current_wave, job_timeout(settings)) == 0:
        counts = _wave_counts(session, rollout, rollout.current_wave)
        if not counts[ItemState.QUEUED]:
            _next_wave(session, settings, rollout)
    _enqueue_advance(session)
    return rollout


def abort(session: Session, redis: Redis, rollout_id: uuid.UUID) -> Rollout:
    rollout = get(session, rollout_id, for_update=True)
    if rollout.status not in ACTIVE_STATUSES:
        raise Conflict(f"the rollout is {rollout.status} already", code="rollout_finished")
    _withdraw_queued(session, redis, rollout, back_to=ItemState.CANCELLED)
    now = utcnow()
    session.execute(
        update(RolloutItem)
        .where(RolloutItem.rollout_id == rollout.id, RolloutItem.state.in_([ItemState.PENDING, ItemState.QUEUED]))
        .values(state=ItemState.CANCELLED, finished_at=now)
    )
    session.execute(update(Namespace).where(Namespace.rollout_id == rollout.id).values(rollout_id=None))
    rollout.status = RolloutStatus.ABORTED
    rollout.finished_at = now
    return rollout


# --- reading progress ------------------------------------------------------------------------------------------------


def progress(session: Session, rollout: Rollout) -> Progress:
    rows = session.execute(
        select(RolloutItem.wave, RolloutItem.state, func.count())
        .where(RolloutItem.rollout_id == rollout.id)
        .group_by(RolloutItem.wave, RolloutItem.state)
    ).all()
    waves = [WaveProgress(wave, 0) for wave in range(rollout.waves)]
    totals: Counter[str] = Counter()
    for index, state, count in rows:
        waves[index].counts[state] = count
        waves[index].size += count
        totals[state] += count
    rate = _settle_rate(rollout, totals)
    for wave in waves:
        wave.eta_s = None if rate is None else (wave.size - wave.settled) / rate
    remaining_total = totals[ItemState.PENDING] + totals[ItemState.QUEUED]
    eta = None if rate is None or rollout.status not in ACTIVE_STATUSES else remaining_total / rate
    return Progress(rollout, waves, {state.value: totals.get(state, 0) for state in ItemState}, eta)


def _settle_rate(rollout: Rollout, totals: Counter[str]) -> float | None:
    """Items settled per second since the first wave started (None before anything settled)."""
    settled = totals[ItemState.DONE] + totals[ItemState.FAILED]
    if rollout.started_at is None or settled == 0:
        return None
    elapsed = ((rollout.finished_at or utcnow()) - rollout.started_at).total_seconds()
    return settled / max(elapsed, 1e-3)


# --- planning: which stacks differ ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    namespace_id: uuid.UUID
    applied_digest: str | None
    digest: str | None  # None: the desired state no longer validates, or has no canonical form

    @property
    def stale(self) -> bool:
        return self.digest is None or self.digest != self.applied_digest


def stale_namespaces(session: Session, settings: Settings, redis: Redis | None) -> Iterator[Checked]:
    """Every live, not stalled namespace with the digest its stack has and the one the current program gives.

    Reads in batches of ``CHECK_BATCH`` (apps loaded with them), and forgets each batch before the next.
    """
    platform = platform_settings(settings, redis)
    after: uuid.UUID | None = None
    while True:
        stmt = (
            select(Namespace)
            .where(
                Namespace.desired_state != DesiredState.DELETED,
                Namespace.status.not_in([Status.STALLED, Status.DELETED]),
            )
            .order_by(Namespace.id)
            .limit(CHECK_BATCH)
        )
        if after is not None:
            stmt = stmt.where(Namespace.id > after)
        batch = session.scalars(stmt).all()
        if not batch:
            return
        for namespace in batch:
            yield Checked(namespace.id, namespace.applied_digest, desired_digest(namespace, platform, settings))
        after = batch[-1].id
        session.expunge_all()


def plan(session: Session, settings: Settings, redis: Redis | None, rollout_id: uuid.UUID) -> Rollout | None:
    """Find the stacks that differ and spread them over waves. Run again after a crash, it starts over."""
    rollout = session.scalar(select(Rollout).where(Rollout.id == rollout_id).with_for_update())
    if rollout is None or rollout.status != RolloutStatus.PLANNING:
        return rollout
    session.execute(delete(RolloutItem).where(RolloutItem.rollout_id == rollout.id))
    considered = 0
    targets: list[Checked] = []
    for checked in stale_namespaces(session, settings, redis):
        considered += 1
        if checked.stale:
            targets.append(checked)
    random.Random(rollout.id.int).shuffle(targets)  # the canary is a sample, not the oldest namespaces
    sizes = wave_sizes(len(targets), rollout.canary_percent, rollout.wave_growth)
    rows: list[dict[str, Any]] = []
    position = 0
    for wave, size in enumerate(sizes):
        for checked in targets[position : position + size]:
            rows.append(
                {
                    "rollout_id": rollout.id,
                    "namespace_id": checked.namespace_id,
                    "wave": wave,
                    "state": ItemState.PENDING.value,
                    "previous_digest": checked.applied_digest,
                    "target_digest": checked.digest,
                }
            )
        position += size
    if rows:
        session.execute(insert(RolloutItem), rows)
    rollout = get(session, rollout_id, for_update=True)  # the session forgot it while checking in batches
    rollout.considered = considered
    rollout.waves = len(sizes)
    rollout.status = RolloutStatus.RUNNING
    rollout.started_at = utcnow()
    _enqueue_advance(session)
    return rollout


def wave_sizes(targets: int, canary_percent: float, growth: float) -> list[int]:
    """A canary of ``canary_percent`` of the targets (at least one), then waves growing by ``growth``."""
    if targets == 0:
        return []
    sizes: list[int] = []
    size = float(max(1, math.ceil(targets * canary_percent / 100)))
    remaining = targets
    while remaining > 0:
        take = min(remaining, max(1, math.ceil(size)))
        sizes.append(take)
        remaining -= take
        size *= growth
    return sizes


# --- advancing --------------------------------------------------------------------------------------------------------


def advance(session: Session, settings: Settings, redis: Redis, rollout_id: uuid.UUID) -> str:
    """One step: follow the items, queue lost work again, start the next wave or pause. Idempotent."""
    rollout = session.scalar(select(Rollout).where(Rollout.id == rollout_id).with_for_update(skip_locked=True))
    if rollout is None:
        return "busy or gone"
    if rollout.status not in (RolloutStatus.RUNNING, RolloutStatus.PAUSED):
        return f"{rollout.status}: nothing to do"
    _follow_items(session, rollout)
    _requeue_lost(session, settings, redis, rollout)
    if rollout.status != RolloutStatus.RUNNING:
        return "paused"
    if rollout.current_wave >= 0:
        counts = _wave_counts(session, rollout, rollout.current_wave)
        if counts[ItemState.PENDING] + counts[ItemState.QUEUED]:
            return f"wave {rollout.current_wave} in progress"
        attempted = counts[ItemState.DONE] + counts[ItemState.FAILED]
        if attempted and counts[ItemState.FAILED] / attempted > rollout.failure_threshold:
            reason = (
                f"wave {rollout.current_wave} failed for {counts[ItemState.FAILED]} of {attempted} stacks, above the "
                f"threshold of {rollout.failure_threshold:.0%}"
            )
            _pause(session, redis, rollout, reason)
            _notify_operators(session, rollout, reason)
            return "paused: " + reason
    return _next_wave(session, settings, rollout)


def _next_wave(session: Session, settings: Settings, rollout: Rollout) -> str:
    next_wave = rollout.current_wave + 1
    if next_wave >= rollout.waves:
        rollout.status = RolloutStatus.COMPLETED
        rollout.finished_at = utcnow()
        rollout.current_wave = max(rollout.current_wave, rollout.waves - 1)
        return "completed"
    rollout.current_wave = next_wave
    queued = _queue_items(session, rollout, next_wave, job_timeout(settings))
    return f"wave {next_wave} started: {queued} stacks queued"


def active_rollout_ids(session: Session) -> list[uuid.UUID]:
    states = [RolloutStatus.RUNNING.value, RolloutStatus.PAUSED.value]
    return list(session.scalars(select(Rollout.id).where(Rollout.status.in_(states))).all())


def _follow_items(session: Session, rollout: Rollout) -> None:
    """Queued items take their namespace's outcome: one statement per outcome."""
    now = utcnow()
    queued = and_(
        RolloutItem.rollout_id == rollout.id,
        RolloutItem.state == ItemState.QUEUED,
        RolloutItem.namespace_id == Namespace.id,
    )
    session.execute(
        update(RolloutItem)
        .where(queued, Namespace.status == Status.READY, Namespace.reconciled_at >= RolloutItem.queued_at)
        .values(state=ItemState.DONE, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(RolloutItem)
        .where(queued, Namespace.status == Status.STALLED)
        .values(state=ItemState.FAILED, finished_at=now, error=Namespace.last_error)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(RolloutItem)
        .where(queued, or_(Namespace.desired_state == DesiredState.DELETED, Namespace.status == Status.DELETED))
        .values(state=ItemState.SKIPPED, finished_at=now, error="the namespace was deleted")
        .execution_options(synchronize_session=False)
    )
    settled = select(RolloutItem.namespace_id).where(
        RolloutItem.rollout_id == rollout.id, RolloutItem.state.in_([s.value for s in TERMINAL_STATES])
    )
    session.execute(
        update(Namespace).where(Namespace.rollout_id == rollout.id, Namespace.id.in_(settled)).values(rollout_id=None)
    )


def _requeue_lost(session: Session, settings: Settings, redis: Redis, rollout: Rollout) -> None:
    """Queued items with no job waiting, no run holding their stack's lock and no retry due lost their job (a
    worker killed mid-run, a database restart under a job): queue them again (a job id coalesces; a stray extra
    run finds the digest applied and skips)."""
    # A failed namespace has a retry scheduled; one overdue (RQ's scheduler runs in a worker, and a killed worker
    # takes it along for a while) is treated as lost too.
    overdue = utcnow() - timedelta(seconds=settings.retry_max_delay_s * 1.2 + settings.stack_lock_lease_s)
    rows = session.execute(
        select(RolloutItem.namespace_id)
        .join(Namespace, Namespace.id == RolloutItem.namespace_id)
        .where(
            RolloutItem.rollout_id == rollout.id,
            RolloutItem.state == ItemState.QUEUED,
            or_(Namespace.status != Status.FAILED, Namespace.updated_at < overdue),
        )
    ).all()
    timeout = job_timeout(settings)
    for (namespace_id,) in rows:
        if waiting(redis, job_id("reconcile", namespace_id)) or stack_locked(redis, settings, namespace_id):
            continue
        enqueue_after_commit(session, reconcile_job(namespace_id, timeout, FLEET_QUEUE))


def _wave_counts(session: Session, rollout: Rollout, wave: int) -> Counter[str]:
    rows = session.execute(
        select(RolloutItem.state, func.count())
        .where(RolloutItem.rollout_id == rollout.id, RolloutItem.wave == wave)
        .group_by(RolloutItem.state)
    ).all()
    return Counter(dict(rows))


def _queue_items(session: Session, rollout: Rollout, wave: int, timeout_s: int) -> int:
    """Queue the wave's pending items: mark them (and their namespaces) and push their jobs after commit."""
    if wave < 0:
        return 0
    now = utcnow()
    ids = session.scalars(
        update(RolloutItem)
        .where(RolloutItem.rollout_id == rollout.id, RolloutItem.wave == wave, RolloutItem.state == ItemState.PENDING)
        .values(state=ItemState.QUEUED, queued_at=now)
        .returning(RolloutItem.namespace_id)
    ).all()
    if not ids:
        return 0
    session.execute(update(Namespace).where(Namespace.id.in_(ids)).values(rollout_id=rollout.id))
    for namespace_id in ids:
        enqueue_after_commit(session, reconcile_job(namespace_id, timeout_s, FLEET_QUEUE))
    return len(ids)


def _pause(session: Session, redis: Redis, rollout: Rollout, reason: str) -> None:
    _withdraw_queued(session, redis, rollout, back_to=ItemState.PENDING)
    rollout.status = RolloutStatus.PAUSED
    rollout.paused_reason = reason


def _withdraw_queued(session: Session, redis: Redis, rollout: Rollout, *, back_to: ItemState) -> None:
    """Take the rollout's updates that still wait in the fleet queue back out (the running ones finish)."""
    queued = session.scalars(
        select(RolloutItem.namespace_id).where(
            RolloutItem.rollout_id == rollout.id, RolloutItem.state == ItemState.QUEUED
        )
    ).all()
    withdrawn = [ns_id for ns_id in queued if withdraw(redis, FLEET_QUEUE, job_id("reconcile", ns_id))]
    if not withdrawn:
        return
    finished_at: datetime | None = utcnow() if back_to is ItemState.CANCELLED else None
    session.execute(
        update(RolloutItem)
        .where(RolloutItem.rollout_id == rollout.id, RolloutItem.namespace_id.in_(withdrawn))
        .values(state=back_to, queued_at=None, finished_at=finished_at)
    )
    session.execute(update(Namespace).where(Namespace.id.in_(withdrawn)).values(rollout_id=None))


def _notify_operators(session: Session, rollout: Rollout, reason: str) -> None:
    for account_id in operator_account_ids(session):
        notify(
            session,
            account_id,
            ROLLOUT_PAUSED,
            "A rollout paused itself",
            f"Rollout {rollout.id} paused: {reason}. Look at the failed stacks, then resume or abort it "
            f"(controlplane rollout resume|abort {rollout.id}).",
            {"rollout_id": str(rollout.id), "wave": rollout.current_wave},
        )


def _enqueue_advance(session: Session) -> None:
    enqueue_after_commit(
        session, PendingJob(ADVANCE_JOB, job_id=job_id("rollout-advance"), queue=DEFAULT_QUEUE, timeout_s=600)
    )
