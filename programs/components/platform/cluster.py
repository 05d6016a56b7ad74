"""`controlplane:platform:Cluster`: the EKS cluster, its managed node group, OIDC provider and add-ons.

Secrets are envelope-encrypted with a customer-managed KMS key, control-plane logging is on, the public API
endpoint only answers the configured CIDRs, nodes live in private subnets with IMDSv2 and a hop limit of 1
(pods cannot reach the node's credentials), and the EBS CSI driver runs with its own IAM role for service
accounts. The VPC CNI add-on is managed so that NetworkPolicies are enforced.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Network
from typing import Any

import pulumi
import pulumi_aws as aws
from pydantic import Field

from programs.components.common import Component, ComponentArgs, OutputComponentArgs, StrInput

EBS_CSI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:ebs-csi-controller-sa"
MANAGED_POLICY = "arn:aws:iam::aws:policy/"


class NodeGroupArgs(ComponentArgs):
    instance_types: tuple[str, ...] = Field(min_length=1)
    min_size: int = Field(ge=1)
    desired_size: int = Field(ge=1)
    max_size: int = Field(ge=1)
    disk_size_gib: int = Field(default=50, ge=20)
    ami_type: str = "AL2023_x86_64_STANDARD"
    capacity_type: str = "ON_DEMAND"


class EksClusterArgs(OutputComponentArgs):
    name: str
    region: str
    kubernetes_version: str = Field(pattern=r"^1\.\d+$")
    subnet_ids: tuple[StrInput, ...] = Field(min_length=2, description="private subnets for nodes and ENIs")
    public_access_cidrs: tuple[IPv4Network, ...] = Field(min_length=1)
    service_cidr: IPv4Network = IPv4Network("172.20.0.0/16")
    log_types: tuple[str, ...] = Field(min_length=1)
    log_retention_days: int = 90
    node_group: NodeGroupArgs
    ebs_csi_addon_version: str | None = None
    vpc_cni_addon_version: str | None = None
    deployer_role_arn: str | None = None
    deployer_group: str = "controlplane-deployers"
    deletion_protection: bool = False
    tags: dict[str, str] = Field(default_factory=dict)


class EksCluster(Component):
    cluster: aws.eks.Cluster
    node_group: aws.eks.NodeGroup
    oidc_provider: aws.iam.OpenIdConnectProvider
    ebs_csi_addon: aws.eks.Addon
    secrets_key: aws.kms.Key
    volumes_key: aws.kms.Key
    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    kubernetes_version: str

    def __init__(self, resource_name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("controlplane:platform:Cluster", resource_name, opts)
        tags = args.tags
        self.kubernetes_version = args.kubernetes_version

        self.secrets_key = aws.kms.Key(
            f"{resource_name}-secrets",
            description=f"EKS {args.name}: envelope encryption of Kubernetes secrets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=self.child_opts(),
        )
        self.volumes_key = aws.kms.Key(
            f"{resource_name}-volumes",
            description=f"EKS {args.name}: encryption of tenant EBS volumes",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=self.child_opts(),
        )

        cluster_role = aws.iam.Role(
            f"{resource_name}-cluster",
            assume_role_policy=json.dumps(_service_trust("eks.amazonaws.com", ["sts:AssumeRole", "sts:TagSession"])),
            tags=tags,
            opts=self.child_opts(),
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{resource_name}-cluster",
            role=cluster_role.name,
            policy_arn=MANAGED_POLICY + "AmazonEKSClusterPolicy",
            opts=self.child_opts(),
        )
        # Created before the cluster so that EKS writes into a group with a retention, not an unbounded one.
        log_group = aws.cloudwatch.LogGroup(
            resource_name,
            name=f"/aws/eks/{args.name}/cluster",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=self.child_opts(),
        )
        self.cluster = aws.eks.Cluster(
            resource_name,
            name=args.name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=True,
                public_access_cidrs=[str(cidr) for cidr in args.public_access_cidrs],
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=self.secrets_key.arn),
                resources=["secrets"],
            ),
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(
                ip_family="ipv4", service_ipv4_cidr=str(args.service_cidr)
            ),
            enabled_cluster_log_types=list(args.log_types),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            deletion_protection=args.deletion_protection,
            tags=tags,
            opts=self.child_opts(depends_on=[cluster_policy, log_group]),
        )
        self.cluster_name = self.cluster.name

        node_role = aws.iam.Role(
            f"{resource_name}-nodes",
            assume_role_policy=json.dumps(_service_trust("ec2.amazonaws.com", ["sts:AssumeRole"])),
            tags=tags,
            opts=self.child_opts(),
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{resource_name}-nodes-{policy}",
                role=node_role.name,
                policy_arn=MANAGED_POLICY + policy,
                opts=self.child_opts(),
            )
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
        ]
        launch_template = aws.ec2.LaunchTemplate(
            f"{resource_name}-nodes",
            description=f"EKS {args.name} nodes: IMDSv2 only, hop limit 1, encrypted gp3 root volume",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=args.node_group.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            tags=tags,
            opts=self.child_opts(),
        )
        node_group = args.node_group
        self.node_group = aws.eks.NodeGroup(
            resource_name,
            cluster_name=self.cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=list(args.subnet_ids),
            version=args.kubernetes_version,
            ami_type=node_group.ami_type,
            capacity_type=node_group.capacity_type,
            instance_types=list(node_group.instance_types),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=launch_template.id, version=launch_template.latest_version.apply(str)
            ),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=node_group.min_size, desired_size=node_group.desired_size, max_size=node_group.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            tags=tags,
            opts=self.child_opts(depends_on=node_policies),
        )

        # Network policies are only enforced when the VPC CNI's policy agent is on.
        aws.eks.Addon(
            f"{resource_name}-vpc-cni",
            cluster_name=self.cluster.name,
            addon_name="vpc-cni",
            addon_version=args.vpc_cni_addon_version,
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=self.child_opts(),
        )

        issuer = self.cluster.identities.apply(_issuer)
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            resource_name,
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=tags,
            opts=self.child_opts(),
        )
        ebs_role = aws.iam.Role(
            f"{resource_name}-ebs-csi",
            assume_role_policy=pulumi.Output.all(self.oidc_provider.arn, issuer).apply(
                lambda values: json.dumps(_web_identity_trust(values[0], values[1], EBS_CSI_SERVICE_ACCOUNT))
            ),
            tags=tags,
            opts=self.child_opts(),
        )
        ebs_policy = aws.iam.RolePolicyAttachment(
            f"{resource_name}-ebs-csi",
            role=ebs_role.name,
            policy_arn=MANAGED_POLICY + "service-role/AmazonEBSCSIDriverPolicy",
            opts=self.child_opts(),
        )
        ebs_kms = aws.iam.RolePolicy(
            f"{resource_name}-ebs-csi-kms",
            role=ebs_role.name,
            policy=self.volumes_key.arn.apply(lambda arn: json.dumps(_ebs_kms_policy(arn))),
            opts=self.child_opts(),
        )
        self.ebs_csi_addon = aws.eks.Addon(
            f"{resource_name}-ebs-csi",
            cluster_name=self.cluster.name,
            addon_name="aws-ebs-csi-driver",
            addon_version=args.ebs_csi_addon_version,
            service_account_role_arn=ebs_role.arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=self.child_opts(depends_on=[self.node_group, ebs_policy, ebs_kms]),
        )

        if args.deployer_role_arn is not None:
            aws.eks.AccessEntry(
                f"{resource_name}-deployer",
                cluster_name=self.cluster.name,
                principal_arn=args.deployer_role_arn,
                kubernetes_groups=[args.deployer_group],
                type="STANDARD",
                tags=tags,
                opts=self.child_opts(),
            )

        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority).apply(
                lambda values: build_kubeconfig(values[0], values[1], values[2]["data"], args.region)
            )
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "kubeconfig": self.kubeconfig,
                "kubernetes_version": self.kubernetes_version,
                "volumes_key_arn": self.volumes_key.arn,
            }
        )


def build_kubeconfig(cluster: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` as whichever AWS identity runs it."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster, "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority}}
            ],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
            "current-context": cluster,
            "users": [
                {
                    "name": cluster,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": [
                                "eks",
                                "get-token",
                                "--cluster-name",
                                cluster,
                                "--region",
                                region,
                                "--output",
                                "json",
                            ],
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        }
    )


def _issuer(identities: Any) -> str:
    issuer = identities[0].oidcs[0].issuer if identities and identities[0].oidcs else None
    if not issuer:
        raise ValueError("the EKS cluster reports no OIDC issuer")
    return str(issuer)


def _service_trust(service: str, actions: list[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}],
    }


def _web_identity_trust(provider_arn: str, issuer: str, subject: str) -> dict[str, Any]:
    host = issuer.removeprefix("https://")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{host}:sub": subject, f"{host}:aud": "sts.amazonaws.com"}},
            }
        ],
    }


def _ebs_kms_policy(key_arn: str) -> dict[str, Any]:
    """What the EBS CSI driver needs to create and attach volumes encrypted with the volumes key."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": key_arn,
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
            {
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": key_arn,
            },
        ],
    }
