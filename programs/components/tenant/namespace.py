"""`controlplane:tenant:Namespace`: the namespace, its Pod Security labels, its quota and its limit range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, field_validator, model_validator

from programs.components import validation
from programs.components.common import (
    ANNOTATION_BASE_DOMAIN,
    ANNOTATION_CUSTOM_DOMAINS,
    ANNOTATION_DISPLAY_NAME,
    LABEL_ACCOUNT,
    LABEL_HOST_SUFFIX,
    LABEL_K8S_MANAGED_BY,
    LABEL_NAMESPACE,
    MANAGED_BY,
    Component,
    ComponentArgs,
    cpu_quantity,
    memory_quantity,
    pod_security_labels,
    storage_quantity,
)
from programs.components.declaration import Declaration, DeclarationSet
from programs.components.tenant.models import object_annotations

# What a container gets when it declares nothing (the programs always declare; this guards anything else).
DEFAULT_CONTAINER_CPU_MILLICORES = 100
DEFAULT_CONTAINER_MEMORY_MIB = 128
MIN_CONTAINER_CPU_MILLICORES = 10
MIN_CONTAINER_MEMORY_MIB = 16


class QuotaArgs(ComponentArgs):
    """Hard limits of the namespace's ResourceQuota (requests and limits are equal: every pod is Guaranteed)."""

    pods: int = Field(ge=0)
    cpu_millicores: int = Field(ge=0)
    memory_mib: int = Field(ge=0)
    storage_gib: int = Field(ge=0)
    persistent_volume_claims: int = Field(ge=0)


class TenantNamespaceArgs(ComponentArgs):
    """`name` is the cluster name; `namespace_id`, `account_id` and `host_suffix` label every object of the
    namespace; the Namespace itself is annotated with the display name, the base domain and the verified custom
    domains (what the policy pack checks the stack's hosts against)."""

    name: str
    namespace_id: str
    account_id: str
    host_suffix: str
    display_name: str
    base_domain: str
    verified_domains: tuple[str, ...] = ()
    pod_security_version: str = Field(pattern=r"^(latest|v1\.\d+)$")
    quota: QuotaArgs
    max_container_cpu_millicores: int = Field(ge=MIN_CONTAINER_CPU_MILLICORES)
    max_container_memory_mib: int = Field(ge=MIN_CONTAINER_MEMORY_MIB)
    max_volume_size_gib: int = Field(ge=1)
    await_readiness: bool = Field(default=True, description="false: skip Pulumi's readiness waits (object_annotations)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validation.dns1123_label(value, what="namespace")

    @field_validator("account_id", "namespace_id", "host_suffix")
    @classmethod
    def _label_value(cls, value: str) -> str:
        return validation.label_value(value, what="identity label")

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str) -> str:
        return validation.dns1123_label(value, what="display name")

    @field_validator("base_domain")
    @classmethod
    def _base_domain(cls, value: str) -> str:
        return validation.hostname(value, what="base domain")

    @field_validator("verified_domains")
    @classmethod
    def _verified_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({validation.custom_domain(domain) for domain in value}))

    @model_validator(mode="after")
    def _defaults_fit(self) -> Self:
        if self.max_container_cpu_millicores < DEFAULT_CONTAINER_CPU_MILLICORES:
            raise ValueError(f"max_container_cpu_millicores must be at least {DEFAULT_CONTAINER_CPU_MILLICORES}")
        if self.max_container_memory_mib < DEFAULT_CONTAINER_MEMORY_MIB:
            raise ValueError(f"max_container_memory_mib must be at least {DEFAULT_CONTAINER_MEMORY_MIB}")
        return self

    def labels(self) -> dict[str, str]:
        """Labels tying every object of the namespace to its account and its namespace (by id)."""
        return {
            LABEL_ACCOUNT: self.account_id,
            LABEL_NAMESPACE: self.namespace_id,
            LABEL_HOST_SUFFIX: self.host_suffix,
            LABEL_K8S_MANAGED_BY: MANAGED_BY,
        }

    def identity_annotations(self) -> dict[str, str]:
        return {
            ANNOTATION_DISPLAY_NAME: self.display_name,
            ANNOTATION_BASE_DOMAIN: self.base_domain,
            ANNOTATION_CUSTOM_DOMAINS: ",".join(self.verified_domains),
        }


