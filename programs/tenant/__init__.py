"""The tenant program: one Pulumi stack per namespace.

from programs.tenant import TenantSpec, tenant_program
stack = auto.create_or_select_stack(stack_name=..., project_name=..., program=lambda: tenant_program(spec))
"""

from programs.tenant.plan import quota_for, tenant_declarations
from programs.tenant.program import Tenant, tenant_program
from programs.tenant.spec import (
    AppSpec,
    AppVolume,
    CloudflareSettings,
    ContainerPort,
    KubernetesProviderSettings,
    LifecycleState,
    OriginTlsSpec,
    PlatformSettings,
    TenantSpec,
)

__all__ = [
    "AppSpec",
    "AppVolume",
    "CloudflareSettings",
    "ContainerPort",
    "KubernetesProviderSettings",
    "LifecycleState",
    "OriginTlsSpec",
    "PlatformSettings",
    "Tenant",
    "TenantSpec",
    "quota_for",
    "tenant_declarations",
    "tenant_program",
]
