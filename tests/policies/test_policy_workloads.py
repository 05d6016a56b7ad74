"""The project's own pod rules, stricter than the Pod Security Standards (the standard's controls:
test_pss_controls.py), and the namespace exemptions every pod rule shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policies.rules.workloads import RULES
from tests.policies.conftest import Collector
from tests.policies.factories import container, deployment, pod_spec, resource_rule, view

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def run(rule_name: str, resource_type: str, props: dict[str, Any], report: Collector) -> Collector:
    rule = resource_rule(rule_name)
    rule.check(view(resource_type, props), rule.defaults, report)
    return report


def with_pod(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    spec = pod_spec()
    change(spec)
    return deployment(spec)


BREAKS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "no-added-capabilities": (
        lambda s: s["containers"][0]["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        "NET_ADMIN",
    ),
    "resource-limits-required": (
        lambda s: s["initContainers"][0]["resources"]["limits"].pop("memory"),
        "init container 'migrate' has no memory limit",
    ),
}


def test_every_project_pod_rule_has_a_failing_case() -> None:
    assert {rule.name for rule in RULES} == set(BREAKS)
    for rule in RULES:
        assert rule.level is None
        assert rule.control is None


@pytest.mark.parametrize("rule_name", sorted(BREAKS))
def test_compliant_deployment_passes(rule_name: str, report: Collector) -> None:
    assert not run(rule_name, DEPLOYMENT, deployment(), report).messages


@pytest.mark.parametrize("rule_name", sorted(BREAKS))
def test_broken_deployment_fails(rule_name: str, report: Collector) -> None:
    change, expected = BREAKS[rule_name]
    run(rule_name, DEPLOYMENT, with_pod(change), report)
    assert expected in report.text()


def test_no_capability_may_be_added_not_even_the_one_restricted_allows(report: Collector) -> None:
    spec = pod_spec()
    spec["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert not run("pss-restricted-capabilities", DEPLOYMENT, deployment(spec), report).messages
    run("no-added-capabilities", DEPLOYMENT, deployment(spec), report)
    assert report.messages == ["container 'app' adds capabilities ['NET_BIND_SERVICE']"]


def test_limits_must_be_quantities(report: Collector) -> None:
    spec = pod_spec()
    spec["containers"] = [container()]
    spec["containers"][0]["resources"] = {"requests": {"cpu": "1", "memory": "1Gi"}}
    run("resource-limits-required", DEPLOYMENT, deployment(spec), report)
    assert report.messages == ["container 'app' has no cpu or memory limit"]


def test_a_patch_keeps_the_limits_it_does_not_name(report: Collector) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/web:1.5"}]}}}}
    assert not run("resource-limits-required", "kubernetes:apps/v1:DeploymentPatch", patch, report).messages
    patch["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "lots"}}
    run("resource-limits-required", "kubernetes:apps/v1:DeploymentPatch", patch, report)
    assert report.messages == ["container 'app' has no cpu limit"]


@pytest.mark.parametrize(
    "rule_name", ["pss-baseline-host-namespaces", "pss-restricted-seccomp", "no-added-capabilities"]
)
def test_exempt_namespace_is_skipped(rule_name: str, report: Collector) -> None:
    rule = resource_rule(rule_name)
    props = deployment(namespace="kube-system")
    spec = props["spec"]["template"]["spec"]
    spec.update(hostNetwork=True)
    spec["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    spec["containers"][0]["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]
    rule.check(view(DEPLOYMENT, props), rule.defaults, report)
    assert not report
    rule.check(view(DEPLOYMENT, props), rule.merged_config({"exemptNamespaces": []}), report)
    assert report


def test_non_workloads_are_ignored(report: Collector) -> None:
    run("no-added-capabilities", "kubernetes:core/v1:ConfigMap", {"data": {"a": "b"}}, report)
    assert not report
