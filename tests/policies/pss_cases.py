"""Pods that must pass and pods that must fail each control of the Pod Security Standards v1.34, written from the
standard's text (https://kubernetes.io/docs/concepts/security/pod-security-standards/): every allowed value it
lists passes, every forbidden value fails, on the pod and on containers, init containers and ephemeral containers.

A case changes a pod that passes every control (`compliant_pod`) and names the rules the change breaks. Used by
the pack's tests (`test_pss_controls.py`, a Pod and inside every kind that carries one) and by the real-cluster
test, which asks the real kube-apiserver's PodSecurity admission about the same pods.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Pod = dict[str, Any]

B = "pss-baseline-"
R = "pss-restricted-"

HOST_PROCESS = B + "host-process"
HOST_NAMESPACES = B + "host-namespaces"
PRIVILEGED = B + "privileged-containers"
CAPABILITIES = B + "capabilities"
HOST_PATH = B + "hostpath-volumes"
HOST_PORTS = B + "host-ports"
HOST_PROBES = B + "host-probes-lifecycle-hooks"
APPARMOR = B + "apparmor"
SELINUX = B + "selinux"
PROC_MOUNT = B + "proc-mount-type"
SECCOMP = B + "seccomp"
SYSCTLS = B + "sysctls"
VOLUME_TYPES = R + "volume-types"
PRIVILEGE_ESCALATION = R + "privilege-escalation"
NON_ROOT = R + "running-as-non-root"
NON_ROOT_USER = R + "running-as-non-root-user"
RESTRICTED_SECCOMP = R + "seccomp"
RESTRICTED_CAPABILITIES = R + "capabilities"

NAMESPACE = "acme-web"


def container(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": "ghcr.io/acme/web:1.4.2",
        "ports": [{"containerPort": 8080}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def compliant_pod(namespace: str = NAMESPACE) -> Pod:
    """A pod that passes every control of both levels (and the project's own rules)."""
    return {
        "metadata": {"name": "web", "namespace": namespace, "labels": {"app": "web"}},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [container("init")],
            "containers": [container("app")],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }


@dataclass(frozen=True)
class Case:
    """One pod: `fails` are the rules it breaks (none: it passes both levels); `absent` those it breaks only by
    leaving a required field out, which a patch does not (the field stays as it is on the server).
    `api_server` is False for a pod the API server refuses before admission (ephemeral containers on create,
    fields of disabled features), which only the pack's own tests use."""

    id: str
    change: Callable[[Pod], object]
    fails: frozenset[str] = frozenset()
    absent: frozenset[str] = frozenset()
    api_server: bool = True

    def pod(self, namespace: str = NAMESPACE) -> Pod:
        pod = compliant_pod(namespace)
        self.change(pod)
        return pod

    @property
    def fails_baseline(self) -> bool:
        return any(rule.startswith(B) for rule in self.fails)


def case(
    id: str,
    change: Callable[[Pod], object],
    *fails: str,
    absent: tuple[str, ...] = (),
    api_server: bool = True,
) -> Case:
    return Case(id, change, frozenset(fails) | frozenset(absent), frozenset(absent), api_server)


# --- changes ---------------------------------------------------------------------------------------


def spec(pod: Pod) -> dict[str, Any]:
    result: dict[str, Any] = pod["spec"]
    return result


def pod_context(pod: Pod) -> dict[str, Any]:
    result: dict[str, Any] = pod["spec"]["securityContext"]
    return result


def app(pod: Pod) -> dict[str, Any]:
    result: dict[str, Any] = pod["spec"]["containers"][0]
    return result


def init(pod: Pod) -> dict[str, Any]:
    result: dict[str, Any] = pod["spec"]["initContainers"][0]
    return result


def pod_level(pod: Pod) -> dict[str, Any]:
    """The pod spec, so that `in_context(pod_level, ...)` changes the pod's `spec.securityContext`."""
    return spec(pod)


def context(target: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = target["securityContext"]
    return result


def debug_container(pod: Pod) -> dict[str, Any]:
    """An ephemeral container (compliant until a case changes it), added to the pod."""
    debug = container("debug")
    del debug["ports"], debug["resources"]
    spec(pod).setdefault("ephemeralContainers", []).append(debug)
    return debug


def each(*changes: Callable[[Pod], object]) -> Callable[[Pod], None]:
    def change(pod: Pod) -> None:
        for one in changes:
            one(pod)

    return change


def set_in(target: Callable[[Pod], dict[str, Any]], **values: Any) -> Callable[[Pod], None]:
    return lambda pod: target(pod).update(copy.deepcopy(values))


def in_context(target: Callable[[Pod], dict[str, Any]], **values: Any) -> Callable[[Pod], None]:
    return set_in(lambda pod: context(target(pod)), **values)


def drop(target: Callable[[Pod], dict[str, Any]], key: str) -> Callable[[Pod], None]:
    return lambda pod: context(target(pod)).pop(key, None)


def without_pod(key: str) -> Callable[[Pod], None]:
    return lambda pod: pod_context(pod).pop(key, None)


def every_container(change: Callable[[dict[str, Any]], object]) -> Callable[[Pod], None]:
    def apply(pod: Pod) -> None:
        for name in ("initContainers", "containers", "ephemeralContainers"):
            for one in spec(pod).get(name, []):
                change(one)

    return apply


def windows(pod: Pod) -> None:
    """A Windows pod: `spec.os.name: windows`, without the Linux-only fields the API refuses on one."""
    spec(pod)["os"] = {"name": "windows"}
    pod_context(pod).pop("seccompProfile")
    pod_context(pod).pop("runAsUser")
    for one in (app(pod), init(pod)):
        context(one).pop("allowPrivilegeEscalation")
        context(one).pop("capabilities")


def add_volume(**source: Any) -> Callable[[Pod], None]:
    return lambda pod: spec(pod)["volumes"].append({"name": "extra", **copy.deepcopy(source)})


def annotate(key: str, value: str) -> Callable[[Pod], None]:
    return lambda pod: pod["metadata"].setdefault("annotations", {}).update({key: value})


def with_sysctl(name: str, value: str) -> Callable[[Pod], None]:
    return lambda pod: pod_context(pod).setdefault("sysctls", []).append({"name": name, "value": value})


def probe(where: str, action: str, host: str) -> Callable[[Pod], None]:
    """A probe (`livenessProbe`...) or a lifecycle hook (`lifecycle.postStart`...) of the app with a host."""
    actions: dict[str, dict[str, Any]] = {"httpGet": {"path": "/healthz", "port": 8080}, "tcpSocket": {"port": 8080}}
    handler = {action: {**actions[action], "host": host}}

    def change(pod: Pod) -> None:
        if where.startswith("lifecycle."):
            app(pod).setdefault("lifecycle", {})[where.removeprefix("lifecycle.")] = handler
        else:
            app(pod)[where] = handler

    return change


def with_field(field_name: str, value: Any) -> Callable[[Pod], None]:
    return lambda pod: spec(pod).update({field_name: value})


# --- the cases, control by control --------------------------------------------------------------------

# Written out again from the standard on purpose (not imported from the pack): the cases are the oracle.
BASELINE_CAPABILITIES = (
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
)
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced": "0",
    "net.ipv4.ip_local_port_range": "1024 65535",
    "net.ipv4.ip_unprivileged_port_start": "1024",
    "net.ipv4.tcp_syncookies": "1",
    "net.ipv4.ping_group_range": "0 2147483647",
    "net.ipv4.ip_local_reserved_ports": "8080",
    "net.ipv4.tcp_keepalive_time": "600",
    "net.ipv4.tcp_fin_timeout": "30",
    "net.ipv4.tcp_keepalive_intvl": "60",
    "net.ipv4.tcp_keepalive_probes": "5",
    "net.ipv4.tcp_rmem": "4096 87380 6291456",
    "net.ipv4.tcp_wmem": "4096 16384 4194304",
}
ALLOWED_VOLUMES: dict[str, dict[str, Any]] = {
    "configMap": {"name": "settings"},
    "csi": {"driver": "inline.storage.kubernetes.io"},
    "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]},
    "emptyDir": {"sizeLimit": "1Gi"},
    "ephemeral": {
        "volumeClaimTemplate": {
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        }
    },
    "persistentVolumeClaim": {"claimName": "other"},
    "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
    "secret": {"secretName": "credentials"},
}
# Every other volume source of the v1.34 API (the standard lists them as restricted), with the fields the API
# server needs to accept the volume.
RESTRICTED_VOLUMES: dict[str, dict[str, Any]] = {
    "gcePersistentDisk": {"pdName": "disk"},
    "awsElasticBlockStore": {"volumeID": "vol-0123456789abcdef0"},
    "gitRepo": {"repository": "https://git.example.com/repo.git"},
    "nfs": {"server": "nfs.example.com", "path": "/exports"},
    "iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.2001-04.com.example:storage", "lun": 0},
    "glusterfs": {"endpoints": "glusterfs", "path": "volume"},
    "rbd": {"monitors": ["10.0.0.1:6789"], "image": "image"},
    "flexVolume": {"driver": "example.com/driver"},
    "cinder": {"volumeID": "volume"},
    "cephfs": {"monitors": ["10.0.0.1:6789"]},
    "flocker": {"datasetName": "dataset"},
    "fc": {"targetWWNs": ["500a0982991b8dc5"], "lun": 2},
    "azureFile": {"secretName": "azure", "shareName": "share"},
    "vsphereVolume": {"volumePath": "[datastore] volume.vmdk"},
    "quobyte": {"registry": "registry:7861", "volume": "volume"},
    "azureDisk": {"diskName": "disk", "diskURI": "https://example.blob.core.windows.net/vhds/disk.vhd"},
    "portworxVolume": {"volumeID": "volume"},
    "scaleIO": {
        "gateway": "https://gateway.example.com",
        "system": "system",
        "secretRef": {"name": "scaleio"},
        "volumeName": "volume",
    },
    "storageos": {"volumeName": "volume"},
    "photonPersistentDisk": {"pdID": "disk"},
}
PROBES = ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle.postStart", "lifecycle.preStop")
SELINUX_TYPES = ("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t")
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/app"


