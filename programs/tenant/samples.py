"""Sample tenant specs for tests, benchmarks and the offline policy check.

Deterministic and free of real secrets: the kubeconfig, API token and key pair are placeholders that only work
under Pulumi's mocks (or, with `render_yaml_to_directory`, with no cluster at all).
"""

from __future__ import annotations

from pydantic import SecretStr

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

BASE_DOMAIN = "apps.example.net"
ZONE_ID = "0123456789abcdef0123456789abcdef"
LOAD_BALANCER_HOSTNAME = "ingress-0123456789.elb.us-east-1.amazonaws.com"
PLACEHOLDER_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: sample, cluster: {server: "https://127.0.0.1:6443"}}]
contexts: [{name: sample, context: {cluster: sample, user: sample}}]
current-context: sample
users: [{name: sample, user: {token: placeholder}}]
"""
PLACEHOLDER_CSR = "-----BEGIN CERTIFICATE REQUEST-----\nUExBQ0VIT0xERVI=\n-----END CERTIFICATE REQUEST-----\n"
PLACEHOLDER_KEY = "-----BEGIN EC PRIVATE KEY-----\nUExBQ0VIT0xERVI=\n-----END EC PRIVATE KEY-----\n"

LIFECYCLE_STATES = tuple(LifecycleState)
SAMPLE_NAMESPACE_ID = "5a3f0c2e9b6d4e71a8c4d2b0e6f1a9c3"
SAMPLE_HOST_SUFFIX = "k3x9q2ab"


def platform_settings(
    *, cloudflare: bool = True, render_yaml_to_directory: str | None = None, kubernetes_version: str = "1.34"
) -> PlatformSettings:
    kubernetes = (
        KubernetesProviderSettings(render_yaml_to_directory=render_yaml_to_directory)
        if render_yaml_to_directory is not None
        else KubernetesProviderSettings(kubeconfig=SecretStr(PLACEHOLDER_KUBECONFIG))
    )
    return PlatformSettings(
        base_domain=BASE_DOMAIN,
        storage_class="gp3-encrypted",
        cluster_private_cidrs=("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
        kubernetes_version=kubernetes_version,
        allowed_registries=("ghcr.io", "docker.io", "public.ecr.aws"),
        kubernetes=kubernetes,
        cloudflare=(
            CloudflareSettings(
                api_token=SecretStr("placeholder-token"),
                zone_id=ZONE_ID,
                load_balancer_hostname=LOAD_BALANCER_HOSTNAME,
            )
            if cloudflare
            else None
        ),
    )


def origin_tls() -> OriginTlsSpec:
    return OriginTlsSpec(csr=SecretStr(PLACEHOLDER_CSR), private_key=SecretStr(PLACEHOLDER_KEY))


def web_app(name: str = "web", *, custom_domains: tuple[str, ...] = ()) -> AppSpec:
    """A stateless public web app."""
    return AppSpec(
        name=name,
        image="ghcr.io/example/web:1.4.2",
        replicas=2,
        cpu_millicores=250,
        memory_mib=256,
        ports=(ContainerPort(name="http", port=8080, public=True),),
        env={"LOG_LEVEL": "info"},
        health_check_path="/healthz",
        custom_domains=custom_domains,
    )


def api_app(name: str = "api") -> AppSpec:
    """A public API with a persistent volume, secrets in its env and a metrics port."""
    return AppSpec(
        name=name,
        image="docker.io/example/api@sha256:" + "a" * 64,
        replicas=1,
        cpu_millicores=500,
        memory_mib=512,
        ports=(
            ContainerPort(name="http", port=8000, public=True),
            ContainerPort(name="metrics", port=9090),
        ),
        env={"DATABASE_URL": "sqlite:////data/app.db", "SECRET_KEY": "placeholder"},
        volume=AppVolume(size_gib=10, mount_path="/data"),
        health_check_path="/health",
    )


def worker_app(name: str = "worker") -> AppSpec:
    """An internal worker: no public port, no hostname."""
    return AppSpec(
        name=name,
        image="public.ecr.aws/example/worker:2.0.0",
        replicas=1,
        cpu_millicores=100,
        memory_mib=128,
        ports=(ContainerPort(name="admin", port=8081),),
    )


def multi_app_spec(
    lifecycle: LifecycleState = LifecycleState.ACTIVE,
    *,
    namespace: str = "acme-shop",
    cloudflare: bool = True,
    render_yaml_to_directory: str | None = None,
) -> TenantSpec:
    """Three apps (public with a verified custom domain, public with a volume, internal) in the given state."""
    domains = ("shop.example.com", "www.example.org")
    return TenantSpec(
        namespace=namespace,
        namespace_id=SAMPLE_NAMESPACE_ID,
        display_name="acme-shop",
        host_suffix=SAMPLE_HOST_SUFFIX,
        account_id="acct-0001",
        lifecycle=lifecycle,
        platform=platform_settings(cloudflare=cloudflare, render_yaml_to_directory=render_yaml_to_directory),
        origin_tls=origin_tls() if cloudflare else None,
        verified_domains=domains,
        apps=(web_app(custom_domains=domains), api_app(), worker_app()),
    )


def spec_with_apps(
    count: int, *, lifecycle: LifecycleState = LifecycleState.ACTIVE, cloudflare: bool = True
) -> TenantSpec:
    """`count` apps cycling through the three shapes above (for benchmarks)."""
    makers = (web_app, api_app, worker_app)
    apps = tuple(makers[index % 3](f"app{index}") for index in range(count))
    return TenantSpec(
        namespace="t-bench000",
        namespace_id="b" * 32,
        display_name="bench",
        host_suffix="bench000",
        account_id="acct-bench",
        lifecycle=lifecycle,
        platform=platform_settings(cloudflare=cloudflare),
        origin_tls=origin_tls() if cloudflare else None,
        apps=apps,
    )


def samples() -> dict[str, TenantSpec]:
    """Named sample specs: the multi-app namespace in every lifecycle state, with and without Cloudflare, and
    an empty namespace."""
    named: dict[str, TenantSpec] = {}
    for state in LIFECYCLE_STATES:
        named[f"multi-app-{state.value}"] = multi_app_spec(state)
        named[f"multi-app-{state.value}-no-cloudflare"] = multi_app_spec(state, cloudflare=False)
    named["empty"] = TenantSpec(
        namespace="t-empty000",
        namespace_id="e" * 32,
        display_name="empty",
        host_suffix="empty000",
        account_id="acct-0002",
        platform=platform_settings(cloudflare=True),
    )
    return named
