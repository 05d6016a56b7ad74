"""The custom-domain jobs: check a claim's TXT challenge, sweep the claims that are due, purge ended reservations.

``verify_domain(claim_id)`` is queued on demand (``POST .../domains/{domain}/verify``) and by the sweep. The DNS
lookup runs outside any transaction; the outcome is applied under the namespace's row lock:

- a pending claim whose record holds its token is verified, unless the domain is verified by another namespace
  that still holds it (alive, suspended included, or deleted less than the grace ago; a namespace of the same
  account may take it over from a deleted one); the namespace is then reconciled, so the domain gets its route;
- a verified claim whose record is gone is flagged (``failing_since``) and its owner notified; it keeps its route
  (a record can vanish for a while when DNS moves) until ``domain_recheck_grace_hours`` have passed, then it is
  pending again, unrouted, no longer reserved (whoever controls the DNS may verify it), and the owner is told;
- no answer from any resolver changes nothing but ``last_error``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.orm import Session

from controlplane.db import utcnow
from controlplane.deployments import domains
from controlplane.deployments.models import CustomDomain, DesiredState, DomainStatus, Namespace
from controlplane.deployments.service import Context, accept_domain_change, verify_domain_job
from controlplane.notifications.service import notify
from controlplane.queue import enqueue
from controlplane.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)

_SWEEP_LIMIT = 1000


def verify_domain(claim_id: str) -> str:
    runtime = get_runtime()
    with runtime.transaction() as session:
        claim = session.get(CustomDomain, uuid.UUID(claim_id))
        if claim is None or claim.namespace_id is None or claim.released_at is not None:
            return "no such claim"
        namespace_id, domain, token = claim.namespace_id, claim.domain, claim.token
    records, failure = _lookup(runtime, domain)
    with runtime.transaction() as session:
        namespace = session.get(Namespace, namespace_id, with_for_update=True)
        claim = session.get(CustomDomain, uuid.UUID(claim_id), with_for_update=True)
        if namespace is None or claim is None or claim.token != token:
            return "no such claim"
        if namespace.desired_state == DesiredState.DELETED:
            return "namespace deleted"
        now = utcnow()
        claim.last_checked_at = now
        if records is None:
            claim.last_error = failure
            return "dns unavailable"
        ctx = Context(runtime.settings, runtime.redis)
        if claim.status == DomainStatus.PENDING:
            return _check_pending(session, ctx, namespace, claim, token in records, now)
        return _recheck_verified(session, ctx, namespace, claim, token in records, now)


def _lookup(runtime: Runtime, domain: str) -> tuple[set[str] | None, str | None]:
    """The challenge record's TXT strings, or None and why when no resolver answered."""
    settings = runtime.settings
    name = domains.challenge_name(domain)
    try:
        return domains.lookup_txt(
            name, settings.domain_verification_resolvers, settings.domain_verification_timeout_s
        ), None
    except domains.DnsLookupFailed as exc:
        return None, str(exc)


def _check_pending(
    session: Session, ctx: Context, namespace: Namespace, claim: CustomDomain, found: bool, now: datetime
) -> str:
    if not found:
        claim.last_error = f"no TXT record {domains.challenge_name(claim.domain)} holds this claim's token"
        return "not verified"
    holder = session.scalar(
        select(CustomDomain)
        .where(
            CustomDomain.domain == claim.domain,
            CustomDomain.status == DomainStatus.VERIFIED,
            CustomDomain.id != claim.id,
        )
        .with_for_update()
    )
    if holder is not None:
        if _still_reserved(holder, claim, now):
            # The caller controls the domain's DNS (the token is there), so this tells them nothing they don't own.
            claim.last_error = "the domain is verified by another namespace, which still holds it"
            return "reserved elsewhere"
        session.delete(holder)
        session.flush()
    claim.status = DomainStatus.VERIFIED
    claim.verified_at = now
    claim.failing_since = None
    claim.last_error = None
    session.flush()
    accept_domain_change(session, ctx, namespace, reason=f"custom domain verified: {claim.domain}")
    return "verified"


