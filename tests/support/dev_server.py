"""``controlplane dev`` as a subprocess, and a person using it over HTTP only (a browser's cookie and CSRF token).

The console is read by a thread as it comes (a full pipe would block the server), so tests can wait for a line.
"""

from __future__ import annotations

import contextlib
import html.parser
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from controlplane.embedded import free_port

TOOLS = ("pulumi", "pulumi-resource-kubernetes", "pulumi-language-python")


def base_env(**extra: str) -> dict[str, str]:
    """The test process's environment without anything that points at the test suite's own servers or settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("CONTROLPLANE_") and name not in ("DATABASE_URL", "REDIS_URL", "PULUMI_BACKEND_URL")
    }
    env["CONTROLPLANE_ENV"] = "development"
    env.update(extra)
    return env


def path_without_tools(path: str) -> str:
    """``PATH`` without the folders that hold the engine's tools."""
    return os.pathsep.join(
        folder for folder in path.split(os.pathsep) if not any((Path(folder) / tool).exists() for tool in TOOLS)
    )


@dataclass
class DevServer:
    process: subprocess.Popen[str]
    port: int
    cwd: Path
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.cwd / ".data"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for_line(self, pattern: str, timeout_s: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            assert self.process.poll() is None, f"controlplane dev exited early:\n{self.output}"
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} within {timeout_s} s:\n{self.output}")

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"controlplane dev exited early:\n{self.output}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.25)
        raise AssertionError(f"the API did not become ready:\n{self.output}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=90)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def running_dev(cwd: Path, env: dict[str, str], *args: str) -> Iterator[DevServer]:
    """``controlplane dev --port <free>`` in ``cwd`` (so its data folder is ``cwd/.data``), ready to serve."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "dev", "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    dev = DevServer(process, port, cwd)
    threading.Thread(target=dev._read, name="dev-console", daemon=True).start()
    try:
        dev.wait_ready()
        yield dev
    finally:
        dev.stop()


class FormFinder(html.parser.HTMLParser):
    """The forms of a page: (method, action)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            found = dict(attrs)
            self.forms.append(((found.get("method") or "get").upper(), found.get("action") or ""))


@dataclass
class Person:
    """Someone using the dev server with a browser: the session cookie, and the CSRF token for writes."""

    client: httpx.Client
    csrf: str = ""
    account: dict[str, Any] = field(default_factory=dict)

    @property
    def writes(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    def sign_in_by_phone(self, phone: str) -> None:
        started = self.client.post("/v1/auth/otp/start", json={"phone": phone})
        assert started.status_code == 202, started.text
        codes = self.client.get("/v1/dev/phone-codes", params={"phone": phone})
        assert codes.status_code == 200, codes.text
        code = codes.json()["items"][0]["code"]
        signed_in = self.client.post("/v1/auth/otp/verify", json={"phone": phone, "code": code, "confirm_age_18": True})
        assert signed_in.status_code == 200, signed_in.text
        self.csrf = signed_in.json()["csrf_token"]
        self.account = signed_in.json()["account"]

    def pay(self, checkout_url: str) -> None:
        """On the dev checkout page, press Pay (its one form); the stand-in sends Stripe's signed webhook."""
        page = self.client.get(checkout_url)
        assert page.status_code == 200, page.text
        finder = FormFinder()
        finder.feed(page.text)
        [(method, action)] = finder.forms
        paid = self.client.request(method, httpx.URL(checkout_url).join(action))
        assert paid.status_code == 200, paid.text

    def top_up(self, amount_minor: int) -> None:
        """A card top-up of ``amount_minor`` cents through the local checkout, waited for until it is credited."""
        before = self.balance()
        created = self.client.post("/v1/billing/checkout", json={"amount": amount_minor}, headers=self.writes)
        assert created.status_code == 201, created.text
        self.pay(created.json()["url"])
        wait_for("the card top-up to be credited", lambda: self.balance() > before, timeout_s=20)

    def balance(self) -> int:
        value: int = self.client.get("/v1/billing/balance").json()["balance"]
        return value

    def create_key(self, scopes: list[str]) -> str:
        created = self.client.post("/v1/api-keys", json={"name": "cli", "scopes": scopes}, headers=self.writes)
        assert created.status_code == 201, created.text
        key: str = created.json()["key"]
        return key


def wait_for(what: str, check: Any, timeout_s: float, interval_s: float = 0.5) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"{what} did not happen within {timeout_s} s (last: {last!r})")
