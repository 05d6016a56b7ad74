"""The zero-balance lifecycle: suspend at zero, release volumes a day later, resume after a top-up.

Every step is a desired-state change through ``deployments.service.transition`` (which bumps the generation and
queues the reconcile after commit), never a direct call to the engine. The account's ``billing_accounts`` row
records when billing suspended it and when it released the volumes; its lock (taken first, then the namespaces')
serialises the lifecycle with the ledger.

- :func:`sync_account` (a job, queued after a charge leaves the balance at zero and after a top-up of a suspended
  account) is level-triggered: at zero, the account's ``active`` namespaces are suspended and, the first time,
  the account is told; above zero, a suspended account is told whether its volumes are gone, then resumed.
- :func:`release_volumes` (periodic) moves the suspended namespaces of accounts suspended for
  ``volume_release_after_hours`` and still at zero to ``volumes_released``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from controlplane.billing.ledger import credits_text
from controlplane.billing.models import BillingAccount
from controlplane.db import utcnow
from controlplane.deployments.models import DesiredState, Namespace
from controlplane.deployments.service import Context, transition
from controlplane.errors import AppError
from controlplane.notifications.service import notify

log = logging.getLogger(__name__)

BALANCE_ZERO = "balance_zero"
VOLUMES_RELEASED = "volumes_released"
RESUMING = "resuming"
RESUME_FAILED = "resume_failed"


def sync_account(session: Session, ctx: Context, account_id: uuid.UUID, *, now: datetime | None = None) -> str:
    now = now or utcnow()
    account = session.scalar(
        select(BillingAccount)
        .where(BillingAccount.account_id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if account is None:
        return "no billing account"
    if account.balance == 0:
        return _suspend(session, ctx, account, account_id, now)
    if account.suspended_at is not None:
        return _resume(session, ctx, account, account_id, now)
    return "nothing to do"


def release_volumes(session: Session, ctx: Context, *, now: datetime | None = None) -> int:
    """Release the volumes of accounts at zero for ``volume_release_after_hours``; returns namespaces released."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=ctx.settings.volume_release_after_hours)
    has_suspended = exists().where(
        Namespace.account_id == BillingAccount.account_id, Namespace.desired_state == DesiredState.SUSPENDED
    )
    accounts = session.scalars(
        select(BillingAccount)
        .where(
            BillingAccount.account_id.is_not(None),
            BillingAccount.suspended_at <= cutoff,
            BillingAccount.balance == 0,  # a top-up waiting for its resume keeps the volumes
            BillingAccount.volumes_released_at.is_(None) | has_suspended,
        )
        .with_for_update(skip_locked=True)
    ).all()
    released_total = 0
    for account in accounts:
        assert account.account_id is not None
        namespaces = _namespaces(session, account.account_id, [DesiredState.SUSPENDED])
        reason = f"the balance stayed at zero for {ctx.settings.volume_release_after_hours} hours"
        released, failed = _transition_all(session, ctx, namespaces, DesiredState.VOLUMES_RELEASED, reason)
        first = account.volumes_released_at is None
        account.volumes_released_at = account.volumes_released_at or now
        released_total += len(released)
        if released or first:
            names = ", ".join(released) or "none"
            notify(
                session,
                account.account_id,
                VOLUMES_RELEASED,
                "Volumes deleted",
                f"Your balance stayed at zero for {ctx.settings.volume_release_after_hours} hours, so the volumes "
                f"of your suspended namespaces were deleted (namespaces: {names}). Their configurations are kept; "
                "after a top-up they start again with new, empty volumes.",
                {"namespaces": released, "failed": failed},
                now=now,
            )
    return released_total


# --- steps -------------------------------------------------------------------------------------------------------


