"""Components of a tenant namespace's stack (type names `controlplane:tenant:*`)."""

from programs.components.tenant.app import AppIngressArgs, AppVolumeArgs, AppWorkload, AppWorkloadArgs
from programs.components.tenant.app_dns import AppDns, AppDnsArgs
from programs.components.tenant.models import ContainerPort
from programs.components.tenant.namespace import QuotaArgs, TenantNamespace, TenantNamespaceArgs
from programs.components.tenant.network_policies import NetworkPoliciesArgs, TenantNetworkPolicies
from programs.components.tenant.origin_tls import OriginTls, OriginTlsArgs

__all__ = [
    "AppDns",
    "AppDnsArgs",
    "AppIngressArgs",
    "AppVolumeArgs",
    "AppWorkload",
    "AppWorkloadArgs",
    "ContainerPort",
    "NetworkPoliciesArgs",
    "OriginTls",
    "OriginTlsArgs",
    "QuotaArgs",
    "TenantNamespace",
    "TenantNamespaceArgs",
    "TenantNetworkPolicies",
]
