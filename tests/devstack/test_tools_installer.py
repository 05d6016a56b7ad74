"""The background installer: progress lines to the console, the tools' folders to whoever waits for them."""

from __future__ import annotations

from pathlib import Path

from controlplane.devstack.tools import ToolsInstaller


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "install-tools"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_progress_goes_to_the_console_and_the_folders_to_the_listeners(tmp_path: Path) -> None:
    said: list[str] = []
    ready: list[str] = []
    installer = ToolsInstaller(
        script(tmp_path, "echo 'install-tools: pulumi: building' >&2\necho noise\necho PATH_ADD=/opt/a:/opt/b\n"),
        said.append,
    )
    installer.when_ready(ready.append)
    installer.start()
    assert installer.wait(30)
    assert ready == ["/opt/a:/opt/b"]
    assert "install-tools: pulumi: building" in said
    late: list[str] = []
    installer.when_ready(late.append)
    assert late == ["/opt/a:/opt/b"], "a listener that comes after the install is told at once"


def test_a_failed_install_says_so_and_tells_no_one_it_is_ready(tmp_path: Path) -> None:
    said: list[str] = []
    ready: list[str] = []
    installer = ToolsInstaller(
        script(tmp_path, "echo 'install-tools: ERROR: no Go toolchain' >&2\nexit 1\n"), said.append
    )
    installer.when_ready(ready.append)
    installer.start()
    assert installer.wait(30)
    assert ready == []
    assert installer.path_add is None
    assert said[-1] == "install-tools failed (exit 1): namespaces keep waiting for the engine"


def test_a_missing_installer_is_named(tmp_path: Path) -> None:
    said: list[str] = []
    installer = ToolsInstaller(tmp_path / "nowhere", said.append)
    installer.start()
    assert installer.wait(1)
    assert str(tmp_path / "nowhere") in said[0]


def test_stopping_ends_the_install_and_its_children(tmp_path: Path) -> None:
    installer = ToolsInstaller(script(tmp_path, "sleep 60 &\nwait\n"), print)
    installer.start()
    installer.stop()
    assert installer.wait(10), "the installer's exit is noticed"
    assert installer.path_add is None
