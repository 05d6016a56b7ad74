"""How a rule knows a stack is a tenant stack.

**A stack is a tenant stack when it declares a `kubernetes:core/v1:Namespace` labelled
`controlplane.io/account`.** That Namespace is *the* tenant namespace; its `metadata.name` is where every
namespaced object of the stack must live. This needs no configuration and holds in CrossGuard and in the
offline check alike, because the label is part of what the tenant program declares (it is how the platform
finds a tenant's namespace in the cluster, too).

Consequences, chosen on purpose:

- Rules that only make sense for tenants (Services are ClusterIP, Ingresses use TLS and the platform class,
  DNS records are proxied, quota/limits/network baseline, namespace containment) are *stack* rules: only
  the whole stack tells whether the labelled Namespace is present. They report against the offending
  resource's URN. In `pulumi up --skip-preview` (what the Automation API runs) CrossGuard evaluates stack
  rules after the changes are applied, so the engine runs `preview` first and the API gates admission with
  `policies.declared.check_tenant_spec_fast` (the views `policies.offline.check_tenant_spec` would record),
  which evaluates stack rules before anything exists.
- Rules that hold everywhere (pod security, images, storage, AWS, EKS) are *resource* rules and block a
  resource before it is created.
- A tenant stack that lost its label would silently look like a platform stack. Against that, the stack
  rule `tenant-stack-identified` refuses a stack of a configured tenant *project* (the project part of the
  URNs, `tenantProjects`, default `["tenant"]`) that declares no labelled Namespace, and
  `check_tenant_spec` runs the tenant program under that project name.
- A stack with two labelled Namespaces is refused: one stack per namespace.
"""

from __future__ import annotations

from collections.abc import Sequence

from policies.kube import ACCOUNT_LABEL, NAMESPACE, labels_of
from policies.registry import ResourceView

TENANT_PROJECT = "tenant"
"""The Pulumi project name of tenant stacks (the default of `tenant-stack-identified`'s `tenantProjects`);
the engine creates tenant stacks under it, and `check_tenant_spec` runs the tenant program under it."""


def is_tenant_namespace(view: ResourceView) -> bool:
    return view.type == NAMESPACE and ACCOUNT_LABEL in labels_of(view.props)


def tenant_namespaces(views: Sequence[ResourceView]) -> list[ResourceView]:
    """The Namespaces labelled `controlplane.io/account` (exactly one in a well-formed tenant stack)."""
    return [view for view in views if is_tenant_namespace(view)]


def is_tenant_stack(views: Sequence[ResourceView]) -> bool:
    return any(is_tenant_namespace(view) for view in views)


def project_of(urn: str) -> str | None:
    """The project part of `urn:pulumi:<stack>::<project>::<type>::<name>`."""
    parts = urn.split("::")
    if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
        return None
    return parts[1]
