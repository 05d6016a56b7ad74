"""An engine double for the job tests: implements ``controlplane.engine.interface.Engine`` and records each call.

The reconcile jobs run in real RQ work-horses (forked processes), so calls are recorded in Redis, and a test
scripts the outcomes of the next runs by pushing onto a Redis list: ``ok``, ``changed``, ``error``, ``busy``,
``policy``, ``timeout``, ``unavailable`` (a tool went missing mid-run). A delay (seconds) makes a run last, to let a
test act while it is in progress. :func:`set_tools_missing` makes the engine report its tools missing before any run.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis

from controlplane.engine.interface import (
    EngineError,
    EngineEvent,
    EngineUnavailable,
    EventSink,
    PolicyViolation,
    RunKind,
    RunResult,
    RunTimedOut,
    StackBusy,
)
from controlplane.settings import Settings
from programs.tenant import TenantSpec

CALLS = "engine-double:calls"
SCRIPT = "engine-double:script"
DELAY = "engine-double:delay"
STARTED = "engine-double:started"
TOOLS_MISSING = "engine-double:tools-missing"
MISSING_MESSAGE = "the pulumi CLI was not found: run scripts/install-tools"


class RecordingEngine:
    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url is not None
        self.redis = Redis.from_url(settings.redis_url)

    def check_available(self) -> None:
        if self.redis.get(TOOLS_MISSING):
            raise EngineUnavailable(MISSING_MESSAGE)

    def run(self, kind: RunKind, stack_name: str, spec: TenantSpec | None, on_event: EventSink) -> RunResult:
        self.redis.rpush(CALLS, json.dumps(_describe(kind, stack_name, spec)))
        self.redis.incr(STARTED)
        time.sleep(float(self.redis.get(DELAY) or 0))
        outcome = (self.redis.lpop(SCRIPT) or b"ok").decode()
        on_event(EngineEvent(1, "resource_pre", {"urn": f"urn:pulumi:{stack_name}::tenant::x", "op": "update"}))
        if outcome == "error":
            on_event(EngineEvent(2, "diagnostic", {"severity": "error", "message": "provider said no"}))
            raise EngineError("provider said no")
        if outcome == "busy":
            raise StackBusy("another update holds the stack's lock")
        if outcome == "timeout":
            raise RunTimedOut("the run passed its limit; interrupted 1 pulumi process(es) with SIGINT")
        if outcome == "unavailable":
            raise EngineUnavailable(MISSING_MESSAGE)
        if outcome == "policy":
            raise PolicyViolation("refused by policy: pinned-image-tags", ["pinned-image-tags"])
        changes = {"update": 1, "same": 5} if outcome == "changed" else {"same": 6}
        if kind is RunKind.UP and outcome == "ok":
            changes = {"create": 6}
        on_event(EngineEvent(3, "summary", {"changes": changes}))
        outputs = {"namespace": spec.namespace} if spec is not None else {}
        return RunResult(changes, outputs)

    def cancel(self, stack_name: str) -> None:
        self.redis.rpush(CALLS, json.dumps({"kind": "cancel", "stack": stack_name}))


def _describe(kind: RunKind, stack_name: str, spec: TenantSpec | None) -> dict[str, Any]:
    described: dict[str, Any] = {"kind": kind.value, "stack": stack_name}
    if spec is not None:
        described["lifecycle"] = spec.lifecycle.value
        described["apps"] = {app.name: {"image": app.image, "replicas": app.replicas} for app in spec.apps}
        # What reaches shared space: the Kubernetes namespace, the labels' ids, every host the apps answer on.
        described["namespace"] = spec.namespace
        described["labels"] = {"account": spec.account_id, "namespace": spec.namespace_id}
        described["hosts"] = {app.name: list(spec.hostnames(app)) for app in spec.apps}
    return described


def calls(redis: Redis) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in redis.lrange(CALLS, 0, -1)]


def script(redis: Redis, *outcomes: str) -> None:
    redis.rpush(SCRIPT, *outcomes)


def set_tools_missing(redis: Redis, missing: bool) -> None:
    if missing:
        redis.set(TOOLS_MISSING, "1")
    else:
        redis.delete(TOOLS_MISSING)
