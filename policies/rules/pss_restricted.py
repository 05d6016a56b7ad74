"""The Restricted level of the Pod Security Standards v1.34: one rule per control it adds to Baseline (which it
includes: `pss_baseline`), as the standard writes them:
https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted

Three controls are Linux-only (the standard exempts pods with `spec.os.name: windows`): Privilege Escalation,
Seccomp and Capabilities. Four require a value to be set, not only forbid some; a patch (`CarriedPod.partial`)
leaves an absent field as it is on the server, so for a patch they check only the values present.
"""

from __future__ import annotations

from typing import Any

from policies.pods import CarriedPod, PodReport
from policies.props import is_false, is_true, items, mapping, strings
from policies.registry import Level, ResourceRule
from policies.rules.pss import control_rule, is_zero, one_of, security_contexts

ALLOWED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
SECCOMP_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
DROP_ALL = "ALL"
ADDABLE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})


def volume_types(pod: CarriedPod, report: PodReport) -> None:
    """Every volume is a configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or
    secret volume. (A volume naming no source at all is an emptyDir: the API server defaults it so.)"""
    for volume in items(pod.spec.get("volumes")):
        volume = mapping(volume)
        sources = [key for key, value in volume.items() if key != "name" and value is not None]
        forbidden = [source for source in sources if source not in ALLOWED_VOLUME_TYPES]
        if forbidden:
            report(f"volume {volume.get('name')!r} is of a restricted type: {', '.join(sorted(forbidden))}")


def privilege_escalation(pod: CarriedPod, report: PodReport) -> None:
    """allowPrivilegeEscalation: false on every container (Linux only)."""
    if pod.is_windows:
        return
    for container in pod.containers():
        value = container.security_context.get("allowPrivilegeEscalation")
        if value is None:
            if not pod.partial:
                report(f"{container.label} does not set securityContext.allowPrivilegeEscalation: false")
        elif not is_false(value):
            report(f"{container.label} sets securityContext.allowPrivilegeEscalation: {value!r}")


def running_as_non_root(pod: CarriedPod, report: PodReport) -> None:
    """runAsNonRoot: true on the pod, or on every container; false nowhere."""
    pod_value = pod.security_context.get("runAsNonRoot")
    if pod_value is not None and not is_true(pod_value):
        report(f"the pod sets securityContext.runAsNonRoot: {pod_value!r}")
    for container in pod.containers():
        value = container.security_context.get("runAsNonRoot")
        if value is None:
            if not is_true(pod_value) and not pod.partial:
                report(f"{container.label} may run as root: set runAsNonRoot: true on it or on the pod")
        elif not is_true(value):
            report(f"{container.label} sets securityContext.runAsNonRoot: {value!r}")


def running_as_non_root_user(pod: CarriedPod, report: PodReport) -> None:
    """runAsUser (pod, containers): undefined or non-zero."""
    for who, context in security_contexts(pod):
        if is_zero(context.get("runAsUser")):
            report(f"{who} sets securityContext.runAsUser: 0 (root)")


def seccomp(pod: CarriedPod, report: PodReport) -> None:
    """seccompProfile.type RuntimeDefault or Localhost on the pod, or on every container; nothing else anywhere
    (Linux only)."""
    if pod.is_windows:
        return
    pod_profile = pod.security_context.get("seccompProfile")
    pod_allowed = _allowed_seccomp(pod_profile)
    if pod_profile is not None and not pod_allowed:
        report(f"the pod sets securityContext.seccompProfile.type: {_seccomp_type(pod_profile)!r}")
    for container in pod.containers():
        profile = container.security_context.get("seccompProfile")
        if profile is None:
            if not pod_allowed and not pod.partial:
                report(f"{container.label} has no seccomp profile: set RuntimeDefault or Localhost on it or the pod")
        elif not _allowed_seccomp(profile):
            report(f"{container.label} sets securityContext.seccompProfile.type: {_seccomp_type(profile)!r}")


def capabilities(pod: CarriedPod, report: PodReport) -> None:
    """capabilities.drop includes ALL and capabilities.add holds at most NET_BIND_SERVICE, on every container
    (Linux only)."""
    if pod.is_windows:
        return
    for container in pod.containers():
        capabilities = mapping(container.security_context.get("capabilities"))
        drop = capabilities.get("drop")
        if drop is None:
            if not pod.partial:
                report(f"{container.label} does not drop ALL capabilities (securityContext.capabilities.drop)")
        elif DROP_ALL not in strings(drop):
            report(f"{container.label} drops {list(items(drop))!r}, not ALL capabilities")
        added = [value for value in items(capabilities.get("add")) if not one_of(value, ADDABLE_CAPABILITIES)]
        if added:
            report(f"{container.label} adds capabilities other than NET_BIND_SERVICE: {added!r}")


def _seccomp_type(profile: Any) -> Any:
    return mapping(profile).get("type")


def _allowed_seccomp(profile: Any) -> bool:
    return profile is not None and one_of(_seccomp_type(profile), SECCOMP_PROFILE_TYPES)


def _restricted(slug: str, control: str, summary: str, check: Any) -> ResourceRule:
    return control_rule(Level.RESTRICTED, slug, control, summary, check)


RULES: tuple[ResourceRule, ...] = (
    _restricted(
        "volume-types",
        "Volume Types",
        "Pods may mount only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected "
        "and secret volumes",
        volume_types,
    ),
    _restricted(
        "privilege-escalation",
        "Privilege Escalation",
        "Containers must set allowPrivilegeEscalation: false",
        privilege_escalation,
    ),
    _restricted(
        "running-as-non-root",
        "Running as Non-root",
        "Containers must run as non-root (runAsNonRoot: true on the pod or every container)",
        running_as_non_root,
    ),
    _restricted(
        "running-as-non-root-user",
        "Running as Non-root user",
        "Pods and containers must not set runAsUser: 0",
        running_as_non_root_user,
    ),
    _restricted(
        "seccomp",
        "Seccomp",
        "Pods must set the RuntimeDefault or Localhost seccomp profile (on the pod or every container)",
        seccomp,
    ),
    _restricted(
        "capabilities",
        "Capabilities",
        "Containers must drop ALL capabilities and may add back only NET_BIND_SERVICE",
        capabilities,
    ),
)
