"""Tenant stack rules: identification, containment, the namespace baseline, what a tenant may expose."""

from __future__ import annotations

from typing import Any

import pytest

from policies.registry import ResourceView
from policies.rules.tenant import STACK_RULES
from tests.policies.conftest import Collector
from tests.policies.factories import (
    BASE_DOMAIN,
    HOST_SUFFIX,
    PLATFORM_HOST,
    TENANT_NS,
    VERIFIED_DOMAIN,
    deep,
    default_deny,
    dns_record,
    egress_internet,
    ingress,
    namespace,
    replace,
    resource_rule,
    service,
    stack_rule,
    tenant_stack,
    view,
)

NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CUSTOM_HOSTNAME = "cloudflare:index/customHostname:CustomHostname"
ORIGIN_CA = "cloudflare:index/originCaCertificate:OriginCaCertificate"


def check(rule_name: str, views: list[ResourceView], report: Collector, **config: Any) -> Collector:
    rule = stack_rule(rule_name)
    rule.check(views, rule.merged_config(config), report)
    return report


def without(views: list[ResourceView], *names: str) -> list[ResourceView]:
    return [v for v in views if v.name not in names]


@pytest.mark.parametrize("rule", [rule.name for rule in STACK_RULES])
def test_compliant_tenant_stack_passes(rule: str, report: Collector) -> None:
    assert not check(rule, tenant_stack(), report).messages


@pytest.mark.parametrize("rule", [rule.name for rule in STACK_RULES if rule.name != "tenant-stack-identified"])
def test_platform_stack_is_not_a_tenant_stack(rule: str, report: Collector) -> None:
    platform = [
        view("kubernetes:core/v1:Namespace", {"metadata": {"name": "ingress-nginx"}}, "ingress-ns", "platform"),
        view(
            "kubernetes:core/v1:Service",
            {"metadata": {"namespace": "ingress-nginx"}, "spec": {"type": "LoadBalancer"}},
            "lb",
            "platform",
        ),
        view("kubernetes:storage.k8s.io/v1:StorageClass", {"provisioner": "ebs.csi.aws.com"}, "gp3", "platform"),
    ]
    assert not check(rule, platform, report).messages


def test_namespace_pod_security(report: Collector) -> None:
    rule = resource_rule("tenant-namespace-pod-security")
    rule.check(view("kubernetes:core/v1:Namespace", namespace()), rule.defaults, report)
    assert not report
    rule.check(view("kubernetes:core/v1:Namespace", namespace("baseline")), rule.defaults, report)
    rule.check(view("kubernetes:core/v1:Namespace", namespace(None)), rule.defaults, report)
    assert len(report.messages) == 2
    # Platform namespaces (no account label) are not tenant namespaces.
    rule.check(view("kubernetes:core/v1:Namespace", {"metadata": {"name": "kube-system"}}), rule.defaults, report)
    assert len(report.messages) == 2


def test_tenant_project_without_labelled_namespace_fails(report: Collector) -> None:
    check("tenant-stack-identified", without(tenant_stack(), "ns"), report)
    assert "declares no Namespace labelled" in report.text()


def test_other_project_without_labelled_namespace_passes(report: Collector) -> None:
    views = [view(v.type, dict(v.props), v.name, "platform") for v in without(tenant_stack(), "ns")]
    assert not check("tenant-stack-identified", views, report)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            view("kubernetes:core/v1:ConfigMap", {"metadata": {"name": "c", "namespace": "kube-system"}}, "cm"),
            "namespace 'kube-system'",
        ),
        (view("kubernetes:core/v1:Secret", {"metadata": {"name": "s"}}, "secret"), "no namespace"),
        (view("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", {"metadata": {}}, "crb"), "cluster-scoped"),
        (view("kubernetes:core/v1:Namespace", {"metadata": {"name": "other"}}, "ns2"), "cluster-scoped Namespace"),
        (view("kubernetes:core/v1:Namespace", namespace(), "ns3"), "exactly one labelled Namespace"),
        (view("kubernetes:helm.sh/v3:Release", {"chart": "x", "namespace": TENANT_NS}, "helm"), "renders objects"),
        (view("kubernetes:cert-manager.io/v1:Certificate", {"metadata": {"namespace": "x"}}, "cert"), "'x'"),
    ],
)
def test_containment_refuses(extra: ResourceView, expected: str, report: Collector) -> None:
    check("tenant-namespace-containment", [*tenant_stack(), extra], report)
    assert expected in report.text()
    assert report.resources[-1] is extra


def test_containment_ignores_non_kubernetes_resources(report: Collector) -> None:
    extras = [
        view("pulumi:providers:kubernetes", {"namespace": "default"}, "provider"),
        view("kubernetes:helm.sh/v3:Chart", {}, "client-side-chart"),
        view("aws:ebs/volume:Volume", {"encrypted": True}, "vol"),
    ]
    assert not check("tenant-namespace-containment", [*tenant_stack(), *extras], report)


