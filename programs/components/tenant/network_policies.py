"""`controlplane:tenant:NetworkPolicies`: deny by default, then the few flows a tenant's apps need."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, field_validator

from programs.components import validation
from programs.components.common import Component, ComponentArgs
from programs.components.declaration import Declaration, DeclarationSet
from programs.components.tenant.models import object_annotations

METADATA_ADDRESS = "169.254.169.254/32"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class NetworkPoliciesArgs(ComponentArgs):
    namespace: str
    ingress_namespace: str
    ingress_ports: tuple[int, ...] = Field(
        default=(), description="app ports the ingress controller may reach (the apps' public ports)"
    )
    cluster_private_cidrs: tuple[IPv4Network, ...] = Field(min_length=1)
    dns_namespace: str = "kube-system"
    dns_pod_labels: dict[str, str] = Field(default_factory=lambda: {"k8s-app": "kube-dns"})
    labels: dict[str, str] = Field(default_factory=dict)
    await_readiness: bool = Field(default=True, description="false: skip Pulumi's readiness waits (object_annotations)")

    @field_validator("namespace", "ingress_namespace", "dns_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return validation.dns1123_label(value, what="namespace")

    @field_validator("ingress_ports")
    @classmethod
    def _ports(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= port <= 65535 for port in value):
            raise ValueError("ingress ports must be between 1 and 65535")
        return tuple(sorted(set(value)))


@dataclass(frozen=True)
class NetworkPolicyDeclarations(DeclarationSet):
    policies: dict[str, Declaration[k8s.networking.v1.NetworkPolicy]]


class TenantNetworkPolicies(Component):
    """Default deny in and out; in from the ingress controller to the public ports and from the namespace's own
    pods; out to the cluster DNS, the namespace's own pods and the internet except the instance metadata
    address and the cluster's private ranges."""

    policies: dict[str, k8s.networking.v1.NetworkPolicy]

    def __init__(
        self, resource_name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("controlplane:tenant:NetworkPolicies", resource_name, opts)
        declared = self.declarations(resource_name, args)
        self.policies = {name: policy.declare(self.child_opts()) for name, policy in declared.policies.items()}
        self.register_outputs({"policies": sorted(self.policies)})

    @staticmethod
    def declarations(resource_name: str, args: NetworkPoliciesArgs) -> NetworkPolicyDeclarations:
        return NetworkPolicyDeclarations(
            policies={
                policy_name: Declaration(
                    k8s.networking.v1.NetworkPolicy,
                    f"{resource_name}-{policy_name}",
                    {
                        "metadata": k8s.meta.v1.ObjectMetaArgs(
                            name=policy_name,
                            namespace=args.namespace,
                            labels=args.labels,
                            annotations=object_annotations(args.await_readiness),
                        ),
                        "spec": spec,
                    },
                )
                for policy_name, spec in _policy_specs(args).items()
            }
        )


def _policy_specs(args: NetworkPoliciesArgs) -> dict[str, k8s.networking.v1.NetworkPolicySpecArgs]:
    all_pods = k8s.meta.v1.LabelSelectorArgs()
    same_namespace = k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=all_pods)
    specs: dict[str, k8s.networking.v1.NetworkPolicySpecArgs] = {
        "default-deny": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=all_pods, policy_types=["Ingress", "Egress"]
        ),
        "allow-same-namespace": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=all_pods,
            policy_types=["Ingress", "Egress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[same_namespace])],
            egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[same_namespace])],
        ),
        "allow-dns": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=all_pods,
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=_namespace_selector(args.dns_namespace),
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=args.dns_pod_labels),
                        )
                    ],
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53),
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=53),
                    ],
                )
            ],
        ),
        "allow-internet-egress": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=all_pods,
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            ip_block=k8s.networking.v1.IPBlockArgs(
                                cidr="0.0.0.0/0",
                                except_=[
                                    METADATA_ADDRESS,
                                    *(str(cidr) for cidr in args.cluster_private_cidrs),
                                ],
                            )
                        )
                    ]
                )
            ],
        ),
    }
    if args.ingress_ports:
        specs["allow-from-ingress-controller"] = k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=all_pods,
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=_namespace_selector(args.ingress_namespace)
                        )
                    ],
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)
                        for port in args.ingress_ports
                    ],
                )
            ],
        )
    return specs


def _namespace_selector(namespace: str) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels={NAMESPACE_NAME_LABEL: namespace})
