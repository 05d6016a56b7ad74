"""`TenantSpec`: everything the tenant program needs to declare one namespace's stack, validated up front.

The control plane builds a `TenantSpec` from its desired state; constructing it raises
`pydantic.ValidationError` for an invalid spec, with the location of the offending field, before the program
declares any resource. The spec is immutable.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Network
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from programs.components import validation
from programs.components.tenant.app import AppName, EnvName, ImageReference
from programs.components.tenant.app_dns import CustomDomains, SslMethod
from programs.components.tenant.models import ContainerPort, check_ports
from programs.components.tenant.origin_tls import OriginRequestType, OriginValidityDays
from programs.tenant import identity

__all__ = [
    "AppSpec",
    "AppVolume",
    "CloudflareSettings",
    "ContainerPort",
    "KubernetesProviderSettings",
    "LifecycleState",
    "OriginTlsSpec",
    "PlatformSettings",
    "TenantSpec",
]

MAX_APPS = 50
MAX_ENV_VARS = 200
MAX_ENV_BYTES = 256 * 1024


class SpecModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LifecycleState(StrEnum):
    """`suspended`: replicas 0, no Ingress, no DNS record, volumes kept. `volumes_released`: suspended and the
    volume claims removed (their EBS volumes are deleted). Deletion is a stack destroy, not a state."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    VOLUMES_RELEASED = "volumes_released"


class KubernetesProviderSettings(SpecModel):
    """How the program reaches the cluster: exactly one of `kubeconfig` and `render_yaml_to_directory`."""

    kubeconfig: SecretStr | None = None
    context: str | None = None
    render_yaml_to_directory: str | None = Field(
        default=None, description="write manifests to this directory instead of applying them (end-to-end tests)"
    )
    enable_server_side_apply: bool = True
    await_readiness: bool = Field(
        default=True,
        description=(
            'false: annotate every object with `pulumi.com/skipAwait: "true"` so that Pulumi does not wait for'
            " readiness (nor, for namespaces and workloads, for deletion to finish); for clusters without workload"
            " controllers, e.g. tests against a bare API server"
        ),
    )

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.kubeconfig is None) == (self.render_yaml_to_directory is None):
            raise ValueError("set exactly one of kubeconfig and render_yaml_to_directory")
        return self


