"""Storage: claims use an allowed class and stay under a size cap; EBS volumes and classes are encrypted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.kube import PVC, STATEFUL_SET, STORAGE_CLASS, parse_quantity
from policies.props import get_path, is_true, items, mapping, strings
from policies.registry import Report, ResourceRule, ResourceView, RuleConfig

EBS_VOLUME = "aws:ebs/volume:Volume"
EBS_PROVISIONERS = ("ebs.csi.aws.com", "kubernetes.io/aws-ebs")


def _claims(view: ResourceView) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, claim spec) for a PVC, or for each volumeClaimTemplate of a StatefulSet."""
    if view.type == PVC:
        return [("the claim", mapping(view.props.get("spec")))]
    claims = []
    for template in items(get_path(view.props, "spec.volumeClaimTemplates")):
        name = get_path(template, "metadata.name", "?")
        claims.append((f"volume claim template {name!r}", mapping(get_path(template, "spec"))))
    return claims


def pvc_storage_class(view: ResourceView, config: RuleConfig, report: Report) -> None:
    allowed = strings(config.get("allowedStorageClasses"))
    for label, spec in _claims(view):
        storage_class = spec.get("storageClassName")
        if not storage_class:
            report(f"{label} names no storageClassName (the cluster default is not assumed); use one of {allowed}")
        elif storage_class not in allowed:
            report(f"{label} uses storage class {storage_class!r}, not one of {allowed}")


def pvc_size_cap(view: ResourceView, config: RuleConfig, report: Report) -> None:
    cap_text = config.get("maxSize")
    cap = parse_quantity(cap_text)
    if cap is None:
        report(f"the rule's maxSize {cap_text!r} is not a Kubernetes quantity")
        return
    for label, spec in _claims(view):
        requested_text = get_path(spec, "resources.requests.storage")
        requested = parse_quantity(requested_text)
        if requested is None:
            report(f"{label} requests no valid storage size ({requested_text!r})")
        elif requested > cap:
            report(f"{label} requests {requested_text}, more than the cap of {cap_text}")
        limit_text = get_path(spec, "resources.limits.storage")
        limit = parse_quantity(limit_text)
        if limit is not None and limit > cap:
            report(f"{label} has a storage limit of {limit_text}, more than the cap of {cap_text}")


def ebs_volume_encrypted(view: ResourceView, config: RuleConfig, report: Report) -> None:
    if not is_true(view.props.get("encrypted")):
        report("the EBS volume is not encrypted (encrypted: true)")


def ebs_storage_class_encrypted(view: ResourceView, config: RuleConfig, report: Report) -> None:
    """Any StorageClass provisioning EBS (the platform's gp3 class among them) sets encrypted: "true"."""
    provisioner = view.props.get("provisioner")
    if provisioner not in EBS_PROVISIONERS:
        return
    encrypted = get_path(view.props, "parameters.encrypted")
    if encrypted != "true":
        name = get_path(view.props, "metadata.name", view.name)
        report(f'EBS storage class {name!r} does not set parameters.encrypted: "true" (got {encrypted!r})')


RULES: tuple[ResourceRule, ...] = (
    ResourceRule(
        name="pvc-storage-class",
        description="Persistent volume claims must name an allowed storage class.",
        check=pvc_storage_class,
        resource_types=frozenset({PVC, STATEFUL_SET}),
        config_schema={
            "allowedStorageClasses": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["gp3-encrypted"],
                "description": "The platform's classes (its encrypted gp3 class is `gp3-encrypted`).",
            },
        },
    ),
    ResourceRule(
        name="pvc-size-cap",
        description="Persistent volume claims must stay under the size cap.",
        check=pvc_size_cap,
        resource_types=frozenset({PVC, STATEFUL_SET}),
        config_schema={
            "maxSize": {
                "type": "string",
                "default": "100Gi",
                "description": "Largest storage request, as a Kubernetes quantity.",
            },
        },
    ),
    ResourceRule(
        name="ebs-volume-encrypted",
        description="EBS volumes must be encrypted.",
        check=ebs_volume_encrypted,
        resource_types=frozenset({EBS_VOLUME}),
    ),
    ResourceRule(
        name="ebs-storage-class-encrypted",
        description='StorageClasses provisioning EBS (gp3) must set encrypted: "true".',
        check=ebs_storage_class_encrypted,
        resource_types=frozenset({STORAGE_CLASS}),
    ),
)
