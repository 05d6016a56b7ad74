"""Image provenance and pinning; claims, EBS volumes and EBS storage classes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from policies.kube import parse_image, parse_quantity
from tests.policies.conftest import Collector
from tests.policies.factories import container, deployment, pod_spec, pvc, resource_rule, view

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"


def deployment_with_image(image: str) -> dict[str, object]:
    spec = pod_spec()
    spec["containers"] = [container(image=image)]
    return deployment(spec)


@pytest.mark.parametrize(
    ("image", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", None),
        ("acme/web:2", "docker.io", "acme/web", "2", None),
        ("ghcr.io/acme/web:1.4.2", "ghcr.io", "acme/web", "1.4.2", None),
        ("localhost:5000/web", "localhost:5000", "web", None, None),
        ("registry.k8s.io/pause@sha256:abc", "registry.k8s.io", "pause", None, "sha256:abc"),
        ("index.docker.io/library/redis:7", "docker.io", "library/redis", "7", None),
    ],
)
def test_parse_image(image: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = parse_image(image)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


@pytest.mark.parametrize(
    "image",
    ["ghcr.io/acme/web:1.4.2", "nginx:1.27", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:3"],
)
def test_allowed_registry_passes(image: str, report: Collector) -> None:
    rule = resource_rule("allowed-image-registries")
    rule.check(view(DEPLOYMENT, deployment_with_image(image)), rule.defaults, report)
    assert not report


@pytest.mark.parametrize(
    "image", ["evil.example.com/miner:1", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:3", ""]
)
def test_other_registry_fails(image: str, report: Collector) -> None:
    rule = resource_rule("allowed-image-registries")
    rule.check(view(DEPLOYMENT, deployment_with_image(image)), rule.defaults, report)
    assert report


def test_registry_with_repository_prefix(report: Collector) -> None:
    rule = resource_rule("allowed-image-registries")
    config = rule.merged_config({"allowedRegistries": ["ghcr.io/acme"]})
    rule.check(view(DEPLOYMENT, deployment_with_image("ghcr.io/acme/web:1")), config, report)
    assert not report
    rule.check(view(DEPLOYMENT, deployment_with_image("ghcr.io/acmebad/web:1")), config, report)
    assert "not an allowed registry" in report.text()


@pytest.mark.parametrize("image", ["nginx:1.27", "ghcr.io/acme/web@sha256:0123", "nginx:latest@sha256:0123"])
def test_pinned_image_passes(image: str, report: Collector) -> None:
    rule = resource_rule("pinned-image-tags")
    rule.check(view(DEPLOYMENT, deployment_with_image(image)), rule.defaults, report)
    assert not report


@pytest.mark.parametrize(("image", "expected"), [("nginx", "has no tag"), ("ghcr.io/acme/web:latest", "'latest'")])
def test_unpinned_image_fails(image: str, expected: str, report: Collector) -> None:
    rule = resource_rule("pinned-image-tags")
    rule.check(view(DEPLOYMENT, deployment_with_image(image)), rule.defaults, report)
    assert expected in report.text()


@pytest.mark.parametrize(
    ("text", "value"),
    [("10Gi", 10 * 1024**3), ("500m", Decimal("0.5")), ("1e3", 1000), ("2k", 2000), (5, 5), ("1.5Mi", 1572864)],
)
def test_parse_quantity(text: str | int, value: Decimal | int) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["ten", "10GB", None, True, ""])
def test_parse_quantity_refuses(text: object) -> None:
    assert parse_quantity(text) is None


def test_pvc_allowed_class_passes(report: Collector) -> None:
    rule = resource_rule("pvc-storage-class")
    rule.check(view(PVC, pvc("gp3-encrypted")), rule.defaults, report)
    assert not report


@pytest.mark.parametrize(("storage_class", "expected"), [("gp2", "'gp2'"), (None, "no storageClassName")])
def test_pvc_other_class_fails(storage_class: str | None, expected: str, report: Collector) -> None:
    rule = resource_rule("pvc-storage-class")
    rule.check(view(PVC, pvc(storage_class)), rule.defaults, report)
    assert expected in report.text()


def test_pvc_size_cap(report: Collector) -> None:
    rule = resource_rule("pvc-size-cap")
    rule.check(view(PVC, pvc(size="100Gi")), rule.defaults, report)
    assert not report
    rule.check(view(PVC, pvc(size="101Gi")), rule.defaults, report)
    assert report.messages == ["the claim requests 101Gi, more than the cap of 100Gi"]
    rule.check(view(PVC, pvc(size="lots")), rule.defaults, report)
    assert "no valid storage size" in report.text()


def test_statefulset_claim_templates_are_checked(report: Collector) -> None:
    props = {
        "spec": {
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"storageClassName": "gp2", "resources": {"requests": {"storage": "1Ti"}}},
                }
            ]
        }
    }
    for name in ("pvc-storage-class", "pvc-size-cap"):
        rule = resource_rule(name)
        rule.check(view("kubernetes:apps/v1:StatefulSet", props), rule.defaults, report)
    assert len(report.messages) == 2
    assert all("volume claim template 'data'" in m for m in report.messages)


def test_ebs_volume_encrypted(report: Collector) -> None:
    rule = resource_rule("ebs-volume-encrypted")
    rule.check(view("aws:ebs/volume:Volume", {"size": 10, "encrypted": True}), rule.defaults, report)
    assert not report
    rule.check(view("aws:ebs/volume:Volume", {"size": 10}), rule.defaults, report)
    assert report


def test_ebs_storage_class_encrypted(report: Collector) -> None:
    rule = resource_rule("ebs-storage-class-encrypted")
    good = {
        "metadata": {"name": "gp3"},
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true"},
    }
    rule.check(view("kubernetes:storage.k8s.io/v1:StorageClass", good), rule.defaults, report)
    assert not report
    bad = {**good, "parameters": {"type": "gp3"}}
    rule.check(view("kubernetes:storage.k8s.io/v1:StorageClass", bad), rule.defaults, report)
    assert report.messages == ["EBS storage class 'gp3' does not set parameters.encrypted: \"true\" (got None)"]
    other = {"metadata": {"name": "efs"}, "provisioner": "efs.csi.aws.com"}
    rule.check(view("kubernetes:storage.k8s.io/v1:StorageClass", other), rule.defaults, report)
    assert len(report.messages) == 1
