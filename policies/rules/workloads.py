"""Pod security: what a container of any workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
Job, CronJob) may do. Every container, init container and ephemeral container is checked.

These hold in every stack. Platform add-ons that need an exception live in a namespace listed in the
rule's `exemptNamespaces` (default: `kube-system`); tenant namespaces never may be listed there, since the
tenant program cannot pick its own namespace name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.kube import WORKLOAD_TYPES, containers, namespace_of, parse_quantity, pod_spec
from policies.props import get_path, is_true, items, mapping, strings
from policies.registry import Report, ResourceRule, ResourceView, RuleConfig

EXEMPT_NAMESPACES: Mapping[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "default": ["kube-system"],
    "description": "Namespaces whose workloads this rule does not check (platform add-ons only).",
}


def _pod_spec(view: ResourceView, config: RuleConfig) -> Mapping[str, Any] | None:
    """The pod spec to check, or None when the rule does not apply (no pod spec, exempt namespace)."""
    spec = pod_spec(view)
    if spec is None:
        return None
    if namespace_of(view.props) in strings(config.get("exemptNamespaces")):
        return None
    return spec


def no_privileged_containers(view: ResourceView, config: RuleConfig, report: Report) -> None:
    spec = _pod_spec(view, config)
    if spec is None:
        return
    for container in containers(spec):
        if is_true(container.security_context.get("privileged")):
            report(f"{container.label} is privileged")


def no_host_namespaces(view: ResourceView, config: RuleConfig, report: Report) -> None:
    spec = _pod_spec(view, config)
    if spec is None:
        return
    for field, what in (("hostNetwork", "network"), ("hostPID", "PID"), ("hostIPC", "IPC")):
        if is_true(spec.get(field)):
            report(f"the pod shares the host's {what} namespace ({field}: true)")


def no_host_path_volumes(view: ResourceView, config: RuleConfig, report: Report) -> None:
    spec = _pod_spec(view, config)
    if spec is None:
        return
    for volume in items(spec.get("volumes")):
        volume = mapping(volume)
        if volume.get("hostPath") is not None:
            path = get_path(volume, "hostPath.path", "?")
            report(f"volume {volume.get('name')!r} mounts the host path {path!r}")


def no_host_ports(view: ResourceView, config: RuleConfig, report: Report) -> None:
    spec = _pod_spec(view, config)
    if spec is None:
        return
    for container in containers(spec):
        for port in items(container.spec.get("ports")):
            host_port = mapping(port).get("hostPort")
            if host_port not in (None, 0):
                report(f"{container.label} binds host port {host_port}")


def no_added_capabilities(view: ResourceView, config: RuleConfig, report: Report) -> None:
    spec = _pod_spec(view, config)
    if spec is None:
        return
    for container in containers(spec):
        added = strings(get_path(container.security_context, "capabilities.add"))
        if added:
            report(f"{container.label} adds capabilities {sorted(added)}")


def no_privilege_escalation(view: ResourceView, config: RuleConfig, report: Report) -> None:
    """`allowPrivilegeEscalation` must be set to false explicitly (Kubernetes defaults it to true)."""
    spec = _pod_spec(view, config)
    if spec is None:
        return
    for container in containers(spec):
        if container.security_context.get("allowPrivilegeEscalation") is not False:
            report(f"{container.label} does not set securityContext.allowPrivilegeEscalation: false")


def non_root_containers(view: ResourceView, config: RuleConfig, report: Report) -> None:
    """`runAsNonRoot: true` on the container or the pod, and no `runAsUser: 0` on either."""
    spec = _pod_spec(view, config)
    if spec is None:
        return
    pod_context = mapping(spec.get("securityContext"))
    if pod_context.get("runAsUser") == 0:
        report("the pod securityContext sets runAsUser: 0 (root)")
    for container in containers(spec):
        context = container.security_context
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if not is_true(non_root):
            report(f"{container.label} may run as root: set runAsNonRoot: true")
        if context.get("runAsUser") == 0:
            report(f"{container.label} sets runAsUser: 0 (root)")


def resource_limits_required(view: ResourceView, config: RuleConfig, report: Report) -> None:
    spec = _pod_spec(view, config)
    if spec is None:
        return
    for container in containers(spec):
        if container.list_name == "ephemeralContainers":
            continue  # the API refuses resources on ephemeral containers
        limits = mapping(get_path(container.spec, "resources.limits"))
        missing = [name for name in ("cpu", "memory") if parse_quantity(limits.get(name)) is None]
        if missing:
            report(f"{container.label} has no {' or '.join(missing)} limit")


def _rule(name: str, description: str, check: Any) -> ResourceRule:
    return ResourceRule(
        name=name,
        description=description,
        check=check,
        resource_types=WORKLOAD_TYPES,
        config_schema={"exemptNamespaces": EXEMPT_NAMESPACES},
    )


RULES: tuple[ResourceRule, ...] = (
    _rule("no-privileged-containers", "Containers must not run privileged.", no_privileged_containers),
    _rule(
        "no-host-namespaces",
        "Pods must not share the host's network, PID or IPC namespace.",
        no_host_namespaces,
    ),
    _rule("no-host-path-volumes", "Pods must not mount hostPath volumes.", no_host_path_volumes),
    _rule("no-host-ports", "Containers must not bind host ports.", no_host_ports),
    _rule("no-added-capabilities", "Containers must not add Linux capabilities.", no_added_capabilities),
    _rule(
        "no-privilege-escalation",
        "Containers must set allowPrivilegeEscalation: false.",
        no_privilege_escalation,
    ),
    _rule(
        "non-root-containers",
        "Containers must run as non-root (runAsNonRoot: true, never runAsUser: 0).",
        non_root_containers,
    ),
    _rule(
        "resource-limits-required",
        "Containers must declare CPU and memory limits.",
        resource_limits_required,
    ),
)
