"""Tenant specs that the spec accepts and the policy refuses, shared by the program checks and the equivalence
test of admission's fast path."""

from __future__ import annotations

from programs.tenant import TenantSpec
from programs.tenant.samples import multi_app_spec


def drifted(**platform_changes: object) -> TenantSpec:
    """A valid spec whose platform settings have drifted from what the policy allows."""
    spec = multi_app_spec()
    platform = spec.platform.model_copy(update=platform_changes)
    return spec.model_copy(update={"platform": platform})


def off_registry_and_oversized() -> TenantSpec:
    """Valid for the spec (any registry, a volume under its own cap) but not for the policy: app `web` pulls from
    an unlisted registry and app `api` claims 500 GiB."""
    spec = multi_app_spec()
    apps = list(spec.apps)
    apps[0] = apps[0].model_copy(update={"image": "evil.example.com/miner:1.0"})
    apps[1] = apps[1].model_copy(update={"volume": apps[1].volume.model_copy(update={"size_gib": 500})})  # type: ignore[union-attr]
    platform = spec.platform.model_copy(update={"allowed_registries": (), "max_volume_size_gib": 1000})
    return spec.model_copy(update={"apps": tuple(apps), "platform": platform})


def unverified_domain_routed() -> TenantSpec:
    """A spec whose app routes a domain the namespace never verified (`model_copy` skips the spec's own check,
    as a bug in the control plane's spec building would): the policy pack refuses it on its own."""
    spec = multi_app_spec()
    return spec.model_copy(update={"verified_domains": ("www.example.org",)})
