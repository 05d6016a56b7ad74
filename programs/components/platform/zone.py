"""`controlplane:platform:Zone`: the platform zone's TLS settings, edge certificate and SaaS fallback origin."""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_cloudflare as cloudflare
from pydantic import Field, field_validator

from programs.components import validation
from programs.components.common import Component, OutputComponentArgs, StrInput

AUTOMATIC_TTL = 1


class PlatformZoneArgs(OutputComponentArgs):
    zone_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    base_domain: str
    load_balancer_hostname: StrInput
    fallback_origin_label: str = "fallback"
    certificate_authority: Literal["google", "lets_encrypt", "ssl_com"] = "google"
    certificate_validity_days: Literal[14, 30, 90, 365] = 90
    min_tls_version: Literal["1.2", "1.3"] = "1.2"

    @field_validator("base_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return validation.hostname(value, what="base domain")

    @property
    def fallback_origin(self) -> str:
        return f"{self.fallback_origin_label}.{self.base_domain}"


class PlatformZone(Component):
    """SSL mode Full (strict), TLS 1.2 at least, HTTPS only; an advanced certificate for the base domain and
    its wildcard (every `<app>-<namespace>` hostname is one label under it); and the fallback origin custom
    hostnames are routed to (a proxied CNAME to the ingress load balancer)."""

    settings: dict[str, cloudflare.ZoneSetting]
    certificate_pack: cloudflare.CertificatePack
    fallback_record: cloudflare.DnsRecord
    fallback_origin: cloudflare.CustomHostnameFallbackOrigin
    zone_id: str
    fallback_hostname: str

    def __init__(self, resource_name: str, args: PlatformZoneArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("controlplane:platform:Zone", resource_name, opts)
        self.zone_id = args.zone_id
        self.fallback_hostname = args.fallback_origin
        wanted = {"ssl": "strict", "min_tls_version": args.min_tls_version, "always_use_https": "on"}
        self.settings = {
            setting: cloudflare.ZoneSetting(
                f"{resource_name}-{setting}",
                zone_id=args.zone_id,
                setting_id=setting,
                value=value,
                opts=self.child_opts(),
            )
            for setting, value in wanted.items()
        }
        self.certificate_pack = cloudflare.CertificatePack(
            resource_name,
            zone_id=args.zone_id,
            type="advanced",
            hosts=[args.base_domain, f"*.{args.base_domain}"],
            validation_method="txt",
            validity_days=args.certificate_validity_days,
            certificate_authority=args.certificate_authority,
            cloudflare_branding=False,
            opts=self.child_opts(),
        )
        self.fallback_record = cloudflare.DnsRecord(
            f"{resource_name}-fallback",
            zone_id=args.zone_id,
            name=args.fallback_origin,
            type="CNAME",
            content=args.load_balancer_hostname,
            proxied=True,
            ttl=AUTOMATIC_TTL,
            comment="controlplane: fallback origin of custom hostnames",
            opts=self.child_opts(),
        )
        self.fallback_origin = cloudflare.CustomHostnameFallbackOrigin(
            resource_name,
            zone_id=args.zone_id,
            origin=args.fallback_origin,
            opts=self.child_opts(depends_on=[self.fallback_record]),
        )
        self.register_outputs(
            {
                "zone_id": self.zone_id,
                "fallback_origin": self.fallback_hostname,
                "certificate_pack_status": self.certificate_pack.status,
            }
        )
