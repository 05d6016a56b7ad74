"""A namespace's whole life through the control plane's engine against a real Kubernetes API server.

etcd and kube-apiserver (scripts/install-tools kube-apiserver etcd) run on loopback, without a scheduler, kubelet
or controller-manager: the objects are stored, validated and admitted by the real server, but nothing runs them.
So the spec sets `await_readiness=False` (every object `pulumi.com/skipAwait`), and the checks read the objects
back from the API server over HTTPS with the admin token.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from controlplane.engine.interface import EngineEvent, RunKind, RunResult
from controlplane.engine.pulumi_engine import PulumiEngine
from controlplane.settings import Settings
from programs.components.tenant.models import SKIP_AWAIT_ANNOTATION
from programs.tenant import LifecycleState, TenantSpec
from programs.tenant.samples import multi_app_spec
from programs.tenant.spec import KubernetesProviderSettings
from tests.engine.conftest import TOOLS, require_engine, stack_names
from tests.support.kube_apiserver import KubeApiServer

STACK = "ns-apiserver"
NAMESPACE = "acme-shop"
log = logging.getLogger(__name__)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    if not all(shutil.which(tool) for tool in TOOLS):
        require_engine(f"{', '.join(TOOLS)} are not all on PATH")
    return Settings(
        env="test",
        data_dir=tmp_path / "data",
        pulumi_backend_url=(tmp_path / "state").as_uri(),
        operation_timeout_s=300,
    )


def spec_in(server: KubeApiServer, lifecycle: LifecycleState = LifecycleState.ACTIVE, **changes: Any) -> TenantSpec:
    spec = multi_app_spec(lifecycle, namespace=NAMESPACE, cloudflare=False, render_yaml_to_directory="unused")
    kubernetes = KubernetesProviderSettings(kubeconfig=SecretStr(server.kubeconfig), await_readiness=False)
    platform = spec.platform.model_copy(update={"kubernetes": kubernetes})
    return spec.model_copy(update={"platform": platform, **changes})


def run(engine: PulumiEngine, kind: RunKind, spec: TenantSpec | None) -> RunResult:
    events: list[EngineEvent] = []
    started = time.monotonic()
    result = engine.run(kind, STACK, spec, events.append)
    log.info("%s took %.1f s: %s", kind, time.monotonic() - started, result.changes)
    return result


def names(kube: httpx.Client, path: str) -> set[str]:
    response = kube.get(path)
    response.raise_for_status()
    return {item["metadata"]["name"] for item in response.json()["items"]}


def get(kube: httpx.Client, path: str) -> dict[str, Any]:
    response = kube.get(path)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


CORE = f"/api/v1/namespaces/{NAMESPACE}"
APPS = f"/apis/apps/v1/namespaces/{NAMESPACE}"
NETWORKING = f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}"


def test_a_namespace_through_its_whole_life_on_a_real_api_server(
    api_server: KubeApiServer, kube: httpx.Client, settings: Settings
) -> None:
    engine = PulumiEngine(settings)
    spec = spec_in(api_server)
    started = time.monotonic()

    created = run(engine, RunKind.UP, spec)
    assert created.changes.get("create", 0) > 0
    namespace = get(kube, f"/api/v1/namespaces/{NAMESPACE}")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == f"v{spec.platform.kubernetes_version}"
    assert namespace["metadata"]["annotations"][SKIP_AWAIT_ANNOTATION] == "true"
    for app in spec.apps:
        deployment = get(kube, f"{APPS}/deployments/{app.name}")
        assert deployment["spec"]["replicas"] == app.replicas
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == app.image
        assert deployment["metadata"]["annotations"][SKIP_AWAIT_ANNOTATION] == "true"
    app_names = {app.name for app in spec.apps}
    public = {app.name for app in spec.apps if app.public_port is not None}
    with_volume = {f"{app.name}-data" for app in spec.apps if app.volume is not None}
    assert names(kube, f"{APPS}/deployments") == app_names
    assert names(kube, f"{CORE}/services") == app_names
    assert names(kube, f"{NETWORKING}/ingresses") == public
    assert names(kube, f"{CORE}/persistentvolumeclaims") == with_volume
    assert "default-deny" in names(kube, f"{NETWORKING}/networkpolicies")
    assert names(kube, f"{CORE}/resourcequotas") == {"tenant-quota"}

    web = spec.apps[0]
    new_web = web.model_copy(update={"image": "ghcr.io/example/web:2.0.0"})
    changed = run(engine, RunKind.UP, spec_in(api_server, apps=(new_web, *spec.apps[1:])))
    assert changed.changes.get("update") == 1
    image = get(kube, f"{APPS}/deployments/{web.name}")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ghcr.io/example/web:2.0.0"

    run(engine, RunKind.UP, spec_in(api_server, LifecycleState.SUSPENDED))
    for app in spec.apps:
        assert get(kube, f"{APPS}/deployments/{app.name}")["spec"]["replicas"] == 0
    assert names(kube, f"{NETWORKING}/ingresses") == set()
    assert names(kube, f"{CORE}/persistentvolumeclaims") == with_volume

    run(engine, RunKind.UP, spec_in(api_server, LifecycleState.VOLUMES_RELEASED))
    assert names(kube, f"{CORE}/persistentvolumeclaims") == set()

    run(engine, RunKind.UP, spec_in(api_server))
    assert names(kube, f"{CORE}/persistentvolumeclaims") == with_volume
    assert names(kube, f"{NETWORKING}/ingresses") == public
    for app in spec.apps:
        assert get(kube, f"{APPS}/deployments/{app.name}")["spec"]["replicas"] == app.replicas

    assert STACK in stack_names(settings)
    destroyed = run(engine, RunKind.DESTROY, None)
    assert destroyed.changes.get("delete", 0) > 0
    for path in (f"{APPS}/deployments", f"{CORE}/services", f"{NETWORKING}/ingresses"):
        assert names(kube, path) == set(), path
    assert names(kube, f"{CORE}/persistentvolumeclaims") == set()
    assert names(kube, f"{CORE}/secrets") == set()
    # No namespace controller: the namespace keeps its `kubernetes` finalizer and stays Terminating.
    response = kube.get(f"/api/v1/namespaces/{NAMESPACE}")
    assert response.status_code == 404 or response.json()["status"]["phase"] == "Terminating"
    assert STACK not in stack_names(settings)
    log.info("lifecycle took %.1f s", time.monotonic() - started)
