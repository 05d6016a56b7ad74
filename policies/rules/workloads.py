"""The project's own pod rules, stricter than the Pod Security Standards (`pss_baseline`, `pss_restricted`).

They read the same pods (`policies.pods.carried_pods`: every kind, API version, patch, list and shape) and
take the same `exemptNamespaces` (default `kube-system`; platform add-ons only, never a tenant's namespace).
Each says why it asks for more than the standard does.
"""

from __future__ import annotations

from policies.kube import parse_quantity
from policies.pods import CarriedPod, PodReport, pod_rule
from policies.props import get_path, items, mapping
from policies.registry import ResourceRule


def no_added_capabilities(pod: CarriedPod, report: PodReport) -> None:
    """Stricter than Restricted's Capabilities control, which lets a container add NET_BIND_SERVICE: tenant
    containers listen on unprivileged ports (the Service and the ingress controller expose 80/443), so no
    workload here needs any capability added."""
    for container in pod.containers():
        added = items(get_path(container.security_context, "capabilities.add"))
        if added:
            report(f"{container.label} adds capabilities {list(added)!r}")


def resource_limits_required(pod: CarriedPod, report: PodReport) -> None:
    """Not part of the standard: CPU and memory limits keep one pod from starving its node, and the tenant
    namespaces' quotas count limits."""
    for container in pod.containers():
        if container.list_name == "ephemeralContainers":
            continue  # the API refuses resources on ephemeral containers
        limits = mapping(get_path(container.spec, "resources.limits"))
        # A patch keeps the limits it does not name; the ones it names must be quantities.
        required = [name for name in ("cpu", "memory") if not pod.partial or name in limits]
        missing = [name for name in required if parse_quantity(limits.get(name)) is None]
        if missing:
            report(f"{container.label} has no {' or '.join(missing)} limit")


RULES: tuple[ResourceRule, ...] = (
    pod_rule(
        name="no-added-capabilities",
        description="Containers must not add Linux capabilities, not even NET_BIND_SERVICE (stricter than the Pod "
        "Security Standards' restricted level).",
        check=no_added_capabilities,
    ),
    pod_rule(
        name="resource-limits-required",
        description="Containers must declare CPU and memory limits (not part of the Pod Security Standards).",
        check=resource_limits_required,
    ),
)
