"""The platform a tenant stack runs on: from settings, or from the platform stack's outputs (cached)."""

from __future__ import annotations

import json
from ipaddress import IPv4Network
from typing import Any

from redis import Redis

from controlplane.settings import Settings
from programs.tenant import CloudflareSettings, KubernetesProviderSettings, PlatformSettings

_CACHE_KEY = "controlplane:platform-outputs"


def platform_settings(settings: Settings, redis: Redis | None = None) -> PlatformSettings:
    outputs = _platform_stack_outputs(settings, redis) if settings.platform_stack else {}
    kubeconfig = outputs.get("kubeconfig") or (
        settings.platform_kubeconfig.get_secret_value() if settings.platform_kubeconfig else None
    )
    render_dir = None if kubeconfig else str(settings.platform_render_dir or settings.resolved_data_dir / "rendered")
    return PlatformSettings(
        base_domain=outputs.get("base_domain", settings.platform_base_domain),
        ingress_class=outputs.get("ingress_class", settings.platform_ingress_class),
        ingress_namespace=outputs.get("ingress_namespace", settings.platform_ingress_namespace),
        storage_class=outputs.get("storage_class", settings.platform_storage_class),
        cluster_private_cidrs=tuple(
            IPv4Network(cidr) for cidr in outputs.get("cluster_private_cidrs", settings.platform_cluster_private_cidrs)
        ),
        kubernetes_version=outputs.get("kubernetes_version", settings.platform_kubernetes_version),
        max_volume_size_gib=settings.platform_max_volume_size_gib,
        allowed_registries=tuple(settings.platform_allowed_registries),
        reserved_zones=tuple(settings.platform_reserved_zones),
        kubernetes=KubernetesProviderSettings(
            kubeconfig=kubeconfig,
            render_yaml_to_directory=render_dir,
            await_readiness=settings.platform_await_readiness,
        ),
        cloudflare=_cloudflare(settings, outputs),
    )


def _cloudflare(settings: Settings, outputs: dict[str, Any]) -> CloudflareSettings | None:
    zone_id = outputs.get("zone_id", settings.cloudflare_zone_id)
    balancer = outputs.get("load_balancer_hostname", settings.cloudflare_load_balancer_hostname)
    if settings.cloudflare_api_token is None or not zone_id or not balancer:
        return None
    return CloudflareSettings(
        api_token=settings.cloudflare_api_token,
        zone_id=zone_id,
        load_balancer_hostname=balancer,
        base_url=settings.cloudflare_base_url,
    )


def _platform_stack_outputs(settings: Settings, redis: Redis | None) -> dict[str, Any]:
    if redis is not None and (cached := redis.get(_CACHE_KEY)):
        loaded: dict[str, Any] = json.loads(cached)
        return loaded
    from controlplane.engine.platform_outputs import read_platform_outputs

    assert settings.platform_stack is not None
    outputs = read_platform_outputs(settings, settings.platform_stack)
    if redis is not None:
        redis.set(_CACHE_KEY, json.dumps(outputs), ex=settings.platform_outputs_cache_s)
    return outputs