def _still_reserved(holder: CustomDomain, claimant: CustomDomain, now: datetime) -> bool:
    if holder.released_at is None:
        return True  # its namespace exists (active or suspended)
    if holder.released_at <= now:
        return False  # the grace after its namespace's deletion is over
    return holder.account_id is None or holder.account_id != claimant.account_id


def _recheck_verified(
    session: Session, ctx: Context, namespace: Namespace, claim: CustomDomain, found: bool, now: datetime
) -> str:
    if found:
        claim.failing_since = None
        claim.last_error = None
        return "still verified"
    record = domains.challenge_name(claim.domain)
    grace = timedelta(hours=ctx.settings.domain_recheck_grace_hours)
    claim.last_error = f"the TXT record {record} no longer holds this claim's token"
    if claim.failing_since is None:
        claim.failing_since = now
        _tell(session, namespace, "domain_check_failed", f"{claim.domain}: its verification record is gone",
              f"The TXT record {record} no longer holds the token {claim.token}. Restore it within "
              f"{ctx.settings.domain_recheck_grace_hours} hours or {claim.domain} stops being routed to namespace "
              f"{namespace.name}.", claim.domain)  # fmt: skip
        if grace > timedelta(0):
            return "flagged"
    if now - claim.failing_since < grace:
        return "still failing"
    claim.status = DomainStatus.PENDING
    claim.verified_at = None
    claim.failing_since = None
    session.flush()
    _tell(session, namespace, "domain_unverified", f"{claim.domain} is no longer routed",
          f"The TXT record {record} was missing for {ctx.settings.domain_recheck_grace_hours} hours: {claim.domain} is "
          f"pending again and no longer routed to namespace {namespace.name}. Restore the record and verify it "
          "again.", claim.domain)  # fmt: skip
    accept_domain_change(session, ctx, namespace, reason=f"custom domain no longer verified: {claim.domain}")
    return "unverified"


def _tell(session: Session, namespace: Namespace, kind: str, title: str, body: str, domain: str) -> None:
    if namespace.account_id is not None:
        notify(session, namespace.account_id, kind, title, body, {"namespace": namespace.name, "domain": domain})


def check_domains(now: datetime | None = None) -> int:
    """Queue a check of every claim that is due: pending ones (for ``domain_pending_check_days`` after the claim),
    verified ones every ``domain_recheck_interval_s``, and failing ones at every sweep."""
    runtime = get_runtime()
    ids = _due_claims(runtime, now or utcnow())
    for claim_id in ids:
        enqueue(runtime.queue, verify_domain_job(claim_id, runtime.settings))
    return len(ids)


def _due_claims(runtime: Runtime, now: datetime) -> list[uuid.UUID]:
    settings = runtime.settings
    sweep = now - timedelta(seconds=settings.domain_check_interval_s)
    recheck = now - timedelta(seconds=settings.domain_recheck_interval_s)
    pending_since = now - timedelta(days=settings.domain_pending_check_days)
    with runtime.transaction() as session:
        return list(
            session.scalars(
                select(CustomDomain.id)
                .where(
                    CustomDomain.namespace_id.is_not(None),
                    CustomDomain.released_at.is_(None),
                    or_(
                        and_(
                            CustomDomain.status == DomainStatus.PENDING,
                            CustomDomain.created_at >= pending_since,
                            _unchecked_since(sweep),
                        ),
                        and_(
                            CustomDomain.status == DomainStatus.VERIFIED,
                            or_(CustomDomain.failing_since.is_not(None), _unchecked_since(recheck)),
                        ),
                    ),
                )
                .order_by(CustomDomain.last_checked_at.nulls_first())
                .limit(_SWEEP_LIMIT)
            )
        )


def _unchecked_since(cutoff: datetime) -> ColumnElement[bool]:
    return or_(CustomDomain.last_checked_at.is_(None), CustomDomain.last_checked_at <= cutoff)


def purge_released_domains(now: datetime | None = None) -> int:
    """Delete the claims whose reservation ended (their namespace was deleted more than the grace ago)."""
    runtime = get_runtime()
    with runtime.transaction() as session:
        result = session.execute(delete(CustomDomain).where(CustomDomain.released_at <= (now or utcnow())))
        return int(result.rowcount)  # type: ignore[attr-defined]
