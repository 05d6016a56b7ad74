"""``controlplane dev``: one consistent local platform, tools installed in the background, and a clean stop.

Found: ``dev --port 8123`` still told SIWE clients ``domain: 127.0.0.1:8000``; without the tools every namespace
stalled for good; ``controlplane namespace retry`` next to a running dev server failed ("DATABASE_URL and REDIS_URL
must be set") since dev never said where its servers were; where the manifests went was written nowhere.

Here dev starts with the engine's tools missing from ``PATH``, and an installer that holds until the test lets it
finish (then hands over the real tools' folders), so the test sees namespaces wait and then reconcile by themselves.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.dev_server import Person, base_env, path_without_tools, running_dev, wait_for

APP = {"name": "web", "image": "ghcr.io/acme/web:1.2.3", "ports": [{"name": "http", "port": 8080}]}


def processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if text in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def held_installer(tmp_path: Path, gate: Path) -> Path:
    """An install-tools stand-in: progress on stderr, then (once ``gate`` exists) the real tools' folders."""
    real = subprocess.run(
        [str(Path(__file__).resolve().parents[2] / "scripts" / "install-tools")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if real.returncode != 0 or not real.stdout.strip().splitlines()[-1].startswith("PATH_ADD="):
        message = f"scripts/install-tools did not provide the tools: {real.stderr[-500:]}"
        if os.environ.get("CONTROLPLANE_REQUIRE_ENGINE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    path_add = real.stdout.strip().splitlines()[-1]
    script = tmp_path / "install-tools"
    script.write_text(
        "#!/bin/sh\n"
        "echo 'install-tools: pulumi: building (held by the test)' >&2\n"
        f"while [ ! -e '{gate}' ]; do sleep 0.2; done\n"
        "echo 'install-tools: pulumi: built' >&2\n"
        f"echo '{path_add}'\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def dev_env_file(data_dir: Path) -> dict[str, str]:
    path = data_dir / "dev.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(word.split("=", 1) for line in lines for word in shlex.split(line))  # as a shell reads it


def test_dev_is_one_consistent_platform_that_installs_its_tools(tmp_path: Path) -> None:
    gate = tmp_path / "let-the-tools-arrive"
    env = base_env(
        PATH=path_without_tools(os.environ["PATH"]),
        CONTROLPLANE_DEV_INSTALL_TOOLS=str(held_installer(tmp_path, gate)),
    )
    with running_dev(tmp_path, env) as dev:
        # The port it serves on is the public URL and the SIWE domain.
        nonce = httpx.get(f"{dev.url}/v1/auth/siwe/nonce").json()
        assert nonce["domain"] == f"127.0.0.1:{dev.port}"
        assert nonce["uri"] == dev.url

        # Where everything is: the servers (in .data/dev.env), the manifests, how to reach a real cluster.
        written = dev_env_file(dev.data_dir)
        assert written["DATABASE_URL"].startswith("postgresql")
        assert written["REDIS_URL"].startswith("redis://127.0.0.1:")
        assert written["CONTROLPLANE_DEV_API_URL"] == dev.url
        dev.wait_for_line(r"dev\.env")
        dev.wait_for_line(rf"{dev.data_dir / 'rendered'}")
        dev.wait_for_line(r"CONTROLPLANE_PLATFORM_KUBECONFIG")

        # The tools are being installed in the background, with progress in the console.
        dev.wait_for_line(r"tools.*building \(held by the test\)")

        with httpx.Client(base_url=dev.url, timeout=30) as client:
            person = Person(client)
            person.sign_in_by_phone("+14155552671")
            dev.wait_for_line(r"SMS code \d{6} ")
            person.top_up(500)  # credits are prepaid: a namespace the balance cannot cover is refused (402)
            created = client.post("/v1/namespaces", json={"name": "shop", "apps": [APP]}, headers=person.writes)
            assert created.status_code == 202, created.text
            wait_for(
                "the namespace waiting for the engine",
                lambda: client.get("/v1/namespaces/shop").json()["status"] == "waiting_for_engine",
                timeout_s=30,
            )

            # Another controlplane command, run in the project folder, finds the servers through .data/dev.env.
            retried = subprocess.run(
                [sys.executable, "-m", "controlplane", "namespace", "retry", "shop"],
                cwd=tmp_path, env=base_env(), capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert retried.returncode == 0, retried.stdout + retried.stderr
            assert "queued for reconcile" in retried.stdout

            gate.touch()
            dev.wait_for_line(r"tools.*are ready", timeout_s=60)
            ready = wait_for(
                "the waiting namespace reconciled by itself",
                lambda: (body := client.get("/v1/namespaces/shop").json())["status"] == "ready" and body,
                timeout_s=150,
            )
            assert ready["observed_generation"] == ready["generation"]
            assert ready["last_error"] is None
        assert list((dev.data_dir / "rendered").rglob("*deployment*web*.yaml"))
        children = psutil.Process(dev.process.pid).children(recursive=True)

    assert dev.process.returncode == 0, dev.output
    assert f"{dev.url}/docs" in dev.output
    assert processes_mentioning(str(dev.data_dir)) == []
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert (dev.data_dir / "postgres" / "PG_VERSION").exists(), "the data folder is kept between runs"
    assert not (dev.data_dir / "dev.env").exists(), "a stopped dev server leaves no stale addresses behind"


def test_dev_refuses_to_run_outside_development(tmp_path: Path) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "controlplane", "dev"],
        cwd=tmp_path, env=base_env(CONTROLPLANE_ENV="production"), capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "CONTROLPLANE_ENV=development" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
    assert not (tmp_path / ".data").exists(), "nothing was started"
