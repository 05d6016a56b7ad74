"""Tenant isolation, tried as a hostile tenant would through the real HTTP app (issue 14's findings).

What reaches shared space is read from the engine double's record of each run: the Kubernetes namespace, the ids
on the labels, and every host an app answers on.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from controlplane.deployments.identity import issue_identity
from controlplane.deployments.models import DesiredState, IdentityKind, IssuedIdentity, Namespace
from controlplane.deployments.service import Context, transition
from controlplane.privacy.deletion import request_deletion
from tests.support.dns_server import LocalDns
from tests.support.engine_double import calls
from tests.support.live import APP, Live


def runs(live: Live, kind: str = "up") -> list[dict[str, Any]]:
    return [call for call in calls(live.runtime.redis) if call["kind"] == kind]


def run_of(live: Live, namespace: Namespace, kind: str = "up") -> dict[str, Any]:
    """The last run of ``kind`` on the namespace's stack."""
    mine = [call for call in runs(live, kind) if call["stack"] == f"ns-{namespace.id.hex}"]
    assert mine, f"no {kind} of {namespace.name}"
    return mine[-1]


def app(name: str = "web", domains: tuple[str, ...] = ()) -> dict[str, Any]:
    return {**APP, "name": name, "volume": None, "custom_domains": list(domains)}


def account_id_of(live: Live, headers: dict[str, str]) -> uuid.UUID:
    created = live.client.post("/v1/namespaces", json={"name": "whoami", "apps": []}, headers=headers)
    assert created.status_code == 202
    account_id = live.row("whoami", headers).account_id
    assert account_id is not None
    assert live.client.delete("/v1/namespaces/whoami", headers=headers).status_code == 202
    return account_id


# --- 1. a name is free before its namespace is gone -----------------------------------------------------


def test_a_name_freed_by_a_delete_never_leads_to_the_deleted_namespaces_objects(live: Live) -> None:
    alice, bob = live.headers, live.new_key()
    live.create("web", [app()], headers=alice)
    live.work()
    gone = live.row("web", alice)
    assert live.client.delete("/v1/namespaces/web", headers=alice).status_code == 202
    assert live.client.post("/v1/namespaces", json={"name": "web", "apps": [app()]}, headers=bob).status_code == 202
    taken = live.row("web", bob)
    live.work()  # alice's destroy and bob's create, in the queue's order

    destroy, created = run_of(live, gone, "destroy"), run_of(live, taken)
    assert destroy["stack"] != created["stack"]
    assert created["namespace"] == taken.cluster_name != gone.cluster_name == run_of(live, gone)["namespace"]
    assert created["labels"] == {"account": str(taken.account_id), "namespace": taken.id.hex}
    assert taken.host_suffix != gone.host_suffix
    assert set(created["hosts"]["web"]).isdisjoint(run_of(live, gone)["hosts"]["web"])


def test_account_deletion_frees_names_but_never_the_identities(live: Live) -> None:
    alice, bob = live.headers, live.new_key()
    live.create("web", [app()], headers=alice)
    live.work()
    erased = live.row("web", alice)
    assert erased.account_id is not None
    with live.new_session() as session:
        request_deletion(session, Context(live.runtime.settings, live.runtime.redis), erased.account_id)
        session.commit()
    live.work()  # the destroy, then the deletion job: it erases once every stack is gone
    live.work_scheduled()
    with live.new_session() as session:
        assert session.get(Namespace, erased.id) is None  # the row is erased with the account
        issued = set(session.execute(select(IssuedIdentity.kind, IssuedIdentity.value)).tuples())
    assert (IdentityKind.CLUSTER_NAME, erased.cluster_name) in issued
    assert (IdentityKind.HOST_SUFFIX, erased.host_suffix) in issued

    live.create("web", [app()], headers=bob)
    assert live.row("web", bob).cluster_name != erased.cluster_name
    # Even an id drawn again (as unlikely as that is) cannot bring the erased namespace's identity back.
    with live.new_session() as session:
        draws = iter([erased.id, uuid.uuid4()])
        fresh = issue_identity(session, new_id=lambda: next(draws))
        session.rollback()
    assert fresh.namespace_id != erased.id
    assert (fresh.cluster_name, fresh.host_suffix) != (erased.cluster_name, erased.host_suffix)


