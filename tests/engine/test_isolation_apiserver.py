"""Issue 14's first finding end to end: through the HTTP API, the reconcile jobs and the real Pulumi engine against a
real Kubernetes API server (tests/support/kube_apiserver.py), with the policy pack on every update.

Account A creates `web` and deletes it; account B creates `web` at once; A's destroy and B's create then run to
completion in either order. Afterwards B's namespace and objects exist and are B's (by their labels), and A's are
gone. Before tenant identities both stacks managed the Kubernetes namespace `web`: A's destroy removed B's objects
(or, run first, left `web` terminating so that B's create failed).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from controlplane.accounts.api_keys import issue_api_key
from controlplane.accounts.principal import account_owner
from controlplane.accounts.scopes import TENANT_SCOPES
from controlplane.accounts.service import create_account
from controlplane.api.app import create_app
from controlplane.deployments.models import Namespace
from controlplane.deployments.reconcile import reconcile
from controlplane.runtime import Runtime, set_runtime
from tests.engine.conftest import TOOLS, require_engine
from tests.support.kube_apiserver import KubeApiServer
from tests.support.live import FUNDS, fund

WEB = {
    "name": "web",
    "image": "ghcr.io/acme/web:1.2.3",
    "replicas": 1,
    "cpu_millicores": 100,
    "memory_mib": 128,
    "ports": [{"name": "http", "port": 8080, "public": True}],
    "env": {"MODE": "production"},
}


@pytest.fixture
def engine_runtime(
    runtime: Runtime, committed: Callable[[], Session], api_server: KubeApiServer, tmp_path: Path
) -> Iterator[Runtime]:
    """The control plane's runtime with the real Pulumi engine, applying to the test API server."""
    if not all(shutil.which(tool) for tool in TOOLS):
        require_engine(f"{', '.join(TOOLS)} are not all on PATH")
    settings = runtime.settings.model_copy(
        update={
            "engine": "controlplane.engine.pulumi_engine:PulumiEngine",
            "data_dir": tmp_path / "data",
            "pulumi_backend_url": (tmp_path / "state").as_uri(),
            "platform_kubeconfig": SecretStr(api_server.kubeconfig),
            "platform_await_readiness": False,  # nothing runs the workloads on a bare API server
            "operation_timeout_s": 300,
        }
    )
    real = Runtime.connect(settings)
    set_runtime(real)
    try:
        yield real
    finally:
        set_runtime(runtime)
        real.close()


def new_tenant(runtime: Runtime) -> dict[str, str]:
    with runtime.new_session() as session:
        account = create_account(session)
        owner = account_owner(account.id)
        key = issue_api_key(session, runtime.settings, owner, name="e2e", scopes=list(TENANT_SCOPES), expires_at=None)
        fund(session, runtime.settings, account.id, FUNDS)
        session.commit()
    return {"Authorization": f"Bearer {key.key}"}


def stored(runtime: Runtime, client: TestClient, headers: dict[str, str], name: str) -> Namespace:
    response = client.get(f"/v1/namespaces/{name}", headers=headers)
    assert response.status_code == 200, response.text
    with runtime.new_session() as session:
        namespace = session.get(Namespace, response.json()["id"])
        assert namespace is not None
        session.expunge_all()
        return namespace


def reloaded(runtime: Runtime, namespace: Namespace) -> Namespace:
    with runtime.new_session() as session:
        row = session.get(Namespace, namespace.id)
        assert row is not None
        session.expunge_all()
        return row


def kube_get(kube: httpx.Client, path: str) -> dict[str, Any] | None:
    response = kube.get(path)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def gone(kube: httpx.Client, cluster_name: str) -> bool:
    """Deleted: a bare API server has no namespace controller, so a deleted namespace stays Terminating."""
    namespace = kube_get(kube, f"/api/v1/namespaces/{cluster_name}")
    return namespace is None or namespace["status"]["phase"] == "Terminating"


@pytest.mark.parametrize("order", ["destroy-first", "create-first"])
def test_a_name_reused_at_once_by_another_account_stays_its_own(
    engine_runtime: Runtime, kube: httpx.Client, order: str
) -> None:
    alice, bob = new_tenant(engine_runtime), new_tenant(engine_runtime)
    with TestClient(create_app(engine_runtime), base_url=engine_runtime.settings.public_url) as client:
        assert client.post("/v1/namespaces", json={"name": "web", "apps": [WEB]}, headers=alice).status_code == 202
        first = stored(engine_runtime, client, alice, "web")
        assert reconcile(str(first.id)) == "up to date"
        assert kube_get(kube, f"/apis/apps/v1/namespaces/{first.cluster_name}/deployments/web") is not None

        assert client.delete("/v1/namespaces/web", headers=alice).status_code == 202
        assert client.post("/v1/namespaces", json={"name": "web", "apps": [WEB]}, headers=bob).status_code == 202
        second = stored(engine_runtime, client, bob, "web")

    jobs = [str(first.id), str(second.id)] if order == "destroy-first" else [str(second.id), str(first.id)]
    for namespace_id in jobs:
        assert reconcile(namespace_id) == "up to date"

    assert reloaded(engine_runtime, first).status == "deleted"
    assert reloaded(engine_runtime, second).status == "ready"
    assert second.cluster_name != first.cluster_name
    bobs = kube_get(kube, f"/api/v1/namespaces/{second.cluster_name}")
    assert bobs is not None
    assert bobs["status"]["phase"] == "Active"
    owner = {"controlplane.io/account": str(second.account_id), "controlplane.io/namespace": second.id.hex}
    assert owner.items() <= bobs["metadata"]["labels"].items()
    assert bobs["metadata"]["annotations"]["controlplane.io/display-name"] == "web"
    for path in ("apps/v1/namespaces/{ns}/deployments/web", "networking.k8s.io/v1/namespaces/{ns}/ingresses/web"):
        obj = kube_get(kube, "/apis/" + path.format(ns=second.cluster_name))
        assert obj is not None, path
        assert owner.items() <= obj["metadata"]["labels"].items(), path
    ingress = kube_get(kube, f"/apis/networking.k8s.io/v1/namespaces/{second.cluster_name}/ingresses/web")
    assert ingress is not None
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [
        f"web-web-{second.host_suffix}.{engine_runtime.settings.platform_base_domain}"
    ]

    assert gone(kube, first.cluster_name)
    deployments = kube_get(kube, f"/apis/apps/v1/namespaces/{first.cluster_name}/deployments")
    assert deployments is not None
    assert deployments["items"] == []
