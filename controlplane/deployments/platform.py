"""The platform a tenant stack runs on: from settings, or from the platform stack's outputs (cached).

The outputs are cached in Redis for ``platform_outputs_cache_s``, those the platform exports as secrets (the
kubeconfig) sealed with AES-GCM under a key derived from the Pulumi passphrase, which guards the same values in the
stack's state: whoever reads Redis reads no credential. An entry that does not open (the passphrase was rotated) is
read again from the stack.
"""

from __future__ import annotations

import base64
import json
import secrets
from ipaddress import IPv4Network
from typing import Any

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from redis import Redis

from controlplane.settings import Settings
from programs.tenant import CloudflareSettings, KubernetesProviderSettings, PlatformSettings

_CACHE_KEY = "controlplane:platform-outputs"
_NONCE_BYTES = 12


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
    if redis is not None and (cached := redis.get(_CACHE_KEY)) and (opened := _open(settings, cached)) is not None:
        return opened
    from controlplane.engine.platform_outputs import read_platform_outputs

    assert settings.platform_stack is not None
    outputs = read_platform_outputs(settings, settings.platform_stack)
    if redis is not None:
        plain = {name: value for name, value in outputs.values.items() if name not in outputs.secret}
        secret = {name: value for name, value in outputs.values.items() if name in outputs.secret}
        entry = {"plain": plain, "sealed": _seal(settings, json.dumps(secret).encode())}
        redis.set(_CACHE_KEY, json.dumps(entry), ex=settings.platform_outputs_cache_s)
    return outputs.values


def _open(settings: Settings, cached: bytes | str) -> dict[str, Any] | None:
    """The cached outputs, or None when the entry is not one this process can open."""
    try:
        entry = json.loads(cached)
        secret = json.loads(_unseal(settings, entry["sealed"]))
        return {**entry["plain"], **secret}
    except (ValueError, KeyError, TypeError):
        return None


def _seal(settings: Settings, data: bytes) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    cipher = AES.new(_cache_key(settings), AES.MODE_GCM, nonce=nonce)
    cipher.update(_CACHE_KEY.encode())
    ciphertext, tag = cipher.encrypt_and_digest(data)
    return base64.b64encode(nonce + tag + ciphertext).decode()


def _unseal(settings: Settings, sealed: str) -> bytes:
    raw = base64.b64decode(sealed, validate=True)
    nonce, tag, ciphertext = raw[:_NONCE_BYTES], raw[_NONCE_BYTES : _NONCE_BYTES + 16], raw[_NONCE_BYTES + 16 :]
    cipher = AES.new(_cache_key(settings), AES.MODE_GCM, nonce=nonce)
    cipher.update(_CACHE_KEY.encode())
    return cipher.decrypt_and_verify(ciphertext, tag)  # ValueError when the key or the entry is not the one sealed


def _cache_key(settings: Settings) -> bytes:
    passphrase = settings.pulumi_config_passphrase.get_secret_value().encode()
    key = HKDF(passphrase, 32, b"controlplane", SHA256, context=b"platform-outputs-cache")
    assert isinstance(key, bytes)
    return key