def _host_process() -> list[Case]:
    host_process = {"windowsOptions": {"hostProcess": True}}
    return [
        case("host-process/pod-false", in_context(pod_level, windowsOptions={"hostProcess": False})),
        case(
            "host-process/windows-pod-true",
            each(windows, with_field("hostNetwork", True), in_context(pod_level, **host_process)),
            HOST_PROCESS,
            HOST_NAMESPACES,
        ),
        case(
            "host-process/windows-containers-true",
            # The API wants every container of a pod to be a HostProcess container, or none.
            each(
                windows,
                with_field("hostNetwork", True),
                in_context(app, **host_process),
                in_context(init, **host_process),
            ),
            HOST_PROCESS,
            HOST_NAMESPACES,
        ),
        case("host-process/pod-true", in_context(pod_level, **host_process), HOST_PROCESS, api_server=False),
        case("host-process/container-true", in_context(app, **host_process), HOST_PROCESS, api_server=False),
        case("host-process/init-container-true", in_context(init, **host_process), HOST_PROCESS, api_server=False),
        case(
            "host-process/ephemeral-container-true",
            in_context(debug_container, **host_process),
            HOST_PROCESS,
            api_server=False,
        ),
    ]


def _host_namespaces() -> list[Case]:
    cases = []
    for field_name in ("hostNetwork", "hostPID", "hostIPC"):
        cases.append(case(f"host-namespaces/{field_name}-false", with_field(field_name, False)))
        cases.append(case(f"host-namespaces/{field_name}-true", with_field(field_name, True), HOST_NAMESPACES))
    return cases


