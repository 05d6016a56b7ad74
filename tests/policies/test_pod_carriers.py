"""Which objects carry a pod: every kind in every API version the SDK ships, its `*Patch` and `*List` types,
unknown kinds by shape, and raw manifests the provider expands (ConfigFile, ConfigGroup, yaml/v2), seen through
the offline check (the program run under Pulumi's mocks, the SDK sending its real type tokens)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from pulumi.runtime import rpc

from policies.offline import OfflineCheckError, Violation, check_program, collect_resources
from policies.pods import POD_PATHS, carried_pods, split_type
from policies.registry import ResourceView
from tests.policies.factories import view
from tests.policies.pss_cases import NAMESPACE, compliant_pod

PRIVILEGED = "pss-baseline-privileged-containers"


def privileged_pod() -> dict[str, Any]:
    pod = compliant_pod()
    pod["spec"]["containers"][0]["securityContext"].update(privileged=True, allowPrivilegeEscalation=True)
    return pod


def sdk_pod_classes() -> dict[str, type[pulumi.CustomResource]]:
    """Type token -> resource class, for every class of the installed SDK whose kind (less `Patch`/`List`) the
    pack knows carries a pod, in every API version: read from the token registry the SDK registers at import."""
    classes = {}
    for key, modules in sorted(rpc._RESOURCE_MODULES.items()):
        if not key.startswith("kubernetes:"):
            continue
        for module in modules:
            info = getattr(module, "mod_info", {})
            for token, class_name in info.get("classes", {}).items():
                group, kind = split_type(token)
                if (group, kind.removesuffix("Patch").removesuffix("List")) in POD_PATHS:
                    classes[token] = getattr(importlib.import_module(info["fqn"]), class_name)
    return classes


def instantiate(cls: type[pulumi.CustomResource], pod: dict[str, Any]) -> None:
    kind = cls.__name__.removesuffix("Patch").removesuffix("List")
    template = {"metadata": {"labels": {"app": "web"}}, "spec": pod["spec"]}
    if kind == "Pod":
        fields: dict[str, Any] = {"spec": pod["spec"]}
    elif kind == "PodTemplate":
        fields = {"template": template}
    elif kind == "CronJob":
        fields = {"spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": template}}}}
    elif kind == "ReplicationController":  # its selector is a plain map of labels
        fields = {"spec": {"selector": {"app": "web"}, "template": template}}
    else:
        fields = {"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template}}
    metadata = {"name": "web", "namespace": NAMESPACE}
    if cls.__name__.endswith("List"):
        cls(f"{cls.__module__}.{cls.__name__}", items=[{"metadata": metadata, **fields}])  # type: ignore[call-arg]
    else:
        cls(f"{cls.__module__}.{cls.__name__}", metadata=metadata, **fields)  # type: ignore[call-arg]


def test_every_kind_and_api_version_the_sdk_ships_is_checked() -> None:
    classes = sdk_pod_classes()

    def program() -> None:
        for cls in classes.values():
            instantiate(cls, privileged_pod())

    resources = collect_resources(program)
    types = {resource.type for resource in resources}
    assert types == set(classes)  # the SDK sends the tokens it registers
    assert len(resources) == len(types) == 60
    for expected in (
        "kubernetes:batch/v1beta1:CronJob",
        "kubernetes:batch/v2alpha1:CronJobPatch",
        "kubernetes:apps/v1beta1:Deployment",
        "kubernetes:apps/v1beta2:StatefulSetList",
        "kubernetes:extensions/v1beta1:DaemonSet",
        "kubernetes:apps/v1:DeploymentPatch",
        "kubernetes:core/v1:PodTemplate",
        "kubernetes:core/v1:ReplicationControllerList",
    ):
        assert expected in types
    for resource_type in types:  # by kind, not by shape: PodTemplate's shape is no workload's
        group, kind = split_type(resource_type)
        assert (group, kind.removesuffix("Patch").removesuffix("List")) in POD_PATHS
    violations = check_program(program)
    flagged = {v.resource_type for v in violations if v.rule == PRIVILEGED}
    assert flagged == types


def test_a_list_checks_each_item_and_says_which() -> None:
    good, bad = compliant_pod(), privileged_pod()
    items = [{"metadata": {"name": f"web-{i}"}, "spec": pod["spec"]} for i, pod in enumerate((good, bad))]
    [pod_0, pod_1] = carried_pods(view("kubernetes:core/v1:PodList", {"items": items}))
    assert (pod_0.where, pod_1.where, pod_1.partial) == ("items[0]", "items[1]", False)
    violations = check_program(lambda: k8s.core.v1.PodList("pods", items=items))
    assert [v.message for v in violations if v.rule == PRIVILEGED] == [
        "items[1]: container 'app' is privileged (securityContext.privileged: true)"
    ]


def test_unknown_kinds_are_inspected_by_shape() -> None:
    bad = privileged_pod()

    def program() -> None:
        k8s.apiextensions.CustomResource(
            "rollout",
            api_version="argoproj.io/v1alpha1",
            kind="Rollout",
            metadata={"name": "web", "namespace": NAMESPACE},
            spec={"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}, "spec": bad["spec"]}},
        )
        k8s.apiextensions.CustomResource(
            "scheduled",
            api_version="example.com/v1",
            kind="ScheduledWork",
            metadata={"name": "work", "namespace": NAMESPACE},
            spec={"jobTemplate": {"spec": {"template": {"spec": bad["spec"]}}}},
        )
        k8s.apiextensions.CustomResource(
            "other",
            api_version="example.com/v1",
            kind="Widget",
            metadata={"name": "widget", "namespace": NAMESPACE},
            spec={"containers": bad["spec"]["containers"]},  # no pod template shape: not a pod
        )

    flagged = {(v.resource_type, v.resource_name) for v in check_program(program) if v.rule == PRIVILEGED}
    assert flagged == {
        ("kubernetes:argoproj.io/v1alpha1:Rollout", "rollout"),
        ("kubernetes:example.com/v1:ScheduledWork", "scheduled"),
    }


def test_a_patch_checks_what_it_sets() -> None:
    """A server-side-apply patch leaves what it does not name: an absent field is no violation, a set one is."""
    annotations = {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}
    untouched = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/web:1.5.0"}]}}}}
    annotated = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
    escalates = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "securityContext": {"allowPrivilegeEscalation": True}}]}
            }
        }
    }

    def rules(props: dict[str, Any]) -> set[str]:
        violations = check_program(lambda: k8s.apps.v1.DeploymentPatch("web", metadata={"name": "web"}, **props))
        return {v.rule for v in violations}

    assert rules(untouched) == set()
    assert rules(annotated) == {"pss-baseline-apparmor"}
    assert rules(escalates) == {"pss-restricted-privilege-escalation"}
    # The same container as a whole object is missing every field the restricted level requires.
    assert {"pss-restricted-running-as-non-root", "pss-restricted-seccomp"} <= {
        v.rule
        for v in check_program(
            lambda: k8s.apps.v1.Deployment("web", metadata={"name": "web"}, spec={"selector": {}, **untouched["spec"]})
        )
    }


def test_objects_that_carry_no_pod() -> None:
    for resource_type, props in (
        ("kubernetes:core/v1:ConfigMap", {"data": {"spec": "x"}}),
        ("kubernetes:helm.sh/v3:Release", {"values": {"spec": {"template": {"spec": {"hostNetwork": True}}}}}),
        ("aws:eks/cluster:Cluster", {"spec": {"template": {"spec": {}}}}),
    ):
        assert carried_pods(ResourceView(resource_type, "x", props)) == []


# --- raw manifests -------------------------------------------------------------------------------


def manifest(api_version: str, kind: str, name: str, pod: dict[str, Any]) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": name}}, "spec": pod["spec"]}
    metadata = {"name": name, "namespace": NAMESPACE}
    if kind == "Pod":
        return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": pod["spec"]}
    if kind == "CronJob":
        spec = {"schedule": "@hourly", "jobTemplate": {"spec": {"template": template}}}
        return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec}
    spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec}


def bad_manifests() -> list[dict[str, Any]]:
    return [
        manifest("v1", "Pod", "pod", privileged_pod()),
        manifest("batch/v1beta1", "CronJob", "cron", privileged_pod()),
        {
            "apiVersion": "apps/v1",
            "kind": "DeploymentList",
            "items": [manifest("apps/v1", "Deployment", "listed", privileged_pod())],
        },
        manifest("argoproj.io/v1alpha1", "Rollout", "rollout", privileged_pod()),
    ]


def flagged(violations: list[Violation]) -> set[tuple[str, str]]:
    return {(v.resource_type, v.resource_name) for v in violations if v.rule == PRIVILEGED}


def test_yaml_config_file_and_group_are_expanded(tmp_path: Path) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(bad_manifests()))

    def program() -> None:
        k8s.yaml.ConfigFile("file", file=str(path))
        k8s.yaml.ConfigGroup("group", yaml=[yaml.safe_dump(manifest("apps/v1", "DaemonSet", "ds", privileged_pod()))])

    assert flagged(check_program(program)) == {
        ("kubernetes:core/v1:Pod", f"{NAMESPACE}/pod"),
        ("kubernetes:batch/v1beta1:CronJob", f"{NAMESPACE}/cron"),
        ("kubernetes:apps/v1:Deployment", f"{NAMESPACE}/listed"),
        ("kubernetes:argoproj.io/v1alpha1:Rollout", f"{NAMESPACE}/rollout"),
        ("kubernetes:apps/v1:DaemonSet", f"{NAMESPACE}/ds"),
    }


def test_yaml_v2_config_file_and_group_are_expanded(tmp_path: Path) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(bad_manifests()))

    def program() -> None:
        k8s.yaml.v2.ConfigFile("file", file=str(path))
        k8s.yaml.v2.ConfigGroup(
            "group",
            objs=[manifest("apps/v1", "StatefulSet", "sts", privileged_pod())],
            yaml=yaml.safe_dump(manifest("batch/v1", "Job", "job", privileged_pod())),
        )

    assert flagged(check_program(program)) == {
        ("kubernetes:core/v1:Pod", f"file:{NAMESPACE}/pod"),
        ("kubernetes:batch/v1beta1:CronJob", f"file:{NAMESPACE}/cron"),
        ("kubernetes:apps/v1:Deployment", f"file:{NAMESPACE}/listed"),
        ("kubernetes:argoproj.io/v1alpha1:Rollout", f"file:{NAMESPACE}/rollout"),
        ("kubernetes:apps/v1:StatefulSet", f"group:{NAMESPACE}/sts"),
        ("kubernetes:batch/v1:Job", f"group:{NAMESPACE}/job"),
    }


@pytest.mark.parametrize(
    "declare",
    [
        lambda path: k8s.helm.v3.Chart("chart", k8s.helm.v3.LocalChartOpts(path=path)),
        lambda path: k8s.helm.v4.Chart("chart", chart=path),
    ],
    ids=["helm-v3-Chart", "helm-v4-Chart"],
)
def test_helm_charts_are_not_passed_unseen(declare: Any, tmp_path: Path) -> None:
    """Mocks have no Helm to render a chart: the offline check refuses the program rather than pass pods it never
    saw (the engine's CrossGuard run sees them: tests/engine/test_real_apiserver.py)."""
    with pytest.raises(OfflineCheckError, match="Helm or kustomize"):
        check_program(lambda: declare(str(tmp_path)))
