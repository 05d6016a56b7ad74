"""Custom domains are routed only once their owner answers the DNS TXT challenge, checked by real jobs against a
local DNS server; the scheduler re-checks them, flags a record that went away and tells the owner."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from controlplane.db import utcnow
from controlplane.deployments.domain_jobs import purge_released_domains
from controlplane.deployments.models import CustomDomain
from controlplane.notifications.models import Notification
from controlplane.worker.scheduler import enqueue_due, periodic_tasks
from tests.deployments.test_tenant_isolation import app, claim_token, domain_status, run_of
from tests.support.dns_server import LocalDns
from tests.support.live import Live

DOMAIN = "shop.example.com"
CHALLENGE = f"_controlplane-challenge.{DOMAIN}"


def create_with_domain(live: Live, headers: dict[str, str] | None = None, name: str = "shop") -> str:
    live.create(name, [app(domains=(DOMAIN,))], headers=headers)
    return claim_token(live, name, DOMAIN, headers or live.headers)


def verify(live: Live, headers: dict[str, str] | None = None, name: str = "shop") -> dict[str, Any]:
    response = live.client.post(f"/v1/namespaces/{name}/domains/{DOMAIN}/verify", headers=headers or live.headers)
    assert response.status_code == 202, response.text
    live.work()
    return domain_status(live, name, DOMAIN, headers or live.headers)


def routed(live: Live, name: str = "shop", headers: dict[str, str] | None = None) -> bool:
    return DOMAIN in run_of(live, live.row(name, headers))["hosts"]["web"]


def scheduled_check(live: Live) -> None:
    """What the scheduler does when the domain check is due: queue the sweep; the sweep queues the checks."""
    tasks = tuple(task for task in periodic_tasks(live.runtime.settings) if task.name == "check-custom-domains")
    live.runtime.redis.delete("controlplane:scheduler:check-custom-domains")
    assert enqueue_due(live.runtime.redis, live.runtime.queue, tasks) == ["check-custom-domains"]
    live.work()  # the sweep, the checks it queued, and the reconciles they asked for


def notices(live: Live, kind: str) -> list[Notification]:
    with live.new_session() as session:
        return list(session.scalars(select(Notification).where(Notification.kind == kind)))


def test_the_record_with_the_token_verifies_the_domain_and_routes_it(live: Live, local_dns: LocalDns) -> None:
    token = create_with_domain(live)
    live.work()
    assert not routed(live)
    local_dns.set_txt(CHALLENGE, "some-other-verification=x", token)
    checked = verify(live)
    assert checked["status"] == "verified"
    assert checked["verified_at"] is not None
    assert checked["last_error"] is None
    assert routed(live)
    assert CHALLENGE in local_dns.queries


def test_a_wrong_token_does_not_verify(live: Live, local_dns: LocalDns) -> None:
    create_with_domain(live)
    local_dns.set_txt(CHALLENGE, "not-the-token")
    checked = verify(live)
    assert checked["status"] == "pending"
    assert "holds this claim's token" in checked["last_error"]
    assert not routed(live)


def test_a_missing_record_does_not_verify(live: Live, local_dns: LocalDns) -> None:
    create_with_domain(live)
    checked = verify(live)
    assert checked["status"] == "pending"
    assert checked["last_checked_at"] is not None
    assert not routed(live)


def test_no_answer_from_the_resolvers_changes_nothing(live: Live, local_dns: LocalDns, monkeypatch: Any) -> None:
    token = create_with_domain(live)
    local_dns.set_txt(CHALLENGE, token)
    assert verify(live)["status"] == "verified"
    local_dns.stop()  # nothing answers on that port any more
    monkeypatch.setattr(live.runtime.settings, "domain_verification_timeout_s", 0.5)
    monkeypatch.setattr(live.runtime.settings, "domain_recheck_interval_s", 0)
    scheduled_check(live)
    checked = domain_status(live, "shop", DOMAIN, live.headers)
    assert checked["status"] == "verified"
    assert checked["failing_since"] is None
    assert "no resolver answered" in checked["last_error"]


def test_a_record_removed_later_is_flagged_by_the_scheduled_recheck_and_the_owner_told(
    live: Live, local_dns: LocalDns, monkeypatch: Any
) -> None:
    token = create_with_domain(live)
    local_dns.set_txt(CHALLENGE, token)
    assert verify(live)["status"] == "verified"
    scheduled_check(live)  # not due yet: a verified domain is checked again after domain_recheck_interval_s
    assert notices(live, "domain_check_failed") == []

    local_dns.remove(CHALLENGE)
    monkeypatch.setattr(live.runtime.settings, "domain_recheck_interval_s", 0)
    scheduled_check(live)
    flagged = domain_status(live, "shop", DOMAIN, live.headers)
    assert flagged["status"] == "verified"  # still routed during the grace
    assert flagged["failing_since"] is not None
    [notice] = notices(live, "domain_check_failed")
    assert notice.account_id == live.row("shop").account_id
    assert CHALLENGE in notice.body
    assert routed(live)

    monkeypatch.setattr(live.runtime.settings, "domain_recheck_grace_hours", 0)
    scheduled_check(live)
    lapsed = domain_status(live, "shop", DOMAIN, live.headers)
    assert lapsed["status"] == "pending"
    assert len(notices(live, "domain_unverified")) == 1
    assert not routed(live)  # the next run dropped its Ingress rule, custom hostname and certificate

    local_dns.set_txt(CHALLENGE, token)  # restored: verified again with the same token
    assert verify(live)["status"] == "verified"
    assert routed(live)


def test_a_restored_record_clears_the_flag(live: Live, local_dns: LocalDns, monkeypatch: Any) -> None:
    token = create_with_domain(live)
    local_dns.set_txt(CHALLENGE, token)
    verify(live)
    monkeypatch.setattr(live.runtime.settings, "domain_recheck_interval_s", 0)
    local_dns.remove(CHALLENGE)
    scheduled_check(live)
    local_dns.set_txt(CHALLENGE, token)
    scheduled_check(live)
    checked = domain_status(live, "shop", DOMAIN, live.headers)
    assert (checked["status"], checked["failing_since"], checked["last_error"]) == ("verified", None, None)


def test_pending_domains_are_checked_by_the_scheduler(live: Live, local_dns: LocalDns) -> None:
    token = create_with_domain(live)
    live.work()
    local_dns.set_txt(CHALLENGE, token)
    scheduled_check(live)
    assert domain_status(live, "shop", DOMAIN, live.headers)["status"] == "verified"
    assert routed(live)


def test_a_deleted_namespaces_domain_stays_reserved_for_the_grace(live: Live, local_dns: LocalDns) -> None:
    owner, other = live.headers, live.new_key()
    owner_token = create_with_domain(live)
    local_dns.set_txt(CHALLENGE, owner_token)
    assert verify(live)["status"] == "verified"
    assert live.client.delete("/v1/namespaces/shop", headers=owner).status_code == 202
    live.work()

    other_token = create_with_domain(live, other, name="store")
    local_dns.set_txt(CHALLENGE, other_token)  # the domain's DNS now names the other tenant
    assert verify(live, other, "store")["status"] == "pending"

    with live.new_session() as session:  # the grace has passed
        session.execute(update(CustomDomain).values(released_at=utcnow() - timedelta(seconds=1))
                        .where(CustomDomain.released_at.is_not(None)))  # fmt: skip
        session.commit()
    assert verify(live, other, "store")["status"] == "verified"
    assert routed(live, "store", other)


def test_the_same_account_takes_its_domain_back_within_the_grace(live: Live, local_dns: LocalDns) -> None:
    token = create_with_domain(live)
    local_dns.set_txt(CHALLENGE, token)
    verify(live)
    assert live.client.delete("/v1/namespaces/shop", headers=live.headers).status_code == 202
    new_token = create_with_domain(live)
    local_dns.set_txt(CHALLENGE, new_token)
    assert verify(live)["status"] == "verified"


def test_released_reservations_are_purged(live: Live, local_dns: LocalDns) -> None:
    token = create_with_domain(live)
    local_dns.set_txt(CHALLENGE, token)
    verify(live)
    assert live.client.delete("/v1/namespaces/shop", headers=live.headers).status_code == 202
    assert purge_released_domains() == 0  # reserved for 30 days
    assert purge_released_domains(now=utcnow() + timedelta(days=31)) == 1


def test_a_domain_is_given_up_only_once_no_app_lists_it(live: Live, local_dns: LocalDns) -> None:
    token = create_with_domain(live)
    local_dns.set_txt(CHALLENGE, token)
    verify(live)
    refused = live.client.delete(f"/v1/namespaces/shop/domains/{DOMAIN}", headers=live.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "domain_in_use"
    patch = live.client.patch("/v1/namespaces/shop/apps/web", json={"custom_domains": []}, headers=live.headers)
    assert patch.status_code == 202
    # A verified domain stays the namespace's until it is given up explicitly.
    assert domain_status(live, "shop", DOMAIN, live.headers)["status"] == "verified"
    assert live.client.delete(f"/v1/namespaces/shop/domains/{DOMAIN}", headers=live.headers).status_code == 204
    assert live.client.get("/v1/namespaces/shop/domains", headers=live.headers).json()["items"] == []


def claim_rows(live: Live) -> list[tuple[Any, ...]]:
    with live.new_session() as session:
        rows = session.execute(select(CustomDomain.namespace_id, CustomDomain.domain, CustomDomain.status))
        return [tuple(row) for row in rows]


def test_a_pending_domain_dropped_from_the_apps_is_forgotten(live: Live) -> None:
    create_with_domain(live)
    patch = live.client.patch("/v1/namespaces/shop/apps/web", json={"custom_domains": []}, headers=live.headers)
    assert patch.status_code == 202
    assert live.client.get("/v1/namespaces/shop/domains", headers=live.headers).json()["items"] == []
    assert claim_rows(live) == []  # deleted, not left behind without a namespace


def test_a_deleted_namespace_forgets_its_pending_domains(live: Live) -> None:
    create_with_domain(live)
    assert live.client.delete("/v1/namespaces/shop", headers=live.headers).status_code == 202
    assert claim_rows(live) == []


@pytest.mark.parametrize("path", ["/v1/namespaces/shop/domains", f"/v1/namespaces/shop/domains/{DOMAIN}/verify"])
def test_another_account_sees_no_domain(live: Live, path: str) -> None:
    create_with_domain(live)
    stranger = live.new_key()
    response = live.client.request("GET" if path.endswith("domains") else "POST", path, headers=stranger)
    assert response.status_code == 404