def _privileged() -> list[Case]:
    # The API refuses privileged with allowPrivilegeEscalation: false, so each privileged container escalates.
    privileged = {"privileged": True, "allowPrivilegeEscalation": True}
    return [
        case("privileged/false", in_context(app, privileged=False)),
        case("privileged/container", in_context(app, **privileged), PRIVILEGED, PRIVILEGE_ESCALATION),
        case("privileged/init-container", in_context(init, **privileged), PRIVILEGED, PRIVILEGE_ESCALATION),
        case(
            "privileged/ephemeral-container",
            in_context(debug_container, **privileged),
            PRIVILEGED,
            PRIVILEGE_ESCALATION,
            api_server=False,
        ),
    ]


def _capabilities() -> list[Case]:
    def adds(target: Callable[[Pod], dict[str, Any]], *added: str) -> Callable[[Pod], None]:
        return in_context(target, capabilities={"drop": ["ALL"], "add": list(added)})

    cases = []
    for capability in BASELINE_CAPABILITIES:
        # Baseline allows the runtime's default set; Restricted only NET_BIND_SERVICE of it.
        restricted = () if capability == "NET_BIND_SERVICE" else (RESTRICTED_CAPABILITIES,)
        cases.append(case(f"capabilities/add-{capability}", adds(app, capability), *restricted))
    for capability in ("SYS_ADMIN", "NET_ADMIN", "NET_RAW", "SYS_PTRACE", "ALL"):
        cases.append(
            case(f"capabilities/add-{capability}", adds(app, capability), CAPABILITIES, RESTRICTED_CAPABILITIES)
        )
    cases += [
        case("capabilities/init-add-SYS_ADMIN", adds(init, "SYS_ADMIN"), CAPABILITIES, RESTRICTED_CAPABILITIES),
        case(
            "capabilities/ephemeral-add-SYS_ADMIN",
            adds(debug_container, "SYS_ADMIN"),
            CAPABILITIES,
            RESTRICTED_CAPABILITIES,
            api_server=False,
        ),
        case("capabilities/drop-ALL-and-more", in_context(app, capabilities={"drop": ["ALL", "NET_RAW"]})),
        case(
            "capabilities/drop-NET_RAW-only",
            in_context(app, capabilities={"drop": ["NET_RAW"]}),
            RESTRICTED_CAPABILITIES,
        ),
        case("capabilities/drop-nothing", in_context(app, capabilities={}), absent=(RESTRICTED_CAPABILITIES,)),
        case("capabilities/init-no-capabilities", drop(init, "capabilities"), absent=(RESTRICTED_CAPABILITIES,)),
        case(
            "capabilities/ephemeral-no-capabilities",
            lambda pod: context(debug_container(pod)).pop("capabilities"),
            absent=(RESTRICTED_CAPABILITIES,),
            api_server=False,
        ),
        case("capabilities/windows-pod-no-capabilities", windows),
    ]
    return cases


