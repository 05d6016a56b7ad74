"""``/metrics``: the Prometheus text format, for operators only, with what forked work-horses counted."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from controlplane.deployments.models import Namespace
from controlplane.metrics.process import metrics_dir
from tests.support.live import Live


def scrape(live: Live, headers: dict[str, str]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = live.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_operator_read(live: Live) -> None:
    assert live.client.get("/metrics").status_code == 401
    assert live.client.get("/metrics", headers=live.headers).status_code == 403  # a tenant's key
    assert live.client.get("/metrics", headers=live.new_operator_key(["operator:read"])).status_code == 200


def test_a_job_in_a_forked_work_horse_reaches_the_scrape(live: Live) -> None:
    assert metrics_dir() is not None, "the tests run metrics in multiprocess mode, as the commands do"
    scraper = live.new_operator_key(["operator:read"])
    before = scrape(live, scraper)
    live.create()
    live.work()  # the reconcile runs in a forked RQ work-horse, which exits after it
    after = scrape(live, scraper)
    name = "controlplane_reconcile_duration_seconds_count"
    assert value(after, name, kind="up", result="succeeded") == value(before, name, kind="up", result="succeeded") + 1
    live.runtime.queue.enqueue("controlplane.deployments.reconcile.reconcile", str(live.namespace("shop").id))
    live.work()
    skipped = scrape(live, scraper)
    assert value(skipped, name, kind="up", result="skipped") == value(after, name, kind="up", result="skipped") + 1


def test_requests_are_counted_by_route_template_with_latency(live: Live) -> None:
    scraper = live.new_operator_key(["operator:read"])
    live.create()
    before = scrape(live, scraper)
    for _ in range(3):
        assert live.client.get("/v1/namespaces/shop", headers=live.headers).status_code == 200
    assert live.client.get("/v1/namespaces/nope", headers=live.headers).status_code == 404
    after = scrape(live, scraper)
    route = "/v1/namespaces/{name}"
    for status, count in (("200", 3), ("404", 1)):
        labels = {"method": "GET", "route": route, "status": status}
        assert (
            value(after, "controlplane_http_requests_total", **labels)
            - value(before, "controlplane_http_requests_total", **labels)
            == count
        )
    latency = "controlplane_http_request_duration_seconds_count"
    assert value(after, latency, method="GET", route=route) - value(before, latency, method="GET", route=route) == 4
    assert not any("shop" in labels_of for (_, labels) in after for _, labels_of in labels)  # templates, not paths


def test_queues_and_namespaces_are_read_at_scrape_time(live: Live) -> None:
    scraper = live.new_operator_key(["operator:read"])
    live.create("a")
    live.create("b")
    samples = scrape(live, scraper)
    assert value(samples, "controlplane_queue_depth", queue="tenant") == 2
    assert value(samples, "controlplane_queue_oldest_job_age_seconds", queue="tenant") >= 0
    assert value(samples, "controlplane_namespaces", status="pending") == 2
    live.work()
    with live.new_session() as session:
        session.execute(update(Namespace).where(Namespace.name == "a").values(status="stalled"))
        session.execute(update(Namespace).where(Namespace.name == "b").values(drift_detected=True))
        session.commit()
    samples = scrape(live, scraper)
    assert value(samples, "controlplane_queue_depth", queue="tenant") == 0
    assert value(samples, "controlplane_namespaces_stalled") == 1
    assert value(samples, "controlplane_namespaces_drifted") == 1
    assert value(samples, "controlplane_scrape_error", source="database") == 0


def test_rollout_progress_is_a_metric(live: Live) -> None:
    live.create("a")
    live.work()
    with live.new_session() as session:
        session.execute(update(Namespace).values(applied_digest="older"))
        session.commit()
    operator = live.new_operator_key(["operator:write"])
    rollout = live.client.post("/v1/operator/rollouts", json={}, headers=operator).json()
    from controlplane.fleet.jobs import plan_rollout

    plan_rollout(rollout["id"])
    samples = scrape(live, operator)
    assert value(samples, "controlplane_rollout_items", rollout=rollout["id"], status="running", state="pending") == 1
    assert value(samples, "controlplane_rollout_wave", rollout=rollout["id"], of="1") == -1


def test_a_metering_pass_in_a_work_horse_is_timed(live: Live) -> None:
    scraper = live.new_operator_key(["operator:read"])
    name = "controlplane_metering_duration_seconds_count"
    before = value(scrape(live, scraper), name, outcome="metered")
    live.runtime.queue.enqueue("controlplane.billing.jobs.meter_due_hours")
    live.work()  # the first pass meters the last complete hour
    assert value(scrape(live, scraper), name, outcome="metered") == before + 1
