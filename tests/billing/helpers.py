"""Rows for billing tests: namespaces in any lifecycle state (inserted directly, for metering), sums of the ledger."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.billing.models import BillingAccount, LedgerEntry
from controlplane.deployments.identity import issue_identity
from controlplane.deployments.models import App, Namespace


@dataclass(frozen=True)
class AppSize:
    replicas: int
    cpu_millicores: int
    memory_mib: int
    volume_gib: int | None = None


def add_namespace(
    db: Session,
    account_id: uuid.UUID | None,
    apps: list[AppSize],
    *,
    desired: str = "active",
    observed: str | None = "active",
    created_at: datetime | None = None,
    name: str | None = None,
) -> Namespace:
    """A namespace as the reconcile engine would leave it (``observed_state``), without running it."""
    identity = issue_identity(db)
    namespace = Namespace(
        id=identity.namespace_id,
        cluster_name=identity.cluster_name,
        host_suffix=identity.host_suffix,
        account_id=account_id,
        name=name or f"ns-{uuid.uuid4().hex[:12]}",
        desired_state=desired,
        observed_state=observed,
        status="ready" if observed else "pending",
        generation=1,
        observed_generation=1 if observed else 0,
        failure_count=0,
        drift_detected=False,
        outputs={},
        conditions=[],
    )
    if created_at is not None:
        namespace.created_at = created_at
    namespace.apps = [
        App(
            name=f"app{index}",
            image="ghcr.io/acme/web:1.0.0",
            replicas=size.replicas,
            cpu_millicores=size.cpu_millicores,
            memory_mib=size.memory_mib,
            ports=[{"name": "http", "port": 8080, "public": False}],
            env={},
            volume_size_gib=size.volume_gib,
            volume_mount_path="/data" if size.volume_gib else None,
            custom_domains=[],
            **({"created_at": created_at} if created_at is not None else {}),
        )
        for index, size in enumerate(apps)
    ]
    db.add(namespace)
    db.flush()
    return namespace


def ledger_sums(db: Session, account_id: uuid.UUID) -> tuple[int, int]:
    """(sum of amounts, sum of unpaid) over the account's entries: what the balance row must equal."""
    amount, unpaid = db.execute(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0), func.coalesce(func.sum(LedgerEntry.unpaid), 0)).where(
            LedgerEntry.account_id == account_id
        )
    ).one()
    return int(amount), int(unpaid)


def balance_row(db: Session, account_id: uuid.UUID) -> BillingAccount:
    return db.scalars(
        select(BillingAccount).where(BillingAccount.account_id == account_id).execution_options(populate_existing=True)
    ).one()


def entries(db: Session, account_id: uuid.UUID, **filters: Any) -> list[LedgerEntry]:
    stmt = select(LedgerEntry).where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.created_at)
    for name, value in filters.items():
        stmt = stmt.where(getattr(LedgerEntry, name) == value)
    return list(db.scalars(stmt.execution_options(populate_existing=True)).all())