@dataclass(frozen=True)
class NamespaceDeclarations(DeclarationSet):
    namespace: Declaration[k8s.core.v1.Namespace]
    quota: Declaration[k8s.core.v1.ResourceQuota]
    limit_range: Declaration[k8s.core.v1.LimitRange]


class TenantNamespace(Component):
    """A tenant's namespace under the `restricted` Pod Security Standard, with a quota and a limit range."""

    name: pulumi.Output[str]
    namespace: k8s.core.v1.Namespace
    quota: k8s.core.v1.ResourceQuota
    limit_range: k8s.core.v1.LimitRange

    def __init__(
        self, resource_name: str, args: TenantNamespaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("controlplane:tenant:Namespace", resource_name, opts)
        declared = self.declarations(resource_name, args)
        self.namespace = declared.namespace.declare(self.child_opts())
        in_namespace = self.child_opts(depends_on=[self.namespace])
        self.quota = declared.quota.declare(in_namespace)
        self.limit_range = declared.limit_range.declare(in_namespace)
        self.name = self.namespace.metadata.apply(lambda metadata: str(metadata.name))
        self.register_outputs({"name": self.name})

    @staticmethod
    def declarations(resource_name: str, args: TenantNamespaceArgs) -> NamespaceDeclarations:
        labels = args.labels()
        annotations = object_annotations(args.await_readiness)
        return NamespaceDeclarations(
            namespace=Declaration(
                k8s.core.v1.Namespace,
                resource_name,
                {
                    "metadata": k8s.meta.v1.ObjectMetaArgs(
                        name=args.name,
                        labels={**labels, **pod_security_labels("restricted", args.pod_security_version)},
                        annotations={**args.identity_annotations(), **(annotations or {})},
                    )
                },
            ),
            quota=Declaration(
                k8s.core.v1.ResourceQuota,
                resource_name,
                {
                    "metadata": k8s.meta.v1.ObjectMetaArgs(
                        name="tenant-quota", namespace=args.name, labels=labels, annotations=annotations
                    ),
                    "spec": k8s.core.v1.ResourceQuotaSpecArgs(hard=_quota_hard(args.quota)),
                },
            ),
            limit_range=Declaration(
                k8s.core.v1.LimitRange,
                resource_name,
                {
                    "metadata": k8s.meta.v1.ObjectMetaArgs(
                        name="tenant-limits", namespace=args.name, labels=labels, annotations=annotations
                    ),
                    "spec": k8s.core.v1.LimitRangeSpecArgs(limits=_limits(args)),
                },
            ),
        )


def _quota_hard(quota: QuotaArgs) -> dict[str, str]:
    return {
        "pods": str(quota.pods),
        "requests.cpu": cpu_quantity(quota.cpu_millicores),
        "limits.cpu": cpu_quantity(quota.cpu_millicores),
        "requests.memory": memory_quantity(quota.memory_mib),
        "limits.memory": memory_quantity(quota.memory_mib),
        "requests.storage": storage_quantity(quota.storage_gib),
        "persistentvolumeclaims": str(quota.persistent_volume_claims),
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }


def _limits(args: TenantNamespaceArgs) -> list[k8s.core.v1.LimitRangeItemArgs]:
    return [
        k8s.core.v1.LimitRangeItemArgs(
            type="Container",
            default={
                "cpu": cpu_quantity(DEFAULT_CONTAINER_CPU_MILLICORES),
                "memory": memory_quantity(DEFAULT_CONTAINER_MEMORY_MIB),
            },
            default_request={
                "cpu": cpu_quantity(DEFAULT_CONTAINER_CPU_MILLICORES),
                "memory": memory_quantity(DEFAULT_CONTAINER_MEMORY_MIB),
            },
            min={
                "cpu": cpu_quantity(MIN_CONTAINER_CPU_MILLICORES),
                "memory": memory_quantity(MIN_CONTAINER_MEMORY_MIB),
            },
            max={
                "cpu": cpu_quantity(args.max_container_cpu_millicores),
                "memory": memory_quantity(args.max_container_memory_mib),
            },
        ),
        k8s.core.v1.LimitRangeItemArgs(
            type="PersistentVolumeClaim",
            min={"storage": "1Gi"},
            max={"storage": storage_quantity(args.max_volume_size_gib)},
        ),
    ]
