"""What the tenant program declares for a spec, computed without the Pulumi runtime.

`plan_tenant(spec)` gives the explicit providers and every component's arguments; the `Tenant` component
instantiates them, and `tenant_declarations(spec)` lists every resource they declare (admission reads it
instead of running the program under mocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi_cloudflare as cloudflare
import pulumi_kubernetes as k8s

from programs.components.declaration import Declaration, Secret
from programs.components.tenant import (
    AppDns,
    AppDnsArgs,
    AppIngressArgs,
    AppVolumeArgs,
    AppWorkload,
    AppWorkloadArgs,
    NetworkPoliciesArgs,
    OriginTls,
    OriginTlsArgs,
    QuotaArgs,
    TenantNamespace,
    TenantNamespaceArgs,
    TenantNetworkPolicies,
)
from programs.tenant.spec import AppSpec, LifecycleState, TenantSpec

ORIGIN_TLS_SECRET = "origin-tls"  # noqa: S105 - an object name


@dataclass(frozen=True)
class TenantPlan:
    """The providers and the arguments of each component; `name` names the namespace-wide components, the
    app-level ones are keyed by their resource name (the app's)."""

    name: str
    kubernetes_provider: Declaration[k8s.Provider]
    cloudflare_provider: Declaration[cloudflare.Provider] | None
    namespace: TenantNamespaceArgs
    network_policies: NetworkPoliciesArgs
    origin_tls: OriginTlsArgs | None
    apps: dict[str, AppWorkloadArgs]
    dns: dict[str, AppDnsArgs]


def plan_tenant(spec: TenantSpec) -> TenantPlan:
    namespace = _namespace_args(spec)
    labels = namespace.labels()
    origin_tls = _origin_tls_args(spec, labels)
    return TenantPlan(
        name=spec.namespace,
        kubernetes_provider=_kubernetes_provider(spec),
        cloudflare_provider=_cloudflare_provider(spec),
        namespace=namespace,
        network_policies=_network_policies_args(spec, labels),
        origin_tls=origin_tls,
        apps={app.name: _workload_args(spec, app, labels, origin_tls) for app in spec.apps},
        dns=_dns_args(spec),
    )


def tenant_declarations(spec: TenantSpec) -> list[Declaration[Any]]:
    """Every resource the tenant program declares for `spec`, in the order its components declare them."""
    plan = plan_tenant(spec)
    declared: list[Declaration[Any]] = [plan.kubernetes_provider]
    if plan.cloudflare_provider is not None:
        declared.append(plan.cloudflare_provider)
    declared += TenantNamespace.declarations(plan.name, plan.namespace).all()
    declared += TenantNetworkPolicies.declarations(plan.name, plan.network_policies).all()
    if plan.origin_tls is not None:
        declared += OriginTls.declarations(plan.name, plan.origin_tls).all()
    for name, workload in plan.apps.items():
        declared += AppWorkload.declarations(name, workload).all()
    for name, dns in plan.dns.items():
        declared += AppDns.declarations(name, dns).all()
    return declared


def quota_for(spec: TenantSpec) -> QuotaArgs:
    """The namespace's quota: every app's replicas plus one surge pod for apps rolled without a volume.

    Derived from the desired replicas whatever the lifecycle state, so suspending or resuming a namespace does
    not touch its quota.
    """
    pods = cpu = memory = 0
    for app in spec.apps:
        app_pods = app.replicas + (1 if app.volume is None and app.replicas > 0 else 0)
        pods += app_pods
        cpu += app_pods * app.cpu_millicores
        memory += app_pods * app.memory_mib
    volumes = [app.volume for app in spec.apps if app.volume is not None]
    return QuotaArgs(
        pods=pods,
        cpu_millicores=cpu,
        memory_mib=memory,
        storage_gib=sum(volume.size_gib for volume in volumes),
        persistent_volume_claims=len(volumes),
    )


def _namespace_args(spec: TenantSpec) -> TenantNamespaceArgs:
    platform = spec.platform
    return TenantNamespaceArgs(
        name=spec.namespace,
        namespace_id=spec.namespace_id,
        account_id=spec.account_id,
        host_suffix=spec.host_suffix,
        display_name=spec.display_name,
        base_domain=platform.base_domain,
        verified_domains=spec.verified_domains,
        pod_security_version=f"v{platform.kubernetes_version}",
        quota=quota_for(spec),
        max_container_cpu_millicores=platform.max_app_cpu_millicores,
        max_container_memory_mib=platform.max_app_memory_mib,
        max_volume_size_gib=platform.max_volume_size_gib,
        await_readiness=platform.kubernetes.await_readiness,
    )


def _network_policies_args(spec: TenantSpec, labels: dict[str, str]) -> NetworkPoliciesArgs:
    platform = spec.platform
    return NetworkPoliciesArgs(
        namespace=spec.namespace,
        ingress_namespace=platform.ingress_namespace,
        ingress_ports=tuple(app.public_port.port for app in spec.apps if app.public_port is not None),
        cluster_private_cidrs=platform.cluster_private_cidrs,
        labels=labels,
        await_readiness=platform.kubernetes.await_readiness,
    )


def _origin_tls_args(spec: TenantSpec, labels: dict[str, str]) -> OriginTlsArgs | None:
    if spec.platform.cloudflare is None or spec.origin_tls is None or not spec.public_apps:
        return None
    return OriginTlsArgs(
        namespace=spec.namespace,
        secret_name=ORIGIN_TLS_SECRET,
        hostnames=tuple(spec.platform_hostname(app) for app in spec.public_apps),
        csr=spec.origin_tls.csr,
        private_key=spec.origin_tls.private_key,
        request_type=spec.origin_tls.request_type,
        validity_days=spec.origin_tls.validity_days,
        labels=labels,
        await_readiness=spec.platform.kubernetes.await_readiness,
    )


def _workload_args(
    spec: TenantSpec, app: AppSpec, labels: dict[str, str], origin_tls: OriginTlsArgs | None
) -> AppWorkloadArgs:
    active = spec.lifecycle is LifecycleState.ACTIVE
    platform = spec.platform
    volume = None
    if app.volume is not None:
        volume = AppVolumeArgs(
            size_gib=app.volume.size_gib,
            mount_path=app.volume.mount_path,
            storage_class=platform.storage_class,
            claim_declared=spec.lifecycle is not LifecycleState.VOLUMES_RELEASED,
        )
    ingress = None
    if active and app.public_port is not None:
        ingress = AppIngressArgs(
            hosts=spec.hostnames(app),
            ingress_class=platform.ingress_class,
            tls_secret_name=origin_tls.secret_name if origin_tls is not None else None,
        )
    return AppWorkloadArgs(
        namespace=spec.namespace,
        name=app.name,
        image=app.image,
        replicas=app.replicas if active else 0,
        cpu_millicores=app.cpu_millicores,
        memory_mib=app.memory_mib,
        ports=app.ports,
        env=app.env,
        volume=volume,
        health_check_path=app.health_check_path,
        run_as_user=app.run_as_user,
        labels=labels,
        ingress=ingress,
        await_readiness=platform.kubernetes.await_readiness,
    )


def _dns_args(spec: TenantSpec) -> dict[str, AppDnsArgs]:
    cf = spec.platform.cloudflare
    if cf is None:
        return {}
    active = spec.lifecycle is LifecycleState.ACTIVE
    return {
        app.name: AppDnsArgs(
            zone_id=cf.zone_id,
            hostname=spec.platform_hostname(app),
            target=cf.load_balancer_hostname,
            publish_record=active,
            custom_domains=app.custom_domains,
            ssl_method=cf.ssl_method,
            comment=f"controlplane namespace {spec.namespace}",
        )
        for app in spec.public_apps
        if active or app.custom_domains  # nothing to declare: no public record while not active
    }


def _kubernetes_provider(spec: TenantSpec) -> Declaration[k8s.Provider]:
    settings = spec.platform.kubernetes
    return Declaration(
        k8s.Provider,
        "kubernetes",
        {
            "kubeconfig": Secret(settings.kubeconfig.get_secret_value()) if settings.kubeconfig is not None else None,
            "context": settings.context,
            "render_yaml_to_directory": settings.render_yaml_to_directory,
            "enable_server_side_apply": settings.enable_server_side_apply,
            # Every object names its namespace; nothing may land in the kubeconfig's default one.
            "namespace": spec.namespace,
        },
    )


def _cloudflare_provider(spec: TenantSpec) -> Declaration[cloudflare.Provider] | None:
    settings = spec.platform.cloudflare
    if settings is None:
        return None
    return Declaration(
        cloudflare.Provider,
        "cloudflare",
        {"api_token": Secret(settings.api_token.get_secret_value()), "base_url": settings.base_url},
    )
