"""``operator_audit_log``: who did what to which target, with the request id; rows are never changed.

The ids are kept without foreign keys: an entry must outlive the operator's and the target's accounts (it is an
accountability record, like the ledger), and once those accounts are erased the ids point at nobody.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.db import Base, IdMixin, TimestampMixin


class AuditEntry(IdMixin, TimestampMixin, Base):
    __tablename__ = "operator_audit_log"

    actor_account_id: Mapped[uuid.UUID | None]  # None for the `controlplane` command run on a server
    credential: Mapped[str] = mapped_column(String(80))  # "api-key:<id>", "session:<id>" or "cli"
    action: Mapped[str] = mapped_column(String(200))  # "POST /v1/operator/namespaces/{namespace_id}/retry"
    target: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the route's path parameters
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what the endpoint adds
    request_id: Mapped[str] = mapped_column(String(128))
