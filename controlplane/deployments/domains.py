"""Custom domains: who may route a domain, and the DNS TXT challenge that proves it.

An app lists the domains it wants to answer on (its configuration). For each, the namespace holds a *claim*: pending
until its owner creates the TXT record ``_controlplane-challenge.<domain>`` holding the claim's token and a check
finds it; verified after. Only verified domains reach the tenant spec (so only they get an Ingress rule, a Cloudflare
custom hostname and a certificate). At most one claim per domain is verified on the platform; a pending claim blocks
nobody, so claiming a domain tells nothing about other tenants and squats nothing. A verified claim stays reserved to
its namespace while the namespace exists (suspended included) and for ``domain_reservation_grace_days`` after its
deletion. The checks themselves are jobs (``controlplane.deployments.domain_jobs``).

Domains are normalised once, when a configuration is accepted: trailing dot removed, lower case, IDNA A-labels
(UTS 46). Refused: single labels, IP addresses, names inside the cluster or the host (``localhost``, ``*.svc``,
``*.cluster.local``), the platform's base domain and reserved zones, and anything under them.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import dns.exception
import dns.rdatatype
import dns.resolver
import idna
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from controlplane.db import utcnow
from controlplane.deployments.models import App, CustomDomain, DomainStatus, Namespace
from controlplane.errors import Unprocessable
from programs.components import validation
from programs.tenant import PlatformSettings

CHALLENGE_LABEL = "_controlplane-challenge"


class DnsLookupFailed(Exception):
    """No resolver gave an answer (timeout, SERVFAIL, refused): nothing can be concluded about the record."""


def challenge_name(domain: str) -> str:
    return f"{CHALLENGE_LABEL}.{domain}"


def canonical(raw: str) -> str:
    """The stored form of a domain as a caller may type it (a URL path, say); no acceptance check."""
    text = raw.strip().rstrip(".")
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError:
        return text.lower()


def normalise(raw: str, platform: PlatformSettings) -> str:
    """The domain as it is stored and compared; raises ValueError saying why it is not acceptable."""
    text = raw.strip().rstrip(".")
    try:
        domain = idna.encode(text, uts46=True).decode("ascii") if text else ""
    except idna.IDNAError as exc:
        raise ValueError(f"custom domain {raw!r} is not a valid internationalised domain name: {exc}") from exc
    validation.custom_domain(domain)
    zone = next((zone for zone in platform.own_zones if validation.is_same_or_subdomain(domain, zone)), None)
    if zone is not None:
        raise ValueError(f"custom domain {raw!r} is under the platform's own zone {zone!r}")
    return domain


def normalise_apps(apps: list[App], platform: PlatformSettings) -> None:
    """Normalise every app's custom domains in place; refuse bad ones and a domain listed by two apps (422)."""
    problems: list[dict[str, Any]] = []
    owner: dict[str, str] = {}
    for app in apps:
        normalised: list[str] = []
        for index, raw in enumerate(app.custom_domains):
            location = ["apps", app.name, "custom_domains", str(index)]
            try:
                domain = normalise(raw, platform)
            except ValueError as exc:
                problems.append({"location": location, "message": str(exc), "type": "custom_domain"})
                continue
            if owner.setdefault(domain, app.name) != app.name or domain in normalised:
                problems.append(
                    {"location": location, "message": f"{domain!r} is listed twice", "type": "duplicate_domain"}
                )
            normalised.append(domain)
        app.custom_domains = normalised
    if problems:
        raise Unprocessable("the custom domains are not acceptable", code="invalid_domain", details=problems)


def sync_claims(session: Session, namespace: Namespace) -> None:
    """A pending claim for every domain the apps list; pending claims no app lists any more are dropped (verified
    ones stay: reserved to the namespace until it releases them or is deleted)."""
    listed = {domain for app in namespace.apps for domain in app.custom_domains}
    claimed = {claim.domain: claim for claim in namespace.domains}
    for claim in list(namespace.domains):
        if claim.status == DomainStatus.PENDING and claim.domain not in listed:
            forget_claim(session, namespace, claim)
    for domain in sorted(listed - set(claimed)):
        namespace.domains.append(
            CustomDomain(
                namespace_id=namespace.id,
                account_id=namespace.account_id,
                domain=domain,
                status=DomainStatus.PENDING,
                token=secrets.token_urlsafe(24),
            )
        )


def verified_domains(namespace: Namespace) -> set[str]:
    return {claim.domain for claim in namespace.domains if claim.status == DomainStatus.VERIFIED}


def release_claims(session: Session, namespace: Namespace, grace: timedelta, now: datetime | None = None) -> None:
    """The namespace is being deleted: pending claims go, verified ones stay reserved until the grace ends."""
    released_at = (now or utcnow()) + grace
    for claim in list(namespace.domains):
        if claim.status == DomainStatus.PENDING:
            forget_claim(session, namespace, claim)
        else:
            claim.released_at = released_at


def forget_claim(session: Session, namespace: Namespace, claim: CustomDomain) -> None:
    """Delete the claim (taking it out of the collection alone would only detach it from the namespace)."""
    namespace.domains.remove(claim)
    state = inspect(claim)
    if state.persistent:
        session.delete(claim)
    elif state.pending:
        session.expunge(claim)


def lookup_txt(name: str, resolvers: list[str], timeout_s: float) -> set[str]:
    """The TXT strings at ``name`` (each record's strings joined); empty when the name or the record does not exist.

    ``resolvers`` are "ip" or "ip:port". Raises DnsLookupFailed when no resolver answers."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = []
    for entry in resolvers:
        address, port = _address(entry)
        resolver.nameservers.append(address)
        resolver.nameserver_ports[address] = port
    resolver.lifetime = timeout_s
    resolver.timeout = timeout_s
    try:
        answer = resolver.resolve(name, dns.rdatatype.TXT, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return set()
    except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.LifetimeTimeout) as exc:
        raise DnsLookupFailed(f"no resolver answered for {name}: {exc}") from exc
    found: set[str] = set()
    for record in answer.rrset or []:
        found.add(b"".join(record.strings).decode("utf-8", "replace"))
    return found


def _address(entry: str) -> tuple[str, int]:
    if entry.count(":") == 1:  # ip:port (an IPv6 address has several colons; give it without a port)
        host, _, port = entry.partition(":")
        return host, int(port)
    return entry.strip("[]"), 53
