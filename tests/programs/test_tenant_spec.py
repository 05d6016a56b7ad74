"""A `TenantSpec` refuses invalid input before the program declares anything, naming the field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from programs.mocking import RecordingMocks, run_under_mocks
from programs.tenant import LifecycleState, TenantSpec, tenant_program
from programs.tenant.samples import BASE_DOMAIN, multi_app_spec

Mutation = Callable[[dict[str, Any]], None]


def base() -> dict[str, Any]:
    """The multi-app sample as plain data: apps[0] web (public, custom domains), apps[1] api (volume), apps[2]
    worker (internal)."""
    data: dict[str, Any] = copy.deepcopy(multi_app_spec().model_dump())
    return data


def app(data: dict[str, Any], index: int) -> dict[str, Any]:
    apps: list[dict[str, Any]] = list(data["apps"])
    data["apps"] = apps
    apps[index] = entry = dict(apps[index])
    return entry


def setter(key: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data[key] = value

    return mutate


def set_app(index: int, **fields: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        app(data, index).update(fields)

    return mutate


def set_platform(**fields: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["platform"] = {**data["platform"], **fields}

    return mutate


def duplicate_app(data: dict[str, Any]) -> None:
    data["apps"] = [*data["apps"], data["apps"][0]]


def duplicate_domain(data: dict[str, Any]) -> None:
    app(data, 1)["custom_domains"] = ("shop.example.com",)


def both_kubernetes_targets(data: dict[str, Any]) -> None:
    data["platform"] = {
        **data["platform"],
        "kubernetes": {"kubeconfig": SecretStr("x"), "render_yaml_to_directory": "/work/rendered"},
    }


def no_origin_tls(data: dict[str, Any]) -> None:
    data["origin_tls"] = None


def own_ingress_namespace(data: dict[str, Any]) -> None:
    data["namespace"] = "edge"
    data["platform"] = {**data["platform"], "ingress_namespace": "edge"}


def unverified_domain(data: dict[str, Any]) -> None:
    data["verified_domains"] = ("www.example.org",)


def unknown_field(data: dict[str, Any]) -> None:
    app(data, 0)["replica"] = 3


CASES: dict[str, tuple[Mutation, str, str]] = {
    # name: (mutation, the field the message must name, a phrase of the message)
    "invalid image": (set_app(0, image="Not An Image!"), "apps.0.image", "not a valid image reference"),
    "untagged image": (set_app(0, image="ghcr.io/example/web"), "apps.0.image", "no tag"),
    "latest image": (set_app(0, image="ghcr.io/example/web:latest"), "apps.0.image", "'latest'"),
    "registry not allowed": (set_app(0, image="quay.io/example/web:1.0"), "apps[0].image", "allowed registry"),
    "app name not a DNS label": (set_app(0, name="Web_App"), "apps.0.name", "not a DNS label"),
    "app name starting with a digit": (set_app(0, name="1web"), "apps.0.name", "not a DNS label"),
    "namespace not a DNS label": (setter("namespace", "Acme Shop"), "namespace", "not a DNS label"),
    "reserved namespace": (setter("namespace", "kube-system"), "namespace", "reserved"),
    "platform ingress namespace": (setter("namespace", "ingress-nginx"), "namespace", "reserved"),
    "openshift namespace": (setter("namespace", "openshift-config"), "namespace", "reserved"),
    "configured ingress namespace": (own_ingress_namespace, "namespace", "ingress controller"),
    "display name not a DNS label": (setter("display_name", "Acme Shop"), "display_name", "not a DNS label"),
    "host suffix shape": (setter("host_suffix", "ab-c"), "host_suffix", "String should match pattern"),
    "namespace id": (setter("namespace_id", "not an id!"), "namespace_id", "label value"),
    "custom domain not verified": (unverified_domain, "apps[0].custom_domains[0]", "not a verified domain"),
    "custom domain in the cluster": (
        set_app(0, custom_domains=("kubernetes.default.svc.cluster.local",)),
        "apps.0.custom_domains",
        "cluster-internal",
    ),
    "custom domain localhost": (set_app(0, custom_domains=("app.localhost",)), "apps.0.custom_domains", "local"),
    "custom domain IP address": (set_app(0, custom_domains=("10.0.0.1",)), "apps.0.custom_domains", "hostname"),
    "account id": (setter("account_id", "acct 1"), "account_id", "label value"),
    "volume too small": (
        set_app(1, volume={"size_gib": 0, "mount_path": "/data"}),
        "apps.1.volume.size_gib",
        "greater than or equal to 1",
    ),
    "volume too large": (
        set_app(1, volume={"size_gib": 101, "mount_path": "/data"}),
        "apps[1].volume.size_gib",
        "out of range",
    ),
    "volume over /tmp": (
        set_app(1, volume={"size_gib": 1, "mount_path": "/tmp"}),
        "apps.1.volume.mount_path",
        "reserved",
    ),
    "relative mount path": (
        set_app(1, volume={"size_gib": 1, "mount_path": "data"}),
        "apps.1.volume.mount_path",
        "absolute",
    ),
    "custom domain under the platform zone": (
        set_app(0, custom_domains=(f"shop.{BASE_DOMAIN}",)),
        "apps[0].custom_domains[0]",
        "platform's own zone",
    ),
    "custom domain is the base domain": (
        set_app(0, custom_domains=(BASE_DOMAIN,)),
        "apps[0].custom_domains[0]",
        "platform's own zone",
    ),
    "custom domain wildcard": (set_app(0, custom_domains=("*.example.com",)), "apps.0.custom_domains", "hostname"),
    "custom domain on two apps": (duplicate_domain, "apps[1].custom_domains[0]", "already used"),
    "custom domain under a reserved zone": (
        lambda data: set_platform(reserved_zones=("example.com",))(data),
        "apps[0].custom_domains[0]",
        "platform's own zone 'example.com'",
    ),
    "custom domain without a public port": (
        set_app(2, custom_domains=("worker.example.com",)),
        "apps.2",
        "needs a public port",
    ),
    "duplicate app names": (duplicate_app, "apps[3].name", "duplicate app name"),
    "too many replicas": (set_app(0, replicas=11), "apps[0].replicas", "exceeds the maximum"),
    "negative replicas": (set_app(0, replicas=-1), "apps.0.replicas", "greater than or equal to 0"),
    "too much cpu": (set_app(0, cpu_millicores=64000), "apps[0].cpu_millicores", "exceeds the maximum"),
    "too much memory": (set_app(0, memory_mib=1 << 20), "apps[0].memory_mib", "exceeds the maximum"),
    "privileged port": (
        set_app(0, ports=({"name": "http", "port": 80, "public": True},)),
        "apps.0.ports.0.port",
        "greater than or equal to 1024",
    ),
    "two public ports": (
        set_app(
            1,
            ports=(
                {"name": "http", "port": 8000, "public": True},
                {"name": "admin", "port": 8001, "public": True},
            ),
        ),
        "apps.1",
        "at most one port may be public",
    ),
    "env name": (set_app(0, env={"1BAD": "x"}), "apps.0.env", "environment variable name"),
    "health check path": (set_app(0, health_check_path="healthz"), "apps.0.health_check_path", "absolute URL path"),
    "no apps": (setter("apps", ({},)), "apps.0.name", "Field required"),
    "unknown field": (unknown_field, "apps.0.replica", "Extra inputs are not permitted"),
    "unknown lifecycle": (setter("lifecycle", "deleted"), "lifecycle", "Input should be"),
    "origin TLS missing": (no_origin_tls, "origin_tls", "required when Cloudflare is configured"),
    "two kubernetes targets": (both_kubernetes_targets, "platform.kubernetes", "exactly one"),
    "base domain": (set_platform(base_domain="Example"), "platform.base_domain", "hostname"),
    "private CIDR": (set_platform(cluster_private_cidrs=("10.0.0.300/8",)), "platform.cluster_private_cidrs", "IPv4"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_spec_is_refused_before_any_resource(case: str, mocks: RecordingMocks) -> None:
    mutate, field, phrase = CASES[case]
    data = base()
    mutate(data)

    def program() -> None:
        tenant_program(TenantSpec.model_validate(data))

    with pytest.raises(ValidationError) as refused:
        run_under_mocks(program, mocks=mocks)
    message = str(refused.value)
    assert field in message, message
    assert phrase in message, message
    assert mocks.resources == []


def test_the_samples_are_valid() -> None:
    for state in LifecycleState:
        assert multi_app_spec(state).lifecycle is state


def test_the_spec_is_immutable() -> None:
    spec = multi_app_spec()
    with pytest.raises(ValidationError):
        spec.namespace = "other"  # type: ignore[misc]


def test_a_spec_round_trips_through_plain_data() -> None:
    spec = multi_app_spec()
    assert TenantSpec.model_validate(base()) == spec


def test_images_pinned_by_digest_or_tag_are_accepted() -> None:
    data = base()
    set_app(0, image="ghcr.io/example/web@sha256:" + "b" * 64)(data)
    set_app(2, image="docker.io/library/nginx:1.27")(data)
    spec = TenantSpec.model_validate(data)
    assert spec.apps[0].image.endswith("b" * 64)


def test_secrets_are_not_shown_in_the_spec_repr() -> None:
    text = repr(multi_app_spec())
    assert "PRIVATE KEY" not in text
    assert "placeholder-token" not in text
