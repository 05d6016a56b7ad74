"""The recording mocks themselves: they catch what the stock mocks let through."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from tests.programs.conftest import Runner


def test_a_duplicate_urn_is_recorded(run: Runner) -> None:
    def program() -> None:
        k8s.core.v1.ConfigMap("same", metadata={"name": "a"})
        k8s.core.v1.ConfigMap("same", metadata={"name": "b"})

    mocks = run(program)
    assert len(mocks.duplicate_urns) == 1
    mocks.duplicate_urns.clear()  # expected here; the fixture would fail the test otherwise


def test_urns_carry_the_whole_parent_type_chain(run: Runner) -> None:
    class Outer(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("test:index:Outer", name)
            Inner(name, pulumi.ResourceOptions(parent=self))

    class Inner(pulumi.ComponentResource):
        def __init__(self, name: str, opts: pulumi.ResourceOptions) -> None:
            super().__init__("test:index:Inner", name, None, opts)
            k8s.core.v1.ConfigMap(name, opts=pulumi.ResourceOptions(parent=self))

    mocks = run(lambda: Outer("x"))
    config_map = mocks.named("kubernetes:core/v1:ConfigMap", "x")
    assert config_map.urn.endswith("test:index:Outer$test:index:Inner$kubernetes:core/v1:ConfigMap::x")


def test_secret_inputs_are_unwrapped_and_remembered(run: Runner) -> None:
    mocks = run(lambda: k8s.core.v1.Secret("s", string_data=pulumi.Output.secret({"k": "v"})))
    secret = mocks.named("kubernetes:core/v1:Secret", "s")
    assert secret.inputs["stringData"] == {"k": "v"}
    assert "stringData" in secret.secret_paths
