"""``GET /metrics``: the Prometheus text format, for operators (a scraper holds a key with only ``operator:read``)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from controlplane.accounts.principal import OperatorReader
from controlplane.api.deps import RuntimeDep
from controlplane.metrics.collectors import StateCollector
from controlplane.metrics.process import metrics_dir
from controlplane.runtime import Runtime

router = APIRouter(tags=["operator"])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics (operators holding operator:read)")
def metrics(_operator: OperatorReader, runtime: RuntimeDep) -> Response:
    return Response(scrape(runtime), media_type=CONTENT_TYPE_LATEST)


def scrape(runtime: Runtime) -> bytes:
    directory = metrics_dir()
    registry = CollectorRegistry()
    if directory is not None:
        # Every process of this host that writes to the folder: this API, the workers and their horses.
        MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
        registry.register(StateCollector(runtime))
        return generate_latest(registry)
    registry.register(StateCollector(runtime))
    return generate_latest(REGISTRY) + generate_latest(registry)
