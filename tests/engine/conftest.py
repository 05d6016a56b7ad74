"""The real engine: the `pulumi` CLI and the Kubernetes provider plugin, as scripts/install-tools provides them.

scripts/test installs them and sets CONTROLPLANE_REQUIRE_ENGINE=1, so there a missing CLI fails these tests;
elsewhere (a bare `pytest` without the tools) they are skipped, and say why.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from controlplane.settings import Settings

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
