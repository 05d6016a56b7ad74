"""``apply --dry-run``: what applying a file would change, and what it would cost, without changing anything.

The API does not take dry runs yet, so :class:`ClientSidePlanner` works from what it offers now: the diff is computed
here, between ``GET /v1/namespaces/{name}/config`` and the file, both read through the document model the server
applies (so defaults and key order do not show up as changes); the price is the account's current hourly cost
(``GET /v1/billing/balance``), and the price after the change is left unknown. Once writes take ``?dry_run=true``
and answer with the change and its price, a server-side planner implementing :class:`Planner` replaces this one
and the command stays as it is.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from controlplane.deployments.schemas import NamespaceConfig
from controlplane.tenant_cli.client import ApiClient, ApiError, CliError


@dataclass(frozen=True)
class Plan:
    name: str
    exists: bool
    diff: list[str]  # unified diff lines, current -> proposed
    hourly_cost_now: int | None  # micro-credits per hour, the whole account
    hourly_cost_after: int | None  # None: not known before the change is applied
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.diff)


class Planner(Protocol):
    def plan(self, client: ApiClient, document: dict[str, Any]) -> Plan: ...


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


class ClientSidePlanner:
    def plan(self, client: ApiClient, document: dict[str, Any]) -> Plan:
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
        cost_now, notes = self._cost_now(client)
        notes.append("the price after this change is known once it is applied (the API prices no dry run yet)")
        return Plan(name, current_text is not None, diff, cost_now, None, notes)

    @staticmethod
    def _current(client: ApiClient, name: str) -> str | None:
        try:
            return client.request("GET", f"/v1/namespaces/{name}/config").text
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    @staticmethod
    def _cost_now(client: ApiClient) -> tuple[int | None, list[str]]:
        try:
            return int(client.json("GET", "/v1/billing/balance")["hourly_cost"]), []
        except ApiError as exc:
            if exc.status == 403:
                return None, ["the price needs a key with billing:read"]
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise CliError(f"the API's balance has an unexpected shape: {exc}") from None
