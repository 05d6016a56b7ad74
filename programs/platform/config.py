"""`PlatformConfig`: the platform stack's settings, read from `stacks/Pulumi.<stack>.yaml` and validated.

Keys are camelCase in the stack file (`platform:cluster: {kubernetesVersion: "1.34"}`) and snake_case here.
No secret lives in this model: the Cloudflare API token is the provider's own secret config
(`pulumi config set --secret cloudflare:apiToken`), passed to the program separately.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from programs.components import validation

REGION = "us-east-1"
EksLogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
EKS_LOG_TYPES: tuple[EksLogType, ...] = ("api", "audit", "authenticator", "controllerManager", "scheduler")


class ConfigModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class NetworkConfig(ConfigModel):
    cidr: IPv4Network
    availability_zones: tuple[str, ...] = Field(min_length=2, max_length=6)
    public_subnet_cidrs: tuple[IPv4Network, ...]
    private_subnet_cidrs: tuple[IPv4Network, ...]
    single_nat_gateway: bool = Field(default=False, description="one NAT gateway instead of one per zone (dev)")

    @field_validator("availability_zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for zone in value:
            if not (zone.startswith(REGION) and len(zone) == len(REGION) + 1 and zone[-1].isalpha()):
                raise ValueError(f"availability zone {zone!r} is not a zone of {REGION}")
        if len(set(value)) != len(value):
            raise ValueError("availability zones must be unique")
        return value

    @model_validator(mode="after")
    def _subnets(self) -> Self:
        zones = len(self.availability_zones)
        subnets = (*self.public_subnet_cidrs, *self.private_subnet_cidrs)
        if len(self.public_subnet_cidrs) != zones or len(self.private_subnet_cidrs) != zones:
            raise ValueError("give one public and one private subnet CIDR per availability zone")
        for subnet in subnets:
            if not subnet.subnet_of(self.cidr):
                raise ValueError(f"subnet {subnet} is not inside the VPC CIDR {self.cidr}")
        for index, subnet in enumerate(subnets):
            for other in subnets[index + 1 :]:
                if subnet.overlaps(other):
                    raise ValueError(f"subnets {subnet} and {other} overlap")
        return self


class NodeGroupConfig(ConfigModel):
    instance_types: tuple[str, ...] = Field(min_length=1)
    min_size: int = Field(ge=1)
    desired_size: int = Field(ge=1)
    max_size: int = Field(ge=1)
    disk_size_gib: int = Field(default=50, ge=20)
    ami_type: str = "AL2023_x86_64_STANDARD"
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"

    @model_validator(mode="after")
    def _sizes(self) -> Self:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError("node group sizes must satisfy minSize <= desiredSize <= maxSize")
        return self


class ClusterConfig(ConfigModel):
    name: str
    kubernetes_version: str = Field(pattern=r"^1\.\d+$", description="pinned, e.g. '1.34'")
    public_access_cidrs: tuple[IPv4Network, ...] = Field(
        min_length=1, description="who may reach the public API endpoint (operators, the control plane)"
    )
    service_cidr: IPv4Network = Field(
        default=IPv4Network("172.20.0.0/16"), description="ClusterIP range; tenants' egress excludes it"
    )
    log_types: tuple[EksLogType, ...] = EKS_LOG_TYPES
    log_retention_days: int = Field(default=90, ge=1)
    node_group: NodeGroupConfig
    ebs_csi_addon_version: str | None = None
    vpc_cni_addon_version: str | None = None
    deletion_protection: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validation.dns1123_label(value, what="cluster name")

    @field_validator("public_access_cidrs")
    @classmethod
    def _restricted(cls, value: tuple[IPv4Network, ...]) -> tuple[IPv4Network, ...]:
        if any(cidr.prefixlen == 0 for cidr in value):
            raise ValueError("the public endpoint must be restricted: 0.0.0.0/0 is not allowed")
        return value

    @field_validator("log_types")
    @classmethod
    def _logs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not {"api", "audit", "authenticator"} <= set(value):
            raise ValueError("control-plane logging must include at least api, audit and authenticator")
        return value


class StorageConfig(ConfigModel):
    storage_class_name: str = "gp3-encrypted"
    default_class: bool = True

    @field_validator("storage_class_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validation.dns1123_label(value, what="storage class")


class IngressConfig(ConfigModel):
    namespace: str = "ingress-nginx"
    class_name: str = "nginx"
    chart_version: str = Field(default="4.13.3", pattern=r"^\d+\.\d+\.\d+$")
    replicas: int = Field(default=2, ge=1)

    @field_validator("namespace", "class_name")
    @classmethod
    def _label(cls, value: str) -> str:
        return validation.dns1123_label(value)


class CloudflareConfig(ConfigModel):
    zone_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    base_domain: str
    fallback_origin_label: str = "fallback"
    certificate_authority: Literal["google", "lets_encrypt", "ssl_com"] = "google"
    certificate_validity_days: Literal[14, 30, 90, 365] = 90
    min_tls_version: Literal["1.2", "1.3"] = "1.2"

    @field_validator("base_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return validation.hostname(value, what="base domain")

    @field_validator("fallback_origin_label")
    @classmethod
    def _label(cls, value: str) -> str:
        return validation.dns1123_label(value, what="fallback origin label")


class DeployerConfig(ConfigModel):
    """The control plane's worker identity: an IAM role mapped to a Kubernetes group through an access entry."""

    role_arn: str = Field(pattern=r"^arn:aws:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$")
    group: str = "controlplane-deployers"

    @field_validator("group")
    @classmethod
    def _group(cls, value: str) -> str:
        if value.startswith("system:"):
            raise ValueError("the deployer group may not be a system: group")
        return value


class PlatformConfig(ConfigModel):
    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{0,15}$")
    region: str = REGION
    aws_account_id: str | None = Field(default=None, pattern=r"^\d{12}$", description="refuse any other account")
    network: NetworkConfig
    cluster: ClusterConfig
    storage: StorageConfig = StorageConfig()
    ingress: IngressConfig = IngressConfig()
    cloudflare: CloudflareConfig | None = None
    deployer: DeployerConfig | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value != REGION:
            raise ValueError(f"region must be {REGION}: deployments run in AWS {REGION} only")
        return value

    @model_validator(mode="after")
    def _service_range(self) -> Self:
        if self.cluster.service_cidr.overlaps(self.network.cidr):
            raise ValueError(
                f"cluster.serviceCidr {self.cluster.service_cidr} overlaps the VPC CIDR {self.network.cidr}"
            )
        return self

    @property
    def cluster_private_cidrs(self) -> tuple[IPv4Network, ...]:
        """The ranges tenants' egress must exclude: the VPC (nodes and pods) and the Service range."""
        return (self.network.cidr, self.cluster.service_cidr)
