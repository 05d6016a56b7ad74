"""Recording operator writes, and reading them back.

Every operator write endpoint takes ``OperatorWriteAudit``: it admits only operators holding ``operator:write``
and records the write in the request's transaction once the endpoint has returned, so the entry is committed
with the change or not at all. The endpoint may add what the path does not say to ``entry.details``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from controlplane.accounts.principal import OperatorWriter
from controlplane.api.deps import SessionDep
from controlplane.api.pagination import AnySelect
from controlplane.audit.models import AuditEntry
from controlplane.logs import request_id_var

CLI_CREDENTIAL = "cli"


def record(
    session: Session,
    *,
    actor_account_id: uuid.UUID | None,
    credential: str,
    action: str,
    target: dict[str, Any],
    details: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_account_id=actor_account_id,
        credential=credential,
        action=action,
        target=target,
        details=details or {},
        request_id=request_id or request_id_var.get(),
    )
    session.add(entry)
    return entry


def listing(columns: Sequence[InstrumentedAttribute[Any]], *, actor_account_id: uuid.UUID | None) -> AnySelect:
    stmt = select(*columns)
    if actor_account_id is not None:
        stmt = stmt.where(AuditEntry.actor_account_id == actor_account_id)
    return stmt


async def audited_operator_write(
    request: Request, operator: OperatorWriter, session: SessionDep
) -> AsyncIterator[AuditEntry]:
    route = request.scope.get("route")
    entry = AuditEntry(
        actor_account_id=operator.account_id,
        credential=operator.identity,
        action=f"{request.method} {getattr(route, 'path', request.url.path)}",
        target={name: str(value) for name, value in request.path_params.items()},
        details={},
        request_id=request_id_var.get(),
    )
    yield entry
    # Added only now, with what the endpoint put in ``details``: the row is inserted once and never updated.
    session.add(entry)


# scope="function": recorded before the request's session commits (that dependency closes after this one).
OperatorWriteAudit = Annotated[AuditEntry, Depends(audited_operator_write, scope="function")]
