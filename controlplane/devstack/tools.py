"""The engine's tools, installed in the background while ``controlplane dev`` already serves.

``scripts/install-tools`` takes seconds when its cache is warm and about 40 minutes on a fresh machine (it builds
the pulumi CLI and plugins from the Go module proxy). Its progress (stderr) goes to the dev console line by line;
its last stdout line, ``PATH_ADD=<folders>``, is handed to ``on_ready``. Until then namespaces wait for the engine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

_PATH_ADD = "PATH_ADD="


class ToolsInstaller:
    def __init__(self, command: Path, say: Callable[[str], None]) -> None:
        self.command = command
        self.say = say
        self.path_add: str | None = None  # set once the tools are there
        self.failed: str | None = None
        self._process: subprocess.Popen[str] | None = None
        self._done = threading.Event()
        self._listeners: list[Callable[[str], None]] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        if not self.command.exists():
            self._finish(None, f"{self.command} is not there: install the pulumi CLI and plugins, and put them on PATH")
            return
        self._process = subprocess.Popen(  # noqa: S603
            [str(self.command)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its go builds are stopped with it, as a group
        )
        threading.Thread(target=self._relay_progress, name="tools-progress", daemon=True).start()
        threading.Thread(target=self._wait, name="tools-install", daemon=True).start()

    def when_ready(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(path_add)`` once the tools are installed (at once if they are already)."""
        with self._lock:
            ready = self.path_add
            if ready is None:
                self._listeners.append(listener)
        if ready is not None:
            listener(ready)

    def wait(self, timeout_s: float) -> bool:
        return self._done.wait(timeout_s)

    def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def _relay_progress(self) -> None:
        assert self._process is not None
        assert self._process.stderr is not None
        for line in self._process.stderr:
            if line.strip():
                self.say(line.rstrip())

    def _wait(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        output = self._process.stdout.read()
        code = self._process.wait()
        lines = output.strip().splitlines()
        if code == 0 and lines and lines[-1].startswith(_PATH_ADD):
            self._finish(lines[-1].removeprefix(_PATH_ADD), None)
        else:
            self._finish(None, f"{self.command.name} failed (exit {code}): namespaces keep waiting for the engine")

    def _finish(self, path_add: str | None, failure: str | None) -> None:
        with self._lock:
            self.path_add, self.failed = path_add, failure
            listeners, self._listeners = self._listeners, []
        self._done.set()
        if failure is not None:
            self.say(failure)
            return
        assert path_add is not None
        for listener in listeners:
            listener(path_add)
