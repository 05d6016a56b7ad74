"""Platform AWS rules: everything in the allowed region (us-east-1), and the EKS cluster's hardening."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from policies.props import get_path, is_true, items, mapping, strings
from policies.registry import Report, ResourceRule, ResourceView, RuleConfig

AWS_PROVIDER = "pulumi:providers:aws"
EKS_CLUSTER = "aws:eks/cluster:Cluster"


def _is_aws(resource_type: str) -> bool:
    return resource_type == AWS_PROVIDER or resource_type.startswith("aws:")


def aws_region(view: ResourceView, config: RuleConfig, report: Report) -> None:
    """The aws provider names an allowed region; no resource overrides it (`region`, availability zones)."""
    if not _is_aws(view.type):
        return
    allowed = strings(config.get("allowedRegions"))
    region = view.props.get("region")
    if view.type == AWS_PROVIDER:
        if not region:
            report(f"the aws provider sets no region (it would come from the environment); use one of {allowed}")
        elif region not in allowed:
            report(f"the aws provider's region is {region!r}, not one of {allowed}")
        return
    if region and region not in allowed:
        report(f"the resource's region is {region!r}, not one of {allowed}")
    zones = [view.props.get("availabilityZone"), *items(view.props.get("availabilityZones"))]
    for zone in zones:
        zone_region = _zone_region(zone) if isinstance(zone, str) else None
        if zone_region is not None and zone_region not in allowed:
            report(f"availability zone {zone!r} is outside {allowed}")


# A zone name ("us-east-1a", local zone "us-east-1-bos-1a") starts with its region; a zone id
# ("use1-az1") does not name one and is not checked.
_ZONE_NAME = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)(?:[a-z]|-[a-z0-9-]+)$")


def _zone_region(zone: str) -> str | None:
    match = _ZONE_NAME.match(zone)
    return match.group(1) if match else None


def _encryption_configs(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = props.get("encryptionConfig")
    if isinstance(value, Mapping):
        return [value]
    return [mapping(item) for item in items(value)]  # provider versions before 7 used a list


def eks_secrets_encryption(view: ResourceView, config: RuleConfig, report: Report) -> None:
    for entry in _encryption_configs(view.props):
        key_arn = get_path(entry, "provider.keyArn")
        if "secrets" in strings(entry.get("resources")) and isinstance(key_arn, str) and key_arn:
            return
    report(
        "the EKS cluster does not encrypt secrets with a KMS key (encryptionConfig.resources: [secrets], "
        "encryptionConfig.provider.keyArn)"
    )


def eks_control_plane_logging(view: ResourceView, config: RuleConfig, report: Report) -> None:
    enabled = set(strings(view.props.get("enabledClusterLogTypes")))
    missing = [kind for kind in strings(config.get("requiredLogTypes")) if kind not in enabled]
    if missing:
        report(f"the EKS cluster does not log {missing} (enabledClusterLogTypes)")


def eks_public_endpoint_restricted(view: ResourceView, config: RuleConfig, report: Report) -> None:
    vpc = mapping(view.props.get("vpcConfig"))
    public = vpc.get("endpointPublicAccess")
    if public is not None and not is_true(public):
        return  # private endpoint only
    cidrs = strings(vpc.get("publicAccessCidrs"))
    if not cidrs:
        report(
            "the EKS public endpoint is open to 0.0.0.0/0 (publicAccessCidrs is empty); restrict it or "
            "set endpointPublicAccess: false"
        )
        return
    allowed = []
    for text in strings(config.get("allowedPublicAccessCidrs")):
        try:
            allowed.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            report(f"the rule's allowedPublicAccessCidrs entry {text!r} is not a CIDR")
    for text in cidrs:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            report(f"publicAccessCidrs entry {text!r} is not a CIDR")
            continue
        if network.prefixlen == 0:
            report(f"the EKS public endpoint is open to the whole internet ({text})")
        elif allowed and not any(
            network.version == ok.version and network.subnet_of(ok)  # type: ignore[arg-type]
            for ok in allowed
        ):
            report(f"publicAccessCidrs entry {text} is outside the allowed CIDRs {[str(n) for n in allowed]}")


RULES: tuple[ResourceRule, ...] = (
    ResourceRule(
        name="aws-region",
        description="AWS providers and resources must stay in the allowed region (us-east-1).",
        check=aws_region,
        config_schema={
            "allowedRegions": {"type": "array", "items": {"type": "string"}, "default": ["us-east-1"]},
        },
    ),
    ResourceRule(
        name="eks-secrets-encryption",
        description="The EKS cluster must encrypt Kubernetes secrets with a KMS key.",
        check=eks_secrets_encryption,
        resource_types=frozenset({EKS_CLUSTER}),
    ),
    ResourceRule(
        name="eks-control-plane-logging",
        description="The EKS cluster must ship control-plane logs (api, audit, authenticator at least).",
        check=eks_control_plane_logging,
        resource_types=frozenset({EKS_CLUSTER}),
        config_schema={
            "requiredLogTypes": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["api", "audit", "authenticator"],
            },
        },
    ),
    ResourceRule(
        name="eks-public-endpoint-restricted",
        description="The EKS public endpoint must be restricted to the allowed CIDRs, never 0.0.0.0/0.",
        check=eks_public_endpoint_restricted,
        resource_types=frozenset({EKS_CLUSTER}),
        config_schema={
            "allowedPublicAccessCidrs": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "CIDRs the public endpoint may be opened to; empty accepts any CIDR but /0.",
            },
        },
    ),
)
