"""The tenant program: one namespace's stack, assembled from the tenant components."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_kubernetes as k8s

from programs.components.common import Component
from programs.components.tenant import AppDns, AppWorkload, OriginTls, TenantNamespace, TenantNetworkPolicies
from programs.tenant.plan import plan_tenant
from programs.tenant.spec import AppSpec, TenantSpec


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
        plan = plan_tenant(spec)
        self.kubernetes_provider = plan.kubernetes_provider.declare(pulumi.ResourceOptions(parent=self))
        self.cloudflare_provider = None
        providers: list[pulumi.ProviderResource] = [self.kubernetes_provider]
        if plan.cloudflare_provider is not None:
            self.cloudflare_provider = plan.cloudflare_provider.declare(pulumi.ResourceOptions(parent=self))
            providers.append(self.cloudflare_provider)

        def opts_for(depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
            return self.child_opts(providers=providers, depends_on=depends_on or ())

        self.namespace = TenantNamespace(plan.name, plan.namespace, opts_for())
        self.network_policies = TenantNetworkPolicies(plan.name, plan.network_policies, opts_for([self.namespace]))
        self.origin_tls = None
        if plan.origin_tls is not None:
            self.origin_tls = OriginTls(plan.name, plan.origin_tls, opts_for([self.namespace]))

        app_dependencies: list[pulumi.Resource] = [self.namespace, self.network_policies]
        if self.origin_tls is not None:
            app_dependencies.append(self.origin_tls)
        self.apps = {name: AppWorkload(name, args, opts_for(app_dependencies)) for name, args in plan.apps.items()}
        self.dns = {name: AppDns(name, args, opts_for()) for name, args in plan.dns.items()}

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
