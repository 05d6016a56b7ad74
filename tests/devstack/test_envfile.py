"""``.data/dev.env``: written for the owner only, read by every other command run here while dev runs, and a
shell can source it too."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from controlplane.devstack import envfile

VALUES = {
    "DATABASE_URL": "postgresql://postgres:@/controlplane?host=/tmp/x y/postgres",
    "CONTROLPLANE_DEPOSIT_TOKENS": json.dumps([{"address": "0xabc", "symbol": "DUSD", "decimals": 6}]),
}


def test_written_for_the_owner_only_and_read_back(tmp_path: Path) -> None:
    path = envfile.write_dev_env(tmp_path, VALUES)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    environ: dict[str, str] = {"CONTROLPLANE_DATA_DIR": str(tmp_path), "CONTROLPLANE_DEPOSIT_TOKENS": "mine"}
    assert envfile.load_dev_env(environ) == path
    assert environ["DATABASE_URL"] == VALUES["DATABASE_URL"]
    assert environ["CONTROLPLANE_DEPOSIT_TOKENS"] == "mine", "what the environment already says wins"


def test_a_shell_reads_the_same_values(tmp_path: Path) -> None:
    path = envfile.write_dev_env(tmp_path, VALUES)
    shell = f"set -a; . '{path}'; printf '%s\\n%s' \"$DATABASE_URL\" \"$CONTROLPLANE_DEPOSIT_TOKENS\""
    printed = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]}
    )
    assert printed.stdout.splitlines() == [VALUES["DATABASE_URL"], VALUES["CONTROLPLANE_DEPOSIT_TOKENS"]]


def test_a_command_with_its_own_database_ignores_it(tmp_path: Path) -> None:
    envfile.write_dev_env(tmp_path, VALUES)
    environ = {"CONTROLPLANE_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://elsewhere"}
    assert envfile.load_dev_env(environ) is None
    assert environ["DATABASE_URL"] == "postgresql://elsewhere"


def test_the_file_of_a_dev_server_that_died_is_ignored(tmp_path: Path) -> None:
    path = envfile.write_dev_env(tmp_path, VALUES)
    gone = subprocess.Popen(["true"])
    gone.wait()
    path.write_text(path.read_text().replace(f"CONTROLPLANE_DEV_PID={os.getpid()}", f"CONTROLPLANE_DEV_PID={gone.pid}"))
    environ = {"CONTROLPLANE_DATA_DIR": str(tmp_path)}
    assert envfile.load_dev_env(environ) is None
    assert "DATABASE_URL" not in environ


@pytest.mark.parametrize("content", ["", "garbage without equals\n", "A='unclosed\n"])
def test_a_broken_file_is_ignored(tmp_path: Path, content: str) -> None:
    envfile.dev_env_path(tmp_path).write_text(content)
    assert envfile.load_dev_env({"CONTROLPLANE_DATA_DIR": str(tmp_path)}) is None