def _host_path() -> list[Case]:
    return [
        case("hostpath/volume", add_volume(hostPath={"path": "/var/run"}), HOST_PATH, VOLUME_TYPES),
        case(
            "hostpath/volume-with-type",
            add_volume(hostPath={"path": "/etc", "type": "Directory"}),
            HOST_PATH,
            VOLUME_TYPES,
        ),
    ]


def _host_ports() -> list[Case]:
    def host_port(target: Callable[[Pod], dict[str, Any]], port: int) -> Callable[[Pod], None]:
        return set_in(target, ports=[{"containerPort": 8080, "hostPort": port}])

    return [
        case("host-ports/zero", host_port(app, 0)),
        case("host-ports/container", host_port(app, 8080), HOST_PORTS),
        case("host-ports/init-container", host_port(init, 9090), HOST_PORTS),
    ]


def _host_probes() -> list[Case]:
    cases = []
    for where in PROBES:
        for action in ("httpGet", "tcpSocket"):
            cases.append(case(f"host-probes/{where}-{action}-empty", probe(where, action, "")))
            cases.append(case(f"host-probes/{where}-{action}-host", probe(where, action, "10.0.0.1"), HOST_PROBES))
    return cases


def _apparmor() -> list[Case]:
    runtime_default = {"appArmorProfile": {"type": "RuntimeDefault"}}
    localhost = {"appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-apparmor-example"}}
    unconfined = {"appArmorProfile": {"type": "Unconfined"}}
    return [
        case("apparmor/pod-RuntimeDefault", in_context(pod_level, **runtime_default)),
        case("apparmor/pod-Localhost", in_context(pod_level, **localhost)),
        case("apparmor/pod-Unconfined", in_context(pod_level, **unconfined), APPARMOR),
        case("apparmor/container-RuntimeDefault", in_context(app, **runtime_default)),
        case("apparmor/container-Localhost", in_context(app, **localhost)),
        case("apparmor/container-Unconfined", in_context(app, **unconfined), APPARMOR),
        case("apparmor/init-container-Unconfined", in_context(init, **unconfined), APPARMOR),
        case(
            "apparmor/ephemeral-container-Unconfined",
            in_context(debug_container, **unconfined),
            APPARMOR,
            api_server=False,
        ),
        case("apparmor/annotation-runtime-default", annotate(APPARMOR_ANNOTATION, "runtime/default")),
        case("apparmor/annotation-localhost", annotate(APPARMOR_ANNOTATION, "localhost/k8s-apparmor-example")),
        case("apparmor/annotation-unconfined", annotate(APPARMOR_ANNOTATION, "unconfined"), APPARMOR),
    ]