def test_unnamed_tenant_namespace_fails(report: Collector) -> None:
    unnamed = namespace()
    del unnamed["metadata"]["name"]
    check("tenant-namespace-containment", replace(tenant_stack(), "ns", unnamed), report)
    assert report.messages == ["the tenant Namespace has no metadata.name"]


@pytest.mark.parametrize(
    ("rule", "missing"),
    [
        ("tenant-resource-quota", "quota"),
        ("tenant-limit-range", "limits"),
        ("tenant-default-deny", "deny"),
        ("tenant-metadata-endpoint-blocked", "egress"),
    ],
)
def test_missing_baseline_object_fails(rule: str, missing: str, report: Collector) -> None:
    check(rule, without(tenant_stack(), missing), report)
    assert report
    assert report.resources[0] is not None
    assert report.resources[0].name == "ns"


def test_baseline_objects_in_another_namespace_do_not_count(report: Collector) -> None:
    moved = default_deny()
    moved["metadata"]["namespace"] = "elsewhere"
    assert check("tenant-default-deny", replace(tenant_stack(), "deny", moved), report)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["spec"].update(podSelector={"matchLabels": {"app": "web"}}),
        lambda p: p["spec"].update(policyTypes=["Ingress"]),
        lambda p: p["spec"].update(ingress=[{"from": [{"podSelector": {}}]}]),
        lambda p: p["spec"].update(egress=[{}]),
        lambda p: p["spec"].pop("podSelector"),
    ],
)
def test_not_a_default_deny(change: Any, report: Collector) -> None:
    policy = default_deny()
    change(policy)
    assert check("tenant-default-deny", replace(tenant_stack(), "deny", policy), report)


def test_default_deny_policy_types_may_be_implied(report: Collector) -> None:
    # Without policyTypes the API only implies Ingress, so this one does not deny egress.
    policy = default_deny()
    del policy["spec"]["policyTypes"]
    assert check("tenant-default-deny", replace(tenant_stack(), "deny", policy), report)


@pytest.mark.parametrize(
    ("egress", "expected"),
    [
        ([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}], "reaches 169.254.169.254"),
        ([{"to": [{"ipBlock": {"cidr": "169.254.0.0/16", "except": ["169.254.0.0/24"]}}]}], "reaches"),
        ([{"ports": [{"port": 443}]}], "allows every destination"),
        ([{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}], "no egress rule"),
    ],
)
def test_metadata_endpoint_reachable_fails(egress: list[Any], expected: str, report: Collector) -> None:
    policy = egress_internet()
    policy["spec"]["egress"] = egress
    check("tenant-metadata-endpoint-blocked", replace(tenant_stack(), "egress", policy), report)
    assert expected in report.text()


def test_metadata_rule_ignores_ingress_only_policies(report: Collector) -> None:
    ingress_only = {
        "metadata": {"name": "from-ingress", "namespace": TENANT_NS},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"namespaceSelector": {}}]}]},
    }
    views = [*tenant_stack(), view(NETPOL, ingress_only, "from-ingress")]
    assert not check("tenant-metadata-endpoint-blocked", views, report)


@pytest.mark.parametrize("service_type", [None, "ClusterIP"])
def test_cluster_ip_service_passes(service_type: str | None, report: Collector) -> None:
    views = replace(tenant_stack(), "web-svc", service(service_type))
    assert not check("tenant-services-cluster-ip", views, report)


@pytest.mark.parametrize("service_type", ["NodePort", "LoadBalancer", "ExternalName"])
def test_exposed_service_fails(service_type: str, report: Collector) -> None:
    check("tenant-services-cluster-ip", replace(tenant_stack(), "web-svc", service(service_type)), report)
    assert f"of type {service_type}" in report.text()


def test_service_external_ips_fail(report: Collector) -> None:
    svc = service()
    svc["spec"]["externalIPs"] = ["1.2.3.4"]
    check("tenant-services-cluster-ip", replace(tenant_stack(), "web-svc", svc), report)
    assert "externalIPs" in report.text()


def test_ingress_wildcard_tls_covers_one_label(report: Collector) -> None:
    views = replace(tenant_stack(), "web-ing", ingress(("a.example.com",), ("*.example.com",)))
    assert not check("tenant-ingress-tls", views, report)
    views = replace(tenant_stack(), "web-ing", ingress(("a.b.example.com",), ("*.example.com",)))
    assert "'a.b.example.com' is not covered" in check("tenant-ingress-tls", views, report).text()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p["spec"].pop("tls"), "not covered"),
        (lambda p: p["spec"]["rules"].append({"host": "other.example.com"}), "'other.example.com' is not covered"),
        (lambda p: p["spec"].update(ingressClassName="traefik"), "class 'traefik'"),
        (lambda p: p["spec"].pop("ingressClassName"), "class None"),
        (lambda p: p["spec"]["rules"][0].pop("host"), "rule #0 has no host"),
        (lambda p: p["spec"].update(defaultBackend={"service": {"name": "web"}}), "defaultBackend"),
        (lambda p: p["spec"].update(rules=[]), "no rules"),
    ],
)
def test_bad_ingress_fails(change: Any, expected: str, report: Collector) -> None:
    props = deep(ingress())
    change(props)
    check("tenant-ingress-tls", replace(tenant_stack(), "web-ing", props), report)
    assert expected in report.text()


