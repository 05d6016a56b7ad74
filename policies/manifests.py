"""Raw Kubernetes manifests as the provider expands them, for the offline check.

A program may hand the Kubernetes provider YAML instead of typed resources. With the real provider the pack
sees the objects that YAML becomes; under Pulumi's mocks there is no provider, so the offline check does its
part here:

- `kubernetes:yaml:ConfigFile` / `ConfigGroup` (and so the objects of anything built on them) parse their YAML
  through the provider's `kubernetes:yaml:decode` invoke and then register ordinary resources:
  `decode_yaml` answers that invoke.
- `kubernetes:yaml/v2:ConfigFile` / `ConfigGroup` are components the provider builds itself (it registers one
  child per object): `expand_config_component` gives those children.
- Helm charts (`kubernetes:helm.sh/v3:Chart`, `kubernetes:helm.sh/v4:Chart`) and kustomizations are rendered by
  the provider's embedded Helm and kustomize, which mocks do not have: `Unrenderable` says so, and the offline
  check refuses the program instead of passing objects it never saw. (`helm.sh/v3:Release` is different: its
  objects are never shown to any policy, offline or not; see `policies.kube.OPAQUE_TYPES`.)
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

YAML_DECODE = "kubernetes:yaml:decode"
CONFIG_FILE_V2 = "kubernetes:yaml/v2:ConfigFile"
CONFIG_GROUP_V2 = "kubernetes:yaml/v2:ConfigGroup"
YAML_V2_COMPONENTS = frozenset({CONFIG_FILE_V2, CONFIG_GROUP_V2})
# What only the provider can render: invokes of the client-side components, and provider-side components.
UNRENDERABLE_INVOKES = frozenset({"kubernetes:helm:template", "kubernetes:kustomize:directory"})
UNRENDERABLE_COMPONENTS = frozenset({"kubernetes:helm.sh/v4:Chart", "kubernetes:kustomize/v2:Directory"})


class Unrenderable(RuntimeError):
    """The program renders objects through the provider (Helm, kustomize), which the offline check cannot do."""


@dataclass(frozen=True)
class ManifestObject:
    """One object a yaml/v2 component registers: its type token, logical name and properties."""

    type: str
    name: str
    props: dict[str, Any]


def decode_yaml(text: str) -> list[dict[str, Any]]:
    """The objects of a (multi-document) YAML text, as the provider's `kubernetes:yaml:decode` returns them."""
    return [document for document in yaml.safe_load_all(text) if isinstance(document, dict)]


def type_token(api_version: str, kind: str) -> str:
    """The SDK's type token for an object: `v1`/`Pod` -> `kubernetes:core/v1:Pod`."""
    module = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{module}:{kind}"


def expand_config_component(resource_type: str, name: str, inputs: Mapping[str, Any]) -> list[ManifestObject]:
    """The children a `kubernetes:yaml/v2` ConfigFile or ConfigGroup registers: one per object of its files,
    YAML texts and `objs`, a `<Kind>List` contributing its items. Named `<prefix>:<namespace>/<name>` with the
    component's name as the default prefix."""
    documents: list[Any] = []
    if resource_type == CONFIG_FILE_V2:
        documents += _read_files([inputs.get("file")])
    else:
        documents += _read_files(_as_list(inputs.get("files")))
        for text in _as_list(inputs.get("yaml")):
            documents += decode_yaml(str(text))
        documents += _as_list(inputs.get("objs"))
    prefix = inputs.get("resourcePrefix") or name
    return [_child(document, str(prefix)) for document in _flatten(documents)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _read_files(patterns: Iterable[Any]) -> list[Any]:
    documents: list[Any] = []
    for pattern in patterns:
        if pattern is None:
            continue
        text = str(pattern)
        if "://" in text:
            raise Unrenderable(f"the offline check reads no remote manifests ({text})")
        paths = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        for path in paths:
            documents += decode_yaml(Path(path).read_text())
    return documents


def _flatten(documents: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    for document in documents:
        if not isinstance(document, Mapping):
            continue
        kind, api_version = document.get("kind"), document.get("apiVersion")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(document.get("items"), list):
            for item in document["items"]:
                if isinstance(item, Mapping):
                    yield {"apiVersion": api_version, "kind": kind.removesuffix("List"), **item}
        else:
            yield document


def _child(document: Mapping[str, Any], prefix: str) -> ManifestObject:
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise ValueError(f"a manifest object has no apiVersion or kind: {dict(document)!r}")
    metadata = document.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    object_name = f"{metadata.get('namespace')}/{metadata.get('name')}" if metadata.get("namespace") else ""
    object_name = object_name or str(metadata.get("name", ""))
    return ManifestObject(type_token(api_version, kind), f"{prefix}:{object_name}", dict(document))
