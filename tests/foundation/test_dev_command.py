"""``controlplane dev`` starts everything, serves the API, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from controlplane.embedded import free_port


def processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if text in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def wait_ready(url: str, dev: subprocess.Popen[str], timeout_s: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert dev.poll() is None, "controlplane dev exited early"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise AssertionError("the API did not become ready")


def test_dev_serves_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "devdata"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    dev = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "dev", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}/readyz", dev)
        assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
        direct = psutil.Process(dev.pid).children()
        assert len([c for c in direct if "controlplane" in " ".join(c.cmdline())]) == 2  # worker, scheduler
        children = psutil.Process(dev.pid).children(recursive=True)  # with RQ's scheduler and work-horses
        assert processes_mentioning(str(data_dir)), "the embedded servers run under the data folder"
    finally:
        dev.send_signal(signal.SIGINT)
        output, _ = dev.communicate(timeout=60)
    assert dev.returncode == 0, output
    assert f"http://127.0.0.1:{port}/docs" in output
    assert processes_mentioning(str(data_dir)) == []
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert (data_dir / "postgres" / "PG_VERSION").exists(), "the data folder is kept between runs"
