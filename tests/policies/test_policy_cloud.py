"""AWS region and EKS hardening; Cloudflare custom hostnames and tenant DNS records."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policies.conftest import Collector
from tests.policies.factories import dns_record, namespace, replace, resource_rule, stack_rule, tenant_stack, view

EKS = "aws:eks/cluster:Cluster"


def eks_cluster(**changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "roleArn": "arn:aws:iam::123456789012:role/eks",
        "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager"],
        "encryptionConfig": {
            "provider": {"keyArn": "arn:aws:kms:us-east-1:123456789012:key/abc"},
            "resources": ["secrets"],
        },
        "vpcConfig": {
            "subnetIds": ["subnet-1"],
            "endpointPublicAccess": True,
            "endpointPrivateAccess": True,
            "publicAccessCidrs": ["203.0.113.0/24"],
        },
    }
    props.update(changes)
    return props


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        ("pulumi:providers:aws", {"region": "us-east-1"}),
        ("aws:ebs/volume:Volume", {"availabilityZone": "us-east-1a", "encrypted": True}),
        ("aws:ebs/volume:Volume", {"availabilityZone": "use1-az1"}),
        ("aws:eks/cluster:Cluster", {"region": "us-east-1"}),
        ("aws:iam/role:Role", {"assumeRolePolicy": "{}"}),
    ],
)
def test_region_passes(resource_type: str, props: dict[str, Any], report: Collector) -> None:
    rule = resource_rule("aws-region")
    rule.check(view(resource_type, props), rule.defaults, report)
    assert not report


@pytest.mark.parametrize(
    ("resource_type", "props", "expected"),
    [
        ("pulumi:providers:aws", {"region": "eu-west-1"}, "'eu-west-1'"),
        ("pulumi:providers:aws", {}, "sets no region"),
        ("aws:eks/cluster:Cluster", {"region": "us-west-2"}, "resource's region is 'us-west-2'"),
        ("aws:ebs/volume:Volume", {"availabilityZone": "us-east-2a"}, "availability zone 'us-east-2a'"),
        ("aws:autoscaling/group:Group", {"availabilityZones": ["us-east-1a", "eu-west-1b"]}, "eu-west-1b"),
    ],
)
def test_region_fails(resource_type: str, props: dict[str, Any], expected: str, report: Collector) -> None:
    rule = resource_rule("aws-region")
    rule.check(view(resource_type, props), rule.defaults, report)
    assert expected in report.text()


def test_region_ignores_other_clouds(report: Collector) -> None:
    rule = resource_rule("aws-region")
    rule.check(view("cloudflare:index/dnsRecord:DnsRecord", {"region": "anywhere"}), rule.defaults, report)
    assert not report


@pytest.mark.parametrize(
    "rule_name", ["eks-secrets-encryption", "eks-control-plane-logging", "eks-public-endpoint-restricted"]
)
def test_hardened_cluster_passes(rule_name: str, report: Collector) -> None:
    rule = resource_rule(rule_name)
    rule.check(view(EKS, eks_cluster()), rule.defaults, report)
    assert not report


@pytest.mark.parametrize(
    "encryption",
    [
        None,
        {"provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/a"}, "resources": []},
        {"resources": ["secrets"]},
    ],
)
def test_cluster_without_secrets_encryption_fails(encryption: Any, report: Collector) -> None:
    rule = resource_rule("eks-secrets-encryption")
    rule.check(view(EKS, eks_cluster(encryptionConfig=encryption)), rule.defaults, report)
    assert report


def test_cluster_logging_needs_api_audit_authenticator(report: Collector) -> None:
    rule = resource_rule("eks-control-plane-logging")
    rule.check(view(EKS, eks_cluster(enabledClusterLogTypes=["api"])), rule.defaults, report)
    assert report.messages == ["the EKS cluster does not log ['audit', 'authenticator'] (enabledClusterLogTypes)"]


@pytest.mark.parametrize(
    ("vpc", "expected"),
    [
        ({"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}, "whole internet"),
        ({"endpointPublicAccess": True}, "publicAccessCidrs is empty"),
        ({"subnetIds": ["s"]}, "publicAccessCidrs is empty"),  # AWS's default is a public endpoint
    ],
)
def test_open_public_endpoint_fails(vpc: dict[str, Any], expected: str, report: Collector) -> None:
    rule = resource_rule("eks-public-endpoint-restricted")
    rule.check(view(EKS, eks_cluster(vpcConfig=vpc)), rule.defaults, report)
    assert expected in report.text()


def test_public_endpoint_within_configured_cidrs(report: Collector) -> None:
    rule = resource_rule("eks-public-endpoint-restricted")
    config = rule.merged_config({"allowedPublicAccessCidrs": ["203.0.113.0/24"]})
    vpc = {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.8/29"]}
    rule.check(view(EKS, eks_cluster(vpcConfig=vpc)), config, report)
    assert not report
    vpc = {"endpointPublicAccess": True, "publicAccessCidrs": ["198.51.100.0/24"]}
    rule.check(view(EKS, eks_cluster(vpcConfig=vpc)), config, report)
    assert "outside the allowed CIDRs" in report.text()


def test_private_endpoint_passes(report: Collector) -> None:
    rule = resource_rule("eks-public-endpoint-restricted")
    rule.check(view(EKS, eks_cluster(vpcConfig={"endpointPublicAccess": False})), rule.defaults, report)
    assert not report


CUSTOM_HOSTNAME = "cloudflare:index/customHostname:CustomHostname"


def test_custom_hostname_dv_passes(report: Collector) -> None:
    rule = resource_rule("custom-hostname-dv")
    props = {"zoneId": "z", "hostname": "shop.example.com", "ssl": {"type": "dv", "method": "http"}}
    rule.check(view(CUSTOM_HOSTNAME, props), rule.defaults, report)
    assert not report


@pytest.mark.parametrize(
    "ssl",
    [None, {"type": "ov"}, {"type": "dv", "customCertificate": "-----BEGIN", "customKey": "-----BEGIN"}],
)
def test_custom_hostname_without_dv_fails(ssl: Any, report: Collector) -> None:
    rule = resource_rule("custom-hostname-dv")
    rule.check(view(CUSTOM_HOSTNAME, {"zoneId": "z", "hostname": "h", "ssl": ssl}), rule.defaults, report)
    assert report


def test_tenant_dns_proxied_passes(report: Collector) -> None:
    rule = stack_rule("tenant-dns-proxied")
    rule.check(tenant_stack(), rule.defaults, report)
    assert not report


@pytest.mark.parametrize(
    ("resource_type", "record"),
    [
        ("cloudflare:index/dnsRecord:DnsRecord", dns_record("CNAME", proxied=False)),
        ("cloudflare:index/dnsRecord:DnsRecord", dns_record("A", proxied=None)),
        ("cloudflare:index/record:Record", dns_record("AAAA", proxied=False)),
    ],
)
def test_unproxied_tenant_record_fails(resource_type: str, record: dict[str, Any], report: Collector) -> None:
    rule = stack_rule("tenant-dns-proxied")
    views = [*tenant_stack(), view(resource_type, record, "bad-dns")]
    rule.check(views, rule.defaults, report)
    assert len(report.messages) == 1
    assert report.resources[0] is not None
    assert report.resources[0].name == "bad-dns"


def test_dns_rules_outside_tenant_stacks(report: Collector) -> None:
    rule = stack_rule("tenant-dns-proxied")
    # TXT records are not public routes; a platform stack (no labelled Namespace) may use DNS-only records.
    rule.check(replace(tenant_stack(), "dns", dns_record("TXT", proxied=False)), rule.defaults, report)
    platform = [view("cloudflare:index/dnsRecord:DnsRecord", dns_record("CNAME", proxied=False), "acm-validation")]
    rule.check(platform, rule.defaults, report)
    unlabelled = namespace()
    unlabelled["metadata"]["labels"] = {}
    rule.check(
        [*replace(tenant_stack(), "ns", unlabelled), view("cloudflare:index/record:Record", dns_record(proxied=False))],
        rule.defaults,
        report,
    )
    assert not report
