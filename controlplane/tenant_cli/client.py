"""The API over HTTP: one client with the key, and every failure as a :class:`CliError` with the API's own words.

The API answers errors as ``{"error": {"code", "message", "details"}}``; :class:`ApiError` keeps those, and the
commands print them (never a traceback).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


class CliError(Exception):
    """Something the person can act on: printed as ``error: <message>``, exit status 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def lines(self) -> list[str]:
        return [f"error: {self.message}"]


class ApiError(CliError):
    """The API's error (``status`` is None when the CLI found the problem itself, before asking the API)."""

    def __init__(self, status: int | None, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details

    def lines(self) -> list[str]:
        where_from = f", HTTP {self.status}" if self.status is not None else ""
        lines = [f"error: {self.message} ({self.code}{where_from})"]
        for problem in self.details if isinstance(self.details, list) else []:
            if isinstance(problem, dict):
                where = ".".join(str(part) for part in problem.get("location", []))
                lines.append(f"  {where}: {problem.get('message', '')}".rstrip())
        return lines


@dataclass(frozen=True)
class ServerEvent:
    name: str
    data: dict[str, Any] = field(default_factory=dict)


class ApiClient:
    def __init__(self, api_url: str, api_key: str | None, timeout_s: float = 30.0) -> None:
        """With no key, the client holds whatever session cookie the API sets (``login --phone``)."""
        self.api_url = api_url.rstrip("/")
        headers = {"User-Agent": "controlplane-cli"}
        if api_key is not None:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=self.api_url, headers=headers, timeout=timeout_s)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the API at {self.api_url}: {exc}") from None
        if not response.is_success:
            raise api_error(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def get_or_none(self, path: str) -> Any:
        """The JSON at ``path``, or None when the API answers 404."""
        try:
            return self.json("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def events(self, path: str, params: dict[str, str], read_timeout_s: float) -> Iterator[ServerEvent]:
        """A server-sent event stream, event by event, until the server ends it."""
        timeout = httpx.Timeout(30.0, read=read_timeout_s)
        try:
            with self._http.stream("GET", path, params=params, timeout=timeout) as response:
                if not response.is_success:
                    response.read()
                    raise api_error(response)
                yield from _parse_events(response.iter_lines())
        except httpx.HTTPError as exc:
            raise CliError(f"the event stream from {self.api_url} broke off: {exc}") from None


def api_error(response: httpx.Response) -> CliError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, str(error["code"]), str(error["message"]), error.get("details"))
    except (ValueError, KeyError, TypeError):
        return CliError(f"the API at {response.request.url} answered HTTP {response.status_code}")


def _parse_events(lines: Iterator[str]) -> Iterator[ServerEvent]:
    name, data = "message", ""
    for line in lines:
        if not line:
            if data:
                yield ServerEvent(name, _loads(data))
            name, data = "message", ""
        elif line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data += line.removeprefix("data:").strip()
    if data:
        yield ServerEvent(name, _loads(data))


def _loads(data: str) -> dict[str, Any]:
    try:
        loaded = json.loads(data)
    except ValueError:
        return {"raw": data}
    return loaded if isinstance(loaded, dict) else {"value": loaded}
