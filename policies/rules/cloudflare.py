"""Cloudflare: tenant DNS records that are public go through the proxy; custom hostnames use DV certificates."""

from __future__ import annotations

from collections.abc import Sequence

from policies.props import is_true, mapping
from policies.registry import Report, ResourceRule, ResourceView, RuleConfig, StackRule
from policies.tenancy import is_tenant_stack

DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
LEGACY_RECORD = "cloudflare:index/record:Record"  # deprecated in favour of DnsRecord; same wire fields
CUSTOM_HOSTNAME = "cloudflare:index/customHostname:CustomHostname"
PUBLIC_RECORD_TYPES = frozenset({"A", "AAAA", "CNAME"})


def tenant_dns_proxied(views: Sequence[ResourceView], config: RuleConfig, report: Report) -> None:
    """In a tenant stack, A/AAAA/CNAME records are proxied: the origin is never exposed directly."""
    if not is_tenant_stack(views):
        return
    for view in views:
        if view.type not in (DNS_RECORD, LEGACY_RECORD):
            continue
        record_type = str(view.props.get("type", "")).upper()
        if record_type in PUBLIC_RECORD_TYPES and not is_true(view.props.get("proxied")):
            name = view.props.get("name", view.name)
            report(f"{record_type} record {name!r} is not proxied (proxied: true)", view)


def custom_hostname_dv(view: ResourceView, config: RuleConfig, report: Report) -> None:
    ssl = mapping(view.props.get("ssl"))
    if not ssl:
        report("the custom hostname requests no certificate (ssl.type: dv)")
        return
    if ssl.get("type") != "dv":
        report(f"the custom hostname's certificate type is {ssl.get('type')!r}, not 'dv'")
    if ssl.get("customCertificate") or ssl.get("customKey"):
        report("the custom hostname uploads its own certificate instead of a DV certificate")


RULES: tuple[ResourceRule | StackRule, ...] = (
    StackRule(
        name="tenant-dns-proxied",
        description="A tenant's public DNS records (A, AAAA, CNAME) must be proxied by Cloudflare.",
        check=tenant_dns_proxied,
    ),
    ResourceRule(
        name="custom-hostname-dv",
        description="Cloudflare custom hostnames must use a domain-validated (DV) certificate.",
        check=custom_hostname_dv,
        resource_types=frozenset({CUSTOM_HOSTNAME}),
    ),
)
