"""Admission's fast path sees what the mock run sees: the guarantee that lets admission read the declarations
while `controlplane policy check` and CI keep running the tenant program under mocks.

For every spec below, both paths give the same resources (type, logical name, URN), the same inputs and outputs,
and `check_tenant_spec_fast` returns the same violations as `check_tenant_spec`. Normalised, and why:

- order: resources are compared by URN, violations as sorted lists. The mock run records resources in the order
  the SDK's asyncio registrations complete, not in the order the program declares them.
- the environment: `KUBECONFIG` and `PULUMI_K8S_*` are removed while the mock run runs. The kubernetes SDK fills
  provider settings the program leaves unset from them; the fast path does not read the process environment
  (no rule reads a tenant provider's settings).
- provider references (`RecordedResource.provider`) are not compared: no view a rule sees carries them.

Values are compared with their types (1.0 is not 1, True is not 1): the wire format has only floats.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from policies.declared import check_tenant_spec_fast, declared_resources
from policies.offline import RecordedResource, Violation, check_tenant_spec, collect_resources
from policies.registry import PackConfig
from policies.tenancy import TENANT_PROJECT
from programs.tenant import LifecycleState, TenantSpec, tenant_program
from programs.tenant.samples import multi_app_spec, samples, spec_with_apps
from tests.policies.tenant_specs import drifted, off_registry_and_oversized, unverified_domain_routed

STATES = list(LifecycleState)


def _without_readiness_waits() -> TenantSpec:
    spec = multi_app_spec()
    kubernetes = spec.platform.kubernetes.model_copy(update={"await_readiness": False})
    return spec.model_copy(update={"platform": spec.platform.model_copy(update={"kubernetes": kubernetes})})


SPECS: dict[str, TenantSpec] = {
    **{f"sample/{name}": spec for name, spec in samples().items()},
    **{f"5-apps/{state.value}": spec_with_apps(5, lifecycle=state) for state in STATES},
    "5-apps/no-cloudflare": spec_with_apps(5, cloudflare=False),
    "20-apps": spec_with_apps(20),
    "rendering-yaml": multi_app_spec(render_yaml_to_directory="/srv/rendered"),
    "no-readiness-waits": _without_readiness_waits(),
    "bad/storage-class": drifted(storage_class="gp2"),
    "bad/ingress-class": drifted(ingress_class="public"),
    "bad/looser-volume-cap": drifted(max_volume_size_gib=16384),
    "bad/registry-and-volume": off_registry_and_oversized(),
    "bad/unverified-domain": unverified_domain_routed(),
}
CONFIGS: dict[str, PackConfig] = {
    "stricter-registries": {"allowed-image-registries": {"allowedRegistries": ["ghcr.io/acme"]}},
    "all-advisory": {"all": "advisory"},
}


@pytest.fixture(autouse=True)
def _no_provider_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name == "KUBECONFIG" or name.startswith("PULUMI_K8S_"):
            monkeypatch.delenv(name)


def _mock_run(spec: TenantSpec) -> dict[str, RecordedResource]:
    recorded = collect_resources(lambda: tenant_program(spec), project=TENANT_PROJECT, stack=spec.namespace)
    return {resource.urn: resource for resource in recorded}


def _typed(value: Any) -> Any:
    """`value` with every scalar paired with its type's name, so that equality also compares types."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, value)


def _identity(resources: dict[str, RecordedResource]) -> dict[str, tuple[str, str]]:
    return {urn: (resource.type, resource.name) for urn, resource in resources.items()}


def _sorted(violations: list[Violation]) -> list[tuple[str, ...]]:
    return sorted(tuple(str(value) for value in violation.as_dict().values()) for violation in violations)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_fast_path_sees_what_the_mock_run_sees(name: str) -> None:
    spec = SPECS[name]
    expected = _mock_run(spec)
    fast = {resource.urn: resource for resource in declared_resources(spec)}
    assert len(fast) == len(declared_resources(spec))  # no URN declared twice
    assert _identity(fast) == _identity(expected)
    for urn, resource in expected.items():
        assert _typed(dict(fast[urn].inputs)) == _typed(dict(resource.inputs)), urn
        assert _typed(dict(fast[urn].outputs)) == _typed(dict(resource.outputs)), urn


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_fast_path_finds_the_same_violations(name: str) -> None:
    spec = SPECS[name]
    assert _sorted(check_tenant_spec_fast(spec)) == _sorted(check_tenant_spec(spec))


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_the_same_violations_under_a_configuration(config_name: str) -> None:
    spec, config = off_registry_and_oversized(), CONFIGS[config_name]
    violations = check_tenant_spec_fast(spec, config)
    assert violations, "a configuration that finds nothing would compare nothing"
    assert _sorted(violations) == _sorted(check_tenant_spec(spec, config))


def test_the_bad_specs_are_refused() -> None:
    """The comparisons above cover refusals, not only clean passes."""
    refused = {name for name, spec in SPECS.items() if any(v.mandatory for v in check_tenant_spec_fast(spec))}
    assert refused == {"bad/storage-class", "bad/ingress-class", "bad/registry-and-volume", "bad/unverified-domain"}
    unverified = check_tenant_spec_fast(SPECS["bad/unverified-domain"])
    assert {(v.rule, v.resource_type.rsplit(":", 1)[-1]) for v in unverified if v.mandatory} == {
        ("tenant-hosts-owned", "Ingress"),
        ("tenant-hosts-owned", "CustomHostname"),
    }


def test_declarations_that_cannot_be_read_fall_back_to_the_mock_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unreadable(spec: TenantSpec) -> list[RecordedResource]:
        raise TypeError("no wire form")

    monkeypatch.setattr("policies.declared.declared_resources", unreadable)
    spec = off_registry_and_oversized()
    violations = check_tenant_spec_fast(spec)
    assert {(v.rule, v.resource_name) for v in violations} == {
        ("allowed-image-registries", "web"),
        ("pvc-size-cap", "api"),
    }
    assert "checking under mocks" in caplog.text
