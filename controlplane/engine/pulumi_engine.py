"""The engine on the Pulumi Automation API: the tenant program run inline, one stack per namespace.

Each stack has its own work dir under the data folder; each worker process has its own ``PULUMI_HOME``. Every
preview and update runs with the policy pack. A run past its time limit is interrupted with SIGINT (never
SIGKILL), which lets the CLI write its state and release its lock.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psutil
from pulumi import automation as auto
from pulumi.automation import events as pulumi_events

from controlplane.engine.interface import (
    EngineError,
    EngineEvent,
    EngineUnavailable,
    EventLevel,
    EventSink,
    PolicyViolation,
    RunKind,
    RunResult,
    RunTimedOut,
    StackBusy,
)
from controlplane.engine.redaction import PathRedactor
from controlplane.engine.state_backend import backend_url, remove_unreadable_sidecars
from controlplane.engine.tools import INSTALL_HINT as TOOLS_HINT
from controlplane.engine.tools import missing_message, missing_tools
from controlplane.settings import Settings
from programs.tenant import TenantSpec, tenant_program

log = logging.getLogger(__name__)

PROJECT_NAME = "tenant"
INSTALL_HINT = f"the pulumi CLI was not found (looked in CONTROLPLANE_PULUMI_ROOT/bin and on PATH): {TOOLS_HINT}"
# What the CLI says when a plugin it needs is not there (automatic plugin downloads are off).
_MISSING_PLUGIN = re.compile(r"no (resource|language|analyzer) plugin|could not (find|load) (the )?.*plugin", re.I)
_INTERRUPT_GRACE_S = 60
T = TypeVar("T")


class PulumiEngine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.resolved_data_dir
        # One PULUMI_HOME per worker (the worker command names itself; RQ forks a work-horse per job under it).
        worker = os.environ.get("CONTROLPLANE_WORKER_NAME", f"pid-{os.getpid()}")
        self.pulumi_home = self.data_dir / "pulumi-home" / worker

    @functools.cached_property
    def backend_url(self) -> str:
        return backend_url(self.settings)

    @functools.cached_property
    def redact(self) -> PathRedactor:
        return PathRedactor.for_engine(self.settings, self.pulumi_home)

    # --- the Engine interface -------------------------------------------------------------------------------

    def check_available(self) -> None:
        if missing := missing_tools(self.settings, self.pulumi_home):
            raise EngineUnavailable(missing_message(missing))

    def run(self, kind: RunKind, stack_name: str, spec: TenantSpec | None, on_event: EventSink) -> RunResult:
        self.check_available()
        sink = _EventTranslator(on_event, self.redact)
        try:
            return run_with_timeout(lambda: self._run(kind, stack_name, spec, sink), self.settings.operation_timeout_s)
        except auto.ConcurrentUpdateError as exc:
            raise StackBusy(self.redact(f"another update holds the stack's lock: {_first_line(exc)}")) from exc
        except auto.CommandError as exc:
            if sink.mandatory_policy_failures:
                rules = sorted(set(sink.mandatory_policy_failures))
                raise PolicyViolation(f"refused by policy: {', '.join(rules)}", rules) from exc
            message = self.redact(_error_message(exc, sink))
            if _MISSING_PLUGIN.search(message):
                raise EngineUnavailable(f"{message}: {TOOLS_HINT}") from exc
            raise EngineError(message) from exc

    def cancel(self, stack_name: str) -> None:
        remove_unreadable_sidecars(self.backend_url, PROJECT_NAME, stack_name)
        try:
            stack = self._stack(stack_name, program=_no_program)
            stack.cancel()
        except auto.StackNotFoundError:
            return
        except auto.CommandError as exc:
            log.info("cancel on %s: %s", stack_name, _first_line(exc))

    # --- internals -------------------------------------------------------------------------------------------

    def _run(self, kind: RunKind, stack_name: str, spec: TenantSpec | None, sink: _EventTranslator) -> RunResult:
        if kind is RunKind.DESTROY:
            return self._destroy(stack_name, sink)
        assert spec is not None, f"{kind} needs the namespace's spec"
        stack = self._stack(stack_name, program=lambda: tenant_program(spec))
        packs = [str(self.settings.policy_pack_dir)] if self.settings.policy_pack_dir else None
        if kind is RunKind.UP:
            up = stack.up(on_event=sink, policy_packs=packs, color="never", suppress_progress=True)
            return RunResult(_counts(up.summary.resource_changes), _plain_outputs(up.outputs))
        if kind is RunKind.PREVIEW:
            preview = stack.preview(on_event=sink, policy_packs=packs, color="never", suppress_progress=True)
            return RunResult(_counts(preview.change_summary))
        if kind is RunKind.REFRESH:
            refresh = stack.refresh(on_event=sink, color="never", suppress_progress=True)
            return RunResult(_counts(refresh.summary.resource_changes))
        drift = stack.preview_refresh(on_event=sink, color="never", suppress_progress=True)
        return RunResult(_counts(drift.change_summary))

    def _destroy(self, stack_name: str, sink: _EventTranslator) -> RunResult:
        try:
            stack = auto.select_stack(stack_name, project_name=PROJECT_NAME, program=_no_program, opts=self._options())
        except auto.StackNotFoundError:
            return RunResult({"delete": 0})
        result = stack.destroy(on_event=sink, remove=True, color="never", suppress_progress=True)
        return RunResult(_counts(result.summary.resource_changes))

    def _stack(self, stack_name: str, program: Callable[[], None]) -> auto.Stack:
        return auto.create_or_select_stack(stack_name, project_name=PROJECT_NAME, program=program, opts=self._options())

    def _options(self) -> auto.LocalWorkspaceOptions:
        work_dir = self.data_dir / "stacks"
        work_dir.mkdir(parents=True, exist_ok=True)
        self.pulumi_home.mkdir(parents=True, exist_ok=True)
        return auto.LocalWorkspaceOptions(
            work_dir=str(work_dir),
            pulumi_home=str(self.pulumi_home),
            pulumi_command=self._command(),
            secrets_provider=self.settings.pulumi_secrets_provider,
            project_settings=auto.ProjectSettings(
                name=PROJECT_NAME, runtime="python", backend=auto.ProjectBackend(url=self.backend_url)
            ),
            env_vars={
                "PULUMI_CONFIG_PASSPHRASE": self.settings.pulumi_config_passphrase.get_secret_value(),
                "PULUMI_SKIP_UPDATE_CHECK": "true",
                "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                **self._path_env(),
            },
        )

    def _command(self) -> auto.PulumiCommand:
        root = str(self.settings.pulumi_root) if self.settings.pulumi_root else None
        try:
            return auto.PulumiCommand(root=root)
        except FileNotFoundError as exc:
            raise EngineUnavailable(INSTALL_HINT) from exc

    def _path_env(self) -> dict[str, str]:
        """Plugins (the Kubernetes provider) are found on PATH; put the tools folder first when settings name one."""
        if self.settings.pulumi_root is None:
            return {}
        return {"PATH": f"{self.settings.pulumi_root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_with_timeout(work: Callable[[], T], timeout_s: float, grace_s: float = _INTERRUPT_GRACE_S) -> T:
    """Run ``work`` in a thread; past ``timeout_s``, SIGINT this process's pulumi children and let them stop.

    SIGINT, never SIGKILL: the CLI then cancels the update cleanly, writes its checkpoint and releases its lock.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="pulumi-run", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        interrupted = _interrupt_pulumi_children()
        thread.join(grace_s)
        raise RunTimedOut(
            f"the run passed its {timeout_s:g} s limit; interrupted {interrupted} pulumi process(es) with SIGINT"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def _no_program() -> None:
    """Destroy and cancel do not run the program; the Automation API still wants one for an inline stack."""


def _interrupt_pulumi_children() -> int:
    count = 0
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() == "pulumi":
                child.send_signal(signal.SIGINT)
                count += 1
        except psutil.NoSuchProcess:
            continue
    return count


def _counts(summary: Any) -> dict[str, int]:
    return {str(getattr(op, "value", op)): int(count) for op, count in (summary or {}).items()}


def _plain_outputs(outputs: auto.OutputMap) -> dict[str, Any]:
    return {name: ("[secret]" if value.secret else value.value) for name, value in outputs.items()}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _error_message(exc: auto.CommandError, sink: _EventTranslator) -> str:
    if sink.errors:
        return "; ".join(sink.errors[-3:])
    stderr = getattr(exc, "stderr", "") or str(exc)
    lines = [line.strip() for line in stderr.splitlines() if "error" in line.lower()]
    return "; ".join(lines[-3:]) or _first_line(exc)


_SEVERITY_LEVELS = {"debug": EventLevel.DEBUG, "warning": EventLevel.WARNING, "error": EventLevel.ERROR}


def _level(kind: str, data: dict[str, Any]) -> EventLevel:
    """What a tenant needs to see: steps that change something, warnings, errors and the summary; not the engine's
    debug chatter, steps that leave a resource as it was, or the end-of-stream marker (Pulumi's ``cancel``)."""
    if kind == "diagnostic":
        level = _SEVERITY_LEVELS.get(str(data.get("severity")), EventLevel.INFO)  # info and info#err
        if data.get("urn") is None and level is not EventLevel.ERROR:
            # About the engine itself, not a resource (which plugin was found where, its version): the operators'.
            return EventLevel.DEBUG
        return level
    if kind in ("resource_pre", "resource_done"):
        return EventLevel.DEBUG if data.get("op") == "same" else EventLevel.INFO
    if kind == "resource_failed":
        return EventLevel.ERROR
    if kind == "policy_violation":
        return EventLevel.ERROR if data.get("enforcement") == "mandatory" else EventLevel.WARNING
    if kind == "cancel":
        return EventLevel.DEBUG
    return EventLevel.INFO


class _EventTranslator:
    """Turns Pulumi's engine events into the control plane's (with a level, without server paths), and remembers
    errors and policy failures."""

    def __init__(self, sink: EventSink, redact: PathRedactor) -> None:
        self.sink = sink
        self.redact = redact
        self.errors: list[str] = []
        self.mandatory_policy_failures: list[str] = []

    def __call__(self, event: pulumi_events.EngineEvent) -> None:
        translated = self._translate(event)
        if translated is not None:
            data = self.redact.data(translated.data)
            self.sink(
                EngineEvent(
                    translated.sequence, translated.type, {**data, "level": _level(translated.type, data).value}
                )
            )

    def _translate(self, event: pulumi_events.EngineEvent) -> EngineEvent | None:
        seq = event.sequence
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            return EngineEvent(seq, "resource_pre", {"urn": meta.urn, "op": str(meta.op.value), "type": meta.type})
        if event.res_outputs_event is not None:
            meta = event.res_outputs_event.metadata
            return EngineEvent(seq, "resource_done", {"urn": meta.urn, "op": str(meta.op.value), "type": meta.type})
        if event.res_op_failed_event is not None:
            meta = event.res_op_failed_event.metadata
            return EngineEvent(seq, "resource_failed", {"urn": meta.urn, "op": str(meta.op.value)})
        if event.policy_event is not None:
            return self._policy(seq, event.policy_event)
        if event.diagnostic_event is not None:
            diag = event.diagnostic_event
            message = diag.message.strip()
            if diag.severity == "error":
                self.errors.append(message)
            return EngineEvent(seq, "diagnostic", {"severity": diag.severity, "message": message, "urn": diag.urn})
        if event.summary_event is not None:
            summary = event.summary_event
            changes = _counts(summary.resource_changes)
            return EngineEvent(seq, "summary", {"changes": changes, "duration_s": summary.duration_seconds})
        if event.cancel_event is not None:
            return EngineEvent(seq, "cancel", {})
        return None

    def _policy(self, seq: int, policy: pulumi_events.PolicyEvent) -> EngineEvent:
        if policy.enforcement_level == "mandatory":
            self.mandatory_policy_failures.append(policy.policy_name)
        return EngineEvent(
            seq,
            "policy_violation",
            {
                "policy": policy.policy_name,
                "pack": policy.policy_pack_name,
                "enforcement": policy.enforcement_level,
                "message": policy.message.strip(),
                "urn": policy.resource_urn,
            },
        )
