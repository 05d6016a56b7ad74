"""`controlplane:tenant:App`: one app's ServiceAccount, env Secret, volume claim, Deployment, Service, Ingress."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any, Self

import pulumi
import pulumi_kubernetes as k8s
from pydantic import AfterValidator, Field, field_validator, model_validator

from programs.components import validation
from programs.components.common import (
    LABEL_APP,
    LABEL_K8S_NAME,
    Component,
    ComponentArgs,
    cpu_quantity,
    memory_quantity,
    storage_quantity,
)
from programs.components.declaration import Declaration, DeclarationSet, R, Secret
from programs.components.tenant.models import ContainerPort, check_ports, object_annotations

CONTAINER_NAME = "app"
TMP_VOLUME = "tmp"
TMP_MOUNT_PATH = "/tmp"  # noqa: S108 - the pod's own emptyDir, not a shared host directory
TMP_SIZE_LIMIT = "256Mi"
DATA_VOLUME = "data"
ENV_CHECKSUM_ANNOTATION = "controlplane.io/env-checksum"
APP_NAME_MAX = 40


def _app_name(value: str) -> str:
    return validation.dns1035_label(value, what="app name", max_length=APP_NAME_MAX)


def _image_reference(value: str) -> str:
    validation.parse_image_reference(value)
    return value


# Field types shared by the tenant spec and this component's args, so both validate the same way.
AppName = Annotated[str, AfterValidator(_app_name)]
ImageReference = Annotated[str, AfterValidator(_image_reference)]
EnvName = Annotated[str, AfterValidator(validation.env_name)]


class AppVolumeArgs(ComponentArgs):
    """The app's persistent volume. With `claim_declared` false (volumes released) the Deployment keeps its
    reference to the claim but the claim itself is not declared, so the stack update deletes it."""

    size_gib: int = Field(ge=1)
    mount_path: str
    storage_class: str
    claim_declared: bool = True

    @field_validator("mount_path")
    @classmethod
    def _mount_path(cls, value: str) -> str:
        return validation.mount_path(value)

    @field_validator("storage_class")
    @classmethod
    def _storage_class(cls, value: str) -> str:
        return validation.dns1123_label(value, what="storage class")


class AppIngressArgs(ComponentArgs):
    """The app's public route: every host goes to the app's public port over TLS, with the certificate in
    `tls_secret_name` (the namespace's origin certificate) or, without one, the controller's default."""

    hosts: tuple[str, ...] = Field(min_length=1)
    ingress_class: str
    tls_secret_name: str | None = None

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for host in value:
            validation.hostname(host, what="ingress host")
        if len(set(value)) != len(value):
            raise ValueError("ingress hosts must be unique")
        return value


class AppWorkloadArgs(ComponentArgs):
    namespace: str
    name: AppName
    image: ImageReference
    replicas: int = Field(ge=0)
    cpu_millicores: int = Field(ge=1)
    memory_mib: int = Field(ge=1)
    ports: tuple[ContainerPort, ...] = Field(min_length=1)
    env: dict[EnvName, str] = Field(default_factory=dict)
    volume: AppVolumeArgs | None = None
    health_check_path: str = "/"
    run_as_user: int = Field(default=10001, ge=1, le=2**31 - 1)
    labels: dict[str, str] = Field(default_factory=dict)
    ingress: AppIngressArgs | None = None
    await_readiness: bool = Field(default=True, description="false: skip Pulumi's readiness waits (object_annotations)")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return validation.dns1123_label(value, what="namespace")

    @field_validator("health_check_path")
    @classmethod
    def _health(cls, value: str) -> str:
        return validation.health_check_path(value)

    @model_validator(mode="after")
    def _ports(self) -> Self:
        check_ports(self.ports)
        if self.ingress is not None and self.public_port is None:
            raise ValueError("an app with an ingress needs a public port")
        return self

    @property
    def public_port(self) -> ContainerPort | None:
        return next((port for port in self.ports if port.public), None)

    @property
    def probe_port(self) -> ContainerPort:
        return self.public_port or self.ports[0]

    @property
    def uses_rolling_update(self) -> bool:
        """A ReadWriteOnce EBS volume attaches to one node: apps with a volume are replaced, not rolled."""
        return self.volume is None

    def selector_labels(self) -> dict[str, str]:
        return {LABEL_APP: self.name}

    def object_labels(self) -> dict[str, str]:
        return {**self.labels, LABEL_K8S_NAME: self.name, **self.selector_labels()}

    def claim_name(self) -> str:
        return f"{self.name}-data"

    def env_secret_name(self) -> str:
        return f"{self.name}-env"


@dataclass(frozen=True)
class AppDeclarations(DeclarationSet):
    service_account: Declaration[k8s.core.v1.ServiceAccount]
    env_secret: Declaration[k8s.core.v1.Secret] | None
    claim: Declaration[k8s.core.v1.PersistentVolumeClaim] | None
    deployment: Declaration[k8s.apps.v1.Deployment]
    service: Declaration[k8s.core.v1.Service]
    ingress: Declaration[k8s.networking.v1.Ingress] | None


class AppWorkload(Component):
    """A hardened Deployment (non-root, read-only root filesystem, no privilege escalation, no capabilities,
    RuntimeDefault seccomp, no service-account token, Guaranteed resources, probes) with its Service, its own
    token-less ServiceAccount, an env Secret, an optional volume claim and an optional TLS Ingress."""

    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    service_account: k8s.core.v1.ServiceAccount
    env_secret: k8s.core.v1.Secret | None
    claim: k8s.core.v1.PersistentVolumeClaim | None
    ingress: k8s.networking.v1.Ingress | None
    hostnames: list[str]
    volume_id: pulumi.Output[str | None]

    def __init__(self, resource_name: str, args: AppWorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("controlplane:tenant:App", resource_name, opts)
        declared = self.declarations(resource_name, args)
        self.service_account = declared.service_account.declare(self.child_opts())
        self.env_secret = _declare_optional(declared.env_secret, self.child_opts())
        self.claim = _declare_optional(declared.claim, self.child_opts())
        waits_for = [res for res in (self.service_account, self.env_secret, self.claim) if res is not None]
        self.deployment = declared.deployment.declare(self.child_opts(depends_on=waits_for))
        self.service = declared.service.declare(self.child_opts())
        self.ingress = _declare_optional(declared.ingress, self.child_opts(depends_on=[self.service]))
        self.hostnames = list(args.ingress.hosts) if self.ingress is not None and args.ingress is not None else []

        claim = self.claim
        self.volume_id = (
            claim.spec.apply(lambda spec: spec.volume_name) if claim is not None else pulumi.Output.from_input(None)
        )
        self.register_outputs(
            {
                "deployment": self.deployment.metadata.apply(lambda m: m.name),
                "hostnames": self.hostnames,
                "volume_id": self.volume_id,
            }
        )

    @staticmethod
    def declarations(resource_name: str, args: AppWorkloadArgs) -> AppDeclarations:
        labels = args.object_labels()
        annotations = object_annotations(args.await_readiness)

        def declaration(
            resource_class: type[R], object_name: str, *, logical_name: str = resource_name, **fields: Any
        ) -> Declaration[R]:
            metadata = k8s.meta.v1.ObjectMetaArgs(
                name=object_name, namespace=args.namespace, labels=labels, annotations=annotations
            )
            return Declaration(resource_class, logical_name, {"metadata": metadata, **fields})

        env_secret = None
        if args.env:
            env_secret = declaration(
                k8s.core.v1.Secret,
                args.env_secret_name(),
                logical_name=f"{resource_name}-env",
                type="Opaque",
                string_data=Secret(dict(sorted(args.env.items()))),
            )
        claim = None
        if args.volume is not None and args.volume.claim_declared:
            claim = declaration(k8s.core.v1.PersistentVolumeClaim, args.claim_name(), spec=_claim_spec(args.volume))
        ingress = None
        if args.ingress is not None and args.public_port is not None:
            ingress = declaration(
                k8s.networking.v1.Ingress,
                args.name,
                spec=_ingress_spec(args.name, args.public_port.name, args.ingress),
            )
        return AppDeclarations(
            service_account=declaration(k8s.core.v1.ServiceAccount, args.name, automount_service_account_token=False),
            env_secret=env_secret,
            claim=claim,
            deployment=declaration(k8s.apps.v1.Deployment, args.name, spec=_deployment_spec(args)),
            service=declaration(k8s.core.v1.Service, args.name, spec=_service_spec(args)),
            ingress=ingress,
        )


def _declare_optional(declaration: Declaration[R] | None, opts: pulumi.ResourceOptions) -> R | None:
    return declaration.declare(opts) if declaration is not None else None


def _claim_spec(volume: AppVolumeArgs) -> k8s.core.v1.PersistentVolumeClaimSpecArgs:
    return k8s.core.v1.PersistentVolumeClaimSpecArgs(
        access_modes=["ReadWriteOnce"],
        storage_class_name=volume.storage_class,
        resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": storage_quantity(volume.size_gib)}),
    )


def _service_spec(args: AppWorkloadArgs) -> k8s.core.v1.ServiceSpecArgs:
    return k8s.core.v1.ServiceSpecArgs(
        type="ClusterIP",
        selector=args.selector_labels(),
        ports=[
            k8s.core.v1.ServicePortArgs(name=port.name, port=port.port, target_port=port.name, protocol="TCP")
            for port in args.ports
        ],
    )


def env_checksum(env: dict[str, str]) -> str:
    """A digest of the env, put on the pod template so that changing a value rolls the pods."""
    return hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:32]


def _deployment_spec(args: AppWorkloadArgs) -> k8s.apps.v1.DeploymentSpecArgs:
    resources = {"cpu": cpu_quantity(args.cpu_millicores), "memory": memory_quantity(args.memory_mib)}
    probe_port = args.probe_port.name
    volumes = [
        k8s.core.v1.VolumeArgs(
            name=TMP_VOLUME, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=TMP_SIZE_LIMIT)
        )
    ]
    mounts = [k8s.core.v1.VolumeMountArgs(name=TMP_VOLUME, mount_path=TMP_MOUNT_PATH)]
    if args.volume is not None:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name=DATA_VOLUME,
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(claim_name=args.claim_name()),
            )
        )
        mounts.append(k8s.core.v1.VolumeMountArgs(name=DATA_VOLUME, mount_path=args.volume.mount_path))
    annotations = {ENV_CHECKSUM_ANNOTATION: env_checksum(args.env)} if args.env else None
    strategy = (
        k8s.apps.v1.DeploymentStrategyArgs(
            type="RollingUpdate",
            rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
        )
        if args.uses_rolling_update
        else k8s.apps.v1.DeploymentStrategyArgs(type="Recreate")
    )
    return k8s.apps.v1.DeploymentSpecArgs(
        replicas=args.replicas,
        revision_history_limit=3,
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=args.selector_labels()),
        strategy=strategy,
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=args.object_labels(), annotations=annotations),
            spec=k8s.core.v1.PodSpecArgs(
                service_account_name=args.name,
                automount_service_account_token=False,
                enable_service_links=False,
                termination_grace_period_seconds=30,
                security_context=k8s.core.v1.PodSecurityContextArgs(
                    run_as_non_root=True,
                    run_as_user=args.run_as_user,
                    run_as_group=args.run_as_user,
                    fs_group=args.run_as_user if args.volume is not None else None,
                    fs_group_change_policy="OnRootMismatch" if args.volume is not None else None,
                    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                ),
                containers=[
                    k8s.core.v1.ContainerArgs(
                        name=CONTAINER_NAME,
                        image=args.image,
                        image_pull_policy="IfNotPresent",
                        ports=[
                            k8s.core.v1.ContainerPortArgs(name=port.name, container_port=port.port, protocol="TCP")
                            for port in args.ports
                        ],
                        env_from=(
                            [
                                k8s.core.v1.EnvFromSourceArgs(
                                    secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=args.env_secret_name())
                                )
                            ]
                            if args.env
                            else None
                        ),
                        resources=k8s.core.v1.ResourceRequirementsArgs(requests=resources, limits=resources),
                        readiness_probe=_probe(args.health_check_path, probe_port, initial_delay=0, period=5),
                        liveness_probe=_probe(args.health_check_path, probe_port, initial_delay=15, period=10),
                        security_context=k8s.core.v1.SecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=args.run_as_user,
                            allow_privilege_escalation=False,
                            privileged=False,
                            read_only_root_filesystem=True,
                            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        volume_mounts=mounts,
                    )
                ],
                volumes=volumes,
            ),
        ),
    )


def _probe(path: str, port: str, *, initial_delay: int, period: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port, scheme="HTTP"),
        initial_delay_seconds=initial_delay,
        period_seconds=period,
        timeout_seconds=3,
        failure_threshold=3,
    )


def _ingress_spec(service: str, port: str, ingress: AppIngressArgs) -> k8s.networking.v1.IngressSpecArgs:
    backend = k8s.networking.v1.IngressBackendArgs(
        service=k8s.networking.v1.IngressServiceBackendArgs(
            name=service, port=k8s.networking.v1.ServiceBackendPortArgs(name=port)
        )
    )
    return k8s.networking.v1.IngressSpecArgs(
        ingress_class_name=ingress.ingress_class,
        # Every host is a TLS host; without a secret (no Cloudflare) the controller's default certificate serves.
        tls=[k8s.networking.v1.IngressTLSArgs(hosts=list(ingress.hosts), secret_name=ingress.tls_secret_name)],
        rules=[
            k8s.networking.v1.IngressRuleArgs(
                host=host,
                http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                    paths=[k8s.networking.v1.HTTPIngressPathArgs(path="/", path_type="Prefix", backend=backend)]
                ),
            )
            for host in ingress.hosts
        ],
    )
