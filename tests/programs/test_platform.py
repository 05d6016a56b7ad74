"""The platform program: its configuration, its components and the stack files operators run."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pulumi.runtime import set_all_config
from pydantic import BaseModel, ValidationError

from programs.components.tenant import kinds
from programs.mocking import DeclaredResource, RecordingMocks, run_under_mocks
from programs.platform import PlatformConfig, platform_program
from programs.platform.config import REGION
from tests.programs.conftest import REPO, STACK_FILES, Runner, pinned_kubernetes_version, stack_config

MAIN = REPO / "programs" / "platform" / "__main__.py"


def config_data(path: Path = STACK_FILES[0]) -> dict[str, Any]:
    raw = yaml.safe_load(path.read_text())["config"]
    return {key.removeprefix("platform:"): value for key, value in raw.items() if key.startswith("platform:")}


def platform(run: Runner, **overrides: Any) -> RecordingMocks:
    config = PlatformConfig.model_validate(config_data() | overrides)
    return run(
        lambda: platform_program(config, cloudflare_api_token="placeholder-token"), project="platform", stack="dev"
    )


@pytest.fixture(scope="module")
def declared() -> RecordingMocks:
    """The dev stack, run once for the tests that only read what it declares."""
    config = PlatformConfig.model_validate(config_data())
    mocks = run_under_mocks(lambda: platform_program(config, "placeholder-token"), project="platform", stack="dev")
    assert mocks.duplicate_urns == []
    return mocks


def one(mocks: RecordingMocks, type_: str) -> DeclaredResource:
    (resource,) = mocks.of_type(type_)
    return resource


# --- the project and its stacks -----------------------------------------------------------------------------


def test_pulumi_yaml_runs_the_platform_program_with_stacks_in_stacks() -> None:
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["name"] == "platform"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert project["main"] == "programs/platform/"
    assert project["stackConfigDir"] == "stacks"
    assert MAIN.exists()


def test_there_are_dev_and_prod_stacks() -> None:
    assert [path.name for path in STACK_FILES] == ["Pulumi.dev.yaml", "Pulumi.prod.yaml"]


def aliases(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    fields: dict[str, type[BaseModel] | None] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        nested = next(
            (
                arg
                for arg in (*getattr(annotation, "__args__", ()), annotation)
                if isinstance(arg, type) and issubclass(arg, BaseModel)
            ),
            None,
        )
        fields[field.alias or name] = nested
    return fields


def missing_keys(model: type[BaseModel], values: dict[str, Any], prefix: str = "") -> list[str]:
    missing = []
    for key, nested in aliases(model).items():
        if key not in values:
            missing.append(prefix + key)
        elif nested is not None and isinstance(values[key], dict):
            missing += missing_keys(nested, values[key], f"{prefix}{key}.")
    return missing


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda path: path.name)
def test_every_setting_the_program_reads_is_in_the_stack_file(path: Path) -> None:
    assert missing_keys(PlatformConfig, config_data(path)) == []


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda path: path.name)
def test_no_secret_in_clear_in_the_stack_file(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())["config"]
    assert "cloudflare:apiToken" not in raw or "secure" in raw["cloudflare:apiToken"]
    text = json.dumps(raw).lower()
    for word in ("token", "password", "secret", "private key", "begin "):
        assert word not in text, f"{path.name} mentions {word!r}"


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda path: path.name)
def test_the_stack_file_is_a_valid_config(path: Path) -> None:
    config = PlatformConfig.model_validate(config_data(path))
    assert config.region == REGION
    assert config.cluster.kubernetes_version == pinned_kubernetes_version()


def test_main_reads_the_stack_config_and_builds_the_platform(mocks: RecordingMocks) -> None:
    set_all_config(stack_config(STACK_FILES[1]) | {"cloudflare:apiToken": "placeholder-token"})
    try:
        run_under_mocks(lambda: runpy.run_path(str(MAIN.parent)), mocks=mocks, project="platform", stack="prod")
    finally:
        set_all_config({})
    cluster = one(mocks, "aws:eks/cluster:Cluster")
    assert cluster.inputs["name"] == "controlplane-prod"
    assert len(mocks.of_type("aws:ec2/natGateway:NatGateway")) == 3
    assert mocks.named("pulumi:providers:cloudflare", "cloudflare").inputs["apiToken"] == "placeholder-token"


# --- configuration is refused before any resource -----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "phrase"),
    [
        ({"region": "eu-west-1"}, "region", "us-east-1 only"),
        ({"cluster": {"publicAccessCidrs": ["0.0.0.0/0"]}}, "cluster.publicAccessCidrs", "must be restricted"),
        ({"cluster": {"kubernetesVersion": "latest"}}, "cluster.kubernetesVersion", "pattern"),
        ({"cluster": {"logTypes": ["scheduler"]}}, "cluster.logTypes", "at least api, audit and authenticator"),
        ({"network": {"availabilityZones": ["eu-west-1a", "eu-west-1b"]}}, "network.availabilityZones", "not a zone"),
        ({"network": {"privateSubnetCidrs": ["10.99.0.0/18", "10.40.192.0/18"]}}, "network", "not inside the VPC"),
        ({"cloudflare": {"zoneId": "not-an-id"}}, "cloudflare.zoneId", "pattern"),
        ({"cluster": {"serviceCidr": "10.40.0.0/20"}}, "serviceCidr", "overlaps the VPC CIDR"),
        ({"deployer": {"roleArn": "arn:aws:iam::1:user/x"}}, "deployer.roleArn", "pattern"),
    ],
)
def test_invalid_configuration_is_refused(
    change: dict[str, Any], field: str, phrase: str, mocks: RecordingMocks
) -> None:
    data = config_data()
    for key, value in change.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value

    with pytest.raises(ValidationError) as refused:
        run_under_mocks(lambda: platform_program(PlatformConfig.model_validate(data)), mocks=mocks, project="platform")
    assert field in str(refused.value), str(refused.value)
    assert phrase in str(refused.value), str(refused.value)
    assert mocks.resources == []


# --- providers ----------------------------------------------------------------------------------------------


def test_aws_is_an_explicit_us_east_1_provider_used_by_every_aws_resource(declared: RecordingMocks) -> None:
    provider = one(declared, "pulumi:providers:aws")
    assert provider.inputs["region"] == "us-east-1"
    assert provider.inputs["allowedAccountIds"] in (["000000000000"], '["000000000000"]')
    default_tags = provider.inputs["defaultTags"]  # provider inputs travel as JSON strings
    assert json.loads(default_tags)["tags"]["controlplane.io/environment"] == "dev"
    for resource in declared.custom_resources():
        expected = {"aws": "pulumi:providers:aws", "kubernetes": "pulumi:providers:kubernetes"}.get(resource.package)
        if expected:
            assert expected in resource.provider, resource
        if resource.package == "cloudflare":
            assert "pulumi:providers:cloudflare" in resource.provider, resource


def test_the_cluster_provider_uses_the_clusters_kubeconfig_as_a_secret(declared: RecordingMocks) -> None:
    provider = declared.named("pulumi:providers:kubernetes", "cluster")
    assert "kubeconfig" in provider.secret_paths
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://")
    assert kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"] == "TU9DSyBDQQ=="
    assert kubeconfig["users"][0]["user"]["exec"]["args"][:4] == [
        "eks",
        "get-token",
        "--cluster-name",
        "controlplane-dev",
    ]


def test_the_program_makes_no_invokes(declared: RecordingMocks) -> None:
    assert declared.calls == []


# --- network ------------------------------------------------------------------------------------------------


def test_vpc_with_public_and_private_subnets(declared: RecordingMocks) -> None:
    assert one(declared, "aws:ec2/vpc:Vpc").inputs["cidrBlock"] == "10.40.0.0/16"
    subnets = {r.name: r.inputs for r in declared.of_type("aws:ec2/subnet:Subnet")}
    assert sorted(subnets) == [
        "network-private-us-east-1a",
        "network-private-us-east-1b",
        "network-public-us-east-1a",
        "network-public-us-east-1b",
    ]
    assert subnets["network-public-us-east-1a"]["tags"]["kubernetes.io/role/elb"] == "1"
    assert subnets["network-private-us-east-1a"]["tags"]["kubernetes.io/role/internal-elb"] == "1"
    assert subnets["network-public-us-east-1a"]["mapPublicIpOnLaunch"] is False
    assert len(declared.of_type("aws:ec2/natGateway:NatGateway")) == 1  # dev: singleNatGateway
    routes = {r.name: r.inputs["routes"][0] for r in declared.of_type("aws:ec2/routeTable:RouteTable")}
    assert routes["network-public"]["gatewayId"] == "network-id"
    assert routes["network-private-us-east-1b"]["natGatewayId"] == "network-us-east-1a-id"
    default_group = one(declared, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert default_group["ingress"] == []
    assert default_group["egress"] == []


# --- cluster ------------------------------------------------------------------------------------------------


def test_eks_cluster_is_encrypted_logged_restricted_and_pinned(declared: RecordingMocks) -> None:
    cluster = one(declared, "aws:eks/cluster:Cluster").inputs
    assert cluster["version"] == "1.34"
    assert cluster["encryptionConfig"] == {
        "provider": {"keyArn": "arn:aws:kms:us-east-1:123456789012:key/cluster-secrets"},
        "resources": ["secrets"],
    }
    assert cluster["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    vpc = cluster["vpcConfig"]
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["subnetIds"] == ["network-private-us-east-1a-id", "network-private-us-east-1b-id"]
    assert cluster["accessConfig"]["authenticationMode"] == "API"
    assert cluster["kubernetesNetworkConfig"] == {"ipFamily": "ipv4", "serviceIpv4Cidr": "172.20.0.0/16"}
    key = declared.named("aws:kms/key:Key", "cluster-secrets").inputs
    assert key["enableKeyRotation"] is True
    log_group = one(declared, "aws:cloudwatch/logGroup:LogGroup").inputs
    assert log_group == {"name": "/aws/eks/controlplane-dev/cluster", "retentionInDays": 30, "tags": {}}


def test_managed_node_group_in_private_subnets_with_imdsv2(declared: RecordingMocks) -> None:
    nodes = one(declared, "aws:eks/nodeGroup:NodeGroup").inputs
    assert nodes["subnetIds"] == ["network-private-us-east-1a-id", "network-private-us-east-1b-id"]
    assert nodes["version"] == "1.34"
    assert nodes["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 4}
    template = one(declared, "aws:ec2/launchTemplate:LaunchTemplate").inputs
    assert template["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    }
    assert template["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"


def test_oidc_provider_and_ebs_csi_driver_with_its_own_role(declared: RecordingMocks) -> None:
    oidc = one(declared, "aws:iam/openIdConnectProvider:OpenIdConnectProvider").inputs
    assert oidc["url"] == "https://oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF"
    assert oidc["clientIdLists"] == ["sts.amazonaws.com"]
    trust = json.loads(declared.named("aws:iam/role:Role", "cluster-ebs-csi").inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(
        "oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF"
    )
    conditions = statement["Condition"]["StringEquals"]
    assert conditions["oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF:sub"] == (
        "system:serviceaccount:kube-system:ebs-csi-controller-sa"
    )
    addon = declared.named("aws:eks/addon:Addon", "cluster-ebs-csi").inputs
    assert addon["addonName"] == "aws-ebs-csi-driver"
    assert addon["serviceAccountRoleArn"] == "arn:aws:iam::123456789012:role/cluster-ebs-csi"
    attachment = declared.named("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "cluster-ebs-csi").inputs
    assert attachment["policyArn"].endswith("AmazonEBSCSIDriverPolicy")


def test_vpc_cni_enforces_network_policies(declared: RecordingMocks) -> None:
    addon = declared.named("aws:eks/addon:Addon", "cluster-vpc-cni").inputs
    assert json.loads(addon["configurationValues"]) == {"enableNetworkPolicy": "true"}


def test_the_deployer_role_gets_an_access_entry_in_its_group(declared: RecordingMocks) -> None:
    entry = one(declared, "aws:eks/accessEntry:AccessEntry").inputs
    assert entry["principalArn"] == "arn:aws:iam::000000000000:role/controlplane-dev-deployer"
    assert entry["kubernetesGroups"] == ["controlplane-deployers"]


# --- in the cluster -----------------------------------------------------------------------------------------


def test_encrypted_gp3_storage_class(declared: RecordingMocks) -> None:
    storage_class = one(declared, "kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert storage_class["metadata"] == {
        "name": "gp3-encrypted",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
    }
    assert storage_class["provisioner"] == "ebs.csi.aws.com"
    assert storage_class["parameters"]["type"] == "gp3"
    assert storage_class["parameters"]["encrypted"] == "true"
    assert storage_class["parameters"]["kmsKeyId"] == "arn:aws:kms:us-east-1:123456789012:key/cluster-volumes"
    assert storage_class["allowVolumeExpansion"] is True
    assert storage_class["reclaimPolicy"] == "Delete"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"


def test_ingress_controller_behind_an_nlb_in_its_own_namespace(declared: RecordingMocks) -> None:
    namespace = declared.named("kubernetes:core/v1:Namespace", "ingress").inputs
    assert namespace["metadata"]["name"] == "ingress-nginx"
    release = one(declared, "kubernetes:helm.sh/v3:Release").inputs
    assert release["chart"] == "ingress-nginx"
    assert release["version"] == "4.13.3"
    assert release["namespace"] == "ingress-nginx"
    controller = release["values"]["controller"]
    assert controller["ingressClassResource"]["name"] == "nginx"
    assert controller["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"


def test_deployer_cluster_role_is_limited_to_the_tenant_kinds(declared: RecordingMocks) -> None:
    role = one(declared, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole").inputs
    writable = {
        (group, resource)
        for rule in role["rules"]
        if "create" in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert writable == {(resource.group, resource.resource) for resource in kinds.MANAGED}
    assert all("*" not in rule["verbs"] and "*" not in rule["resources"] for rule in role["rules"])
    assert not any("rbac.authorization.k8s.io" in rule["apiGroups"] for rule in role["rules"])
    binding = one(declared, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding").inputs
    assert binding["subjects"] == [
        {"kind": "Group", "name": "controlplane-deployers", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_platform_manifests_validate(declared: RecordingMocks) -> None:
    version = pinned_kubernetes_version()
    manifests = declared.kubernetes_manifests()
    assert {m["kind"] for m in manifests} == {"Namespace", "StorageClass", "ClusterRole", "ClusterRoleBinding"}
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


# --- Cloudflare ---------------------------------------------------------------------------------------------


def test_zone_is_strict_tls_1_2_with_a_wildcard_certificate_and_fallback_origin(declared: RecordingMocks) -> None:
    settings = {
        r.inputs["settingId"]: r.inputs["value"] for r in declared.of_type("cloudflare:index/zoneSetting:ZoneSetting")
    }
    assert settings["ssl"] == "strict"
    assert settings["min_tls_version"] == "1.2"
    pack = one(declared, "cloudflare:index/certificatePack:CertificatePack").inputs
    assert pack["hosts"] == ["apps.dev.example.net", "*.apps.dev.example.net"]
    assert pack["type"] == "advanced"
    record = one(declared, "cloudflare:index/dnsRecord:DnsRecord").inputs
    assert record["name"] == "fallback.apps.dev.example.net"
    assert record["content"] == "ingress-controller-0123456789.elb.us-east-1.amazonaws.com"
    assert record["proxied"] is True
    fallback = one(declared, "cloudflare:index/customHostnameFallbackOrigin:CustomHostnameFallbackOrigin").inputs
    assert fallback["origin"] == "fallback.apps.dev.example.net"


def test_without_cloudflare_config_no_cloudflare_resource(run: Runner) -> None:
    mocks = platform(run, cloudflare=None)
    assert [r for r in mocks.resources if "cloudflare" in r.type] == []


def test_cluster_objects_wait_for_the_nodes_and_the_storage_driver(declared: RecordingMocks) -> None:
    node_group = one(declared, "aws:eks/nodeGroup:NodeGroup").urn
    assert node_group in declared.named("pulumi:providers:kubernetes", "cluster").dependencies
    addon = declared.named("aws:eks/addon:Addon", "cluster-ebs-csi").urn
    assert addon in one(declared, "kubernetes:storage.k8s.io/v1:StorageClass").dependencies


def test_outputs_are_what_tenant_stacks_need(declared: RecordingMocks) -> None:
    exports = declared.exports
    assert declared.secret_exports == {"kubeconfig"}
    assert json.loads(exports["kubeconfig"])["current-context"] == "controlplane-dev"
    assert {key: value for key, value in exports.items() if key != "kubeconfig"} == {
        "cluster_name": "controlplane-dev",
        "kubernetes_version": "1.34",
        "storage_class": "gp3-encrypted",
        "ingress_class": "nginx",
        "ingress_namespace": "ingress-nginx",
        "zone_id": "00000000000000000000000000000000",
        "base_domain": "apps.dev.example.net",
        "fallback_origin": "fallback.apps.dev.example.net",
        "load_balancer_hostname": "ingress-controller-0123456789.elb.us-east-1.amazonaws.com",
        "cluster_private_cidrs": ["10.40.0.0/16", "172.20.0.0/16"],
        "region": "us-east-1",
    }
