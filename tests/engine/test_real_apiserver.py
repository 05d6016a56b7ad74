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
import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from pulumi import automation as auto
from pulumi.automation import events as pulumi_events
from pydantic import SecretStr

from controlplane.engine.interface import EngineEvent, RunKind, RunResult
from controlplane.engine.pulumi_engine import PulumiEngine
from controlplane.settings import Settings
from policies import PACK_DIR
from policies.declared import declared_resources
from policies.offline import evaluate
from policies.registry import ResourceView
from programs.components.common import pod_security_labels
from programs.components.tenant.models import SKIP_AWAIT_ANNOTATION
from programs.tenant import LifecycleState, TenantSpec
from programs.tenant.samples import multi_app_spec
from programs.tenant.spec import KubernetesProviderSettings
from tests.engine.conftest import TOOLS, require_engine, stack_names
from tests.policies.pss_cases import CASES
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


# --- Pod Security: the namespace labels the tenant program sets, the real PodSecurity admission and the pack ---

PSS_NAMESPACE = "acme-pss"
BASELINE_NAMESPACE = "acme-pss-baseline"


def declared_namespace_labels(spec: TenantSpec) -> dict[str, str]:
    """The labels the tenant program declares on its Namespace (the declarations the program instantiates)."""
    [namespace] = [r for r in declared_resources(spec) if r.type == "kubernetes:core/v1:Namespace"]
    labels: dict[str, str] = namespace.inputs["metadata"]["labels"]
    return labels


def create(kube: httpx.Client, path: str, body: dict[str, Any]) -> None:
    response = kube.post(path, json=body)
    assert response.status_code in (201, 409), response.text  # 409: a previous test of this module made it


def pod_namespaces(kube: httpx.Client) -> dict[str, dict[str, str]]:
    """A namespace labelled as the tenant program labels its own, and one enforcing only baseline, each with the
    ServiceAccounts the pods below name (without a controller manager nobody creates `default`)."""
    spec = multi_app_spec(namespace=PSS_NAMESPACE, cloudflare=False)
    labels = {
        PSS_NAMESPACE: declared_namespace_labels(spec),
        BASELINE_NAMESPACE: pod_security_labels("baseline", f"v{spec.platform.kubernetes_version}"),
    }
    for name, namespace_labels in labels.items():
        create(kube, "/api/v1/namespaces", {"metadata": {"name": name, "labels": namespace_labels}})
        for account in ("default", *(app.name for app in spec.apps)):
            create(kube, f"/api/v1/namespaces/{name}/serviceaccounts", {"metadata": {"name": account}})
    return labels


def integral(value: Any) -> Any:
    """Wire-form data with whole floats as integers (Pulumi's numbers are floats; the API server's are not)."""
    if isinstance(value, dict):
        return {key: integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral(item) for item in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def admit(kube: httpx.Client, namespace: str, pod: dict[str, Any], *, dry_run: bool = True) -> httpx.Response:
    body = integral({"apiVersion": "v1", "kind": "Pod", **pod})
    body["metadata"] = {**body["metadata"], "namespace": namespace}
    return kube.post(f"/api/v1/namespaces/{namespace}/pods", params={"dryRun": "All"} if dry_run else {}, json=body)


def pack_levels(pod: dict[str, Any]) -> set[str]:
    """The Pod Security Standards levels whose mandatory rules the pack's rules find broken by `pod`."""
    violations = evaluate([ResourceView("kubernetes:core/v1:Pod", "pod", {"apiVersion": "v1", "kind": "Pod", **pod})])
    return {v.level.value for v in violations if v.level is not None and v.mandatory}


def test_the_tenant_namespace_refuses_what_the_pack_refuses(kube: httpx.Client) -> None:
    labels = pod_namespaces(kube)
    assert labels[PSS_NAMESPACE]["pod-security.kubernetes.io/enforce"] == "restricted"

    # A pod with no security settings at all: what any image's defaults give.
    plain = {"metadata": {"name": "plain"}, "spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/web:1"}]}}
    refused = admit(kube, PSS_NAMESPACE, plain, dry_run=False)
    assert refused.status_code == 403, refused.text
    assert 'violates PodSecurity "restricted:v1.34"' in refused.json()["message"]
    assert pack_levels(plain) == {"restricted"}
    assert admit(kube, BASELINE_NAMESPACE, plain).status_code == 201

    # The tenant program's own pods pass: each Deployment's pod template, created as a Pod.
    spec = multi_app_spec(namespace=PSS_NAMESPACE, cloudflare=False)
    templates = [r.inputs["spec"]["template"] for r in declared_resources(spec) if r.type.endswith(":Deployment")]
    assert len(templates) == len(spec.apps)
    for template in templates:
        pod = {"metadata": {"name": "tenant-app", **template["metadata"]}, "spec": template["spec"]}
        assert pack_levels(pod) == set()
        assert admit(kube, PSS_NAMESPACE, pod).status_code == 201