# --- 2. platform hostnames are ambiguous ---------------------------------------------------------------


def test_hostnames_built_two_ways_still_differ(live: Live) -> None:
    victim, squatter = live.headers, live.new_key()
    live.create("b-c", [app("a")], headers=victim)
    live.create("c", [app("a-b")], headers=squatter)
    live.work()
    victim_hosts = run_of(live, live.row("b-c", victim))["hosts"]["a"]
    squatter_hosts = run_of(live, live.row("c", squatter))["hosts"]["a-b"]
    assert set(victim_hosts).isdisjoint(squatter_hosts)


def test_a_recreated_namespace_does_not_get_the_deleted_ones_hostnames(live: Live) -> None:
    live.create("shop", [app()])
    live.work()
    first = run_of(live, live.row("shop"))["hosts"]["web"]
    assert live.client.delete("/v1/namespaces/shop", headers=live.headers).status_code == 202
    live.create("shop", [app()])
    live.work()
    assert set(run_of(live, live.row("shop"))["hosts"]["web"]).isdisjoint(first)


# --- 3. custom domains have no owner -----------------------------------------------------------------


def claim_token(live: Live, namespace: str, domain: str, headers: dict[str, str]) -> str:
    listed = live.client.get(f"/v1/namespaces/{namespace}/domains", headers=headers).json()["items"]
    (claim,) = [item for item in listed if item["domain"] == domain]
    assert claim["challenge"]["name"] == f"_controlplane-challenge.{domain}"
    token: str = claim["challenge"]["value"]
    return token


def domain_status(live: Live, namespace: str, domain: str, headers: dict[str, str]) -> dict[str, Any]:
    listed = live.client.get(f"/v1/namespaces/{namespace}/domains", headers=headers).json()["items"]
    (claim,) = [item for item in listed if item["domain"] == domain]
    return dict(claim)


def test_a_domain_verified_by_one_tenant_is_never_served_by_another(live: Live, local_dns: LocalDns) -> None:
    alice, bob = live.headers, live.new_key()
    live.create("shop", [app(domains=("shop.example.com",))], headers=alice)
    alice_token = claim_token(live, "shop", "shop.example.com", alice)
    local_dns.set_txt("_controlplane-challenge.shop.example.com", alice_token)
    verify = live.client.post("/v1/namespaces/shop/domains/shop.example.com/verify", headers=alice)
    assert verify.status_code == 202
    live.work()
    assert domain_status(live, "shop", "shop.example.com", alice)["status"] == "verified"
    alice_ns = live.row("shop", alice)
    assert "shop.example.com" in run_of(live, alice_ns)["hosts"]["web"]

    # Bob claims it: the answer is the one any free domain gets (nothing tells him the domain is in use) ...
    claimed = live.client.post(
        "/v1/namespaces", json={"name": "store", "apps": [app(domains=("shop.example.com",))]}, headers=bob
    )
    free = live.client.post(
        "/v1/namespaces", json={"name": "other", "apps": [app(domains=("free.example.net",))]}, headers=bob
    )
    assert (
        (claimed.status_code, sorted(claimed.json()))
        == (free.status_code, sorted(free.json()))
        == (
            202,
            ["generation", "namespace", "namespace_id", "status"],
        )
    )
    assert domain_status(live, "store", "shop.example.com", bob)["status"] == "pending"
    live.work()
    bob_ns = live.row("store", bob)
    assert run_of(live, bob_ns)["hosts"]["web"] == [run_of(live, bob_ns)["hosts"]["web"][0]]  # its platform host only

    # ... and while Alice is suspended, even with his token in the domain's DNS, he cannot take it.
    with live.new_session() as session:
        namespace = session.get(Namespace, alice_ns.id)
        assert namespace is not None
        transition(session, Context(live.runtime.settings, live.runtime.redis), namespace, DesiredState.SUSPENDED)
        session.commit()
    bob_token = claim_token(live, "store", "shop.example.com", bob)
    local_dns.set_txt("_controlplane-challenge.shop.example.com", alice_token, bob_token)
    assert live.client.post("/v1/namespaces/store/domains/shop.example.com/verify", headers=bob).status_code == 202
    live.work()
    refused = domain_status(live, "store", "shop.example.com", bob)
    assert refused["status"] == "pending"
    assert "verified by another namespace" in refused["last_error"]
    assert "shop.example.com" not in run_of(live, bob_ns)["hosts"]["web"]
    assert domain_status(live, "shop", "shop.example.com", alice)["status"] == "verified"


