"""The Baseline level of the Pod Security Standards v1.34, one rule per control, as the standard writes them:
https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline

"Containers" means every container, init container and ephemeral container; "the pod" is `spec` of a Pod and
the template's spec of any object carrying one (`policies.pods`). Baseline holds for every pod, Windows pods
included, and reads only fields that are set, so a patch is checked exactly like a whole object.
"""

from __future__ import annotations

from typing import Any

from policies.pods import CarriedPod, PodReport
from policies.props import get_path, is_true, items, mapping
from policies.registry import Level, ResourceRule
from policies.rules.pss import control_rule, is_zero, one_of, security_contexts

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
APPARMOR_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
APPARMOR_RUNTIME_DEFAULT = "runtime/default"
APPARMOR_LOCALHOST_PREFIX = "localhost/"
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SECCOMP_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HOOKS = ("postStart", "preStop")
HOST_HANDLERS = ("httpGet", "tcpSocket")


def host_process(pod: CarriedPod, report: PodReport) -> None:
    """windowsOptions.hostProcess: undefined or false, on the pod and every container."""
    for who, context in security_contexts(pod):
        if is_true(get_path(context, "windowsOptions.hostProcess")):
            report(f"{who} sets securityContext.windowsOptions.hostProcess: true")


def host_namespaces(pod: CarriedPod, report: PodReport) -> None:
    """hostNetwork, hostPID, hostIPC: undefined or false."""
    for field, what in (("hostNetwork", "network"), ("hostPID", "PID"), ("hostIPC", "IPC")):
        if is_true(pod.spec.get(field)):
            report(f"the pod shares the host's {what} namespace ({field}: true)")


def privileged_containers(pod: CarriedPod, report: PodReport) -> None:
    """securityContext.privileged: undefined or false."""
    for container in pod.containers():
        if is_true(container.security_context.get("privileged")):
            report(f"{container.label} is privileged (securityContext.privileged: true)")


def capabilities(pod: CarriedPod, report: PodReport) -> None:
    """capabilities.add: undefined, or only capabilities of the runtime's default set."""
    for container in pod.containers():
        added = items(get_path(container.security_context, "capabilities.add"))
        beyond = [capability for capability in added if not one_of(capability, BASELINE_CAPABILITIES)]
        if beyond:
            report(f"{container.label} adds capabilities beyond the default set: {_listed(beyond)}")


def host_path_volumes(pod: CarriedPod, report: PodReport) -> None:
    """volumes[*].hostPath: undefined."""
    for volume in items(pod.spec.get("volumes")):
        volume = mapping(volume)
        if volume.get("hostPath") is not None:
            path = get_path(volume, "hostPath.path", "?")
            report(f"volume {volume.get('name')!r} mounts the host path {path!r}")


def host_ports(pod: CarriedPod, report: PodReport) -> None:
    """ports[*].hostPort: undefined or 0."""
    for container in pod.containers():
        for port in items(container.spec.get("ports")):
            host_port = mapping(port).get("hostPort")
            if host_port is not None and not is_zero(host_port):
                report(f"{container.label} binds host port {host_port}")


def host_probes_lifecycle_hooks(pod: CarriedPod, report: PodReport) -> None:
    """The `host` of every probe's and lifecycle hook's httpGet and tcpSocket handler: undefined or ""."""
    handlers = [*PROBES, *(f"lifecycle.{hook}" for hook in LIFECYCLE_HOOKS)]
    for container in pod.containers():
        for handler in handlers:
            for action in HOST_HANDLERS:
                host = get_path(container.spec, f"{handler}.{action}.host")
                if host is not None and host != "":
                    report(f"{container.label} sets {handler}.{action}.host: {host!r}")


def apparmor(pod: CarriedPod, report: PodReport) -> None:
    """appArmorProfile.type (pod, containers): undefined, RuntimeDefault or Localhost; the beta annotations
    `container.apparmor.security.beta.kubernetes.io/*`: undefined, runtime/default or localhost/*."""
    for who, context in security_contexts(pod):
        profile = context.get("appArmorProfile")
        if profile is not None:
            profile_type = mapping(profile).get("type")
            if not one_of(profile_type, APPARMOR_PROFILE_TYPES):
                report(f"{who} sets securityContext.appArmorProfile.type: {profile_type!r}")
    for key, value in pod.annotations.items():
        if not key.startswith(APPARMOR_ANNOTATION_PREFIX):
            continue
        if not _allowed_apparmor_annotation(value):
            report(f"the pod's annotation {key} is {value!r} (allowed: runtime/default, localhost/*)")


