"""Gauges read at scrape time: queue depth and the age of each queue's oldest job (Redis), namespaces by status,
stalled and drifted ones, and the progress of active rollouts (PostgreSQL). Each source is one cheap round trip;
a source that fails is reported as ``controlplane_scrape_error{source=...} 1`` and the rest is still answered."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rq import Queue
from sqlalchemy import text

from controlplane.queue import WORKER_QUEUES
from controlplane.runtime import Runtime

log = logging.getLogger(__name__)

_NAMESPACES = text(
    "SELECT status, count(*), count(*) FILTER (WHERE drift_detected) FROM namespaces"
    " WHERE status <> 'deleted' GROUP BY status"
)
_ROLLOUTS = text(
    """
    SELECT r.id, r.status, r.current_wave, r.waves, i.state, count(i.namespace_id)
    FROM rollouts r LEFT JOIN rollout_items i ON i.rollout_id = r.id
    WHERE r.status IN ('planning', 'running', 'paused')
    GROUP BY r.id, r.status, r.current_wave, r.waves, i.state
    """
)


class StateCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily("controlplane_scrape_error", "1 when a source could not be read", labels=["source"])
        for source, read in (("redis", self._queues), ("database", self._database)):
            try:
                yield from read()
            except Exception as exc:  # a scrape answers with what it could read; the error is a metric
                log.warning("metrics: reading %s failed: %s", source, exc)
                errors.add_metric([source], 1)
        yield errors

    def _queues(self) -> list[Metric]:
        depth = GaugeMetricFamily("controlplane_queue_depth", "Jobs waiting per queue", labels=["queue"])
        age = GaugeMetricFamily(
            "controlplane_queue_oldest_job_age_seconds", "Age of the job at the head of each queue", labels=["queue"]
        )
        scheduled = GaugeMetricFamily(
            "controlplane_queue_scheduled_jobs", "Jobs scheduled for later (retries) per queue", labels=["queue"]
        )
        redis = self.runtime.redis
        now = datetime.now(UTC)
        with redis.pipeline(transaction=False) as pipe:
            for name in WORKER_QUEUES:
                queue = Queue(name, connection=redis)
                pipe.llen(queue.key)
                pipe.lindex(queue.key, 0)
                pipe.zcard(queue.scheduled_job_registry.key)
            answers = pipe.execute()
        heads = {}
        for index, name in enumerate(WORKER_QUEUES):
            count, head, later = answers[index * 3 : index * 3 + 3]
            depth.add_metric([name], count)
            scheduled.add_metric([name], later)
            if head is not None:
                heads[name] = head.decode() if isinstance(head, bytes) else head
        enqueued = {name: redis.hget(f"rq:job:{job}", "enqueued_at") for name, job in heads.items()}
        for name in WORKER_QUEUES:
            stamp = enqueued.get(name)
            age.add_metric([name], _age_s(stamp, now) if stamp else 0.0)
        return [depth, age, scheduled]

    def _database(self) -> list[Metric]:
        by_status = GaugeMetricFamily("controlplane_namespaces", "Namespaces by status", labels=["status"])
        stalled = GaugeMetricFamily("controlplane_namespaces_stalled", "Namespaces waiting for an operator's retry")
        drifted = GaugeMetricFamily(
            "controlplane_namespaces_drifted", "Namespaces whose cluster drifted from the stack"
        )
        items = GaugeMetricFamily(
            "controlplane_rollout_items", "Items of active rollouts by state", labels=["rollout", "status", "state"]
        )
        waves = GaugeMetricFamily(
            "controlplane_rollout_wave",
            "Active rollouts' current wave (0 = canary) and count",
            labels=["rollout", "of"],
        )
        with self.runtime.engine.connect() as conn:
            counts = conn.execute(_NAMESPACES).all()
            rollouts = conn.execute(_ROLLOUTS).all()
        for status, count, _drift in counts:
            by_status.add_metric([status], count)
        stalled.add_metric([], sum(count for status, count, _ in counts if status == "stalled"))
        drifted.add_metric([], sum(drift for _, _, drift in counts))
        seen = set()
        for rollout_id, status, wave, total_waves, state, count in rollouts:
            if state is not None:
                items.add_metric([str(rollout_id), status, state], count)
            if rollout_id not in seen:
                seen.add(rollout_id)
                waves.add_metric([str(rollout_id), str(total_waves)], wave)
        return [by_status, stalled, drifted, items, waves]


def _age_s(stamp: bytes | str, now: datetime) -> float:
    raw = stamp.decode() if isinstance(stamp, bytes) else stamp
    try:
        enqueued = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if enqueued.tzinfo is None:
        enqueued = enqueued.replace(tzinfo=UTC)
    return max(0.0, (now - enqueued).total_seconds())
