"""``apply --wait``: follow a namespace until its change is applied, showing the engine's progress.

Polls the namespace; once a run for the awaited generation exists, follows that operation's event stream
(info level and up) with a spinner and a line per finished step, then looks at the namespace again. Ends when the
namespace is ready at that generation, and fails when a run fails or the namespace stalls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.status import Status

from controlplane.tenant_cli.client import ApiClient, CliError, ServerEvent

_POLL_S = 0.5
_STYLE = {"warning": "yellow", "error": "red"}


@dataclass
class Outcome:
    ok: bool
    message: str


class Follower:
    def __init__(self, client: ApiClient, console: Console, timeout_s: float) -> None:
        self.client = client
        self.console = console
        self.deadline = time.monotonic() + timeout_s
        self.timeout_s = timeout_s
        self.followed: set[str] = set()
        self.steps = 0

    def until_applied(self, name: str, generation: int) -> Outcome:
        with self.console.status(f"{name}: waiting for its run to start") as status:
            while time.monotonic() < self.deadline:
                namespace = self.client.get_or_none(f"/v1/namespaces/{name}")
                if namespace is None:
                    return Outcome(False, f"{name} is gone")
                if namespace["status"] == "waiting_for_engine":
                    status.update(f"{name}: waiting for the engine's tools to be installed")
                if self._follow_next_run(name, generation, status):
                    continue  # a run was shown (live, or replayed when it was quicker than us): look again
                outcome = _settled(namespace, generation)
                if outcome is not None:
                    return outcome
                time.sleep(_POLL_S)
        return Outcome(False, f"{name} was not ready within {self.timeout_s:g} s (it goes on in the background)")

    def until_destroyed(self, name: str, namespace_id: str) -> Outcome:
        """Poll the deleted namespace (by id: its name may be taken again meanwhile) until its stack is gone."""
        with self.console.status(f"{name}: waiting for its stack to be destroyed") as status:
            while time.monotonic() < self.deadline:
                deletion = self.client.json("GET", f"/v1/namespace-deletions/{namespace_id}")
                if deletion["done"]:
                    return Outcome(True, f"{name} is gone: its stack was destroyed")
                if deletion["status"] == "stalled":
                    return Outcome(False, f"{name}: the destroy stalled: {deletion['last_error']}")
                if deletion["status"] == "failed":
                    status.update(f"{name}: the destroy failed and is retried: {deletion['last_error']}")
                else:
                    status.update(f"{name}: destroying its stack ({deletion['status']})")
                time.sleep(_POLL_S)
        return Outcome(False, f"{name} was not destroyed within {self.timeout_s:g} s (it goes on in the background)")

    def _follow_next_run(self, name: str, generation: int, status: Status) -> bool:
        """Stream the newest run for ``generation`` (or later) not followed yet; False when there is none."""
        page = self.client.json("GET", f"/v1/namespaces/{name}/operations", params={"limit": 5})
        runs = [op for op in page["items"] if op["kind"] in ("up", "destroy") and op["generation"] >= generation]
        fresh = [op for op in runs if op["id"] not in self.followed]
        if not fresh:
            return False
        operation = fresh[0]
        self.followed.add(operation["id"])
        status.update(f"{name}: {operation['kind']} of generation {operation['generation']}")
        path = f"/v1/namespaces/{name}/operations/{operation['id']}/events"
        read_timeout = max(1.0, self.deadline - time.monotonic())
        for event in self.client.events(path, {"level": "info"}, read_timeout):
            self._show(name, event, status)
            if event.name == "end":
                break
        return True

    def _show(self, name: str, event: ServerEvent, status: Status) -> None:
        data = event.data
        if event.name == "resource_pre":
            status.update(f"{name}: {data.get('op')} {_resource(data)}")
        elif event.name == "resource_done":
            self.steps += 1
            self.console.print(f"  [green]✓[/green] {data.get('op')} {_resource(data)}", highlight=False)
            status.update(f"{name}: {self.steps} steps done")
        elif event.name in ("diagnostic", "policy_violation", "resource_failed"):
            level = str(data.get("level", "info"))
            text = data.get("message") or f"{data.get('op')} {_resource(data)} failed"
            style = _STYLE.get(level)
            label = f"[{style}]{level}[/{style}]" if style else level
            self.console.print(f"  {label}: {text}", highlight=False, markup=True)
        elif event.name == "summary":
            changes = ", ".join(f"{count} {op}" for op, count in (data.get("changes") or {}).items())
            self.console.print(f"  summary: {changes or 'no changes'}", highlight=False)


def _settled(namespace: dict[str, Any], generation: int) -> Outcome | None:
    name, state = namespace["name"], namespace["status"]
    if state == "ready" and namespace["observed_generation"] >= generation:
        return Outcome(True, f"{name} is ready (generation {namespace['observed_generation']})")
    if state == "stalled":
        return Outcome(False, f"{name} stalled: {namespace.get('last_error')}")
    if state == "failed":
        return Outcome(False, f"{name}: the run failed: {namespace.get('last_error')} (the platform retries it)")
    return None


def _resource(data: dict[str, Any]) -> str:
    urn = str(data.get("urn", ""))
    kind = str(data.get("type", "")).rsplit(":", 1)[-1]
    return f"{kind} {urn.rsplit('::', 1)[-1]}".strip()


def require(outcome: Outcome) -> str:
    if not outcome.ok:
        raise CliError(outcome.message)
    return outcome.message
