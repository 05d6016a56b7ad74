"""The CrossGuard adapter and the registry: every rule becomes a policy object, without starting a server."""

from __future__ import annotations

import ast
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as policy_module
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policies.pack import PACK_NAME, build_policies, initial_config, to_policy
from policies.registry import RENAMED_RULES, ConfigError, Enforcement, ResourceRule, validate_pack_config
from policies.rules import BY_NAME, RULES
from tests.policies.factories import deployment, pod_spec, service, tenant_stack

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], policy_module.PolicyCustomTimeouts(0, 0, 0), [])


def resource_args(resource_type: str, props: dict[str, Any], config: dict[str, Any] | None = None) -> Any:
    urn = f"urn:pulumi:dev::tenant::{resource_type}::res"
    return ResourceValidationArgs(resource_type, unknown_checking_proxy(props), urn, "res", options(), None, config)


def stack_args(config: dict[str, Any] | None = None, **replace: dict[str, Any]) -> Any:
    resources = [
        PolicyResource(
            v.type,
            unknown_checking_proxy(dict(replace.get(v.name, v.props))),
            v.urn,
            v.name,
            options(),
            None,
            None,
            [],
            {},
        )
        for v in tenant_stack()
    ]
    return StackValidationArgs(resources, config)


def resource_policy(name: str) -> ResourceValidationPolicy:
    policy = to_policy(next(r for r in RULES if r.name == name))
    assert isinstance(policy, ResourceValidationPolicy)
    return policy


def stack_policy(name: str) -> StackValidationPolicy:
    policy = to_policy(next(r for r in RULES if r.name == name))
    assert isinstance(policy, StackValidationPolicy)
    return policy


class Violations(list[tuple[str, str | None]]):
    """CrossGuard's `report_violation(message, urn=None)`."""

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.append((message, urn))

    def messages(self) -> list[str]:
        return [message for message, _ in self]


