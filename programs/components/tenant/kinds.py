"""The Kubernetes kinds the tenant program manages, and those its await logic only reads.

The platform's deployer ClusterRole is built from these lists, and a test checks that every kind the tenant
program declares is in `MANAGED`, so the role and the program cannot drift apart.
"""

from __future__ import annotations

from typing import NamedTuple


class ApiResource(NamedTuple):
    group: str
    resource: str
    kind: str
    api_version: str


MANAGED: tuple[ApiResource, ...] = (
    ApiResource("", "namespaces", "Namespace", "v1"),
    ApiResource("", "resourcequotas", "ResourceQuota", "v1"),
    ApiResource("", "limitranges", "LimitRange", "v1"),
    ApiResource("", "serviceaccounts", "ServiceAccount", "v1"),
    ApiResource("", "secrets", "Secret", "v1"),
    ApiResource("", "services", "Service", "v1"),
    ApiResource("", "persistentvolumeclaims", "PersistentVolumeClaim", "v1"),
    ApiResource("apps", "deployments", "Deployment", "apps/v1"),
    ApiResource("networking.k8s.io", "networkpolicies", "NetworkPolicy", "networking.k8s.io/v1"),
    ApiResource("networking.k8s.io", "ingresses", "Ingress", "networking.k8s.io/v1"),
)

# Read by pulumi-kubernetes while it waits for the managed objects to become ready.
OBSERVED: tuple[ApiResource, ...] = (
    ApiResource("", "pods", "Pod", "v1"),
    ApiResource("", "events", "Event", "v1"),
    ApiResource("", "endpoints", "Endpoints", "v1"),
    ApiResource("apps", "replicasets", "ReplicaSet", "apps/v1"),
    ApiResource("discovery.k8s.io", "endpointslices", "EndpointSlice", "discovery.k8s.io/v1"),
    ApiResource("events.k8s.io", "events", "Event", "events.k8s.io/v1"),
    ApiResource("storage.k8s.io", "storageclasses", "StorageClass", "storage.k8s.io/v1"),
)

MANAGE_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
OBSERVE_VERBS = ("get", "list", "watch")


def pulumi_type(resource: ApiResource) -> str:
    """The Pulumi type token of a kind, e.g. `kubernetes:apps/v1:Deployment`."""
    group_version = resource.api_version if resource.group else f"core/{resource.api_version}"
    return f"kubernetes:{group_version}:{resource.kind}"
