"""A real Kubernetes API server on loopback for tests: etcd plus kube-apiserver, nothing else (like envtest).

`scripts/install-tools kube-apiserver etcd` builds both binaries. There is no scheduler, kubelet or
controller-manager, so the server stores and validates objects but nothing reconciles them. Two consequences
shape the flags below:

- no garbage collector: `--enable-garbage-collector=false`, so a delete (Pulumi deletes with foreground
  propagation) removes the object at once instead of leaving it with a `foregroundDeletion` finalizer forever;
- no PVC-protection controller: the `StorageObjectInUseProtection` admission plugin's `kubernetes.io/pvc-protection`
  finalizer would keep every deleted claim, so that plugin is disabled. (The quota controller is missing too, so a
  ResourceQuota's status stays empty; the admission plugin then lets objects through.)

A deleted Namespace still stays `Terminating` (no namespace controller removes its `kubernetes` finalizer).

    with KubeApiServer.start(tmp_path) as server:
        server.kubeconfig      # YAML, token auth, the generated CA
        server.client()        # an httpx.Client on the server with the admin token
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx
import yaml

BINARIES = ("etcd", "kube-apiserver")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def missing_binaries() -> list[str]:
    """What is needed and not on PATH (`etcd`, `kube-apiserver`, `openssl` for the service-account key)."""
    return [name for name in (*BINARIES, "openssl") if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiServerError(RuntimeError):
    pass


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, wait, then SIGKILL; the process is reaped either way."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout_s)
        self.log.close()


@dataclass
class KubeApiServer:
    """etcd and kube-apiserver running under `workdir`; `stop()` (or leaving the `with` block) ends both."""

    workdir: Path
    url: str = ""
    token: str = ""
    ca_path: Path = field(default_factory=Path)
    kubeconfig_path: Path = field(default_factory=Path)
    ready_after_s: float = 0.0
    _processes: list[_Process] = field(default_factory=list)

    @classmethod
    def start(cls, workdir: Path, ready_timeout_s: float = READY_TIMEOUT_S) -> KubeApiServer:
        server = cls(workdir=workdir)
        try:
            server._start(ready_timeout_s)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def kubeconfig(self) -> str:
        return self.kubeconfig_path.read_text()

    def client(self, timeout_s: float = 10.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            verify=str(self.ca_path),
            timeout=timeout_s,
        )

    def stop(self) -> None:
        """Stop the API server first, then etcd; waits for both to exit (bounded)."""
        errors = []
        for process in reversed(self._processes):
            try:
                process.stop()
            except Exception as error:  # keep stopping the others
                errors.append(f"{process.name}: {error}")
        self._processes.clear()
        if errors:
            raise ApiServerError("; ".join(errors))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> _Process:
        log_path = self.workdir / f"{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(  # a list argv, no shell
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        process = _Process(name, popen, log_path, log)
        self._processes.append(process)
        return process

    def _start(self, ready_timeout_s: float) -> None:
        missing = missing_binaries()
        if missing:
            raise ApiServerError(f"not on PATH: {', '.join(missing)} (run scripts/install-tools kube-apiserver etcd)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        deadline = started + ready_timeout_s

        client_port, peer_port, secure_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{client_port}"
        etcd = self._spawn(
            "etcd",
            [
                "etcd",
                "--name=test",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=test=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait(etcd, f"{etcd_url}/health", deadline, verify=False, headers={})

        certs = self.workdir / "certs"
        certs.mkdir(exist_ok=True)
        sa_key, sa_pub = self.workdir / "sa.key", self.workdir / "sa.pub"
        subprocess.run(["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True, timeout=30)
        subprocess.run(
            ["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        self.token = secrets.token_urlsafe(32)
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.token},admin,admin,"system:masters"\n')
        os.chmod(tokens, 0o600)

        apiserver = self._spawn(
            "kube-apiserver",
            [
                "kube-apiserver",
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={secure_port}",
                f"--cert-dir={certs}",
                "--service-cluster-ip-range=10.96.0.0/16",  # room for a benchmark fleet (bench/fleet.py)
                "--authorization-mode=RBAC",
                f"--token-auth-file={tokens}",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                "--enable-garbage-collector=false",
                "--disable-admission-plugins=StorageObjectInUseProtection",
                "--allow-privileged=true",
            ],
        )
        self.url = f"https://127.0.0.1:{secure_port}"
        # The serving certificate is self-signed and written to the cert dir once the server starts.
        self._wait(apiserver, f"{self.url}/readyz", deadline, verify=False, headers=self._auth())
        self.ca_path = certs / "apiserver.crt"
        if not self.ca_path.is_file():
            raise ApiServerError(f"no serving certificate in {certs}")
        with self.client() as client:  # the generated certificate verifies for 127.0.0.1
            client.get("/readyz").raise_for_status()
        self.ready_after_s = time.monotonic() - started
        self.kubeconfig_path = self.workdir / "kubeconfig.yaml"
        self.kubeconfig_path.write_text(self._kubeconfig())
        os.chmod(self.kubeconfig_path, 0o600)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _wait(self, process: _Process, url: str, deadline: float, *, verify: bool, headers: dict[str, str]) -> None:
        last = "no answer"
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise ApiServerError(f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(url, verify=verify, headers=headers, timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:300]}"
            time.sleep(0.2)
        raise ApiServerError(f"{process.name} not ready at {url} in time (last: {last}):\n{process.tail()}")

    def _kubeconfig(self) -> str:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_path.read_bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
            "current-context": "test",
        }
        return yaml.safe_dump(config, sort_keys=False)
