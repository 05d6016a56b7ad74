"""The real engine: the `pulumi` CLI and the Kubernetes provider plugin, as scripts/install-tools provides them.

scripts/test installs them and sets CONTROLPLANE_REQUIRE_ENGINE=1, so there a missing CLI fails these tests;
elsewhere (a bare `pytest` without the tools) they are skipped, and say why.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pulumi import automation as auto

from controlplane.engine.pulumi_engine import PROJECT_NAME
from controlplane.settings import Settings
from tests.support.kube_apiserver import KubeApiServer, missing_binaries

log = logging.getLogger(__name__)

TOOLS = ("pulumi", "pulumi-resource-kubernetes", "pulumi-language-python")  # the last runs the policy pack


def _tools_present() -> bool:
    return all(shutil.which(tool) is not None for tool in TOOLS)


@pytest.fixture
def engine_settings(tmp_path: Path) -> Settings:
    if not _tools_present():
        message = f"{', '.join(TOOLS)} are not all on PATH: run scripts/install-tools"
        if os.environ.get("CONTROLPLANE_REQUIRE_ENGINE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return Settings(
        env="test",
        data_dir=tmp_path / "data",
        platform_render_dir=tmp_path / "rendered",
        pulumi_backend_url=(tmp_path / "state").as_uri(),
        operation_timeout_s=300,
    )


def stack_names(settings: Settings) -> list[str]:
    """The tenant stacks in the settings' backend."""
    workspace = auto.LocalWorkspace(
        project_settings=auto.ProjectSettings(
            name=PROJECT_NAME, runtime="python", backend=auto.ProjectBackend(url=settings.pulumi_backend_url)
        ),
        env_vars={"PULUMI_CONFIG_PASSPHRASE": settings.pulumi_config_passphrase.get_secret_value()},
    )
    return [summary.name for summary in workspace.list_stacks()]


def require_engine(what: str) -> None:
    """Fail (scripts/test, CI) or skip (a bare pytest) when the engine's tools are missing."""
    message = f"{what}: run scripts/install-tools pulumi kubernetes kube-apiserver etcd"
    if os.environ.get("CONTROLPLANE_REQUIRE_ENGINE") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApiServer]:
    """etcd and kube-apiserver on loopback, shared by the engine tests that need a real API server."""
    missing = missing_binaries()
    if missing:
        require_engine(f"not on PATH: {', '.join(missing)}")
    with KubeApiServer.start(tmp_path_factory.mktemp("apiserver")) as server:
        log.info("API server ready after %.1f s", server.ready_after_s)
        yield server


@pytest.fixture
def kube(api_server: KubeApiServer) -> Iterator[httpx.Client]:
    with api_server.client() as client:
        yield client
