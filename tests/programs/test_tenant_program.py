"""The tenant program as a whole: providers, lifecycle states, outputs, determinism."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from programs.components.tenant import kinds
from programs.mocking import DeclaredResource, RecordingMocks
from programs.tenant import LifecycleState, Tenant, TenantSpec, quota_for, tenant_program
from programs.tenant.samples import (
    LOAD_BALANCER_HOSTNAME,
    SAMPLE_HOST_SUFFIX,
    SAMPLE_NAMESPACE_ID,
    multi_app_spec,
    platform_settings,
    spec_with_apps,
)
from tests.programs.conftest import Runner

ACTIVE, SUSPENDED, RELEASED = LifecycleState.ACTIVE, LifecycleState.SUSPENDED, LifecycleState.VOLUMES_RELEASED
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
CUSTOM_HOSTNAME = "cloudflare:index/customHostname:CustomHostname"
ORIGIN_CERTIFICATE = "cloudflare:index/originCaCertificate:OriginCaCertificate"


def declare(run: Runner, spec: TenantSpec) -> RecordingMocks:
    return run(lambda: tenant_program(spec))


def names(mocks: RecordingMocks, type_: str) -> list[str]:
    return sorted(resource.name for resource in mocks.of_type(type_))


def replicas(mocks: RecordingMocks) -> dict[str, int]:
    return {r.name: r.inputs["spec"]["replicas"] for r in mocks.of_type(DEPLOYMENT)}


# --- providers ----------------------------------------------------------------------------------------------


def provider_of(mocks: RecordingMocks, resource: DeclaredResource) -> str:
    assert resource.provider, f"{resource.type} {resource.name} has no explicit provider"
    return resource.provider.rsplit("::", 1)[0]


def test_every_resource_uses_the_programs_explicit_providers(run: Runner) -> None:
    mocks = declare(run, multi_app_spec())
    (kubernetes,) = mocks.of_type("pulumi:providers:kubernetes")
    (cloudflare,) = mocks.of_type("pulumi:providers:cloudflare")
    explicit = {"kubernetes": kubernetes.urn, "cloudflare": cloudflare.urn}
    for resource in mocks.custom_resources():
        assert provider_of(mocks, resource) == explicit[resource.package], resource


def test_the_kubernetes_provider_takes_the_kubeconfig_as_a_secret(run: Runner) -> None:
    mocks = declare(run, multi_app_spec())
    provider = mocks.named("pulumi:providers:kubernetes", "kubernetes")
    assert "kubeconfig" in provider.secret_paths
    assert provider.inputs["enableServerSideApply"] in (True, "true")
    assert provider.inputs["namespace"] == "acme-shop"
    assert "renderYamlToDirectory" not in provider.inputs


def test_the_kubernetes_provider_can_render_yaml_instead(run: Runner, tmp_path: Any) -> None:
    spec = multi_app_spec(cloudflare=False, render_yaml_to_directory=str(tmp_path))
    provider = declare(run, spec).named("pulumi:providers:kubernetes", "kubernetes")
    assert provider.inputs["renderYamlToDirectory"] == str(tmp_path)
    assert "kubeconfig" not in provider.inputs


def test_the_cloudflare_provider_takes_the_token_as_a_secret(run: Runner) -> None:
    data = multi_app_spec().model_dump()
    data["platform"]["cloudflare"]["base_url"] = "http://127.0.0.1:8765/client/v4"
    provider = declare(run, TenantSpec.model_validate(data)).named("pulumi:providers:cloudflare", "cloudflare")
    assert provider.inputs["apiToken"] == "placeholder-token"
    assert "apiToken" in provider.secret_paths
    assert provider.inputs["baseUrl"] == "http://127.0.0.1:8765/client/v4"


def test_without_cloudflare_settings_no_cloudflare_resource_is_declared(run: Runner) -> None:
    mocks = declare(run, multi_app_spec(cloudflare=False))
    assert [r for r in mocks.resources if r.package == "cloudflare" or "cloudflare" in r.type] == []
    tls = [r.inputs["spec"]["tls"] for r in mocks.of_type(INGRESS)]
    assert tls
    assert all("secretName" not in entry for entries in tls for entry in entries)


def test_the_program_makes_no_invokes(run: Runner) -> None:
    assert declare(run, multi_app_spec()).calls == []


# --- lifecycle ----------------------------------------------------------------------------------------------


def test_active_namespace_runs_and_routes_every_app(run: Runner) -> None:
    mocks = declare(run, multi_app_spec(ACTIVE))
    assert replicas(mocks) == {"web": 2, "api": 1, "worker": 1}
    assert names(mocks, INGRESS) == ["api", "web"]
    assert names(mocks, DNS_RECORD) == ["api", "web"]
    assert names(mocks, CUSTOM_HOSTNAME) == ["web-shop.example.com", "web-www.example.org"]
    assert names(mocks, PVC) == ["api"]
    assert names(mocks, ORIGIN_CERTIFICATE) == ["acme-shop"]


@pytest.mark.parametrize("state", [SUSPENDED, RELEASED])
def test_a_stopped_namespace_has_no_replicas_no_ingress_and_no_dns_record(run: Runner, state: LifecycleState) -> None:
    mocks = declare(run, multi_app_spec(state))
    assert replicas(mocks) == {"web": 0, "api": 0, "worker": 0}
    assert mocks.of_type(INGRESS) == []
    assert mocks.of_type(DNS_RECORD) == []
    # Configurations stay: the namespace, its policies, services, secrets, certificates and custom hostnames.
    assert names(mocks, "kubernetes:core/v1:Service") == ["api", "web", "worker"]
    assert names(mocks, CUSTOM_HOSTNAME) == ["web-shop.example.com", "web-www.example.org"]
    assert names(mocks, ORIGIN_CERTIFICATE) == ["acme-shop"]
    assert len(mocks.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")) == 5


def test_suspended_keeps_the_volumes(run: Runner) -> None:
    assert names(declare(run, multi_app_spec(SUSPENDED)), PVC) == ["api"]


def test_volumes_released_removes_the_claims_only(run: Runner) -> None:
    suspended = {(r.type, r.name) for r in declare(run, multi_app_spec(SUSPENDED)).custom_resources()}
    released = {(r.type, r.name) for r in declare(run, multi_app_spec(RELEASED)).custom_resources()}
    assert suspended - released == {(PVC, "api")}
    assert released <= suspended


def test_the_quota_does_not_change_with_the_lifecycle(run: Runner) -> None:
    quotas = [
        declare(run, multi_app_spec(state)).named("kubernetes:core/v1:ResourceQuota", "acme-shop").inputs["spec"]
        for state in LifecycleState
    ]
    assert quotas[0] == quotas[1] == quotas[2]


def test_the_quota_covers_replicas_and_one_surge_pod_per_rolled_app() -> None:
    quota = quota_for(multi_app_spec())
    # web: 2 replicas + 1 surge (250m, 256Mi); api: 1, recreated (500m, 512Mi); worker: 1 + 1 surge (100m, 128Mi)
    assert quota.pods == 3 + 1 + 2
    assert quota.cpu_millicores == 3 * 250 + 500 + 2 * 100
    assert quota.memory_mib == 3 * 256 + 512 + 2 * 128
    assert quota.storage_gib == 10
    assert quota.persistent_volume_claims == 1


def test_an_empty_namespace_has_its_guard_rails_and_nothing_else(run: Runner) -> None:
    spec = TenantSpec(
        namespace="t-empty000",
        namespace_id="e" * 32,
        display_name="empty",
        host_suffix="empty000",
        account_id="a1",
        platform=platform_settings(),
    )
    kinds_declared = sorted({r.inputs["kind"] for r in declare(run, spec).custom_resources()})
    assert kinds_declared == ["LimitRange", "Namespace", "NetworkPolicy", "ResourceQuota"]


# --- shape of what is declared ------------------------------------------------------------------------------


def test_every_kubernetes_kind_declared_is_one_the_deployer_role_grants(run: Runner) -> None:
    granted = {kinds.pulumi_type(resource) for resource in kinds.MANAGED}
    for state in LifecycleState:
        for resource in declare(run, multi_app_spec(state)).custom_resources():
            if resource.package == "kubernetes":
                assert resource.type in granted, resource.type


def test_every_object_lives_in_the_namespace_and_carries_the_account_labels(run: Runner) -> None:
    mocks = declare(run, multi_app_spec())
    for manifest in mocks.kubernetes_manifests():
        metadata = manifest["metadata"]
        if manifest["kind"] != "Namespace":
            assert metadata["namespace"] == "acme-shop", manifest
        assert metadata["labels"]["controlplane.io/account"] == "acct-0001", manifest
        assert metadata["labels"]["controlplane.io/namespace"] == SAMPLE_NAMESPACE_ID, manifest
        assert metadata["labels"]["controlplane.io/host-suffix"] == SAMPLE_HOST_SUFFIX, manifest


def test_no_rbac_object_is_declared(run: Runner) -> None:
    mocks = declare(run, multi_app_spec())
    assert not [r for r in mocks.resources if r.type.startswith("kubernetes:rbac.authorization.k8s.io")]


def test_the_program_is_deterministic(run: Runner) -> None:
    first = [(r.urn, r.inputs) for r in declare(run, multi_app_spec())]
    second = [(r.urn, r.inputs) for r in declare(run, multi_app_spec())]
    assert sorted(first, key=str) == sorted(second, key=str)


def test_twenty_apps_declare_unique_names(run: Runner) -> None:
    mocks = declare(run, spec_with_apps(20))
    assert len(mocks.of_type(DEPLOYMENT)) == 20
    assert mocks.duplicate_urns == []


# --- outputs ------------------------------------------------------------------------------------------------


@pulumi.runtime.test
def test_outputs_per_app(mocks: RecordingMocks) -> pulumi.Output[None]:
    tenant = Tenant(multi_app_spec())

    def check(values: list[Any]) -> None:
        namespace, apps = values
        assert namespace == "acme-shop"
        web, api, worker = apps["web"], apps["api"], apps["worker"]
        assert web["hostnames"] == ["web-acme-shop-k3x9q2ab.apps.example.net", "shop.example.com", "www.example.org"]
        assert web["routed"] is True
        assert web["dns_record"] is True
        assert web["certificate"] == {"issuer": "cloudflare-origin-ca", "expires_on": "2041-01-01 00:00:00 +0000 UTC"}
        assert web["custom_hostnames"]["shop.example.com"]["status"] == "pending"
        assert web["volume_id"] is None
        assert api["volume_id"] == "pvc-api"
        assert api["hostnames"] == ["api-acme-shop-k3x9q2ab.apps.example.net"]
        assert worker["hostnames"] == []
        assert worker["platform_hostname"] is None
        assert worker["certificate"] is None

    return pulumi.Output.all(tenant.namespace_name, tenant.app_outputs).apply(check)


@pulumi.runtime.test
def test_outputs_when_suspended(mocks: RecordingMocks) -> pulumi.Output[None]:
    tenant = Tenant(multi_app_spec(SUSPENDED))

    def check(apps: dict[str, Any]) -> None:
        assert apps["web"]["routed"] is False
        assert apps["web"]["dns_record"] is False
        assert apps["web"]["custom_hostnames"]["www.example.org"]["status"] == "pending"
        assert apps["api"]["volume_id"] == "pvc-api"

    return pulumi.Output.from_input(tenant.app_outputs).apply(check)


def test_the_load_balancer_is_the_cname_target(run: Runner) -> None:
    for record in declare(run, multi_app_spec()).of_type(DNS_RECORD):
        assert record.inputs["content"] == LOAD_BALANCER_HOSTNAME


# --- ordering -----------------------------------------------------------------------------------------------


def test_workloads_wait_for_the_namespace_its_guard_rails_and_the_certificate(run: Runner) -> None:
    mocks = declare(run, multi_app_spec())
    urn = {(r.type, r.name): r.urn for r in mocks.resources}
    guard_rails = {
        urn[("kubernetes:core/v1:Namespace", "acme-shop")],
        urn[("kubernetes:core/v1:ResourceQuota", "acme-shop")],
        urn[("kubernetes:core/v1:LimitRange", "acme-shop")],
        urn[("kubernetes:networking.k8s.io/v1:NetworkPolicy", "acme-shop-default-deny")],
        urn[("kubernetes:core/v1:Secret", "acme-shop")],  # the origin TLS secret
    }
    for resource in mocks.custom_resources():
        if resource.urn.split("::")[2].split("$")[-2] == "controlplane:tenant:App":
            assert guard_rails <= resource.dependencies, resource.name
    deployment = mocks.named(DEPLOYMENT, "api")
    assert urn[(PVC, "api")] in deployment.dependencies
    assert urn[("kubernetes:core/v1:Secret", "api-env")] in deployment.dependencies
    for policy in mocks.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        assert urn[("kubernetes:core/v1:Namespace", "acme-shop")] in policy.dependencies


def test_the_program_exports_namespace_lifecycle_and_apps(run: Runner) -> None:
    exports = declare(run, multi_app_spec(SUSPENDED)).exports
    assert exports["namespace"] == "acme-shop"
    assert exports["lifecycle"] == "suspended"
    assert sorted(exports["apps"]) == ["api", "web", "worker"]
    assert exports["apps"]["api"]["volume_id"] == "pvc-api"
    assert exports["apps"]["web"]["routed"] is False
