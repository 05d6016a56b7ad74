"""Run a program under Pulumi's mocks and record what it declares.

Shared by the tests, the benchmark and the offline policy check. `RecordingMocks` answers every registration
with plausible outputs (an EKS cluster gets an endpoint and a certificate authority, a PVC a volume name, a
custom hostname a status...) and keeps, per declared resource, its type, name, URN, inputs (camelCase wire
names, the shape a policy sees) and provider reference. Unlike the stock mock monitor it computes URNs the way
the engine does (the parent's whole type chain) and records duplicates, which the engine would refuse.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
# How the engine's wire format marks a secret value: {SIG_KEY: SECRET_SIG, "value": ...}.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a wire-format marker


@dataclass(frozen=True)
class DeclaredResource:
    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    provider: str
    custom: bool
    read: bool = False
    secret_paths: frozenset[str] = frozenset()
    """Dotted paths of the inputs that were secret (`inputs` holds them unwrapped)."""
    dependencies: frozenset[str] = frozenset()
    """URNs the resource waits for (explicit `depends_on`, expanded, and those of its input Outputs)."""

    @property
    def package(self) -> str:
        return self.type.split(":", 1)[0]

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")


class _RecordingMonitor(MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self._recording = mocks
        self._local = threading.local()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        if parent:
            type_ = parent.split("::")[2] + "$" + type_
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        self._local.urn = self.make_urn(request.parent, request.type, request.name)
        self._local.read = False
        self._local.dependencies = frozenset(request.dependencies)
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        self._local.urn = self.make_urn(request.parent, request.type, request.name)
        self._local.read = True
        self._local.dependencies = frozenset(request.dependencies)
        return super().ReadResource(request)  # type: ignore[no-untyped-call]

    def current(self) -> tuple[str, bool, frozenset[str]]:
        local = self._local
        return getattr(local, "urn", ""), getattr(local, "read", False), getattr(local, "dependencies", frozenset())


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that record every declaration; `install()` makes them the runtime's monitor."""

    def __init__(self) -> None:
        self.resources: list[DeclaredResource] = []
        self.duplicate_urns: list[str] = []
        self.calls: list[str] = []
        self.exports: dict[str, Any] = {}
        """The stack outputs the program exported (`pulumi.export`), resolved, after `run_under_mocks`."""
        self.secret_exports: set[str] = set()
        """The names of the exports that are secret."""
        self._urns: set[str] = set()
        self._lock = threading.Lock()
        self.monitor = _RecordingMonitor(self)

    def install(self, *, project: str = "controlplane", stack: str = "test", preview: bool = False) -> None:
        pulumi.runtime.set_mocks(self, project=project, stack=stack, preview=preview, monitor=self.monitor)

    # -- queries -----------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[DeclaredResource]:
        return iter(list(self.resources))

    def of_type(self, type_: str) -> list[DeclaredResource]:
        return [resource for resource in self.resources if resource.type == type_]

    def named(self, type_: str, name: str) -> DeclaredResource:
        matches = [resource for resource in self.resources if resource.type == type_ and resource.name == name]
        if len(matches) != 1:
            raise LookupError(f"{len(matches)} resources of type {type_} named {name}")
        return matches[0]

    def custom_resources(self) -> list[DeclaredResource]:
        return [r for r in self.resources if r.custom and not r.is_provider and not r.read]

    def kubernetes_manifests(self) -> list[dict[str, Any]]:
        """The declared Kubernetes objects as manifests (Helm releases and providers excluded)."""
        return [
            resource.inputs
            for resource in self.custom_resources()
            if resource.package == "kubernetes" and "kind" in resource.inputs and "apiVersion" in resource.inputs
        ]

    # -- pulumi.runtime.Mocks ----------------------------------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        urn, read, dependencies = self.monitor.current()
        secret_paths: set[str] = set()
        inputs = _unwrap_secrets(args.inputs, "", secret_paths)
        declared = DeclaredResource(
            type=args.typ,
            name=args.name,
            urn=urn,
            inputs=inputs,
            secret_paths=frozenset(secret_paths),
            dependencies=dependencies,
            provider=args.provider or "",
            custom=bool(args.custom),
            read=read,
        )
        with self._lock:
            if not read:
                if urn in self._urns:
                    self.duplicate_urns.append(urn)
                self._urns.add(urn)
            self.resources.append(declared)
        resource_id = args.resource_id or f"{args.name}-id"
        return resource_id, {**args.inputs, **_outputs(args)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        """The programs make no invokes (they would need a cloud at preview); record any for tests to catch."""
        self.calls.append(args.token)
        return {}, None


def run_under_mocks(
    program: Callable[[], object],
    *,
    mocks: RecordingMocks | None = None,
    project: str = "controlplane",
    stack: str = "test",
) -> RecordingMocks:
    """Run `program` to completion under fresh (or the given) recording mocks and return them, with the
    program's stack outputs resolved in `mocks.exports`."""
    recording = mocks if mocks is not None else RecordingMocks()
    recording.install(project=project, stack=stack)

    def with_exports() -> pulumi.Output[None]:
        # Under mocks the root stack outlives a run: start from no outputs, collect this run's.
        root = pulumi.runtime.get_root_resource()
        outputs: dict[str, Any] = getattr(root, "outputs", {})
        outputs.clear()
        program()
        names = list(outputs)
        collected = pulumi.Output.from_input(dict(outputs)).apply(recording.exports.update)
        flagged = pulumi.Output.all(*(pulumi.Output.from_input(outputs[name]).is_secret() for name in names)).apply(
            lambda flags: recording.secret_exports.update(name for name, flag in zip(names, flags, strict=True) if flag)
        )
        return pulumi.Output.all(collected, flagged).apply(lambda _: None)

    run: Callable[[], None] = pulumi.runtime.test(with_exports)  # type: ignore[no-untyped-call]
    run()
    return recording


def _unwrap_secrets(value: Any, path: str, secret_paths: set[str]) -> Any:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            secret_paths.add(path)
            return _unwrap_secrets(value.get("value"), path, secret_paths)
        return {
            key: _unwrap_secrets(item, f"{path}.{key}" if path else key, secret_paths) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_unwrap_secrets(item, f"{path}[{index}]", secret_paths) for index, item in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format has only floats; manifests want integers
    return value


# -- plausible outputs ----------------------------------------------------------------------------------------


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{resource}"


def _outputs(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    typ, name, inputs = args.typ, args.name, args.inputs
    if typ.startswith("aws:"):
        return _aws_outputs(typ, name, inputs)
    if typ == "kubernetes:core/v1:PersistentVolumeClaim":
        return {"spec": {**inputs.get("spec", {}), "volumeName": f"pvc-{name}"}, "status": {"phase": "Bound"}}
    if typ == "kubernetes:core/v1:Service" and (
        args.resource_id or inputs.get("spec", {}).get("type") == "LoadBalancer"
    ):
        hostname = f"{name}-0123456789.elb.{REGION}.amazonaws.com"
        return {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}
    if typ == "kubernetes:helm.sh/v3:Release":
        release = inputs.get("name", name)
        status = {"name": release, "namespace": inputs.get("namespace", "default"), "status": "deployed"}
        return {"name": release, "status": status}
    if typ == "cloudflare:index/customHostname:CustomHostname":
        return {
            "status": "pending",
            "verificationErrors": [],
            "ownershipVerification": {"type": "txt", "name": f"_cf-custom-hostname.{inputs.get('hostname')}"},
        }
    if typ == "cloudflare:index/originCaCertificate:OriginCaCertificate":
        return {
            "certificate": "-----BEGIN CERTIFICATE-----\nTU9DSw==\n-----END CERTIFICATE-----\n",
            "expiresOn": "2041-01-01 00:00:00 +0000 UTC",
        }
    if typ == "cloudflare:index/certificatePack:CertificatePack":
        return {"status": "pending_validation"}
    return {}


def _aws_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    service = typ.split(":")[1].split("/")[0]
    outputs: dict[str, Any] = {"arn": _arn(service, f"{name}"), "tagsAll": inputs.get("tags", {})}
    if typ == "aws:eks/cluster:Cluster":
        cluster = inputs.get("name", name)
        outputs |= {
            "name": cluster,
            "arn": _arn("eks", f"cluster/{cluster}"),
            "endpoint": f"https://0123456789ABCDEF.gr7.{REGION}.eks.amazonaws.com",
            "certificateAuthority": {"data": "TU9DSyBDQQ=="},
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{REGION}.amazonaws.com/id/0123456789ABCDEF"}]}],
            "vpcConfig": {**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": "sg-cluster"},
            "status": "ACTIVE",
        }
    elif typ == "aws:iam/role:Role":
        outputs |= {"arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}", "name": inputs.get("name", name)}
    elif typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        url = str(inputs.get("url", "")).removeprefix("https://")
        outputs |= {"arn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{url}"}
    elif typ == "aws:kms/key:Key":
        outputs |= {"arn": _arn("kms", f"key/{name}"), "keyId": f"{name}-key-id"}
    elif typ == "aws:eks/nodeGroup:NodeGroup":
        outputs |= {"status": "ACTIVE"}
    elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
        outputs |= {"latestVersion": 1}
    return outputs
