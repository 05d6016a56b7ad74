"""The tenant program: one namespace's stack, assembled from the tenant components."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_kubernetes as k8s

from programs.components.common import Component
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


class Tenant(Component):
    """`controlplane:tenant:Tenant`: the explicit providers and every component of one namespace."""

    kubernetes_provider: k8s.Provider
    cloudflare_provider: cloudflare.Provider | None
    namespace: TenantNamespace
    network_policies: TenantNetworkPolicies
    origin_tls: OriginTls | None
    apps: dict[str, AppWorkload]
    dns: dict[str, AppDns]
    namespace_name: pulumi.Output[str]
    app_outputs: dict[str, dict[str, Any]]

    def __init__(self, spec: TenantSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("controlplane:tenant:Tenant", spec.namespace, opts)
        active = spec.lifecycle is LifecycleState.ACTIVE
        platform = spec.platform
        await_readiness = platform.kubernetes.await_readiness
        self.kubernetes_provider = _kubernetes_provider(spec, self)
        self.cloudflare_provider = _cloudflare_provider(spec, self)
        providers: list[pulumi.ProviderResource] = [self.kubernetes_provider]
        if self.cloudflare_provider is not None:
            providers.append(self.cloudflare_provider)

        def opts_for(depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
            return self.child_opts(providers=providers, depends_on=depends_on or ())

        namespace_args = TenantNamespaceArgs(
            name=spec.namespace,
            account_id=spec.account_id,
            pod_security_version=f"v{platform.kubernetes_version}",
            quota=quota_for(spec),
            max_container_cpu_millicores=platform.max_app_cpu_millicores,
            max_container_memory_mib=platform.max_app_memory_mib,
            max_volume_size_gib=platform.max_volume_size_gib,
            await_readiness=await_readiness,
        )
        labels = namespace_args.labels()
        self.namespace = TenantNamespace(spec.namespace, namespace_args, opts_for())
        self.network_policies = TenantNetworkPolicies(
            spec.namespace,
            NetworkPoliciesArgs(
                namespace=spec.namespace,
                ingress_namespace=platform.ingress_namespace,
                ingress_ports=tuple(app.public_port.port for app in spec.apps if app.public_port is not None),
                cluster_private_cidrs=platform.cluster_private_cidrs,
                labels=labels,
                await_readiness=await_readiness,
            ),
            opts_for([self.namespace]),
        )

        cf = platform.cloudflare
        self.origin_tls = None
        if cf is not None and spec.origin_tls is not None and spec.public_apps:
            self.origin_tls = OriginTls(
                spec.namespace,
                OriginTlsArgs(
                    namespace=spec.namespace,
                    secret_name=ORIGIN_TLS_SECRET,
                    hostnames=tuple(spec.platform_hostname(app) for app in spec.public_apps),
                    csr=spec.origin_tls.csr,
                    private_key=spec.origin_tls.private_key,
                    request_type=spec.origin_tls.request_type,
                    validity_days=spec.origin_tls.validity_days,
                    labels=labels,
                    await_readiness=await_readiness,
                ),
                opts_for([self.namespace]),
            )

        app_dependencies: list[pulumi.Resource] = [self.namespace, self.network_policies]
        if self.origin_tls is not None:
            app_dependencies.append(self.origin_tls)
        self.apps = {
            app.name: AppWorkload(
                app.name, _workload_args(spec, app, labels, self.origin_tls), opts_for(app_dependencies)
            )
            for app in spec.apps
        }
        self.dns = {}
        if cf is not None:
            for app in spec.public_apps:
                if not active and not app.custom_domains:
                    continue  # nothing to declare: no public record while not active
                self.dns[app.name] = AppDns(
                    app.name,
                    AppDnsArgs(
                        zone_id=cf.zone_id,
                        hostname=spec.platform_hostname(app),
                        target=cf.load_balancer_hostname,
                        publish_record=active,
                        custom_domains=app.custom_domains,
                        ssl_method=cf.ssl_method,
                        comment=f"controlplane namespace {spec.namespace}",
                    ),
                    opts_for(),
                )

        self.namespace_name = self.namespace.name
        self.app_outputs = {app.name: self._app_outputs(spec, app) for app in spec.apps}
        self.register_outputs({"namespace": self.namespace_name, "apps": self.app_outputs})

    def _app_outputs(self, spec: TenantSpec, app: AppSpec) -> dict[str, Any]:
        workload = self.apps[app.name]
        dns = self.dns.get(app.name)
        public = app.public_port is not None
        certificate: dict[str, Any] | None = None
        if public and self.origin_tls is not None:
            certificate = {"issuer": "cloudflare-origin-ca", "expires_on": self.origin_tls.expires_on}
        return {
            "hostnames": list(spec.hostnames(app)),
            "platform_hostname": spec.platform_hostname(app) if public else None,
            "routed": workload.ingress is not None,
            "dns_record": dns is not None and dns.record is not None,
            "certificate": certificate,
            "custom_hostnames": dict(dns.custom_hostname_statuses) if dns is not None else {},
            "volume_id": workload.volume_id,
        }


def tenant_program(spec: TenantSpec) -> None:
    """Declare the namespace's stack and export its outputs; the body of an inline Automation API program."""
    tenant = Tenant(spec)
    pulumi.export("namespace", tenant.namespace_name)
    pulumi.export("lifecycle", spec.lifecycle.value)
    pulumi.export("apps", tenant.app_outputs)


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


def _workload_args(
    spec: TenantSpec, app: AppSpec, labels: dict[str, str], origin_tls: OriginTls | None
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


def _kubernetes_provider(spec: TenantSpec, parent: pulumi.Resource) -> k8s.Provider:
    settings = spec.platform.kubernetes
    return k8s.Provider(
        "kubernetes",
        kubeconfig=(
            pulumi.Output.secret(settings.kubeconfig.get_secret_value()) if settings.kubeconfig is not None else None
        ),
        context=settings.context,
        render_yaml_to_directory=settings.render_yaml_to_directory,
        enable_server_side_apply=settings.enable_server_side_apply,
        # Every object names its namespace; nothing may land in the kubeconfig's default one.
        namespace=spec.namespace,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _cloudflare_provider(spec: TenantSpec, parent: pulumi.Resource) -> cloudflare.Provider | None:
    settings = spec.platform.cloudflare
    if settings is None:
        return None
    return cloudflare.Provider(
        "cloudflare",
        api_token=pulumi.Output.secret(settings.api_token.get_secret_value()),
        base_url=settings.base_url,
        opts=pulumi.ResourceOptions(parent=parent),
    )