def _selinux() -> list[Case]:
    def options(target: Callable[[Pod], dict[str, Any]], **values: str) -> Callable[[Pod], None]:
        return in_context(target, seLinuxOptions=values)

    cases = [case(f"selinux/pod-type-{value or 'empty'}", options(pod_level, type=value)) for value in SELINUX_TYPES]
    cases += [
        case("selinux/container-type-container_t", options(app, type="container_t")),
        case("selinux/pod-level-only", options(pod_level, level="s0:c123,c456")),
        case("selinux/pod-user-empty", options(pod_level, user="")),
        case("selinux/pod-role-empty", options(pod_level, role="")),
        case("selinux/pod-type-spc_t", options(pod_level, type="spc_t"), SELINUX),
        case("selinux/pod-type-unconfined_t", options(pod_level, type="unconfined_t"), SELINUX),
        case("selinux/pod-user", options(pod_level, user="system_u"), SELINUX),
        case("selinux/pod-role", options(pod_level, role="system_r"), SELINUX),
        case("selinux/container-type-spc_t", options(app, type="spc_t"), SELINUX),
        case("selinux/init-container-user", options(init, user="system_u"), SELINUX),
        case("selinux/container-role", options(app, role="system_r"), SELINUX),
        case("selinux/ephemeral-container-type", options(debug_container, type="spc_t"), SELINUX, api_server=False),
    ]
    return cases


def _proc_mount() -> list[Case]:
    unmasked = each(with_field("hostUsers", False), in_context(app, procMount="Unmasked"))
    return [
        case("proc-mount/Default", in_context(app, procMount="Default")),
        case("proc-mount/container-Unmasked", unmasked, PROC_MOUNT),
        case(
            "proc-mount/init-container-Unmasked",
            each(with_field("hostUsers", False), in_context(init, procMount="Unmasked")),
            PROC_MOUNT,
        ),
        case(
            "proc-mount/ephemeral-container-Unmasked",
            in_context(debug_container, procMount="Unmasked"),
            PROC_MOUNT,
            api_server=False,
        ),
    ]


