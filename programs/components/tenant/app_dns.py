"""`controlplane:tenant:AppDns`: an app's proxied DNS record and its customers' custom hostnames."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pulumi
import pulumi_cloudflare as cloudflare
from pydantic import AfterValidator, Field, field_validator

from programs.components import validation
from programs.components.common import Component, ComponentArgs
from programs.components.declaration import Declaration, DeclarationSet


def _custom_domains(value: tuple[str, ...]) -> tuple[str, ...]:
    for domain in value:
        validation.custom_domain(domain)
    if len(set(value)) != len(value):
        raise ValueError("custom domains must be unique")
    return value


# Shared by the tenant spec and this component's args.
CustomDomains = Annotated[tuple[str, ...], AfterValidator(_custom_domains)]

SslMethod = Literal["http", "txt"]
AUTOMATIC_TTL = 1


class AppDnsArgs(ComponentArgs):
    zone_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    hostname: str = Field(description="the app's platform hostname, <app>-<display name>-<suffix>.<base domain>")
    target: str = Field(description="CNAME target: the ingress controller's load balancer hostname")
    publish_record: bool = Field(description="false while the namespace is suspended: no public route")
    custom_domains: CustomDomains = ()
    ssl_method: SslMethod = "http"
    min_tls_version: Literal["1.2", "1.3"] = "1.2"
    comment: str = Field(default="", max_length=100)

    @field_validator("hostname", "target")
    @classmethod
    def _hostname(cls, value: str) -> str:
        return validation.hostname(value)


@dataclass(frozen=True)
class AppDnsDeclarations(DeclarationSet):
    record: Declaration[cloudflare.DnsRecord] | None
    custom_hostnames: dict[str, Declaration[cloudflare.CustomHostname]]


class AppDns(Component):
    """`<app>-<display name>-<suffix>.<base domain>` as a proxied CNAME to the load balancer, and one Cloudflare
    for SaaS custom hostname per customer domain (verified ones only: the spec carries no other), each with a
    domain-validated edge certificate."""

    record: cloudflare.DnsRecord | None
    custom_hostnames: dict[str, cloudflare.CustomHostname]
    custom_hostname_statuses: dict[str, pulumi.Output[dict[str, Any]]]

    def __init__(self, resource_name: str, args: AppDnsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("controlplane:tenant:AppDns", resource_name, opts)
        declared = self.declarations(resource_name, args)
        self.record = declared.record.declare(self.child_opts()) if declared.record is not None else None
        self.custom_hostnames = {
            domain: custom.declare(self.child_opts()) for domain, custom in declared.custom_hostnames.items()
        }
        self.custom_hostname_statuses = {
            domain: pulumi.Output.all(
                status=custom.status,
                verification_errors=custom.verification_errors,
                ssl=custom.ssl,
            ).apply(_status)
            for domain, custom in self.custom_hostnames.items()
        }
        self.register_outputs(
            {
                "hostname": args.hostname,
                "record_published": args.publish_record,
                "custom_hostnames": self.custom_hostname_statuses,
            }
        )

    @staticmethod
    def declarations(resource_name: str, args: AppDnsArgs) -> AppDnsDeclarations:
        record = None
        if args.publish_record:
            record = Declaration(
                cloudflare.DnsRecord,
                resource_name,
                {
                    "zone_id": args.zone_id,
                    "name": args.hostname,
                    "type": "CNAME",
                    "content": args.target,
                    "proxied": True,
                    "ttl": AUTOMATIC_TTL,
                    "comment": args.comment or None,
                },
            )
        custom_hostnames = {
            domain: Declaration(
                cloudflare.CustomHostname,
                f"{resource_name}-{domain}",
                {
                    "zone_id": args.zone_id,
                    "hostname": domain,
                    "ssl": cloudflare.CustomHostnameSslArgs(
                        method=args.ssl_method,
                        type="dv",
                        settings=cloudflare.CustomHostnameSslSettingsArgs(min_tls_version=args.min_tls_version),
                    ),
                },
            )
            for domain in args.custom_domains
        }
        return AppDnsDeclarations(record=record, custom_hostnames=custom_hostnames)


def _status(values: dict[str, Any]) -> dict[str, Any]:
    ssl = values.get("ssl") or {}
    return {
        "status": values.get("status"),
        "verification_errors": list(values.get("verification_errors") or []),
        "certificate": {"type": ssl.get("type"), "method": ssl.get("method")},
    }
