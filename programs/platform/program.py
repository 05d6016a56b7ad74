"""The platform program: network, EKS, storage, ingress, deployer RBAC and the Cloudflare zone."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_cloudflare as cloudflare
import pulumi_kubernetes as k8s

from programs.components.platform import (
    DeployerRbac,
    DeployerRbacArgs,
    EksCluster,
    EksClusterArgs,
    EncryptedStorageClass,
    EncryptedStorageClassArgs,
    IngressController,
    IngressControllerArgs,
    Network,
    NetworkArgs,
    NodeGroupArgs,
    PlatformZone,
    PlatformZoneArgs,
)
from programs.platform.config import PlatformConfig


def platform_program(config: PlatformConfig, cloudflare_api_token: pulumi.Input[str] | None = None) -> None:
    """Declare the platform and export what tenant stacks need (the `PlatformSettings` fields' names)."""
    tags = {"controlplane.io/environment": config.environment, "managed-by": "pulumi", **config.tags}
    aws_provider = aws.Provider(
        "aws",
        region=config.region,
        allowed_account_ids=[config.aws_account_id] if config.aws_account_id else None,
        default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
    )
    on_aws = pulumi.ResourceOptions(providers=[aws_provider])
    cluster_name = config.cluster.name

    network = Network(
        "network",
        NetworkArgs(
            name=cluster_name,
            cidr=config.network.cidr,
            availability_zones=config.network.availability_zones,
            public_subnet_cidrs=config.network.public_subnet_cidrs,
            private_subnet_cidrs=config.network.private_subnet_cidrs,
            single_nat_gateway=config.network.single_nat_gateway,
            cluster_name=cluster_name,
        ),
        on_aws,
    )
    cluster = EksCluster(
        "cluster",
        EksClusterArgs(
            name=cluster_name,
            region=config.region,
            kubernetes_version=config.cluster.kubernetes_version,
            subnet_ids=tuple(network.private_subnet_ids),
            public_access_cidrs=config.cluster.public_access_cidrs,
            service_cidr=config.cluster.service_cidr,
            log_types=config.cluster.log_types,
            log_retention_days=config.cluster.log_retention_days,
            node_group=NodeGroupArgs(**config.cluster.node_group.model_dump()),
            ebs_csi_addon_version=config.cluster.ebs_csi_addon_version,
            vpc_cni_addon_version=config.cluster.vpc_cni_addon_version,
            deployer_role_arn=config.deployer.role_arn if config.deployer else None,
            deployer_group=config.deployer.group if config.deployer else "controlplane-deployers",
            deletion_protection=config.cluster.deletion_protection,
        ),
        on_aws,
    )

    kubernetes_provider = k8s.Provider(
        "cluster",
        kubeconfig=cluster.kubeconfig,
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(depends_on=[cluster.node_group]),
    )
    on_cluster = pulumi.ResourceOptions(providers=[kubernetes_provider])
    storage = EncryptedStorageClass(
        "storage",
        EncryptedStorageClassArgs(
            name=config.storage.storage_class_name,
            kms_key_arn=cluster.volumes_key.arn,
            default_class=config.storage.default_class,
        ),
        pulumi.ResourceOptions(providers=[kubernetes_provider], depends_on=[cluster.ebs_csi_addon]),
    )
    ingress = IngressController(
        "ingress",
        IngressControllerArgs(
            namespace=config.ingress.namespace,
            ingress_class=config.ingress.class_name,
            chart_version=config.ingress.chart_version,
            replicas=config.ingress.replicas,
            pod_security_version=f"v{config.cluster.kubernetes_version}",
        ),
        on_cluster,
    )
    DeployerRbac(
        "deployer",
        DeployerRbacArgs(group=config.deployer.group) if config.deployer else DeployerRbacArgs(),
        on_cluster,
    )

    if config.cloudflare is not None:
        cloudflare_provider = cloudflare.Provider("cloudflare", api_token=cloudflare_api_token)
        zone = PlatformZone(
            "zone",
            PlatformZoneArgs(
                zone_id=config.cloudflare.zone_id,
                base_domain=config.cloudflare.base_domain,
                load_balancer_hostname=ingress.load_balancer_hostname,
                fallback_origin_label=config.cloudflare.fallback_origin_label,
                certificate_authority=config.cloudflare.certificate_authority,
                certificate_validity_days=config.cloudflare.certificate_validity_days,
                min_tls_version=config.cloudflare.min_tls_version,
            ),
            pulumi.ResourceOptions(providers=[cloudflare_provider]),
        )
        pulumi.export("zone_id", zone.zone_id)
        pulumi.export("base_domain", config.cloudflare.base_domain)
        pulumi.export("fallback_origin", zone.fallback_hostname)
    else:
        pulumi.export("zone_id", None)

    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("cluster_name", cluster.cluster_name)
    pulumi.export("kubernetes_version", config.cluster.kubernetes_version)
    pulumi.export("storage_class", storage.name)
    pulumi.export("ingress_class", ingress.ingress_class)
    pulumi.export("ingress_namespace", ingress.namespace_name)
    pulumi.export("load_balancer_hostname", ingress.load_balancer_hostname)
    pulumi.export("cluster_private_cidrs", [str(cidr) for cidr in config.cluster_private_cidrs])
    pulumi.export("region", config.region)
