"""Kubernetes knowledge the rules share: resource types, scopes, quantities, images (pods: `policies.pods`)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from policies.props import get_path, mapping

NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE = "kubernetes:core/v1:Service"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"

ACCOUNT_LABEL = "controlplane.io/account"
NAMESPACE_ID_LABEL = "controlplane.io/namespace"
HOST_SUFFIX_LABEL = "controlplane.io/host-suffix"
BASE_DOMAIN_ANNOTATION = "controlplane.io/base-domain"
CUSTOM_DOMAINS_ANNOTATION = "controlplane.io/custom-domains"
PSS_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"

# Kinds that are not namespaced. Any other kind (custom resources included) is treated as namespaced.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "StorageVersionMigration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
        "VolumeAttributesClass",
        "DeviceClass",
        "ResourceSlice",
    }
)

# Components whose children are ordinary resources (checked one by one): not objects themselves.
CLIENT_SIDE_COMPONENTS = frozenset(
    {
        "kubernetes:helm.sh/v3:Chart",
        "kubernetes:yaml:ConfigFile",
        "kubernetes:yaml:ConfigGroup",
        "kubernetes:kustomize:Directory",
    }
)
# Resources whose Kubernetes objects the provider renders: a Helm Release's objects are never shown to a policy;
# the components' (v4 Chart, yaml/v2, kustomize/v2) reach CrossGuard as their children, but neither admission
# (the tenant program's declarations) nor the tenant containment rule can see them. The offline check expands
# yaml/v2 itself and refuses the others (`policies.manifests`).
OPAQUE_TYPES = frozenset(
    {
        "kubernetes:helm.sh/v3:Release",
        "kubernetes:helm.sh/v4:Chart",
        "kubernetes:yaml/v2:ConfigFile",
        "kubernetes:yaml/v2:ConfigGroup",
        "kubernetes:kustomize/v2:Directory",
    }
)


def is_kubernetes_object(resource_type: str) -> bool:
    """A `kubernetes:<group>/<version>:<Kind>` object (not a provider, a component or a rendered bundle)."""
    return (
        resource_type.startswith("kubernetes:")
        and resource_type not in CLIENT_SIDE_COMPONENTS
        and resource_type not in OPAQUE_TYPES
    )


def kind_of(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def is_cluster_scoped(resource_type: str) -> bool:
    kind = kind_of(resource_type)
    return kind.removesuffix("Patch").removesuffix("List") in CLUSTER_SCOPED_KINDS


def name_of(props: Any) -> str | None:
    name = get_path(props, "metadata.name")
    return name if isinstance(name, str) else None


def namespace_of(props: Any) -> str | None:
    namespace = get_path(props, "metadata.namespace")
    return namespace if isinstance(namespace, str) and namespace else None


def labels_of(props: Any) -> Mapping[str, Any]:
    return mapping(get_path(props, "metadata.labels"))


def annotations_of(props: Any) -> Mapping[str, Any]:
    return mapping(get_path(props, "metadata.annotations"))


# --- quantities ----------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes resource quantity ("10Gi", "500m", "1e3", 5) in base units; None if unparsable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if match is None:
        return None
    number, suffix = match.groups()
    try:
        amount = Decimal(number)
    except InvalidOperation:
        return None
    if suffix in _BINARY:
        return amount * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return amount * (Decimal(10) ** _DECIMAL[suffix])
    return None


# --- images --------------------------------------------------------------------------------------

DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str | None
    digest: str | None


def parse_image(image: str) -> ImageRef:
    """Split an image reference the way container runtimes resolve it (Docker Hub when no host)."""
    name, _, digest = image.partition("@")
    tag: str | None = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
        if "/" not in repository:
            repository = f"library/{repository}"
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    return ImageRef(registry.lower(), repository, tag or None, digest or None)


def registry_allowed(ref: ImageRef, allowed: Sequence[str]) -> bool:
    """Whether `ref` matches an entry of `allowed`: a host glob ("*.dkr.ecr.us-east-1.amazonaws.com"),
    optionally followed by a repository prefix ("ghcr.io/acme")."""
    for entry in allowed:
        host, _, prefix = entry.strip().partition("/")
        if not fnmatch.fnmatchcase(ref.registry, host.lower()):
            continue
        if not prefix or ref.repository == prefix or ref.repository.startswith(prefix.rstrip("/") + "/"):
            return True
    return False
