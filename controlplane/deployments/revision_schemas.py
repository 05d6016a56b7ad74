"""Response and request shapes of revisions, rollbacks and dry runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import yaml
from pydantic import Field

from controlplane.api.schemas import ApiModel, ResponseModel
from controlplane.api.text import INTEGRAL
from controlplane.deployments.models import Revision
from controlplane.deployments.schemas import Accepted


class RevisionAuthor(ResponseModel):
    kind: str = Field(description="account (a session or an API key) or platform (billing, domain checks, ...)")
    account_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    session_id: uuid.UUID | None
    reason: str | None


class RevisionOutcomeOut(ResponseModel):
    status: str = Field(description="pending, applied, superseded (a newer one was applied first), failed, refused")
    operation_id: uuid.UUID | None = Field(description="The run that applied it (or failed)")
    at: datetime | None
    message: str | None


class RevisionOut(ResponseModel):
    generation: int
    created_at: datetime
    author: RevisionAuthor
    desired_state: str
    config: dict[str, Any] = Field(description="The configuration document (as GET .../config exports it)")
    verified_domains: list[str]
    hourly_cost: int = Field(description="This spec's price per hour at today's prices, in micro-credits")
    diff: dict[str, Any] = Field(description="The change against the revision before")
    rollback_of: int | None
    outcome: RevisionOutcomeOut

    @classmethod
    def of(cls, revision: Revision, hourly_cost: int) -> RevisionOut:
        return cls(
            generation=revision.generation,
            created_at=revision.created_at,
            author=RevisionAuthor(
                kind=revision.author_kind,
                account_id=revision.author_account_id,
                api_key_id=revision.author_api_key_id,
                session_id=revision.author_session_id,
                reason=revision.reason,
            ),
            desired_state=revision.desired_state,
            config=revision.document,
            verified_domains=revision.verified_domains,
            hourly_cost=hourly_cost,
            diff=revision.diff,
            rollback_of=revision.rollback_of,
            outcome=RevisionOutcomeOut(
                status=revision.outcome,
                operation_id=revision.operation_id,
                at=revision.outcome_at,
                message=revision.outcome_message,
            ),
        )


class RevisionDiffOut(ResponseModel):
    from_generation: int
    to_generation: int
    diff: dict[str, Any]


class RollbackIn(ApiModel):
    generation: Annotated[int, Field(ge=1), INTEGRAL] = Field(description="The revision whose configuration to restore")


class KeptVolume(ResponseModel):
    app: str
    size_gib: int = Field(description="The size kept (the current one): volumes never shrink")
    revision_size_gib: int | None = Field(description="The size in the revision rolled back to (null: no volume)")
    mount_path: str


class RollbackAccepted(Accepted):
    rollback_of: int
    kept_volumes: list[KeptVolume] = Field(description="Volumes kept larger than the revision had them")


class PolicyVerdict(ResponseModel):
    allowed: bool
    violations: list[dict[str, Any]]


class DryRunReport(ResponseModel):
    """What a write would do, with nothing stored and nothing queued."""

    dry_run: bool = True
    namespace: str | None
    changed: bool = Field(description="False: the write leaves the desired state as it is")
    allowed: bool = Field(description="The write would be accepted; otherwise `refusals` says why")
    generation: int | None = Field(description="The revision it would become")
    diff: dict[str, Any]
    policy: PolicyVerdict
    price: dict[str, Any] | None = Field(
        description="Price per hour (micro-credits) of the namespace and the account before and after, the balance, "
        "the runway (hours the balance lasts) before and after, and what to add when the credit is short"
    )
    refusals: list[dict[str, Any]] = Field(description="The errors the write would get, in the one error shape")
    kept_volumes: list[KeptVolume] = Field(default_factory=list)


def revision_yaml(revision: Revision) -> str:
    return yaml.safe_dump(revision.document, sort_keys=False)