def test_every_rule_converts(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_server(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a policy object started a gRPC server")

    monkeypatch.setattr(policy_module.grpc, "server", no_server)
    threads = threading.active_count()
    policies = build_policies()
    assert threading.active_count() == threads
    assert [p.name for p in policies] == [rule.name for rule in RULES]
    for rule, converted in zip(RULES, policies, strict=True):
        expected = ResourceValidationPolicy if isinstance(rule, ResourceRule) else StackValidationPolicy
        assert isinstance(converted, expected)
        assert converted.description == rule.description
        assert converted.enforcement_level is EnforcementLevel.MANDATORY
        if rule.config_schema:
            assert converted.config_schema is not None
            assert set(converted.config_schema.properties) == set(rule.config_schema)
        else:
            assert converted.config_schema is None


def test_rule_names_are_valid_policy_names() -> None:
    for rule in RULES:
        assert rule.name != "all"
        assert rule.name.replace("-", "").isalnum()
        assert rule.name.islower()
        assert rule.description.endswith(".")


def test_resource_policy_reports_through_crossguard_callback() -> None:
    policy = resource_policy("pss-baseline-privileged-containers")
    spec = pod_spec()
    spec["containers"][0]["securityContext"]["privileged"] = True
    violations = Violations()
    policy.validate(resource_args("kubernetes:apps/v1:Deployment", deployment(spec)), violations)
    assert violations == [("container 'app' is privileged (securityContext.privileged: true)", None)]


def test_resource_policy_skips_other_types() -> None:
    policy = resource_policy("ebs-volume-encrypted")
    violations = Violations()
    policy.validate(resource_args("aws:s3/bucket:Bucket", {}), violations)
    assert violations == []


def test_resource_policy_uses_configuration_over_defaults() -> None:
    policy = resource_policy("pvc-size-cap")
    claim = {"spec": {"storageClassName": "gp3-encrypted", "resources": {"requests": {"storage": "20Gi"}}}}
    violations = Violations()
    policy.validate(resource_args("kubernetes:core/v1:PersistentVolumeClaim", claim), violations)
    assert violations == []
    policy.validate(resource_args("kubernetes:core/v1:PersistentVolumeClaim", claim, {"maxSize": "10Gi"}), violations)
    assert violations.messages() == ["the claim requests 20Gi, more than the cap of 10Gi"]


def test_unknown_values_surface_as_crossguard_expects() -> None:
    # During a preview CrossGuard turns UnknownValueError into an advisory "can't run during preview".
    policy = resource_policy("pinned-image-tags")
    spec = pod_spec()
    spec["containers"][0]["image"] = UNKNOWN_STRING_VALUE
    with pytest.raises(UnknownValueError):
        policy.validate(resource_args("kubernetes:apps/v1:Deployment", deployment(spec)), Violations())


def test_stack_policy_attributes_violations_to_resource_urns() -> None:
    policy = stack_policy("tenant-services-cluster-ip")
    violations = Violations()
    policy.validate(stack_args(), violations)
    assert violations == []
    policy.validate(stack_args(**{"web-svc": service("NodePort")}), violations)
    assert violations == [
        (
            "the Service is of type NodePort; tenant Services are ClusterIP only",
            "urn:pulumi:dev::tenant::kubernetes:core/v1:Service::web-svc",
        )
    ]


def test_stack_policy_uses_configuration() -> None:
    policy = stack_policy("tenant-ingress-tls")
    violations = Violations()
    policy.validate(stack_args({"ingressClass": "traefik"}), violations)
    assert violations.messages() == ["the Ingress uses class 'nginx', not the platform's 'traefik'"]


def test_pack_config_validation() -> None:
    validate_pack_config(RULES, {"all": "advisory", "pvc-size-cap": {"maxSize": "5Gi", "enforcementLevel": "advisory"}})
    with pytest.raises(ConfigError, match="unknown rule"):
        validate_pack_config(RULES, {"no-such-rule": "mandatory"})
    with pytest.raises(ConfigError, match="renamed: configure 'pss-baseline-host-ports'"):
        validate_pack_config(RULES, {"no-host-ports": "advisory"})
    for old_name, new_names in RENAMED_RULES.items():
        assert old_name not in BY_NAME
        assert all(name in BY_NAME for name in new_names)
    with pytest.raises(ConfigError, match="unknown configuration properties"):
        validate_pack_config(RULES, {"pvc-size-cap": {"maxsize": "5Gi"}})
    with pytest.raises(ConfigError, match="enforcement level"):
        validate_pack_config(RULES, {"pvc-size-cap": "sometimes"})


def test_rule_resolution() -> None:
    rule = next(r for r in RULES if r.name == "pvc-size-cap")
    disabled = {"enforcementLevel": "disabled", "maxSize": "1Gi"}
    assert rule.resolve(None) == (Enforcement.MANDATORY, {"maxSize": "100Gi"})
    assert rule.resolve("advisory") == (Enforcement.ADVISORY, {"maxSize": "100Gi"})
    assert rule.resolve(disabled) == (Enforcement.DISABLED, {"maxSize": "1Gi"})
    assert rule.resolve("remediate")[0] is Enforcement.MANDATORY


def test_defaults_are_copies() -> None:
    rule = next(r for r in RULES if r.name == "allowed-image-registries")
    rule.defaults["allowedRegistries"].append("evil.example.com")
    assert "evil.example.com" not in rule.defaults["allowedRegistries"]


def test_initial_config_lists_configurable_rules() -> None:
    config = initial_config()
    assert config["pvc-storage-class"] == {"allowedStorageClasses": ["gp3-encrypted"]}
    assert config["pss-baseline-privileged-containers"] == {"exemptNamespaces": ["kube-system"]}
    assert "pinned-image-tags" not in config


def test_main_only_builds_the_pack() -> None:
    """`__main__` starts a server when imported, so the test reads it instead."""
    tree = ast.parse((PACK_DIR / "__main__.py").read_text())
    calls = [
        node.value.func.id
        for node in tree.body
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
    ]
    assert calls == ["PolicyPack"]
    source = (PACK_DIR / "__main__.py").read_text()
    assert "build_policies()" in source
    assert "PACK_NAME" in source
    assert policy_module._POLICY_PACK_NAME_RE.match(PACK_NAME)


def test_pack_metadata_files() -> None:
    document = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert document["runtime"]["name"] == "python"
    assert document["description"]
    requirements = (PACK_DIR / "requirements.txt").read_text()
    assert "pulumi-policy" in requirements


def test_no_module_but_main_constructs_a_pack() -> None:
    for path in PACK_DIR.rglob("*.py"):
        if path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                assert name != "PolicyPack", path
