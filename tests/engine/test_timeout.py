"""A run past its time limit: the pulumi process gets SIGINT (never SIGKILL), and the run fails as timed out."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from controlplane.engine.interface import RunTimedOut
from controlplane.engine.pulumi_engine import run_with_timeout

FAKE_CLI = textwrap.dedent(
    """\
    #!{python}
    import signal, sys, time
    def interrupted(signum, frame):
        open(sys.argv[1], "w").write("SIGINT")
        sys.exit(130)
    signal.signal(signal.SIGINT, interrupted)
    time.sleep(60)
    """
)


def test_a_run_past_its_limit_is_interrupted_with_sigint(tmp_path: Path) -> None:
    # A stand-in for the CLI: the process is named "pulumi" as the real one is, and records the signal it got.
    cli = tmp_path / "pulumi"
    cli.write_text(FAKE_CLI.format(python=sys.executable))
    cli.chmod(0o755)
    marker = tmp_path / "signal"

    def long_run() -> int:
        return subprocess.run([str(cli), str(marker)], check=False).returncode

    with pytest.raises(RunTimedOut, match="interrupted 1 pulumi process"):
        run_with_timeout(long_run, timeout_s=1, grace_s=10)
    assert marker.read_text() == "SIGINT"


def test_a_run_within_its_limit_returns_its_value() -> None:
    assert run_with_timeout(lambda: 42, timeout_s=5) == 42


def test_a_run_that_fails_raises_its_own_error() -> None:
    def broken() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_with_timeout(broken, timeout_s=5)


def test_a_missing_cli_fails_with_how_to_install_it(tmp_path: Path) -> None:
    from controlplane.engine.interface import EngineUnavailable, RunKind
    from controlplane.engine.pulumi_engine import PulumiEngine
    from controlplane.settings import Settings
    from programs.tenant.samples import multi_app_spec

    engine = PulumiEngine(Settings(env="test", data_dir=tmp_path, pulumi_root=tmp_path / "no-cli-here"))
    with pytest.raises(EngineUnavailable, match="scripts/install-tools"):
        engine.run(RunKind.UP, "ns-test", multi_app_spec(cloudflare=False), lambda event: None)
