"""The project's own programs under the offline check: the platform with each stack config in `stacks/`,
the tenant program with every sample spec in every lifecycle state."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.offline import (
    check_platform_stack,
    check_tenant_spec,
    load_stack_config,
    platform_config_from_stack,
    repository_targets,
    run_targets,
)
from programs.tenant import LifecycleState
from programs.tenant.samples import samples, spec_with_apps
from tests.policies.tenant_specs import drifted, off_registry_and_oversized

STACKS = Path(__file__).resolve().parents[2] / "stacks"
STACK_FILES = sorted(STACKS.glob("Pulumi.*.yaml"))
SAMPLES = samples()


def test_there_is_something_to_check() -> None:
    assert [p.name for p in STACK_FILES] == ["Pulumi.dev.yaml", "Pulumi.prod.yaml"]
    assert {spec.lifecycle for spec in SAMPLES.values()} == set(LifecycleState)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_tenant_samples_pass_every_rule(name: str) -> None:
    assert check_tenant_spec(SAMPLES[name]) == []


@pytest.mark.parametrize("state", list(LifecycleState))
def test_many_apps_pass_in_every_state(state: LifecycleState) -> None:
    assert check_tenant_spec(spec_with_apps(5, lifecycle=state)) == []


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"storage_class": "gp2"}, "pvc-storage-class"),
        ({"ingress_class": "public"}, "tenant-ingress-tls"),
        ({"max_volume_size_gib": 16384}, None),  # a looser cap alone declares nothing larger
    ],
)
def test_drifted_platform_settings_are_caught(changes: dict[str, object], rule: str | None) -> None:
    violations = check_tenant_spec(drifted(**changes))
    assert {v.rule for v in violations} == ({rule} if rule else set())
    assert all(v.mandatory for v in violations)


def test_bad_tenant_spec_is_caught() -> None:
    violations = check_tenant_spec(off_registry_and_oversized())
    assert {(v.rule, v.resource_name) for v in violations} == {
        ("allowed-image-registries", "web"),
        ("pvc-size-cap", "api"),
    }


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_platform_stacks_pass_every_rule(path: Path) -> None:
    assert check_platform_stack(path) == []


def test_platform_resources_are_really_checked() -> None:
    """A stricter policy configuration than the stack's fails: the rules see the real cluster and class."""
    violations = check_platform_stack(
        STACKS / "Pulumi.dev.yaml",
        {
            "eks-public-endpoint-restricted": {"allowedPublicAccessCidrs": ["198.51.100.0/24"]},
            "eks-control-plane-logging": {"requiredLogTypes": ["api", "audit", "authenticator", "everything"]},
            "aws-region": {"allowedRegions": ["eu-west-1"]},
        },
    )
    rules = {v.rule for v in violations}
    assert rules == {"eks-public-endpoint-restricted", "eks-control-plane-logging", "aws-region"}
    assert any(v.resource_type == "pulumi:providers:aws" for v in violations)


def test_platform_config_mirrors_the_program_entry_point() -> None:
    config = platform_config_from_stack(load_stack_config(STACKS / "Pulumi.prod.yaml"))
    assert config.environment == "prod"
    assert config.region == "us-east-1"


def test_repository_targets_cover_stacks_and_samples() -> None:
    targets = repository_targets(STACKS)
    names = [t.name for t in targets]
    assert names[:2] == ["platform/dev", "platform/prod"]
    assert {f"tenant/{name}" for name in SAMPLES} == set(names[2:])
    [result] = run_targets([t for t in targets if t.name == "tenant/empty"])
    assert (result.target, result.violations, result.error, result.failed) == ("tenant/empty", [], None, False)
