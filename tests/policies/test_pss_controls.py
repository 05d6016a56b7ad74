"""Every control of the Pod Security Standards v1.34: the pods of `pss_cases` (each allowed value passes, each
forbidden value fails) as a Pod and inside every kind that carries one, in every API version the cases name,
and as a server-side-apply patch (which does not break a control by leaving a required field out)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi_kubernetes as k8s
import pytest

from policies.offline import Violation, check_program, evaluate
from policies.registry import Level
from policies.rules import BY_NAME, RULES
from tests.policies.factories import view
from tests.policies.pss_cases import CASES, CONTROL_RULES, Case, Pod

Wrap = Callable[[Pod], dict[str, Any]]


def template(pod: Pod) -> dict[str, Any]:
    metadata = {key: value for key, value in pod["metadata"].items() if key not in ("name", "namespace")}
    return {"metadata": metadata, "spec": pod["spec"]}


def workload(api_version: str, kind: str) -> Wrap:
    return lambda pod: {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "web", "namespace": pod["metadata"]["namespace"]},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(pod)},
    }


def cron_job(api_version: str) -> Wrap:
    return lambda pod: {
        "apiVersion": api_version,
        "kind": "CronJob",
        "metadata": {"name": "web", "namespace": pod["metadata"]["namespace"]},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template(pod)}}},
    }


CARRIERS: dict[str, Wrap] = {
    "kubernetes:core/v1:Pod": lambda pod: {"apiVersion": "v1", "kind": "Pod", **pod},
    "kubernetes:apps/v1:Deployment": workload("apps/v1", "Deployment"),
    "kubernetes:apps/v1:StatefulSet": workload("apps/v1", "StatefulSet"),
    "kubernetes:apps/v1:DaemonSet": workload("apps/v1", "DaemonSet"),
    "kubernetes:batch/v1:Job": workload("batch/v1", "Job"),
    "kubernetes:batch/v1:CronJob": cron_job("batch/v1"),
    "kubernetes:batch/v1beta1:CronJob": cron_job("batch/v1beta1"),
    "kubernetes:apps/v1:DeploymentPatch": workload("apps/v1", "Deployment"),
}


def standard_violations(resource_type: str, props: dict[str, Any]) -> list[Violation]:
    return [v for v in evaluate([view(resource_type, props)]) if v.level is not None]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_control(case: Case) -> None:
    for resource_type, wrap in CARRIERS.items():
        expected = case.fails - case.absent if resource_type.endswith("Patch") else case.fails
        violations = standard_violations(resource_type, wrap(case.pod()))
        assert {v.rule for v in violations} == expected, (resource_type, [v.message for v in violations])


def test_every_control_has_passing_and_failing_cases() -> None:
    assert {rule.name for rule in RULES if rule.level is not None} == CONTROL_RULES
    for rule in CONTROL_RULES:
        assert any(rule in case.fails for case in CASES), rule
    passing = [case for case in CASES if not case.fails]
    assert len(passing) > 50


def test_violations_name_their_control_and_level() -> None:
    [case] = [case for case in CASES if case.id == "seccomp/pod-Unconfined"]
    violations = standard_violations("kubernetes:core/v1:Pod", CARRIERS["kubernetes:core/v1:Pod"](case.pod()))
    assert {(v.rule, v.control, v.level) for v in violations} == {
        ("pss-baseline-seccomp", "Seccomp", Level.BASELINE),
        ("pss-restricted-seccomp", "Seccomp", Level.RESTRICTED),
    }
    assert violations[0].as_dict()["level"] in ("baseline", "restricted")
    for name in CONTROL_RULES:
        rule = BY_NAME[name]
        assert rule.level is not None
        assert name.startswith(f"pss-{rule.level.value}-")
        assert "Pod Security Standards v1.34" in rule.description


def test_messages_say_where() -> None:
    [case] = [case for case in CASES if case.id == "privileged/init-container"]
    violations = standard_violations("kubernetes:core/v1:Pod", CARRIERS["kubernetes:core/v1:Pod"](case.pod()))
    assert "init container 'init' is privileged (securityContext.privileged: true)" in [v.message for v in violations]


def test_the_sdk_wire_form_gives_the_same_verdicts() -> None:
    """Every case as a Pod declared through the SDK under Pulumi's mocks: the rules see the wire form (numbers as
    floats, `None`s dropped) and give the same verdicts as on the hand-written objects."""

    def program() -> None:
        for case in CASES:
            pod = case.pod()
            k8s.core.v1.Pod(case.id, metadata=pod["metadata"], spec=pod["spec"])

    broken: dict[str, set[str]] = {case.id: set() for case in CASES}
    for violation in check_program(program):
        if violation.level is not None:
            broken[violation.resource_name].add(violation.rule)
    assert broken == {case.id: set(case.fails) for case in CASES}
