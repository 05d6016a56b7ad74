"""Each tenant component on its own: what it declares and the outputs it exposes."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

import pulumi
import pytest
from pydantic import SecretStr, ValidationError

from programs.components.common import (
    ANNOTATION_BASE_DOMAIN,
    ANNOTATION_CUSTOM_DOMAINS,
    ANNOTATION_DISPLAY_NAME,
    LABEL_ACCOUNT,
    LABEL_HOST_SUFFIX,
    LABEL_NAMESPACE,
)
from programs.components.tenant import (
    AppDns,
    AppDnsArgs,
    AppIngressArgs,
    AppVolumeArgs,
    AppWorkload,
    AppWorkloadArgs,
    ContainerPort,
    NetworkPoliciesArgs,
    OriginTls,
    OriginTlsArgs,
    QuotaArgs,
    TenantNamespace,
    TenantNamespaceArgs,
    TenantNetworkPolicies,
)
from programs.mocking import RecordingMocks
from programs.tenant.samples import PLACEHOLDER_CSR, PLACEHOLDER_KEY, ZONE_ID
from tests.programs.conftest import Runner

NAMESPACE = "t-acme0001"
NAMESPACE_ID = "0f" * 16
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
CUSTOM_HOSTNAME = "cloudflare:index/customHostname:CustomHostname"


def namespace_args(**overrides: Any) -> TenantNamespaceArgs:
    fields: dict[str, Any] = {
        "name": NAMESPACE,
        "namespace_id": NAMESPACE_ID,
        "account_id": "acct-1",
        "host_suffix": "acme0001",
        "display_name": "acme",
        "base_domain": "apps.example.net",
        "verified_domains": ("shop.example.com",),
        "pod_security_version": "v1.34",
        "quota": QuotaArgs(pods=5, cpu_millicores=1250, memory_mib=1280, storage_gib=10, persistent_volume_claims=1),
        "max_container_cpu_millicores": 4000,
        "max_container_memory_mib": 8192,
        "max_volume_size_gib": 100,
    }
    return TenantNamespaceArgs(**(fields | overrides))


def workload_args(**overrides: Any) -> AppWorkloadArgs:
    fields: dict[str, Any] = {
        "namespace": NAMESPACE,
        "name": "web",
        "image": "ghcr.io/example/web:1.0.0",
        "replicas": 2,
        "cpu_millicores": 250,
        "memory_mib": 256,
        "ports": (ContainerPort(name="http", port=8080, public=True), ContainerPort(name="metrics", port=9090)),
        "env": {"A": "1"},
        "health_check_path": "/healthz",
        "labels": {LABEL_ACCOUNT: "acct-1", LABEL_NAMESPACE: NAMESPACE_ID},
        "ingress": AppIngressArgs(
            hosts=("web-acme-acme0001.apps.example.net", "shop.example.com"),
            ingress_class="nginx",
            tls_secret_name="origin-tls",
        ),
    }
    return AppWorkloadArgs(**(fields | overrides))


# --- Namespace ----------------------------------------------------------------------------------------------


def test_namespace_is_restricted_and_tied_to_its_account(run: Runner) -> None:
    mocks = run(lambda: TenantNamespace(NAMESPACE, namespace_args()))
    metadata = mocks.named("kubernetes:core/v1:Namespace", NAMESPACE).inputs["metadata"]
    labels = metadata["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.34"
    assert labels[LABEL_ACCOUNT] == "acct-1"
    assert labels[LABEL_NAMESPACE] == NAMESPACE_ID
    assert labels[LABEL_HOST_SUFFIX] == "acme0001"
    assert metadata["annotations"] == {
        ANNOTATION_DISPLAY_NAME: "acme",
        ANNOTATION_BASE_DOMAIN: "apps.example.net",
        ANNOTATION_CUSTOM_DOMAINS: "shop.example.com",
    }


def test_namespace_quota_and_limit_range_follow_the_arguments(run: Runner) -> None:
    mocks = run(lambda: TenantNamespace(NAMESPACE, namespace_args()))
    quota = mocks.named("kubernetes:core/v1:ResourceQuota", NAMESPACE).inputs
    assert quota["metadata"]["namespace"] == NAMESPACE
    assert quota["spec"]["hard"] == {
        "pods": "5",
        "requests.cpu": "1250m",
        "limits.cpu": "1250m",
        "requests.memory": "1280Mi",
        "limits.memory": "1280Mi",
        "requests.storage": "10Gi",
        "persistentvolumeclaims": "1",
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    limits = {
        item["type"]: item for item in mocks.named("kubernetes:core/v1:LimitRange", NAMESPACE).inputs["spec"]["limits"]
    }
    assert limits["Container"]["max"] == {"cpu": "4000m", "memory": "8192Mi"}
    assert limits["PersistentVolumeClaim"]["max"] == {"storage": "100Gi"}


@pulumi.runtime.test
def test_namespace_exposes_its_name(mocks: RecordingMocks) -> pulumi.Output[None]:
    namespace = TenantNamespace(NAMESPACE, namespace_args())

    def check(name: str) -> None:
        assert name == NAMESPACE

    return namespace.name.apply(check)


def test_namespace_arguments_are_validated() -> None:
    with pytest.raises(ValidationError, match="namespace 'Acme' is not a DNS label"):
        namespace_args(name="Acme")
    with pytest.raises(ValidationError, match="pod_security_version"):
        namespace_args(pod_security_version="1.34")


# --- NetworkPolicies ----------------------------------------------------------------------------------------


def policies(mocks: RecordingMocks) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in mocks.of_type(NETWORK_POLICY)}


def network_args(**overrides: Any) -> NetworkPoliciesArgs:
    fields: dict[str, Any] = {
        "namespace": NAMESPACE,
        "ingress_namespace": "ingress-nginx",
        "ingress_ports": (8080, 8000, 8080),
        "cluster_private_cidrs": (IPv4Network("10.0.0.0/8"), IPv4Network("172.16.0.0/12")),
    }
    return NetworkPoliciesArgs(**(fields | overrides))


def test_network_policies_deny_everything_by_default(run: Runner) -> None:
    specs = policies(run(lambda: TenantNetworkPolicies(NAMESPACE, network_args())))
    assert specs["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_ingress_only_from_the_controller_to_the_public_ports_and_from_the_namespace(run: Runner) -> None:
    specs = policies(run(lambda: TenantNetworkPolicies(NAMESPACE, network_args())))
    (rule,) = specs["allow-from-ingress-controller"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}, {"protocol": "TCP", "port": 8080}]
    same = specs["allow-same-namespace"]
    assert same["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert same["egress"] == [{"to": [{"podSelector": {}}]}]


def test_egress_to_dns_and_to_the_internet_but_not_metadata_or_private_ranges(run: Runner) -> None:
    specs = policies(run(lambda: TenantNetworkPolicies(NAMESPACE, network_args())))
    (dns,) = specs["allow-dns"]["egress"]
    assert dns["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    assert sorted((p["protocol"], p["port"]) for p in dns["ports"]) == [("TCP", 53), ("UDP", 53)]
    (internet,) = specs["allow-internet-egress"]["egress"]
    block = internet["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    assert block["except"] == ["169.254.169.254/32", "10.0.0.0/8", "172.16.0.0/12"]
    assert "ports" not in internet


def test_no_controller_policy_without_public_ports(run: Runner) -> None:
    specs = policies(run(lambda: TenantNetworkPolicies(NAMESPACE, network_args(ingress_ports=()))))
    assert "allow-from-ingress-controller" not in specs


# --- App ----------------------------------------------------------------------------------------------------


def test_app_deployment_is_hardened(run: Runner) -> None:
    mocks = run(lambda: AppWorkload("web", workload_args()))
    pod = mocks.named(DEPLOYMENT, "web").inputs["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "web"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsNonRoot"] is True
    assert container["resources"]["requests"] == container["resources"]["limits"] == {"cpu": "250m", "memory": "256Mi"}
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]


def test_app_probes_hit_the_health_path_on_the_public_port(run: Runner) -> None:
    mocks = run(lambda: AppWorkload("web", workload_args()))
    (container,) = mocks.named(DEPLOYMENT, "web").inputs["spec"]["template"]["spec"]["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http", "scheme": "HTTP"}


def test_app_service_account_has_no_token(run: Runner) -> None:
    mocks = run(lambda: AppWorkload("web", workload_args()))
    assert mocks.named(SERVICE_ACCOUNT, "web").inputs["automountServiceAccountToken"] is False
    assert not [r for r in mocks.resources if "rbac.authorization.k8s.io" in r.type]


def test_app_service_is_cluster_ip_on_every_port(run: Runner) -> None:
    mocks = run(lambda: AppWorkload("web", workload_args()))
    spec = mocks.named(SERVICE, "web").inputs["spec"]
    assert spec["type"] == "ClusterIP"
    assert [(p["name"], p["port"], p["targetPort"]) for p in spec["ports"]] == [
        ("http", 8080, "http"),
        ("metrics", 9090, "metrics"),
    ]
    assert spec["selector"] == {"controlplane.io/app": "web"}


def test_app_env_is_a_secret_referenced_by_the_pods(run: Runner) -> None:
    mocks = run(lambda: AppWorkload("web", workload_args(env={"TOKEN": "s3cret"})))
    secret = mocks.named(SECRET, "web-env")
    assert secret.inputs["stringData"] == {"TOKEN": "s3cret"}
    assert "stringData" in secret.secret_paths
    template = mocks.named(DEPLOYMENT, "web").inputs["spec"]["template"]
    assert template["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": "web-env"}}]
    assert "controlplane.io/env-checksum" in template["metadata"]["annotations"]
    assert "s3cret" not in str(mocks.named(DEPLOYMENT, "web").inputs)


def test_app_ingress_serves_every_host_over_tls(run: Runner) -> None:
    mocks = run(lambda: AppWorkload("web", workload_args()))
    spec = mocks.named(INGRESS, "web").inputs["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [
        {"hosts": ["web-acme-acme0001.apps.example.net", "shop.example.com"], "secretName": "origin-tls"}
    ]
    assert [rule["host"] for rule in spec["rules"]] == ["web-acme-acme0001.apps.example.net", "shop.example.com"]
    backend = spec["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "web", "port": {"name": "http"}}}


def test_app_without_ingress_declares_none(run: Runner) -> None:
    mocks = run(lambda: AppWorkload("web", workload_args(ingress=None)))
    assert mocks.of_type(INGRESS) == []


def test_app_volume_is_a_claim_on_the_storage_class_mounted_in_the_pod(run: Runner) -> None:
    volume = AppVolumeArgs(size_gib=10, mount_path="/data", storage_class="gp3-encrypted")
    mocks = run(lambda: AppWorkload("web", workload_args(volume=volume)))
    claim = mocks.named(PVC, "web").inputs
    assert claim["metadata"]["name"] == "web-data"
    assert claim["spec"]["storageClassName"] == "gp3-encrypted"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"] == {"requests": {"storage": "10Gi"}}
    deployment = mocks.named(DEPLOYMENT, "web").inputs["spec"]
    assert deployment["strategy"] == {"type": "Recreate"}
    pod = deployment["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}} in pod["volumes"]
    assert {"name": "data", "mountPath": "/data"} in pod["containers"][0]["volumeMounts"]
    assert pod["securityContext"]["fsGroup"] == 10001


def test_released_volume_keeps_the_reference_but_not_the_claim(run: Runner) -> None:
    volume = AppVolumeArgs(size_gib=10, mount_path="/data", storage_class="gp3-encrypted", claim_declared=False)
    mocks = run(lambda: AppWorkload("web", workload_args(volume=volume, replicas=0, ingress=None)))
    assert mocks.of_type(PVC) == []
    pod = mocks.named(DEPLOYMENT, "web").inputs["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}} in pod["volumes"]


@pulumi.runtime.test
def test_app_exposes_its_volume_id_and_hostnames(mocks: RecordingMocks) -> pulumi.Output[None]:
    volume = AppVolumeArgs(size_gib=10, mount_path="/data", storage_class="gp3-encrypted")
    workload = AppWorkload("web", workload_args(volume=volume))
    assert workload.hostnames == ["web-acme-acme0001.apps.example.net", "shop.example.com"]

    def check(volume_id: str | None) -> None:
        assert volume_id == "pvc-web"

    return workload.volume_id.apply(check)


def test_app_arguments_are_validated() -> None:
    with pytest.raises(ValidationError, match="at most one port may be public"):
        workload_args(
            ports=(ContainerPort(name="a", port=8080, public=True), ContainerPort(name="b", port=8081, public=True))
        )
    with pytest.raises(ValidationError, match="needs a public port"):
        workload_args(ports=(ContainerPort(name="a", port=8080),))
    with pytest.raises(ValidationError, match="'latest'"):
        workload_args(image="nginx:latest")


# --- OriginTls ----------------------------------------------------------------------------------------------


def origin_args(**overrides: Any) -> OriginTlsArgs:
    fields: dict[str, Any] = {
        "namespace": NAMESPACE,
        "hostnames": ("web-acme-acme0001.apps.example.net", "api-acme-acme0001.apps.example.net"),
        "csr": SecretStr(PLACEHOLDER_CSR),
        "private_key": SecretStr(PLACEHOLDER_KEY),
    }
    return OriginTlsArgs(**(fields | overrides))


def test_origin_certificate_uses_the_supplied_csr_and_becomes_a_tls_secret(run: Runner) -> None:
    mocks = run(lambda: OriginTls(NAMESPACE, origin_args()))
    certificate = mocks.named("cloudflare:index/originCaCertificate:OriginCaCertificate", NAMESPACE)
    assert certificate.inputs["csr"] == PLACEHOLDER_CSR
    assert "csr" in certificate.secret_paths
    assert certificate.inputs["hostnames"] == [
        "api-acme-acme0001.apps.example.net",
        "web-acme-acme0001.apps.example.net",
    ]
    assert certificate.inputs["requestType"] == "origin-ecc"
    assert certificate.inputs["requestedValidity"] == 5475
    secret = mocks.named(SECRET, NAMESPACE)
    assert secret.inputs["type"] == "kubernetes.io/tls"
    assert secret.inputs["metadata"] == {"name": "origin-tls", "namespace": NAMESPACE, "labels": {}}
    assert secret.inputs["stringData"]["tls.key"] == PLACEHOLDER_KEY
    assert secret.inputs["stringData"]["tls.crt"].startswith("-----BEGIN CERTIFICATE-----")
    assert "stringData" in secret.secret_paths or "stringData.tls.key" in secret.secret_paths


def test_origin_tls_refuses_what_is_not_pem() -> None:
    with pytest.raises(ValidationError, match="csr must be a PEM"):
        origin_args(csr=SecretStr("not a csr"))
    with pytest.raises(ValidationError, match="private_key must be a PEM"):
        origin_args(private_key=SecretStr("not a key"))


# --- AppDns -------------------------------------------------------------------------------------------------


def dns_args(**overrides: Any) -> AppDnsArgs:
    fields: dict[str, Any] = {
        "zone_id": ZONE_ID,
        "hostname": "web-acme-acme0001.apps.example.net",
        "target": "lb-1.elb.us-east-1.amazonaws.com",
        "publish_record": True,
        "custom_domains": ("shop.example.com",),
    }
    return AppDnsArgs(**(fields | overrides))


def test_dns_record_is_a_proxied_cname_to_the_load_balancer(run: Runner) -> None:
    mocks = run(lambda: AppDns("web", dns_args()))
    record = mocks.named(DNS_RECORD, "web").inputs
    assert record == {
        "zoneId": ZONE_ID,
        "name": "web-acme-acme0001.apps.example.net",
        "type": "CNAME",
        "content": "lb-1.elb.us-east-1.amazonaws.com",
        "proxied": True,
        "ttl": 1,
    }
    assert not [r for r in mocks.resources if r.type == "cloudflare:index/record:Record"]


def test_custom_domains_get_a_dv_certificate(run: Runner) -> None:
    mocks = run(lambda: AppDns("web", dns_args(ssl_method="txt")))
    custom = mocks.named(CUSTOM_HOSTNAME, "web-shop.example.com").inputs
    assert custom["hostname"] == "shop.example.com"
    assert custom["ssl"] == {"method": "txt", "type": "dv", "settings": {"minTlsVersion": "1.2"}}


def test_unpublished_record_keeps_the_custom_hostnames(run: Runner) -> None:
    mocks = run(lambda: AppDns("web", dns_args(publish_record=False)))
    assert mocks.of_type(DNS_RECORD) == []
    assert len(mocks.of_type(CUSTOM_HOSTNAME)) == 1


@pulumi.runtime.test
def test_custom_hostname_statuses_are_exposed(mocks: RecordingMocks) -> pulumi.Output[None]:
    dns = AppDns("web", dns_args())

    def check(status: dict[str, Any]) -> None:
        assert status == {
            "status": "pending",
            "verification_errors": [],
            "certificate": {"type": "dv", "method": "http"},
        }

    return dns.custom_hostname_statuses["shop.example.com"].apply(check)