def _suspend(session: Session, ctx: Context, account: BillingAccount, account_id: uuid.UUID, now: datetime) -> str:
    namespaces = _namespaces(session, account_id, [DesiredState.ACTIVE])
    first = account.suspended_at is None
    if not first and not namespaces:
        return "already suspended"
    suspended_at = account.suspended_at or now
    account.suspended_at = suspended_at
    if first:
        account.volumes_released_at = None
    suspended, failed = _transition_all(session, ctx, namespaces, DesiredState.SUSPENDED, "the balance reached zero")
    release_at = suspended_at + timedelta(hours=ctx.settings.volume_release_after_hours)
    if first or suspended:
        names = ", ".join(suspended) or "none running"
        notify(
            session,
            account_id,
            BALANCE_ZERO,
            "Your balance is zero: namespaces suspended",
            f"Your credit balance reached zero, so your namespaces were suspended ({names}): their apps are "
            f"stopped and their volumes kept until {release_at:%Y-%m-%d %H:%M} UTC. Top up before then to keep "
            "the volumes; after that they are deleted (configurations are kept).",
            {
                "namespaces": suspended,
                "failed": failed,
                "unpaid": account.unpaid,
                "volumes_release_at": release_at.isoformat(),
            },
            now=now,
        )
    return f"suspended {len(suspended)} namespace(s)"


def _resume(session: Session, ctx: Context, account: BillingAccount, account_id: uuid.UUID, now: datetime) -> str:
    namespaces = _namespaces(session, account_id, [DesiredState.SUSPENDED, DesiredState.VOLUMES_RELEASED])
    lost = [ns.name for ns in namespaces if ns.desired_state == DesiredState.VOLUMES_RELEASED]
    volumes_released = bool(lost) or account.volumes_released_at is not None
    names = [ns.name for ns in namespaces]
    if volumes_released:
        about_volumes = (
            "Their volumes were deleted while the balance was at zero: the apps start with new, empty volumes."
        )
    else:
        about_volumes = "Their volumes were kept: the apps start with their data as it was."
    # Told first, then resumed: the notice is written before the namespaces change (and their reconcile runs
    # only after this transaction commits).
    notify(
        session,
        account_id,
        RESUMING,
        "Top-up received: namespaces resuming",
        f"Your balance is {credits_text(account.balance)} credits, so your namespaces are resuming "
        f"({', '.join(names) or 'none'}). {about_volumes}",
        {"namespaces": names, "volumes_released": volumes_released, "volumes_released_namespaces": lost},
        now=now,
    )
    resumed, failed = _transition_all(session, ctx, namespaces, DesiredState.ACTIVE, "a top-up of the balance")
    if failed:
        notify(
            session,
            account_id,
            RESUME_FAILED,
            "Some namespaces could not resume",
            f"These namespaces no longer pass the platform's checks and stay suspended: {', '.join(failed)}. "
            "Update their configuration to resume them.",
            {"namespaces": failed},
            now=now,
        )
    account.suspended_at = None
    account.volumes_released_at = None
    return f"resumed {len(resumed)} namespace(s)"


def _namespaces(session: Session, account_id: uuid.UUID, states: Sequence[DesiredState]) -> list[Namespace]:
    return list(
        session.scalars(
            select(Namespace)
            .where(Namespace.account_id == account_id, Namespace.desired_state.in_([s.value for s in states]))
            .order_by(Namespace.name)
            .with_for_update()
        ).all()
    )


def _transition_all(
    session: Session, ctx: Context, namespaces: Sequence[Namespace], state: DesiredState, reason: str
) -> tuple[list[str], list[str]]:
    """Each namespace in its own savepoint: one that fails admission does not hold the others back."""
    done, failed = [], []
    for namespace in namespaces:
        name = namespace.name
        try:
            with session.begin_nested():
                transition(session, ctx, namespace, state, reason=reason)
            done.append(name)
        except AppError as exc:
            log.warning("namespace %s could not move to %s: %s", namespace.id, state.value, exc.message)
            failed.append(name)
    return done, failed
