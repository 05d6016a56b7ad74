"""What identifies a tenant namespace where tenants share space: its cluster name, its hostnames, reserved names.

The name a tenant chooses is a *display name*, unique within its account only. Nothing shared is named after it
alone: the Kubernetes namespace is the *cluster name* (`t-<short id>` for every namespace created since tenant
identities exist), and every platform hostname ends with the namespace's *host suffix*, a fixed-length string issued
once and never again. The control plane issues both and keeps a registry of every value it ever issued, so a
value freed by a deletion is never handed to another namespace.

`platform_host_label` is injective: the suffix is the label's last `HOST_SUFFIX_LENGTH` characters (it has no
`-`), so it names the namespace; the display part is cut to the same length for every app of a namespace and the
app name is never cut, so, with the suffix known, the rest names the app.
"""

from __future__ import annotations

import re

from programs.components import validation
from programs.components.tenant.app import APP_NAME_MAX

CLUSTER_NAME_PREFIX = "t-"
HOST_SUFFIX_LENGTH = 8
HOST_SUFFIX_PATTERN = rf"^[0-9a-z]{{{HOST_SUFFIX_LENGTH}}}$"
# `<app>-<display>-<suffix>` fits one DNS label for the longest app name.
DISPLAY_IN_HOST_MAX = validation.DNS_LABEL_MAX - APP_NAME_MAX - HOST_SUFFIX_LENGTH - 2

# Namespaces that Kubernetes, EKS and the platform program create (programs/platform: the ingress controller's;
# the EBS CSI and VPC CNI add-ons run in kube-system). A tenant's cluster name is never one of these.
PLATFORM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "ingress-nginx"})
RESERVED_PREFIXES = ("kube-", "openshift-", "cattle-")
# Namespaces of common cluster add-ons and of the platform itself: refused as display names at create, so that no
# tenant is confused with (or squats the name of) a component an operator may install later.
ADDON_NAMESPACES = frozenset(
    {
        "amazon-cloudwatch",
        "amazon-guardduty",
        "argo",
        "argo-rollouts",
        "argocd",
        "aws-observability",
        "calico-apiserver",
        "calico-system",
        "cert-manager",
        "cilium",
        "cilium-secrets",
        "controlplane",
        "controlplane-system",
        "crossplane-system",
        "external-dns",
        "external-secrets",
        "flux-system",
        "gatekeeper-system",
        "grafana",
        "ingress",
        "ingress-controller",
        "istio-ingress",
        "istio-system",
        "karpenter",
        "keda",
        "knative-eventing",
        "knative-serving",
        "kong",
        "kubernetes-dashboard",
        "kyverno",
        "linkerd",
        "linkerd-viz",
        "local-path-storage",
        "loki",
        "longhorn-system",
        "metallb-system",
        "monitoring",
        "nginx-ingress",
        "opentelemetry-operator-system",
        "platform",
        "prometheus",
        "rook-ceph",
        "sealed-secrets",
        "system",
        "tekton-pipelines",
        "tigera-operator",
        "traefik",
        "vault",
        "velero",
    }
)
RESERVED_NAMES = PLATFORM_NAMESPACES | ADDON_NAMESPACES

_CLUSTER_NAME = re.compile(rf"^{CLUSTER_NAME_PREFIX}[0-9a-z]{{{HOST_SUFFIX_LENGTH}}}$")


def is_platform_namespace(name: str) -> bool:
    """A namespace of the cluster or the platform: never a tenant's cluster name."""
    return name in PLATFORM_NAMESPACES or name.startswith(RESERVED_PREFIXES)


def is_reserved_name(name: str) -> bool:
    """A name no tenant may choose as a display name (platform namespaces and common add-ons)."""
    return name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES)


def cluster_name_for(short_id: str) -> str:
    return f"{CLUSTER_NAME_PREFIX}{short_id}"


def is_issued_cluster_name(name: str) -> bool:
    """The shape of a cluster name issued since tenant identities exist (older namespaces keep their name)."""
    return _CLUSTER_NAME.match(name) is not None


def display_in_host(display_name: str) -> str:
    """The display name as every platform hostname of the namespace shows it (the same cut for every app)."""
    return display_name[:DISPLAY_IN_HOST_MAX].rstrip("-")


def platform_host_label(app_name: str, display_name: str, host_suffix: str) -> str:
    """`<app>-<display>-<suffix>`: one DNS label, never the same for two (namespace, app) pairs."""
    return f"{app_name}-{display_in_host(display_name)}-{host_suffix}"


def host_suffix_of(host: str) -> str | None:
    """The host suffix a platform hostname ends its first label with (None when it has none)."""
    label = host.split(".", 1)[0]
    suffix = label[-HOST_SUFFIX_LENGTH:]
    if len(label) <= HOST_SUFFIX_LENGTH + 1 or label[-HOST_SUFFIX_LENGTH - 1] != "-" or "-" in suffix:
        return None
    return suffix
