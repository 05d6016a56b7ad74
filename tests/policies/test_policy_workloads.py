"""Pod security rules: each passes a compliant workload and fails one that breaks it."""

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
    "no-privileged-containers": (
        lambda s: s["containers"][0]["securityContext"].update(privileged=True),
        "container 'app' is privileged",
    ),
    "no-host-namespaces": (lambda s: s.update(hostNetwork=True), "host's network namespace"),
    "no-host-path-volumes": (
        lambda s: s["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}),
        "/var/run/docker.sock",
    ),
    "no-host-ports": (lambda s: s["containers"][0]["ports"][0].update(hostPort=80), "host port 80"),
    "no-added-capabilities": (
        lambda s: s["containers"][0]["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        "NET_ADMIN",
    ),
    "no-privilege-escalation": (
        lambda s: s["initContainers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
        "init container 'migrate'",
    ),
    "non-root-containers": (
        lambda s: s["containers"][0]["securityContext"].update(runAsUser=0),
        "runAsUser: 0",
    ),
    "resource-limits-required": (
        lambda s: s["initContainers"][0]["resources"]["limits"].pop("memory"),
        "init container 'migrate' has no memory limit",
    ),
}


def test_every_workload_rule_has_a_failing_case() -> None:
    assert {rule.name for rule in RULES} == set(BREAKS)


@pytest.mark.parametrize("rule_name", sorted(BREAKS))
def test_compliant_deployment_passes(rule_name: str, report: Collector) -> None:
    assert not run(rule_name, DEPLOYMENT, deployment(), report).messages


@pytest.mark.parametrize("rule_name", sorted(BREAKS))
def test_broken_deployment_fails(rule_name: str, report: Collector) -> None:
    change, expected = BREAKS[rule_name]
    run(rule_name, DEPLOYMENT, with_pod(change), report)
    assert expected in report.text()


@pytest.mark.parametrize(
    ("resource_type", "wrap"),
    [
        ("kubernetes:core/v1:Pod", lambda spec: {"metadata": {"name": "p"}, "spec": spec}),
        ("kubernetes:apps/v1:StatefulSet", lambda spec: {"spec": {"template": {"spec": spec}}}),
        ("kubernetes:apps/v1:DaemonSet", lambda spec: {"spec": {"template": {"spec": spec}}}),
        ("kubernetes:batch/v1:Job", lambda spec: {"spec": {"template": {"spec": spec}}}),
        (
            "kubernetes:batch/v1:CronJob",
            lambda spec: {"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}},
        ),
    ],
)
def test_every_workload_kind_is_inspected(
    resource_type: str, wrap: Callable[[dict[str, Any]], dict[str, Any]], report: Collector
) -> None:
    spec = pod_spec()
    assert not run("no-privileged-containers", resource_type, wrap(spec), report).messages
    spec["initContainers"][0]["securityContext"]["privileged"] = True
    assert (
        "init container 'migrate' is privileged"
        in run("no-privileged-containers", resource_type, wrap(spec), report).text()
    )


def test_host_pid_and_ipc_are_refused(report: Collector) -> None:
    run("no-host-namespaces", DEPLOYMENT, with_pod(lambda s: s.update(hostPID=True, hostIPC=True)), report)
    assert len(report.messages) == 2


def test_run_as_non_root_may_come_from_the_pod(report: Collector) -> None:
    def pod_level_only(spec: dict[str, Any]) -> None:
        for c in spec["containers"] + spec["initContainers"]:
            c["securityContext"].pop("runAsNonRoot")

    assert not run("non-root-containers", DEPLOYMENT, with_pod(pod_level_only), report).messages

    def container_overrides(spec: dict[str, Any]) -> None:
        spec["containers"][0]["securityContext"]["runAsNonRoot"] = False

    assert "may run as root" in run("non-root-containers", DEPLOYMENT, with_pod(container_overrides), report).text()


def test_missing_run_as_non_root_fails(report: Collector) -> None:
    def nowhere(spec: dict[str, Any]) -> None:
        spec["securityContext"].pop("runAsNonRoot")
        spec["containers"][0]["securityContext"].pop("runAsNonRoot")

    run("non-root-containers", DEPLOYMENT, with_pod(nowhere), report)
    assert report.messages == ["container 'app' may run as root: set runAsNonRoot: true"]


def test_root_pod_security_context_fails(report: Collector) -> None:
    run("non-root-containers", DEPLOYMENT, with_pod(lambda s: s["securityContext"].update(runAsUser=0)), report)
    assert "pod securityContext sets runAsUser: 0" in report.text()


def test_limits_must_be_quantities(report: Collector) -> None:
    spec = pod_spec()
    spec["containers"] = [container()]
    spec["containers"][0]["resources"] = {"requests": {"cpu": "1", "memory": "1Gi"}}
    run("resource-limits-required", DEPLOYMENT, deployment(spec), report)
    assert report.messages == ["container 'app' has no cpu or memory limit"]


def test_exempt_namespace_is_skipped(report: Collector) -> None:
    rule = resource_rule("no-host-namespaces")
    props = deployment(namespace="kube-system")
    props["spec"]["template"]["spec"]["hostNetwork"] = True
    rule.check(view(DEPLOYMENT, props), rule.defaults, report)
    assert not report
    rule.check(view(DEPLOYMENT, props), rule.merged_config({"exemptNamespaces": []}), report)
    assert report


def test_non_workloads_are_ignored(report: Collector) -> None:
    run("no-privileged-containers", "kubernetes:core/v1:ConfigMap", {"data": {"a": "b"}}, report)
    assert not report
