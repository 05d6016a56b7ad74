"""The namespaces API: writes answer 202 with the new generation, bad input is refused before anything is kept."""

from __future__ import annotations

import copy

import yaml

from tests.support.engine_double import calls
from tests.support.live import APP, Live


def test_create_answers_202_with_generation_1_and_queues_one_reconcile(live: Live) -> None:
    body = live.create()
    assert body == {"namespace": "shop", "namespace_id": str(live.namespace("shop").id), "generation": 1,
                    "status": "pending"}  # fmt: skip
    assert live.queued() == 1
    assert calls(live.runtime.redis) == []  # nothing ran Pulumi during the request


def test_get_shows_desired_and_observed_state(live: Live) -> None:
    live.create()
    got = live.client.get("/v1/namespaces/shop", headers=live.headers).json()
    assert got["generation"] == 1
    assert got["observed_generation"] == 0
    assert got["desired_state"] == "active"
    assert got["apps"][0]["image"] == APP["image"]


def test_names_are_unique_within_the_account(live: Live) -> None:
    live.create()
    response = live.client.post("/v1/namespaces", json={"name": "shop", "apps": []}, headers=live.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "name_taken"


def test_a_name_that_is_not_a_dns_label_names_the_field(live: Live) -> None:
    response = live.client.post("/v1/namespaces", json={"name": "Shop_1", "apps": []}, headers=live.headers)
    assert response.status_code == 422
    assert ["body", "name"] in [problem["location"] for problem in response.json()["error"]["details"]]


def test_latest_image_is_refused_naming_the_app_field(live: Live) -> None:
    app = {**APP, "image": "ghcr.io/acme/web:latest"}
    response = live.client.post("/v1/namespaces", json={"name": "shop", "apps": [app]}, headers=live.headers)
    assert response.status_code == 422
    locations = [problem["location"] for problem in response.json()["error"]["details"]]
    assert ["body", "apps", 0, "image"] in locations
    assert live.queued() == 0


def test_admission_runs_the_policy_pack(live: Live) -> None:
    app = {**APP, "image": "registry.example.com/acme/web:1.0"}  # a valid reference, not an allowed registry
    response = live.client.post("/v1/namespaces", json={"name": "shop", "apps": [app]}, headers=live.headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "policy_violation"
    assert "allowed-image-registries" in error["message"]
    assert live.client.get("/v1/namespaces/shop", headers=live.headers).status_code == 404
    assert live.queued() == 0


def test_update_bumps_generation_and_coalesces_into_the_waiting_job(live: Live) -> None:
    live.create()
    for replicas in (3, 4, 5):
        response = live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": replicas}, headers=live.headers)
        assert response.status_code == 202
    assert response.json()["generation"] == 4
    assert live.queued() == 1


def test_volumes_only_grow(live: Live) -> None:
    live.create()
    shrink = live.client.patch(
        "/v1/namespaces/shop/apps/web", json={"volume": {"size_gib": 1, "mount_path": "/data"}}, headers=live.headers
    )
    assert shrink.status_code == 422
    assert shrink.json()["error"]["code"] == "volume_shrink"
    grow = live.client.patch(
        "/v1/namespaces/shop/apps/web", json={"volume": {"size_gib": 20, "mount_path": "/data"}}, headers=live.headers
    )
    assert grow.status_code == 202
    assert live.client.get("/v1/namespaces/shop", headers=live.headers).json()["apps"][0]["volume"]["size_gib"] == 20


def test_apps_are_added_and_removed(live: Live) -> None:
    live.create()
    worker = {**copy.deepcopy(APP), "name": "worker", "volume": None}
    assert live.client.post("/v1/namespaces/shop/apps", json=worker, headers=live.headers).status_code == 202
    duplicate = live.client.post("/v1/namespaces/shop/apps", json=worker, headers=live.headers)
    assert duplicate.status_code == 409
    assert live.client.delete("/v1/namespaces/shop/apps/worker", headers=live.headers).status_code == 202
    missing = live.client.delete("/v1/namespaces/shop/apps/worker", headers=live.headers)
    assert missing.status_code == 404


def test_config_exports_as_yaml_that_applies_again(live: Live) -> None:
    live.create()
    exported = live.client.get("/v1/namespaces/shop/config", headers=live.headers)
    assert exported.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(exported.text)
    assert document["apiVersion"] == "controlplane.io/v1"
    assert document["apps"][0]["env"] == {"MODE": "production"}
    document["apps"][0]["replicas"] = 7
    applied = live.client.put("/v1/namespaces/shop/config", content=yaml.safe_dump(document), headers=live.headers)
    assert applied.status_code == 202
    assert applied.json()["generation"] == 2
    again = yaml.safe_load(live.client.get("/v1/namespaces/shop/config", headers=live.headers).text)
    assert again == document


def test_garbage_config_is_a_clear_error(live: Live) -> None:
    live.create()
    response = live.client.put("/v1/namespaces/shop/config", content=b"apps: [unclosed", headers=live.headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_config"
    wrong = live.client.put("/v1/namespaces/shop/config", content=b"name: other\n", headers=live.headers)
    assert wrong.status_code == 422


def test_another_account_sees_nothing(live: Live) -> None:
    live.create()
    stranger = live.new_key()
    assert live.client.get("/v1/namespaces/shop", headers=stranger).status_code == 404
    assert live.client.get("/v1/namespaces", headers=stranger).json()["items"] == []
    assert live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": 1}, headers=stranger).status_code == 404
    assert live.client.delete("/v1/namespaces/shop", headers=stranger).status_code == 404
    assert live.client.get("/v1/namespaces/shop/config", headers=stranger).status_code == 404


def test_read_only_key_cannot_write(live: Live) -> None:
    live.create()
    reader = live.new_key(["namespaces:read"])
    assert live.client.get("/v1/namespaces", headers=reader).status_code == 200
    response = live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": 1}, headers=reader)
    assert response.status_code == 403


def test_list_is_paginated(live: Live) -> None:
    for index in range(3):
        live.create(f"ns{index}", apps=[{**APP, "name": "web"}])
    first = live.client.get("/v1/namespaces", params={"limit": 2}, headers=live.headers).json()
    second = live.client.get("/v1/namespaces", params={"limit": 2, "cursor": first["next_cursor"]},
                             headers=live.headers).json()  # fmt: skip
    names = [ns["name"] for ns in first["items"] + second["items"]]
    assert sorted(names) == ["ns0", "ns1", "ns2"]
    assert second["next_cursor"] is None


def test_unknown_fields_are_refused(live: Live) -> None:
    response = live.client.post("/v1/namespaces", json={"name": "x", "apps": [], "region": "eu"}, headers=live.headers)
    assert response.status_code == 422