def _seccomp() -> list[Case]:
    localhost = {"type": "Localhost", "localhostProfile": "profiles/audit.json"}
    every = every_container(lambda one: one["securityContext"].update(seccompProfile={"type": "RuntimeDefault"}))
    return [
        case("seccomp/pod-Localhost", in_context(pod_level, seccompProfile=localhost)),
        case("seccomp/container-RuntimeDefault", in_context(app, seccompProfile={"type": "RuntimeDefault"})),
        case("seccomp/container-Localhost", in_context(app, seccompProfile=localhost)),
        case("seccomp/every-container-not-the-pod", each(without_pod("seccompProfile"), every)),
        case(
            "seccomp/every-container-Localhost",
            each(
                without_pod("seccompProfile"),
                every_container(lambda one: one["securityContext"].update(seccompProfile=localhost)),
            ),
        ),
        case(
            "seccomp/pod-Unconfined",
            in_context(pod_level, seccompProfile={"type": "Unconfined"}),
            SECCOMP,
            RESTRICTED_SECCOMP,
        ),
        case(
            "seccomp/pod-Unconfined-every-container-RuntimeDefault",
            each(in_context(pod_level, seccompProfile={"type": "Unconfined"}), every),
            SECCOMP,
            RESTRICTED_SECCOMP,
        ),
        case(
            "seccomp/container-Unconfined",
            in_context(app, seccompProfile={"type": "Unconfined"}),
            SECCOMP,
            RESTRICTED_SECCOMP,
        ),
        case(
            "seccomp/init-container-Unconfined",
            in_context(init, seccompProfile={"type": "Unconfined"}),
            SECCOMP,
            RESTRICTED_SECCOMP,
        ),
        case(
            "seccomp/ephemeral-container-Unconfined",
            in_context(debug_container, seccompProfile={"type": "Unconfined"}),
            SECCOMP,
            RESTRICTED_SECCOMP,
            api_server=False,
        ),
        case("seccomp/nowhere", without_pod("seccompProfile"), absent=(RESTRICTED_SECCOMP,)),
        case(
            "seccomp/app-only",
            each(without_pod("seccompProfile"), in_context(app, seccompProfile={"type": "RuntimeDefault"})),
            absent=(RESTRICTED_SECCOMP,),
        ),
        case("seccomp/windows-pod-nowhere", windows),
    ]


def _sysctls() -> list[Case]:
    cases = [case(f"sysctls/{name}", with_sysctl(name, value)) for name, value in SAFE_SYSCTLS.items()]
    cases += [
        case("sysctls/kernel.msgmax", with_sysctl("kernel.msgmax", "65536"), SYSCTLS),
        case("sysctls/net.ipv4.ip_forward", with_sysctl("net.ipv4.ip_forward", "1"), SYSCTLS),
        case("sysctls/net.core.somaxconn", with_sysctl("net.core.somaxconn", "1024"), SYSCTLS),
    ]
    return cases


def _volume_types() -> list[Case]:
    cases = [
        case(f"volume-types/{source}", add_volume(**{source: fields})) for source, fields in ALLOWED_VOLUMES.items()
    ]
    cases += [
        case(f"volume-types/{source}", add_volume(**{source: fields}), VOLUME_TYPES)
        for source, fields in RESTRICTED_VOLUMES.items()
    ]
    # An image volume needs the ImageVolume feature, off by default in v1.34: the API server drops the field.
    cases.append(
        case(
            "volume-types/image",
            add_volume(image={"reference": "ghcr.io/acme/data:1.0"}),
            VOLUME_TYPES,
            api_server=False,
        )
    )
    return cases