def test_ingress_class_annotation_and_config(report: Collector) -> None:
    props = ingress()
    del props["spec"]["ingressClassName"]
    props["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "platform"}
    views = replace(tenant_stack(), "web-ing", props)
    assert not check("tenant-ingress-tls", views, report, ingressClass="platform")


# --- whose hosts ----------------------------------------------------------------------------------


def test_the_rule_lists_match_the_programs_lists() -> None:
    from policies.rules.tenant import PLATFORM_NAMESPACE_PREFIXES, PLATFORM_NAMESPACES
    from programs.tenant import identity

    assert set(PLATFORM_NAMESPACES) == identity.PLATFORM_NAMESPACES
    assert set(PLATFORM_NAMESPACE_PREFIXES) == set(identity.RESERVED_PREFIXES)


@pytest.mark.parametrize("name", ["kube-system", "default", "ingress-nginx", "openshift-ingress", "cattle-system"])
def test_a_tenant_namespace_is_never_a_platform_namespace(name: str, report: Collector) -> None:
    taken = namespace()
    taken["metadata"]["name"] = name
    check("tenant-namespace-containment", replace(tenant_stack(), "ns", taken), report)
    assert f"the tenant Namespace {name!r} is a namespace of the cluster or the platform" in report.text()


OTHER_TENANTS_HOST = f"web-acme-web-zzzz9999.{BASE_DOMAIN}"


@pytest.mark.parametrize(
    ("name", "props", "expected"),
    [
        ("web-ing", ingress((OTHER_TENANTS_HOST,)), f"the Ingress host {OTHER_TENANTS_HOST!r}"),
        ("web-ing", ingress(("other.example.com",)), "the Ingress host 'other.example.com'"),
        ("web-ing", ingress((PLATFORM_HOST,), ("api.controlplane.test",)), "TLS host 'api.controlplane.test'"),
        ("web-ing", ingress((f"web.{BASE_DOMAIN}",)), f"'web.{BASE_DOMAIN}'"),
        ("web-ing", ingress((f"x-{HOST_SUFFIX}.evil.example",)), f"'x-{HOST_SUFFIX}.evil.example'"),
        ("dns", {**dns_record(), "name": VERIFIED_DOMAIN}, "the DNS record 'shop.example.com'"),
    ],
)
def test_hosts_that_are_not_the_namespaces_own_are_refused(
    name: str, props: dict[str, Any], expected: str, report: Collector
) -> None:
    check("tenant-hosts-owned", replace(tenant_stack(), name, props), report)
    assert expected in report.text()
    assert "neither this namespace's platform hostname nor one of its verified domains" in report.text()


def test_custom_hostnames_and_certificates_are_checked_too(report: Collector) -> None:
    views = [
        *tenant_stack(),
        view(CUSTOM_HOSTNAME, {"zoneId": "zone", "hostname": VERIFIED_DOMAIN, "ssl": {"type": "dv"}}, "ok"),
        view(CUSTOM_HOSTNAME, {"zoneId": "zone", "hostname": "victim.example.com", "ssl": {"type": "dv"}}, "bad"),
        view(ORIGIN_CA, {"hostnames": [PLATFORM_HOST, VERIFIED_DOMAIN]}, "cert"),
    ]
    check("tenant-hosts-owned", views, report)
    assert [resource.name for resource in report.resources if resource is not None] == ["bad", "cert"]


def test_without_its_suffix_label_no_platform_host_is_owned(report: Collector) -> None:
    unlabelled = namespace()
    del unlabelled["metadata"]["labels"]["controlplane.io/host-suffix"]
    check("tenant-hosts-owned", replace(tenant_stack(), "ns", unlabelled), report)
    assert f"{PLATFORM_HOST!r}" in report.text()
    assert f"{VERIFIED_DOMAIN!r}" not in report.text()


def test_a_configured_base_domain_must_be_the_declared_one(report: Collector) -> None:
    assert not check("tenant-hosts-owned", tenant_stack(), report, baseDomain=BASE_DOMAIN)
    check("tenant-hosts-owned", tenant_stack(), report, baseDomain="apps.other.net")
    assert "declares base domain 'apps.example.net', not 'apps.other.net'" in report.text()
    assert f"{PLATFORM_HOST!r}" in report.text()
