"""Account deletion: destroy every stack first, then erase personal data; billing records stay, detached.

``DELETE /v1/account`` answers at once with a deletion record to follow (``GET /v1/account-deletions/{id}``, the
id being an unguessable capability, since the caller's credentials are gone by then). Sessions and API keys end
immediately; every namespace is moved to ``deleted`` (a destroy through the reconcile engine). A job then waits
until every stack is destroyed, retrying stalled destroys with backoff, and only then erases: the phone hash,
wallets, API logs, namespaces and their configurations, notifications, and the account row. Billing rows reference
the account with ``ON DELETE SET NULL``, so they remain for accounting without a link to the person.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account, ApiKey, AuthSession, Wallet
from controlplane.db import utcnow
from controlplane.deployments.models import DesiredState, Namespace, Status
from controlplane.deployments.service import Context, retry_stalled, transition
from controlplane.errors import Conflict, NotFound
from controlplane.idempotency.service import forget_account
from controlplane.privacy.models import AccountDeletion, ApiLog
from controlplane.queue import PendingJob, enqueue_after_commit, job_id
from controlplane.runtime import get_runtime

FINISH_JOB = "controlplane.privacy.deletion.finish_account_deletion"
CONFIRMATION = "delete my account"
_MAX_WAIT_S = 600.0


def request_deletion(session: Session, ctx: Context, account_id: uuid.UUID) -> AccountDeletion:
    account = session.scalar(select(Account).where(Account.id == account_id).with_for_update())
    if account is None:
        raise NotFound("no such account")
    if account.status != "active":
        raise Conflict("this account is already being deleted", code="deletion_in_progress")
    account.status = "deleting"
    # Signed out everywhere at once: no credential outlives the request.
    session.execute(delete(AuthSession).where(AuthSession.account_id == account_id))
    session.execute(delete(ApiKey).where(ApiKey.account_id == account_id))
    forget_account(session, account_id)  # what they asked for, and the answers, go too
    namespaces = session.scalars(
        select(Namespace)
        .where(Namespace.account_id == account_id, Namespace.desired_state != DesiredState.DELETED)
        .with_for_update()  # one writer per namespace: each change is one generation, one revision
    ).all()
    for namespace in namespaces:
        transition(session, ctx, namespace, DesiredState.DELETED, reason="account deletion")
    deletion = AccountDeletion(account_id=account_id, status="destroying", attempts=0,
                               namespaces_pending=len(namespaces))  # fmt: skip
    session.add(deletion)
    session.flush()
    enqueue_after_commit(session, _finish_job(deletion.id))
    return deletion


def get_deletion(session: Session, deletion_id: uuid.UUID) -> AccountDeletion:
    deletion = session.get(AccountDeletion, deletion_id)
    if deletion is None:
        raise NotFound("no such account deletion")
    return deletion


def finish_account_deletion(deletion_id: str) -> str:
    """Erase the account once every stack is destroyed; until then, check again later (and retry stalled destroys)."""
    runtime = get_runtime()
    ctx = Context(runtime.settings, runtime.redis)
    with runtime.transaction() as session:
        deletion = session.get(AccountDeletion, uuid.UUID(deletion_id), with_for_update=True)
        if deletion is None or deletion.status == "completed" or deletion.account_id is None:
            return "nothing to do"
        account_id = deletion.account_id
        remaining = session.scalars(
            select(Namespace).where(Namespace.account_id == account_id, Namespace.status != Status.DELETED)
        ).all()
        deletion.namespaces_pending = len(remaining)
        if remaining:
            for namespace in remaining:
                if namespace.status == Status.STALLED:
                    deletion.last_error = namespace.last_error
                    retry_stalled(session, ctx, namespace.id)
            deletion.attempts += 1
            delay = min(_MAX_WAIT_S, runtime.settings.retry_base_delay_s * 2.0 ** min(deletion.attempts, 10))
            runtime.queue.enqueue_in(
                timedelta(seconds=delay), FINISH_JOB, deletion_id,
                job_id=job_id("account-deletion", deletion_id, deletion.attempts), result_ttl=0,
            )  # fmt: skip
            return f"waiting for {len(remaining)} stack(s) to be destroyed"
        erase_personal_data(session, account_id)
        deletion.status = "completed"
        deletion.completed_at = utcnow()
        deletion.namespaces_pending = 0
        deletion.last_error = None
        return "completed"


def erase_personal_data(session: Session, account_id: uuid.UUID) -> None:
    """Everything about the person, in dependency order; billing rows are detached by their foreign keys."""
    session.execute(delete(ApiLog).where(ApiLog.account_id == account_id))
    session.execute(delete(Namespace).where(Namespace.account_id == account_id))
    session.execute(delete(Wallet).where(Wallet.account_id == account_id))
    session.execute(delete(AuthSession).where(AuthSession.account_id == account_id))
    session.execute(delete(ApiKey).where(ApiKey.account_id == account_id))
    forget_account(session, account_id)
    session.execute(delete(Account).where(Account.id == account_id))


def _finish_job(deletion_id: uuid.UUID) -> PendingJob:
    return PendingJob(FINISH_JOB, (str(deletion_id),), job_id=job_id("account-deletion", deletion_id))
