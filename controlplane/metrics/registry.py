"""The metrics the processes count. Gauges of the platform's state (queues, stalled and drifted namespaces,
rollouts) are read at scrape time instead (``controlplane.metrics.collectors``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0)

HTTP_REQUESTS = Counter(
    "controlplane_http_requests", "HTTP requests by method, route template and status", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "controlplane_http_request_duration_seconds",
    "HTTP request latency by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RECONCILE_DURATION = Histogram(
    "controlplane_reconcile_duration_seconds",
    "Engine runs by kind (up, destroy, refresh, drift_check, preview) and result (succeeded, failed, skipped: an up "
    "found unnecessary by the applied digest, timed for its check)",
    ["kind", "result"],
    buckets=_SECONDS,
)
METERING_DURATION = Histogram(
    "controlplane_metering_duration_seconds", "One hourly metering pass", ["outcome"], buckets=_SECONDS
)


def observe_reconcile(kind: str, result: str, seconds: float) -> None:
    RECONCILE_DURATION.labels(kind, result).observe(seconds)


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)


def observe_metering(outcome: str, seconds: float) -> None:
    METERING_DURATION.labels(outcome).observe(seconds)
