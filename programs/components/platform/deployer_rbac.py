"""`controlplane:platform:DeployerRbac`: what the control plane's deployer identity may do in the cluster.

Exactly the kinds the tenant program manages (`programs.components.tenant.kinds.MANAGED`) plus read access to
what pulumi-kubernetes watches while it waits for them; nothing on RBAC objects, so the deployer cannot grant
itself more.
"""

from __future__ import annotations

from collections import defaultdict

import pulumi
import pulumi_kubernetes as k8s
from pydantic import field_validator

from programs.components.common import Component, ComponentArgs
from programs.components.tenant import kinds


class DeployerRbacArgs(ComponentArgs):
    group: str = "controlplane-deployers"
    role_name: str = "controlplane-deployer"

    @field_validator("group")
    @classmethod
    def _group(cls, value: str) -> str:
        if value.startswith("system:"):
            raise ValueError("the deployer group may not be a system: group")
        return value


def deployer_rules() -> list[k8s.rbac.v1.PolicyRuleArgs]:
    """One rule per API group and verb set, resources sorted: a stable, reviewable role."""
    rules: list[k8s.rbac.v1.PolicyRuleArgs] = []
    for resources, verbs in ((kinds.MANAGED, kinds.MANAGE_VERBS), (kinds.OBSERVED, kinds.OBSERVE_VERBS)):
        by_group: dict[str, set[str]] = defaultdict(set)
        for resource in resources:
            by_group[resource.group].add(resource.resource)
        rules.extend(
            k8s.rbac.v1.PolicyRuleArgs(api_groups=[group], resources=sorted(names), verbs=list(verbs))
            for group, names in sorted(by_group.items())
        )
    return rules


class DeployerRbac(Component):
    cluster_role: k8s.rbac.v1.ClusterRole
    binding: k8s.rbac.v1.ClusterRoleBinding

    def __init__(self, resource_name: str, args: DeployerRbacArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("controlplane:platform:DeployerRbac", resource_name, opts)
        self.cluster_role = k8s.rbac.v1.ClusterRole(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.role_name),
            rules=deployer_rules(),
            opts=self.child_opts(),
        )
        self.binding = k8s.rbac.v1.ClusterRoleBinding(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.role_name),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=args.role_name
            ),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="Group", name=args.group, api_group="rbac.authorization.k8s.io")],
            opts=self.child_opts(depends_on=[self.cluster_role]),
        )
        self.register_outputs({"cluster_role": args.role_name, "group": args.group})
