"""``apply --dry-run``: what applying a file would change, and what it would cost, without changing anything.

:class:`ServerPlanner` sends the write itself with ``?dry_run=true`` (``POST /v1/namespaces`` for a new namespace,
``PUT /v1/namespaces/{name}/config`` for an existing one): the server runs its validation, admission and credit
check, stores nothing, queues nothing, and answers with the verdict, the refusals, the price before and after and
the runway. The diff is shown as a unified diff of the YAML, computed here between ``GET .../config`` and the file,
both read through the document model the server applies (so defaults and key order do not show up as changes).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from controlplane.deployments.schemas import NamespaceConfig
from controlplane.tenant_cli.client import ApiClient, ApiError


@dataclass(frozen=True)
class Plan:
    name: str
    exists: bool
    diff: list[str]  # unified diff lines, current -> proposed
    hourly_cost_now: int | None  # micro-credits per hour, the whole account
    hourly_cost_after: int | None
    allowed: bool = True
    refusals: list[dict[str, Any]] = field(default_factory=list)  # the errors the write would get
    runway_hours_after: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.diff)


# What a namespace document holds besides the create body's fields.
DOCUMENT_KEYS = frozenset({"apiVersion", "kind"})


def create_body(document: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/namespaces``'s body for a namespace document."""
    return {key: value for key, value in document.items() if key not in DOCUMENT_KEYS}


class Planner(Protocol):
    def plan(self, client: ApiClient, document: dict[str, Any], raw: bytes) -> Plan: ...


def canonical(document: dict[str, Any]) -> str:
    """The document as the server reads it, as YAML: defaults filled in, the export's key order, apps by name (the
    server matches apps by name, and exports them in that order)."""
    try:
        config = NamespaceConfig.model_validate(document)
    except ValidationError as exc:
        problems = [
            {"location": list(e["loc"]), "message": str(e["msg"]).removeprefix("Value error, ")}
            for e in exc.errors(include_url=False)
        ]
        shape = "the file does not match the configuration's shape"
        raise ApiError(None, "validation_error", shape, problems) from None
    config = config.model_copy(update={"apps": sorted(config.apps, key=lambda app: app.name)})
    return yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False)


class ServerPlanner:
    def plan(self, client: ApiClient, document: dict[str, Any], raw: bytes) -> Plan:
        name = str(document["name"])
        proposed = canonical(document)
        current_text = self._current(client, name)
        current = canonical(yaml.safe_load(current_text)) if current_text is not None else ""
        diff = list(
            difflib.unified_diff(
                current.splitlines(),
                proposed.splitlines(),
                fromfile=f"{name} (now)" if current_text is not None else "/dev/null",
                tofile=f"{name} (this file)",
                lineterm="",
            )
        )
        report = self._dry_run(client, name, document, raw, exists=current_text is not None)
        price = report.get("price") or {}
        notes = [] if price else ["the price needs a key with billing:read"]
        return Plan(
            name,
            current_text is not None,
            diff,
            price.get("hourly_cost_before"),
            price.get("hourly_cost_after"),
            allowed=bool(report.get("allowed", False)),
            refusals=list(report.get("refusals") or []),
            runway_hours_after=price.get("runway_hours_after"),
            notes=notes,
        )

    @staticmethod
    def _dry_run(client: ApiClient, name: str, document: dict[str, Any], raw: bytes, *, exists: bool) -> Any:
        params = {"dry_run": "true"}
        if exists:
            return client.json("PUT", f"/v1/namespaces/{name}/config", params=params, content=raw,
                               headers={"Content-Type": "application/yaml"})  # fmt: skip
        return client.json("POST", "/v1/namespaces", params=params, json=create_body(document))

    @staticmethod
    def _current(client: ApiClient, name: str) -> str | None:
        try:
            return client.request("GET", f"/v1/namespaces/{name}/config").text
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