@pytest.mark.parametrize(
    "domain",
    [
        "controlplane.test",
        "api.controlplane.test",
        "web-shop-abcd1234.apps.controlplane.test",
        "kubernetes.default.svc.cluster.local",
        "my-svc.my-namespace.svc",
        "localhost",
        "app.localhost",
        "127.0.0.1",
        "shop",
    ],
)
def test_the_platform_zone_and_internal_names_are_refused(live: Live, domain: str) -> None:
    response = live.client.post(
        "/v1/namespaces", json={"name": "shop", "apps": [app(domains=(domain,))]}, headers=live.headers
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_domain"
    assert error["details"][0]["location"] == ["apps", "web", "custom_domains", "0"]
    assert live.client.get("/v1/namespaces/shop", headers=live.headers).status_code == 404
    assert live.queued() == 0


def test_a_platform_zone_domain_is_refused_on_update_too(live: Live) -> None:
    live.create("shop", [app()])
    patch = live.client.patch(
        "/v1/namespaces/shop/apps/web", json={"custom_domains": ["api.controlplane.test"]}, headers=live.headers
    )
    assert patch.status_code == 422
    assert live.client.get("/v1/namespaces/shop", headers=live.headers).json()["apps"][0]["custom_domains"] == []


def test_domains_are_stored_normalised(live: Live) -> None:
    live.create("shop", [app(domains=("Bücher.Example.",))])
    stored = live.client.get("/v1/namespaces/shop", headers=live.headers).json()["apps"][0]["custom_domains"]
    assert stored == ["xn--bcher-kva.example"]
    listed = live.client.get("/v1/namespaces/shop/domains", headers=live.headers).json()["items"]
    assert [(item["domain"], item["status"]) for item in listed] == [("xn--bcher-kva.example", "pending")]


# --- 4. names leak and squat ---------------------------------------------------------------------------


def test_another_accounts_name_answers_like_a_free_one(live: Live) -> None:
    live.create("web", [app()])
    stranger = live.new_key()
    taken = live.client.post("/v1/namespaces", json={"name": "web", "apps": []}, headers=stranger)
    free = live.client.post("/v1/namespaces", json={"name": "never-used", "apps": []}, headers=stranger)
    assert taken.status_code == free.status_code == 202
    answer = taken.json()
    assert answer["namespace_id"] != str(live.row("web").id)  # the stranger's own new namespace
    assert {**answer, "namespace_id": None} == {**free.json(), "namespace": "web", "namespace_id": None}


@pytest.mark.parametrize(
    "name",
    [
        "cert-manager",
        "karpenter",
        "monitoring",
        "ingress-nginx",
        "istio-system",
        "argocd",
        "flux-system",
        "default",
        "kube-anything",
        "openshift-console",
        "cattle-system",
    ],
)
def test_reserved_names_are_refused(live: Live, name: str) -> None:
    response = live.client.post("/v1/namespaces", json={"name": name, "apps": []}, headers=live.headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "name_reserved"
    assert live.queued() == 0
