"""Before a run, the engine says which of its tools are missing and how to get them (no run is attempted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.engine.interface import EngineUnavailable
from controlplane.engine.pulumi_engine import PulumiEngine
from controlplane.settings import Settings


def test_missing_tools_are_named_with_the_way_to_install_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    engine = PulumiEngine(Settings(env="test", data_dir=tmp_path / "data"))
    with pytest.raises(EngineUnavailable) as raised:
        engine.check_available()
    message = raised.value.message
    for tool in ("pulumi", "pulumi-resource-kubernetes", "pulumi-language-python"):
        assert tool in message
    assert "scripts/install-tools" in message


def test_the_language_host_is_needed_only_with_a_policy_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    only = tmp_path / "bin"
    only.mkdir()
    for tool in ("pulumi", "pulumi-resource-kubernetes"):
        executable = only / tool
        executable.write_text("#!/bin/sh\n")
        executable.chmod(0o755)
    monkeypatch.setenv("PATH", str(only))
    without_pack = PulumiEngine(Settings(env="test", data_dir=tmp_path / "data", policy_pack_dir=None))
    without_pack.check_available()
    with_pack = PulumiEngine(Settings(env="test", data_dir=tmp_path / "data"))
    with pytest.raises(EngineUnavailable, match="pulumi-language-python"):
        with_pack.check_available()


def test_tools_under_the_pulumi_root_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    for tool in ("pulumi", "pulumi-resource-kubernetes", "pulumi-language-python"):
        executable = root / "bin" / tool
        executable.write_text("#!/bin/sh\n")
        executable.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    PulumiEngine(Settings(env="test", data_dir=tmp_path / "data", pulumi_root=root)).check_available()