class CloudflareSettings(SpecModel):
    """The platform zone. Without these settings the program declares no DNS record and no certificate."""

    api_token: SecretStr
    zone_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    zone_name: str | None = Field(default=None, description="the zone apex, when above the base domain")
    load_balancer_hostname: str = Field(description="the ingress load balancer: the apps' CNAME target")
    base_url: str | None = Field(default=None, pattern=r"^https?://", description="API base URL override")
    ssl_method: SslMethod = Field(default="http", description="custom hostnames' certificate validation method")

    @field_validator("zone_name", "load_balancer_hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        return None if value is None else validation.hostname(value)


class PlatformSettings(SpecModel):
    """The platform stack's outputs and limits a tenant namespace depends on."""

    base_domain: str
    ingress_class: str = "nginx"
    ingress_namespace: str = "ingress-nginx"
    storage_class: str
    cluster_private_cidrs: tuple[IPv4Network, ...] = Field(min_length=1)
    kubernetes_version: str = Field(default="1.34", pattern=r"^1\.\d+$")
    max_volume_size_gib: int = Field(default=100, ge=1, le=16384)
    max_app_cpu_millicores: int = Field(default=4000, ge=100)
    max_app_memory_mib: int = Field(default=8192, ge=128)
    max_replicas: int = Field(default=10, ge=1)
    allowed_registries: tuple[str, ...] = Field(
        default=(), description="registries or repository prefixes images may come from; empty: any"
    )
    reserved_zones: tuple[str, ...] = Field(
        default=(), description="the platform's own DNS zones besides the base domain (its API, its site)"
    )
    kubernetes: KubernetesProviderSettings
    cloudflare: CloudflareSettings | None = None

    @field_validator("base_domain")
    @classmethod
    def _base_domain(cls, value: str) -> str:
        return validation.hostname(value, what="base domain")

    @field_validator("ingress_class", "storage_class")
    @classmethod
    def _class(cls, value: str) -> str:
        return validation.dns1123_label(value)

    @field_validator("ingress_namespace")
    @classmethod
    def _ingress_namespace(cls, value: str) -> str:
        return validation.dns1123_label(value, what="namespace")

    @field_validator("allowed_registries")
    @classmethod
    def _registries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(entry.strip().rstrip("/").lower() for entry in value if entry.strip())

    @field_validator("reserved_zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(validation.hostname(zone, what="reserved zone") for zone in value)

    @property
    def own_zones(self) -> tuple[str, ...]:
        zones = [self.base_domain, *self.reserved_zones]
        if self.cloudflare is not None and self.cloudflare.zone_name is not None:
            zones.append(self.cloudflare.zone_name)
        return tuple(zones)


class OriginTlsSpec(SpecModel):
    """The namespace's origin key pair, generated once by the control plane and kept with the namespace."""

    csr: SecretStr
    private_key: SecretStr
    request_type: OriginRequestType = "origin-ecc"
    validity_days: OriginValidityDays = 5475


class AppVolume(SpecModel):
    size_gib: int = Field(ge=1, description="at most the platform's max_volume_size_gib")
    mount_path: str

    @field_validator("mount_path")
    @classmethod
    def _mount_path(cls, value: str) -> str:
        return validation.mount_path(value)


class AppSpec(SpecModel):
    name: AppName
    image: ImageReference = Field(description="a pinned image reference: a version tag (not 'latest') or a digest")
    replicas: int = Field(default=1, ge=0)
    cpu_millicores: int = Field(default=250, ge=10)
    memory_mib: int = Field(default=256, ge=16)
    ports: tuple[ContainerPort, ...] = Field(min_length=1)
    env: dict[EnvName, str] = Field(default_factory=dict)
    volume: AppVolume | None = None
    health_check_path: str = "/"
    custom_domains: CustomDomains = ()
    run_as_user: int = Field(default=10001, ge=1, le=2**31 - 1)

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_ENV_VARS:
            raise ValueError(f"at most {MAX_ENV_VARS} environment variables")
        if sum(len(key) + len(item.encode()) for key, item in value.items()) > MAX_ENV_BYTES:
            raise ValueError(f"environment variables exceed {MAX_ENV_BYTES} bytes")
        return value

    @field_validator("health_check_path")
    @classmethod
    def _health(cls, value: str) -> str:
        return validation.health_check_path(value)

    @model_validator(mode="after")
    def _ports(self) -> Self:
        check_ports(self.ports, prefix="ports: ")
        if self.custom_domains and self.public_port is None:
            raise ValueError("custom_domains: an app with custom domains needs a public port")
        return self

    @property
    def public_port(self) -> ContainerPort | None:
        return next((port for port in self.ports if port.public), None)


class TenantSpec(SpecModel):
    """One namespace's desired state: its identity, its lifecycle state, the platform it runs on, its apps.

    Identity (see `programs.tenant.identity`): `namespace` is the Kubernetes namespace (the cluster name, never
    reused), `namespace_id` and `account_id` label every object, `display_name` is the tenant's own name for it
    (an annotation, and the readable part of its hostnames), `host_suffix` ends every platform hostname.
    `verified_domains` are the custom domains whose control the owner proved: an app may route only those.
    """

    namespace: str
    namespace_id: str
    display_name: str
    host_suffix: str = Field(pattern=identity.HOST_SUFFIX_PATTERN)
    account_id: str
    verified_domains: tuple[str, ...] = ()
    lifecycle: LifecycleState = LifecycleState.ACTIVE
    platform: PlatformSettings
    origin_tls: OriginTlsSpec | None = Field(
        default=None, description="required when Cloudflare is configured and an app has a public port"
    )
    apps: tuple[AppSpec, ...] = Field(default=(), max_length=MAX_APPS)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        validation.dns1123_label(value, what="namespace")
        if identity.is_platform_namespace(value):
            raise ValueError(f"namespace {value!r} is reserved for the cluster and the platform")
        return value

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str) -> str:
        return validation.dns1123_label(value, what="display name")

    @field_validator("account_id", "namespace_id")
    @classmethod
    def _label_values(cls, value: str) -> str:
        return validation.label_value(value, what="account or namespace id")

    @field_validator("verified_domains")
    @classmethod
    def _verified_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({validation.custom_domain(domain) for domain in value}))

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        platform = self.platform
        if self.namespace == platform.ingress_namespace:
            raise ValueError(f"namespace: {self.namespace!r} is the ingress controller's namespace")
        seen_apps: set[str] = set()
        seen_domains: dict[str, str] = {}
        for index, app in enumerate(self.apps):
            where = f"apps[{index}]"
            if app.name in seen_apps:
                raise ValueError(f"{where}.name: duplicate app name {app.name!r}")
            seen_apps.add(app.name)
            image = validation.parse_image_reference(app.image)
            if not validation.image_allowed(image, platform.allowed_registries):
                raise ValueError(
                    f"{where}.image: {app.image!r} is not from an allowed registry "
                    f"({', '.join(platform.allowed_registries)})"
                )
            if app.replicas > platform.max_replicas:
                raise ValueError(f"{where}.replicas: {app.replicas} exceeds the maximum of {platform.max_replicas}")
            if app.cpu_millicores > platform.max_app_cpu_millicores:
                raise ValueError(
                    f"{where}.cpu_millicores: {app.cpu_millicores} exceeds the maximum of "
                    f"{platform.max_app_cpu_millicores}"
                )
            if app.memory_mib > platform.max_app_memory_mib:
                raise ValueError(
                    f"{where}.memory_mib: {app.memory_mib} exceeds the maximum of {platform.max_app_memory_mib}"
                )
            if app.volume is not None and app.volume.size_gib > platform.max_volume_size_gib:
                raise ValueError(
                    f"{where}.volume.size_gib: {app.volume.size_gib} is out of range "
                    f"(1 to {platform.max_volume_size_gib})"
                )
            for domain_index, domain in enumerate(app.custom_domains):
                field = f"{where}.custom_domains[{domain_index}]"
                zone = next((z for z in platform.own_zones if validation.is_same_or_subdomain(domain, z)), None)
                if zone is not None:
                    raise ValueError(f"{field}: {domain!r} is under the platform's own zone {zone!r}")
                if domain in seen_domains:
                    raise ValueError(f"{field}: {domain!r} is already used by app {seen_domains[domain]!r}")
                if domain not in self.verified_domains:
                    raise ValueError(f"{field}: {domain!r} is not a verified domain of this namespace")
                seen_domains[domain] = app.name
        if platform.cloudflare is not None and self.origin_tls is None and self.public_apps:
            raise ValueError("origin_tls: required when Cloudflare is configured and an app has a public port")
        return self

    @property
    def public_apps(self) -> tuple[AppSpec, ...]:
        return tuple(app for app in self.apps if app.public_port is not None)

    def platform_hostname(self, app: AppSpec) -> str:
        """`<app>-<display name>-<host suffix>.<base domain>`: one label under the base domain (one wildcard
        covers it), never the same for two namespaces or two apps (`identity.platform_host_label`)."""
        label = identity.platform_host_label(app.name, self.display_name, self.host_suffix)
        return f"{label}.{self.platform.base_domain}"

    def hostnames(self, app: AppSpec) -> tuple[str, ...]:
        """Every hostname the app answers on (none without a public port)."""
        if app.public_port is None:
            return ()
        return (self.platform_hostname(app), *app.custom_domains)
