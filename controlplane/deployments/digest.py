"""The applied digest: one value that changes whenever a stack's next ``pulumi up`` could change something.

It covers, for one namespace:

- its declarations (``programs.tenant.tenant_declarations``: every resource and argument the tenant program
  declares for its spec, platform outputs included: the kubeconfig, the storage and ingress classes, the zone, ...),
  in a canonical form;
- its lifecycle state (what billing reads back as ``observed_state``);
- the program and the policy pack: a hash of the source files under ``programs/`` and ``policies/``, computed once
  per process;
- the provider SDKs' versions (``pulumi``, ``pulumi-kubernetes``, ``pulumi-cloudflare``, ``pulumi-policy``).

A platform output that no declaration reads cannot change a stack, so it is not in the digest: a change of the
ingress class reaches the stacks with an Ingress and skips the others.

The value is an HMAC-SHA256 keyed with the Pulumi passphrase: the declarations hold secrets (the kubeconfig, the
Cloudflare token), and the stored digest must say nothing about them to whoever reads the table.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from pulumi import _types

import policies
import programs
from controlplane.settings import Settings
from programs.components.declaration import Declaration, OutputOf, Secret
from programs.tenant import TenantSpec, tenant_declarations

PROVIDER_PACKAGES = ("pulumi", "pulumi-kubernetes", "pulumi-cloudflare", "pulumi-policy")
_SOURCE_SUFFIXES = frozenset({".py", ".yaml", ".yml", ".txt"})


class UndigestableValue(TypeError):
    """A declaration holds a value with no canonical form: the caller treats the stack as changed."""


def applied_digest(spec: TenantSpec, settings: Settings) -> str:
    """The digest of what an update of ``spec`` applies (64 hex characters)."""
    document = {
        "program": program_version(),
        "providers": provider_versions(),
        "lifecycle": spec.lifecycle.value,
        "declarations": [_declaration(declaration) for declaration in tenant_declarations(spec)],
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"), default=_refuse).encode()
    key = settings.pulumi_config_passphrase.get_secret_value().encode()
    return hmac.new(key, encoded, hashlib.sha256).hexdigest()


def digest_or_none(spec: TenantSpec, settings: Settings) -> str | None:
    """The digest, or None when the declarations hold something without a canonical form (never skip then)."""
    try:
        return applied_digest(spec, settings)
    except UndigestableValue:
        return None


@functools.cache
def program_version() -> str:
    """A hash of the tenant program's and the policy pack's source files (their paths and contents)."""
    digest = hashlib.sha256()
    for package in (programs, policies):
        root = Path(package.__file__ or "").parent
        for path in sorted(root.rglob("*")):
            if path.suffix in _SOURCE_SUFFIXES and "__pycache__" not in path.parts and path.is_file():
                digest.update(f"{package.__name__}/{path.relative_to(root).as_posix()}\0".encode())
                digest.update(path.read_bytes())
                digest.update(b"\0")
    return digest.hexdigest()


@functools.cache
def provider_versions() -> dict[str, str]:
    versions = {}
    for package in PROVIDER_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions


def _declaration(declaration: Declaration[Any]) -> dict[str, Any]:
    return {"type": declaration.type_token, "name": declaration.name, "args": _canonical(declaration.args)}


def _canonical(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:  # exact types first: nearly every value, without isinstance
        return value
    if kind is dict:
        return {str(key): _canonical(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_canonical(item) for item in value]
    if _is_args_class(kind):
        return {"$args": kind.__name__, **{key: _canonical(item) for key, item in vars(value).items()}}
    if kind is float:
        return repr(value)
    if isinstance(value, Secret):
        return {"$secret": _canonical(value.value)}
    if isinstance(value, OutputOf):
        return {"$output": [value.source.type_token, value.source.name, value.attribute]}
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return _refuse(value)


_PLAIN = frozenset({str, int, bool, type(None)})


_ARGS_CLASSES: dict[type, bool] = {}


def _is_args_class(kind: type) -> bool:
    known = _ARGS_CLASSES.get(kind)
    if known is None:
        known = _ARGS_CLASSES[kind] = _types.is_input_type(kind)
    return known


def _refuse(value: Any) -> Any:
    raise UndigestableValue(f"no canonical form for a {type(value).__name__}")