def _privilege_escalation() -> list[Case]:
    return [
        case(
            "privilege-escalation/container-true", in_context(app, allowPrivilegeEscalation=True), PRIVILEGE_ESCALATION
        ),
        case("privilege-escalation/init-true", in_context(init, allowPrivilegeEscalation=True), PRIVILEGE_ESCALATION),
        case(
            "privilege-escalation/ephemeral-true",
            in_context(debug_container, allowPrivilegeEscalation=True),
            PRIVILEGE_ESCALATION,
            api_server=False,
        ),
        case("privilege-escalation/unset", drop(app, "allowPrivilegeEscalation"), absent=(PRIVILEGE_ESCALATION,)),
        case("privilege-escalation/init-unset", drop(init, "allowPrivilegeEscalation"), absent=(PRIVILEGE_ESCALATION,)),
        case("privilege-escalation/windows-pod-unset", windows),
    ]


def _running_as_non_root() -> list[Case]:
    containers_unset = every_container(lambda one: one["securityContext"].pop("runAsNonRoot", None))
    return [
        case("non-root/pod-only", containers_unset),
        case("non-root/containers-only", without_pod("runAsNonRoot")),
        case("non-root/pod-false", in_context(pod_level, runAsNonRoot=False), NON_ROOT),
        case("non-root/container-false", in_context(app, runAsNonRoot=False), NON_ROOT),
        case("non-root/init-container-false", in_context(init, runAsNonRoot=False), NON_ROOT),
        case(
            "non-root/ephemeral-container-false",
            in_context(debug_container, runAsNonRoot=False),
            NON_ROOT,
            api_server=False,
        ),
        case("non-root/nowhere", each(without_pod("runAsNonRoot"), containers_unset), absent=(NON_ROOT,)),
        case(
            "non-root/one-container-unset",
            each(without_pod("runAsNonRoot"), drop(init, "runAsNonRoot")),
            absent=(NON_ROOT,),
        ),
        case(
            "non-root/windows-pod-nowhere",
            each(windows, without_pod("runAsNonRoot"), containers_unset),
            absent=(NON_ROOT,),
        ),
    ]


def _running_as_non_root_user() -> list[Case]:
    return [
        case("non-root-user/pod-unset", without_pod("runAsUser")),
        case("non-root-user/container-1000", in_context(app, runAsUser=1000)),
        case("non-root-user/pod-0", in_context(pod_level, runAsUser=0), NON_ROOT_USER),
        case("non-root-user/container-0", in_context(app, runAsUser=0), NON_ROOT_USER),
        case("non-root-user/init-container-0", in_context(init, runAsUser=0), NON_ROOT_USER),
        case(
            "non-root-user/ephemeral-container-0",
            in_context(debug_container, runAsUser=0),
            NON_ROOT_USER,
            api_server=False,
        ),
    ]


CASES: tuple[Case, ...] = (
    case("compliant", lambda pod: None),
    case("compliant-with-ephemeral-container", debug_container, api_server=False),
    case("windows-pod", windows),
    *_host_process(),
    *_host_namespaces(),
    *_privileged(),
    *_capabilities(),
    *_host_path(),
    *_host_ports(),
    *_host_probes(),
    *_apparmor(),
    *_selinux(),
    *_proc_mount(),
    *_seccomp(),
    *_sysctls(),
    *_volume_types(),
    *_privilege_escalation(),
    *_running_as_non_root(),
    *_running_as_non_root_user(),
)
CONTROL_RULES = frozenset(
    {
        HOST_PROCESS,
        HOST_NAMESPACES,
        PRIVILEGED,
        CAPABILITIES,
        HOST_PATH,
        HOST_PORTS,
        HOST_PROBES,
        APPARMOR,
        SELINUX,
        PROC_MOUNT,
        SECCOMP,
        SYSCTLS,
        VOLUME_TYPES,
        PRIVILEGE_ESCALATION,
        NON_ROOT,
        NON_ROOT_USER,
        RESTRICTED_SECCOMP,
        RESTRICTED_CAPABILITIES,
    }
)
