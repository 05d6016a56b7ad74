"""The offline check: programs under Pulumi's mocks, every rule applied, the runtime left as it was."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import settings

from policies.offline import (
    OfflineCheckError,
    OfflineCheckTimeout,
    Violation,
    check_program,
    collect_resources,
    evaluate,
    has_mandatory,
)
from policies.registry import ConfigError, Enforcement, Level
from tests.policies.factories import (
    TENANT_NS,
    default_deny,
    egress_internet,
    namespace,
    pod_spec,
    service,
    tenant_stack,
)


def tenant_baseline() -> k8s.core.v1.Namespace:
    ns = k8s.core.v1.Namespace("ns", metadata=namespace()["metadata"])
    k8s.core.v1.ResourceQuota(
        "quota", metadata={"name": "quota", "namespace": TENANT_NS}, spec={"hard": {"limits.cpu": "2"}}
    )
    k8s.core.v1.LimitRange(
        "limits",
        metadata={"name": "limits", "namespace": TENANT_NS},
        spec={"limits": [{"type": "Container", "max": {"cpu": "1"}}]},
    )
    k8s.networking.v1.NetworkPolicy("deny", **default_deny())
    k8s.networking.v1.NetworkPolicy("egress", **egress_internet())
    return ns


def good_tenant() -> None:
    tenant_baseline()
    k8s.core.v1.Pod("web", metadata={"name": "web", "namespace": TENANT_NS}, spec=pod_spec())
    k8s.core.v1.Service("web", **service())


def privileged_pod_program() -> None:
    tenant_baseline()
    spec = pod_spec()
    spec["containers"][0]["securityContext"]["privileged"] = True
    k8s.core.v1.Pod("miner", metadata={"name": "miner", "namespace": TENANT_NS}, spec=spec)


def node_port_program() -> None:
    tenant_baseline()
    k8s.core.v1.Service("exposed", **service("NodePort"))


def rules_of(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations}


def test_compliant_program_passes() -> None:
    assert check_program(good_tenant) == []


def test_privileged_pod_is_caught() -> None:
    violations = check_program(privileged_pod_program)
    assert violations == [
        Violation(
            rule="pss-baseline-privileged-containers",
            enforcement=Enforcement.MANDATORY,
            resource_type="kubernetes:core/v1:Pod",
            resource_name="miner",
            message="container 'app' is privileged (securityContext.privileged: true)",
            control="Privileged Containers",
            level=Level.BASELINE,
        )
    ]
    assert has_mandatory(violations)


def test_node_port_service_is_caught_by_a_stack_rule() -> None:
    violations = check_program(node_port_program)
    assert [(v.rule, v.resource_type, v.resource_name) for v in violations] == [
        ("tenant-services-cluster-ip", "kubernetes:core/v1:Service", "exposed")
    ]


def test_configuration_sets_levels_and_properties() -> None:
    advisory = check_program(privileged_pod_program, {"pss-baseline-privileged-containers": "advisory"})
    assert [v.enforcement for v in advisory] == [Enforcement.ADVISORY]
    assert not has_mandatory(advisory)
    disabled = {"pss-baseline-privileged-containers": {"enforcementLevel": "disabled"}}
    assert check_program(privileged_pod_program, disabled) == []
    everything_advisory = check_program(node_port_program, {"all": "advisory"})
    assert {v.enforcement for v in everything_advisory} == {Enforcement.ADVISORY}
    with pytest.raises(ConfigError):
        check_program(good_tenant, {"no-such-rule": "advisory"})


def test_stack_level_violation_without_resource() -> None:
    views = [v for v in tenant_stack() if v.name != "quota"]
    [violation] = [v for v in evaluate(views, stack_name="acme") if v.rule == "tenant-resource-quota"]
    assert violation.resource_name == "ns"  # attributed to the tenant Namespace
    identified = evaluate([v for v in tenant_stack() if v.name != "ns"], stack_name="acme")
    [orphan] = [v for v in identified if v.rule == "tenant-stack-identified"]
    assert (orphan.resource_type, orphan.resource_name) == ("pulumi:pulumi:Stack", "acme")


def test_inputs_are_wire_form_and_outputs_add_computed_fields() -> None:
    def program() -> None:
        k8s.apps.v1.Deployment(
            "auto",
            metadata={"namespace": TENANT_NS},
            spec={"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": pod_spec()}},
        )

    [resource] = collect_resources(program)
    assert resource.inputs["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert "name" not in resource.inputs["metadata"]
    assert resource.outputs["metadata"]["name"].startswith("auto-")  # the provider's auto-naming


def test_components_and_reads_are_not_resources() -> None:
    class Box(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("test:index:Box", name)
            k8s.core.v1.ConfigMap(name, metadata={"namespace": TENANT_NS}, opts=pulumi.ResourceOptions(parent=self))

    def program() -> None:
        Box("box")
        k8s.core.v1.Service.get("existing", "ingress-nginx/ingress-nginx-controller")

    assert [(r.type, r.name) for r in collect_resources(program)] == [("kubernetes:core/v1:ConfigMap", "box")]


def test_default_aws_provider_takes_the_stack_region() -> None:
    def program() -> None:
        aws.ebs.Volume("data", availability_zone="us-east-1a", size=10, encrypted=True)

    assert check_program(program, stack_config={"aws:region": "us-east-1"}) == []
    [wrong] = check_program(program, stack_config={"aws:region": "eu-west-1"})
    assert (wrong.rule, wrong.resource_type) == ("aws-region", "pulumi:providers:aws")
    assert "sets no region" in check_program(program)[0].message


def test_explicit_aws_provider_region_is_checked() -> None:
    def program() -> None:
        provider = aws.Provider("west", region="us-west-2")
        aws.ebs.Volume("data", availability_zone="us-west-2a", size=10, opts=pulumi.ResourceOptions(provider=provider))

    assert rules_of(check_program(program)) == {"aws-region", "ebs-volume-encrypted"}


def test_program_config_is_readable() -> None:
    seen: dict[str, Any] = {}

    def program() -> None:
        seen["value"] = pulumi.Config("platform").require_object("cluster")
        seen["stack"] = pulumi.get_stack()

    check_program(program, stack_config={"platform:cluster": {"name": "c1"}}, stack="dev")
    assert seen == {"value": {"name": "c1"}, "stack": "dev"}


def test_failing_program_raises_and_leaves_the_runtime_usable() -> None:
    def broken() -> None:
        ns = k8s.core.v1.Namespace("ns", metadata={"name": "x"})
        ns.metadata.apply(lambda _: 1 / 0)

    with pytest.raises(OfflineCheckError) as caught:
        check_program(broken)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert check_program(good_tenant) == []


def test_runtime_settings_are_restored() -> None:
    before = (settings.SETTINGS.monitor, settings.SETTINGS.project, settings.SETTINGS.stack, settings.ROOT.get())
    check_program(good_tenant, project="elsewhere", stack="other")
    after = (settings.SETTINGS.monitor, settings.SETTINGS.project, settings.SETTINGS.stack, settings.ROOT.get())
    assert after == before
    assert pulumi.runtime.get_config("platform:anything") is None


def test_safe_from_an_async_handler_and_many_threads() -> None:
    async def handler() -> list[Violation]:
        return check_program(node_port_program)

    # On a thread of its own: asyncio.run would leave the main thread without an event loop, which other
    # tests' mocks (created on the main thread) rely on.
    from_handler: list[list[Violation]] = []
    runner = threading.Thread(target=lambda: from_handler.append(asyncio.run(handler())))
    runner.start()
    runner.join()
    assert [len(v) for v in from_handler] == [1]

    results: list[int] = []
    errors: list[BaseException] = []

    def worker(program: Any) -> None:
        try:
            results.append(len(check_program(program)))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(p,)) for p in (good_tenant, node_port_program) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [0] * 4 + [1] * 4


def test_hung_program_times_out() -> None:
    release = threading.Event()

    def hangs() -> None:
        release.wait(5)

    with pytest.raises(OfflineCheckTimeout):
        check_program(hangs, timeout=0.2)
    release.set()
    assert check_program(good_tenant) == []  # waits for the stuck run to finish, then runs


def test_nested_check_is_refused() -> None:
    def nested() -> None:
        check_program(good_tenant)

    with pytest.raises(OfflineCheckError) as caught:
        check_program(nested)
    assert "inside a program under check" in str(caught.value.__cause__)