@pytest.mark.parametrize("level", ["restricted", "baseline"])
def test_the_pack_and_pod_security_admission_agree_on_every_control(kube: httpx.Client, level: str) -> None:
    """Every pod of the control-by-control cases the API server can take: refused by the real PodSecurity
    admission (server-side dry run) exactly when the pack refuses it at that level."""
    pod_namespaces(kube)
    namespace = PSS_NAMESPACE if level == "restricted" else BASELINE_NAMESPACE
    disagreements, invalid, refused = [], [], 0
    cases = [case for case in CASES if case.api_server]
    for case in cases:
        pod = case.pod(namespace)
        pack_refuses = level in pack_levels(pod) or (level == "restricted" and "baseline" in pack_levels(pod))
        expected = bool(case.fails) if level == "restricted" else case.fails_baseline  # the standard's text
        response = admit(kube, namespace, pod)
        if response.status_code not in (201, 403):
            invalid.append((case.id, response.json().get("message")))
            continue
        refused += response.status_code == 403
        if pack_refuses != (response.status_code == 403) or expected != pack_refuses:
            disagreements.append((case.id, pack_refuses, response.json().get("message")))
    assert invalid == []  # a pod the API server refuses before admission tells nothing
    assert disagreements == []
    assert len(cases) > 150
    assert refused == sum(1 for case in cases if (case.fails if level == "restricted" else case.fails_baseline))
    assert 40 < refused < len(cases) - 40


MANIFESTS_NAMESPACE = "acme-manifests"
CHART_TEMPLATE = """apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-pod
spec:
  containers:
    - name: app
      image: ghcr.io/acme/web:1.4.2
      securityContext: {privileged: true}
"""


def privileged_pod_manifest(name: str) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": MANIFESTS_NAMESPACE},
        "spec": {
            "containers": [{"name": "app", "image": "ghcr.io/acme/web:1.4.2", "securityContext": {"privileged": True}}]
        },
    }
    return yaml.safe_dump(pod)


def test_crossguard_sees_the_pods_of_raw_manifests_and_charts(
    api_server: KubeApiServer, kube: httpx.Client, settings: Settings, tmp_path: Path
) -> None:
    """The real engine, provider and pack: objects rendered from YAML (yaml ConfigFile, yaml/v2 ConfigGroup) and
    from Helm charts (helm.sh/v3 Chart, helm.sh/v4 Chart; the offline check cannot render those) are resources
    the pack checks one by one."""
    create(kube, "/api/v1/namespaces", {"metadata": {"name": MANIFESTS_NAMESPACE}})
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: privileged-pod\nversion: 0.1.0\n")
    (chart / "templates" / "pod.yaml").write_text(CHART_TEMPLATE)
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(privileged_pod_manifest("file-v1-pod"))

    def program() -> None:
        provider = k8s.Provider("cluster", kubeconfig=api_server.kubeconfig)
        opts = pulumi.ResourceOptions(provider=provider)
        k8s.yaml.ConfigFile("file-v1", file=str(manifest), opts=opts)
        k8s.yaml.v2.ConfigGroup("group-v2", yaml=privileged_pod_manifest("group-v2-pod"), opts=opts)
        k8s.helm.v3.Chart(
            "chart-v3", k8s.helm.v3.LocalChartOpts(path=str(chart), namespace=MANIFESTS_NAMESPACE), opts=opts
        )
        k8s.helm.v4.Chart("chart-v4", chart=str(chart), namespace=MANIFESTS_NAMESPACE, opts=opts)

    backend = tmp_path / "state"
    backend.mkdir()
    workspace = auto.LocalWorkspaceOptions(
        work_dir=str(tmp_path),
        pulumi_home=str(tmp_path / "pulumi-home"),
        project_settings=auto.ProjectSettings(
            name="pss-manifests", runtime="python", backend=auto.ProjectBackend(url=backend.as_uri())
        ),
        env_vars={
            "PULUMI_CONFIG_PASSPHRASE": "test",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        },
    )
    stack = auto.create_or_select_stack("manifests", project_name="pss-manifests", program=program, opts=workspace)
    events: list[pulumi_events.EngineEvent] = []
    with pytest.raises(auto.CommandError):
        stack.preview(policy_packs=[str(PACK_DIR)], on_event=events.append, color="never", suppress_progress=True)
    refused = {
        event.policy_event.resource_urn.rsplit("::", 1)[-1]
        for event in events
        if event.policy_event is not None
        and event.policy_event.policy_name == "pss-baseline-privileged-containers"
        and event.policy_event.enforcement_level == "mandatory"
    }
    assert {name.rsplit("/", 1)[-1] for name in refused} >= {
        "file-v1-pod",
        "group-v2-pod",
        "chart-v3-pod",
        "chart-v4-pod",
    }, refused