def selinux(pod: CarriedPod, report: PodReport) -> None:
    """seLinuxOptions (pod, containers): type undefined, "", container_t, container_init_t, container_kvm_t or
    container_engine_t; user and role undefined or ""."""
    for who, context in security_contexts(pod):
        options = context.get("seLinuxOptions")
        if options is None:
            continue
        options = mapping(options)
        selinux_type = options.get("type")
        if selinux_type is not None and not one_of(selinux_type, SELINUX_TYPES):
            report(f"{who} sets securityContext.seLinuxOptions.type: {selinux_type!r}")
        for field in ("user", "role"):
            value = options.get(field)
            if value is not None and value != "":
                report(f"{who} sets securityContext.seLinuxOptions.{field}: {value!r}")


def proc_mount_type(pod: CarriedPod, report: PodReport) -> None:
    """securityContext.procMount: undefined or Default."""
    for container in pod.containers():
        proc_mount = container.security_context.get("procMount")
        if proc_mount is not None and proc_mount != "Default":
            report(f"{container.label} sets securityContext.procMount: {proc_mount!r}")


def seccomp(pod: CarriedPod, report: PodReport) -> None:
    """seccompProfile.type (pod, containers): undefined, RuntimeDefault or Localhost (never Unconfined)."""
    for who, context in security_contexts(pod):
        profile = context.get("seccompProfile")
        if profile is not None:
            profile_type = mapping(profile).get("type")
            if not one_of(profile_type, SECCOMP_PROFILE_TYPES):
                report(f"{who} sets securityContext.seccompProfile.type: {profile_type!r}")


def sysctls(pod: CarriedPod, report: PodReport) -> None:
    """securityContext.sysctls[*].name: only the safe set."""
    for sysctl in items(pod.security_context.get("sysctls")):
        name = mapping(sysctl).get("name")
        if not one_of(name, SAFE_SYSCTLS):
            report(f"the pod sets the sysctl {name!r}, which is not in the safe set")


def _listed(values: list[Any]) -> str:
    return ", ".join(repr(value) for value in values)


def _allowed_apparmor_annotation(value: Any) -> bool:
    return value == APPARMOR_RUNTIME_DEFAULT or (isinstance(value, str) and value.startswith(APPARMOR_LOCALHOST_PREFIX))


def _baseline(slug: str, control: str, summary: str, check: Any) -> ResourceRule:
    return control_rule(Level.BASELINE, slug, control, summary, check)


RULES: tuple[ResourceRule, ...] = (
    _baseline("host-process", "HostProcess", "Pods must not run Windows HostProcess containers", host_process),
    _baseline(
        "host-namespaces",
        "Host Namespaces",
        "Pods must not share the host's network, PID or IPC namespace",
        host_namespaces,
    ),
    _baseline(
        "privileged-containers",
        "Privileged Containers",
        "Containers must not run privileged",
        privileged_containers,
    ),
    _baseline(
        "capabilities",
        "Capabilities",
        "Containers must not add capabilities beyond the runtime's default set",
        capabilities,
    ),
    _baseline("hostpath-volumes", "HostPath Volumes", "Pods must not mount hostPath volumes", host_path_volumes),
    _baseline("host-ports", "Host Ports", "Containers must not bind host ports", host_ports),
    _baseline(
        "host-probes-lifecycle-hooks",
        "Host Probes / Lifecycle Hooks",
        "Probes and lifecycle hooks must not name a host",
        host_probes_lifecycle_hooks,
    ),
    _baseline("apparmor", "AppArmor", "Pods must not override or disable the default AppArmor profile", apparmor),
    _baseline("selinux", "SELinux", "Pods must not set a custom SELinux user, role or type", selinux),
    _baseline(
        "proc-mount-type",
        "/proc Mount Type",
        "Containers must keep the default /proc masks",
        proc_mount_type,
    ),
    _baseline("seccomp", "Seccomp", "Pods must not set the Unconfined seccomp profile", seccomp),
    _baseline("sysctls", "Sysctls", "Pods may set only the safe sysctls", sysctls),
)
