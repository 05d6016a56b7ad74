"""What the reconcile loop needs from an engine, independent of Pulumi's own types."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from controlplane.settings import Settings
from programs.tenant import TenantSpec


class RunKind(StrEnum):
    UP = "up"
    PREVIEW = "preview"
    REFRESH = "refresh"
    DESTROY = "destroy"
    DRIFT_CHECK = "drift_check"  # refresh --preview-only


class EventLevel(StrEnum):
    """How much an event matters to the tenant reading the stream (``data["level"]``; streams show info and up)."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


LEVEL_ORDER = {level: rank for rank, level in enumerate(EventLevel)}


@dataclass(frozen=True)
class EngineEvent:
    """One engine event, reduced to what a tenant reads: a type, an optional resource, a message, and its level
    (``data["level"]``, an :class:`EventLevel`). Messages hold no server paths (``engine.redaction``)."""

    sequence: int
    type: str
    data: dict[str, Any]


EventSink = Callable[[EngineEvent], None]


@dataclass
class RunResult:
    changes: dict[str, int] = field(default_factory=dict)  # e.g. {"create": 3, "same": 10}
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(count for op, count in self.changes.items() if op != "same")


class EngineError(Exception):
    """A run failed. ``transient`` failures are retried with backoff; others count toward stalling too."""

    transient = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EngineUnavailable(EngineError):
    """The pulumi CLI (or a plugin) is missing: the message says how to install it. Never the tenant's failure:
    the namespace waits for the engine and is reconciled once the tools are there."""


class StackBusy(EngineError):
    """Pulumi's backend lock is held (ConcurrentUpdateError): retry later."""

    transient = True


class PolicyViolation(EngineError):
    """The policy pack refused the update; ``rules`` names the policies."""

    def __init__(self, message: str, rules: list[str]) -> None:
        super().__init__(message)
        self.rules = rules


class RunTimedOut(EngineError):
    """The run passed its time limit and was interrupted (SIGINT)."""

    transient = True


class Engine(Protocol):
    """One stack per namespace. Every call is synchronous and runs one Pulumi operation."""

    def check_available(self) -> None:
        """Raise :class:`EngineUnavailable` (naming what is missing and how to get it) when no run could start."""
        ...

    def run(self, kind: RunKind, stack_name: str, spec: TenantSpec | None, on_event: EventSink) -> RunResult:
        """Run ``kind`` on the stack. ``spec`` is None only for DESTROY (the program is not needed then)."""
        ...

    def cancel(self, stack_name: str) -> None:
        """Clear what a worker that died mid-run left in the store (its update's lock, a torn write), so the next
        run can start."""
        ...


def load_engine(settings: Settings) -> Engine:
    """The engine settings name (``module:Class``): Pulumi's by default; the job tests name a recording double."""
    module_name, _, class_name = settings.engine.partition(":")
    engine: Engine = getattr(importlib.import_module(module_name), class_name)(settings)
    return engine
