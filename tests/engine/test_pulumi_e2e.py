"""A namespace's whole life through the control plane's engine and the real `pulumi` CLI.

The Kubernetes provider renders manifests to a folder instead of a cluster, and the backend is a `file://` folder:
everything else — the Automation API, the engine, the plugin, the policy pack — is the real thing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from controlplane.engine.interface import EngineEvent, PolicyViolation, RunKind, RunResult
from controlplane.engine.pulumi_engine import PulumiEngine
from controlplane.settings import Settings
from programs.tenant import LifecycleState, TenantSpec
from programs.tenant.samples import multi_app_spec
from tests.engine.conftest import stack_names

STACK = "ns-e2e"


def manifests(render_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The rendered objects by (kind, name)."""
    found = {}
    for path in sorted(render_dir.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found[(document["kind"], document["metadata"]["name"])] = document
    return found


def spec_in(settings: Settings, lifecycle: LifecycleState = LifecycleState.ACTIVE, **changes: Any) -> TenantSpec:
    spec = multi_app_spec(lifecycle, cloudflare=False, render_yaml_to_directory=str(settings.platform_render_dir))
    return spec.model_copy(update=changes) if changes else spec


def run(engine: PulumiEngine, kind: RunKind, spec: TenantSpec | None) -> tuple[RunResult, list[EngineEvent]]:
    events: list[EngineEvent] = []
    return engine.run(kind, STACK, spec, events.append), events


def test_a_namespace_through_its_whole_life(engine_settings: Settings) -> None:
    engine = PulumiEngine(engine_settings)
    render = engine_settings.platform_render_dir
    assert render is not None

    created, events = run(engine, RunKind.UP, spec_in(engine_settings))
    objects = manifests(render)
    assert created.changes.get("create", 0) > len(objects)  # the objects, plus the stack, provider and components
    spec = spec_in(engine_settings)
    assert sorted(name for kind, name in objects if kind == "Deployment") == sorted(app.name for app in spec.apps)
    for manifest in objects.values():
        kubernetes_validate.validate(manifest, "1.34", strict=True)
    web = objects[("Deployment", "web")]
    assert web["spec"]["replicas"] == 2
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == spec_in(engine_settings).apps[0].image
    assert ("Ingress", "web") in objects
    assert ("PersistentVolumeClaim", "api-data") in objects
    assert any(event.type == "resource_pre" for event in events)

    unchanged, _ = run(engine, RunKind.UP, spec_in(engine_settings))
    assert set(unchanged.changes) == {"same"}

    spec = spec_in(engine_settings)
    new_image = spec.apps[0].model_copy(update={"image": "ghcr.io/acme/web:2.0.0"})
    changed, _ = run(engine, RunKind.UP, spec.model_copy(update={"apps": (new_image, *spec.apps[1:])}))
    assert changed.changes.get("update") == 1
    assert manifests(render)[("Deployment", "web")]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "ghcr.io/acme/web:2.0.0"
    )

    run(engine, RunKind.UP, spec_in(engine_settings, LifecycleState.SUSPENDED))
    suspended = manifests(render)
    assert {doc["spec"]["replicas"] for kind, doc in suspended.items() if kind[0] == "Deployment"} == {0}
    assert not [key for key in suspended if key[0] == "Ingress"]
    assert ("PersistentVolumeClaim", "api-data") in suspended

    run(engine, RunKind.UP, spec_in(engine_settings, LifecycleState.VOLUMES_RELEASED))
    assert not [key for key in manifests(render) if key[0] == "PersistentVolumeClaim"]

    run(engine, RunKind.UP, spec_in(engine_settings))
    resumed = manifests(render)
    assert ("PersistentVolumeClaim", "api-data") in resumed
    assert ("Ingress", "web") in resumed

    assert STACK in stack_names(engine_settings)
    destroyed, _ = run(engine, RunKind.DESTROY, None)
    assert destroyed.changes.get("delete", 0) >= len(resumed)
    assert manifests(render) == {}
    assert STACK not in stack_names(engine_settings)


def test_the_policy_pack_refuses_a_violating_update_by_rule_name(engine_settings: Settings) -> None:
    engine = PulumiEngine(engine_settings)
    spec = spec_in(engine_settings)
    outside = spec.apps[0].model_copy(update={"image": "registry.example.com/acme/web:1.0"})
    with pytest.raises(PolicyViolation) as refused:
        run(engine, RunKind.UP, spec.model_copy(update={"apps": (outside, *spec.apps[1:])}))
    assert "allowed-image-registries" in refused.value.rules
