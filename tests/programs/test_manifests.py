"""Every Kubernetes object the programs declare is valid for the Kubernetes version the platform pins."""

from __future__ import annotations

import functools
import json
from typing import Any

import kubernetes_validate
import pytest

from programs.tenant import tenant_program
from programs.tenant.samples import samples
from tests.programs.conftest import Runner, pinned_kubernetes_version

VERSION = pinned_kubernetes_version()
SAMPLES = samples()


def validate_all(manifests: list[dict[str, Any]]) -> None:
    assert manifests
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(part) for part in error.path)
            pytest.fail(f"{manifest['kind']} {manifest['metadata'].get('name')}: {where}: {error.message}")


def test_the_pinned_version_has_schemas() -> None:
    assert VERSION == "1.34"
    kubernetes_validate.validate(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}, VERSION, strict=True
    )


def test_strict_validation_catches_a_typo() -> None:
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "lables": {}}}, VERSION, strict=True
        )


def test_tenant_manifests_validate(run: Runner) -> None:
    """Every sample (several apps, each lifecycle state, with and without Cloudflare); identical objects once."""
    unique: dict[str, dict[str, Any]] = {}
    for spec in SAMPLES.values():
        for manifest in run(functools.partial(tenant_program, spec)).kubernetes_manifests():
            unique.setdefault(json.dumps(manifest, sort_keys=True), manifest)
    kinds = {manifest["kind"] for manifest in unique.values()}
    assert kinds == {
        "Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "ServiceAccount", "Secret", "Service",
        "PersistentVolumeClaim", "Deployment", "Ingress",
    }  # fmt: skip
    validate_all(list(unique.values()))
