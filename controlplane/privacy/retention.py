"""How long each kind of data is kept, and the job that enforces it: the one place that says so.

docs/PRIVACY.md shows the same table for people; a test checks the two agree and that every job named here
exists and is scheduled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from controlplane.accounts.models import AuthSession
from controlplane.db import utcnow
from controlplane.privacy.models import ApiLog
from controlplane.runtime import Runtime, get_runtime

# Each purge loops over bounded batches, and the loop itself is bounded: a backlog larger than this is finished by
# the next run rather than by one long transaction.
_MAX_BATCHES = 200


@dataclass(frozen=True)
class Retention:
    data: str
    kept: str
    enforced_by: str  # the job (import path), or "account deletion" / "never deleted"


RETENTION: tuple[Retention, ...] = (
    Retention("API usage logs (metadata only)", "90 days (api_log_retention_days)",
              "controlplane.privacy.retention.purge_api_logs"),
    Retention("Container volumes of a namespace suspended for zero balance", "1 day after suspension",
              "controlplane.billing.jobs.release_suspended_volumes"),
    Retention("Sessions (with the browser's user agent and the reduced client address)",
              "until sign-out or expiry (session_ttl_hours)",
              "controlplane.privacy.retention.purge_expired_sessions"),
    Retention("Idempotency records (never an answer that showed a secret)",
              "24 hours (idempotency_ttl_hours), or until account deletion if sooner",
              "controlplane.worker.jobs.purge_idempotency_records"),
    Retention("Deployment configurations (namespaces, apps)", "while the account exists", "account deletion"),
    Retention("Revisions of a namespace's configuration (with env values), who made each and when",
              "with the namespace's configuration, until account deletion; at most the newest 100 per namespace "
              "(revision_history_limit) and the one running",
              "controlplane.deployments.revisions.prune_revisions"),
    Retention("Custom domains of a deleted namespace (reserved to it)",
              "30 days after the deletion (domain_reservation_grace_days)",
              "controlplane.deployments.domain_jobs.purge_released_domains"),
    Retention("Phone number hash, wallet addresses, API keys", "while the account exists", "account deletion"),
    Retention("Billing records (ledger, deposits with wallet address and transaction hash)",
              "kept for accounting, detached from the person at account deletion", "never deleted"),
    Retention("Operator audit log (operator and target ids, route, request id)",
              "kept for accountability; the ids point at nobody once the accounts are erased", "never deleted"),
)  # fmt: skip


def _purge(runtime: Runtime, table: type[ApiLog] | type[AuthSession], condition: object, batch: int) -> int:
    deleted = 0
    for _ in range(_MAX_BATCHES):
        with runtime.transaction() as session:
            ids = select(table.id).where(condition).limit(batch).scalar_subquery()  # type: ignore[arg-type]
            count = session.execute(delete(table).where(table.id.in_(ids))).rowcount  # type: ignore[attr-defined]
        deleted += count
        if count < batch:
            break
    return deleted


def purge_api_logs(now: datetime | None = None) -> int:
    runtime = get_runtime()
    cutoff = (now or utcnow()) - timedelta(days=runtime.settings.api_log_retention_days)
    return _purge(runtime, ApiLog, ApiLog.created_at < cutoff, runtime.settings.retention_batch_size)


def purge_expired_sessions(now: datetime | None = None) -> int:
    runtime = get_runtime()
    return _purge(
        runtime, AuthSession, AuthSession.expires_at < (now or utcnow()), runtime.settings.retention_batch_size
    )
