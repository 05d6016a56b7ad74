"""The gate every desired-state change passes before it is accepted, and the request's note about it.

``service._accept_change`` is the one place a change is accepted. There, in order: the spec validates (a 422
naming the field), the policy pack passes (422 ``policy_violation``), the generation is bumped, the revision is
recorded (``revisions.record``), and the account can pay for it: a change that raises the account's price and
would leave less than ``min_runway_hours`` of credit is refused with 402 ``insufficient_credits``
(``billing.service``). Lifecycle moves (``service.transition``: billing's suspend/release/resume, deletes) are not
held to the runway: billing decides those by its own rules, and a delete only lowers the price.

The *change note* (``session.info``) says who asks and whether it is a dry run. Every write route of the namespaces
API sets it (``deployments.write_route``); a change with no note (a job, billing's lifecycle, a domain check) is
the platform's. In a dry run the policy's and the credit's refusals are collected instead of raised, and the note
gets the report the route answers with; the request's edge then rolls everything back (``controlplane.dry_run``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from controlplane.billing import service as billing
from controlplane.deployments import revisions
from controlplane.deployments.models import Namespace
from controlplane.deployments.revision_schemas import DryRunReport, KeptVolume, PolicyVerdict
from controlplane.deployments.revisions import Author, Spec
from controlplane.deployments.spec import admit
from controlplane.errors import AppError, Unprocessable
from controlplane.settings import Settings
from programs.tenant import TenantSpec

CHANGE_NOTE = "controlplane.change_note"
POLICY_VIOLATION = "policy_violation"


@dataclass
class ChangeNote:
    """What the request making a change says about it, and (in a dry run) what the gate found."""

    author: Author
    dry_run: bool = False
    rollback_of: int | None = None
    kept_volumes: list[KeptVolume] = field(default_factory=list)
    refusals: list[AppError] = field(default_factory=list)
    report: DryRunReport | None = None


def note_of(session: Session) -> ChangeNote | None:
    note: ChangeNote | None = session.info.get(CHANGE_NOTE)
    return note


def attach(session: Session, note: ChangeNote) -> None:
    session.info[CHANGE_NOTE] = note


def detach(session: Session) -> None:
    session.info.pop(CHANGE_NOTE, None)


@contextmanager
def rolling_back_to(session: Session, generation: int, kept_volumes: list[KeptVolume]) -> Iterator[None]:
    """Changes accepted inside restore revision ``generation`` (recorded on their revision)."""
    note = note_of(session)
    own = note is None
    if note is None:
        note = ChangeNote(Author.platform())
        attach(session, note)
    note.rollback_of, note.kept_volumes = generation, kept_volumes
    try:
        yield
    finally:
        note.rollback_of = None
        if own:
            detach(session)


def admit_policy(session: Session, spec: TenantSpec) -> None:
    """The policy pack on what the program would declare; in a dry run a refusal is noted, not raised."""
    try:
        admit(spec)
    except Unprocessable as exc:
        note = note_of(session)
        if note is None or not note.dry_run or exc.code != POLICY_VIOLATION:
            raise
        note.refusals.append(exc)


def accept(session: Session, settings: Settings, namespace: Namespace, *, reason: str | None, lifecycle: bool) -> None:
    """Record the change as a revision and check that the account can pay for it (the generation is bumped and
    the rows flushed)."""
    note = note_of(session)
    dry_run = note is not None and note.dry_run
    recorded = revisions.record(
        session,
        namespace,
        note.author if note is not None else Author.platform(),
        reason=reason,
        rollback_of=note.rollback_of if note is not None else None,
    )
    price = None
    if namespace.account_id is not None and (dry_run or not lifecycle):
        before = price_of(settings, recorded.previous) if recorded.previous is not None else 0
        after = namespace_price(settings, namespace)
        price = billing.price_change(session, settings, namespace.account_id, before, after)
        refusal = None if lifecycle else billing.refusal(price)
        if refusal is not None and not dry_run:
            raise refusal
        if refusal is not None and note is not None:
            note.refusals.append(refusal)
    if dry_run and note is not None:
        note.report = _report(namespace, recorded.diff, note, price)


def namespace_price(settings: Settings, namespace: Namespace) -> int:
    """The namespace's desired state's price per hour, as declared now."""
    return billing.namespace_price(settings, namespace.desired_state, namespace.apps)


def price_of(settings: Settings, spec: Spec) -> int:
    """A spec's price per hour at today's prices."""
    return billing.document_price(settings, spec.desired_state, spec.document.get("apps", []))


def no_change_report(note: ChangeNote) -> DryRunReport:
    """A dry run of a write that leaves the desired state as it is."""
    return DryRunReport(
        namespace=None,
        changed=False,
        allowed=not note.refusals,
        generation=None,
        diff={},
        policy=PolicyVerdict(allowed=True, violations=[]),
        price=None,
        refusals=[_error(refusal) for refusal in note.refusals],
    )


def _report(namespace: Namespace, diff: dict[str, Any], note: ChangeNote, price: Any) -> DryRunReport:
    violations = [
        violation
        for refusal in note.refusals
        if refusal.code == POLICY_VIOLATION
        for violation in (refusal.details or [])
    ]
    return DryRunReport(
        namespace=namespace.name,
        changed=True,
        allowed=not note.refusals,
        generation=namespace.generation,
        diff=diff,
        policy=PolicyVerdict(allowed=not any(r.code == POLICY_VIOLATION for r in note.refusals), violations=violations),
        price=price.as_dict() if price is not None else None,
        refusals=[_error(refusal) for refusal in note.refusals],
        kept_volumes=note.kept_volumes,
    )


def _error(refusal: AppError) -> dict[str, Any]:
    error: dict[str, Any] = refusal.to_body()["error"]
    return error
