"""The ``controlplane`` command: --help everywhere, clear messages on bad input, operator actions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from controlplane.cli import app
from controlplane.runtime import Runtime
from tests.support.live import Live

runner = CliRunner()


def command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under ``group`` (typer ships its own click, so groups are found by shape)."""
    paths = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


ALL_COMMANDS = command_paths(typer.main.get_command(app))


def test_the_documented_commands_exist() -> None:
    expected = {("dev",), ("api",), ("worker",), ("scheduler",), ("migrate",), ("operator", "grant"),
                ("namespace", "retry"), ("policy", "check")}  # fmt: skip
    assert expected <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda path: " ".join(path) or "controlplane")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_operator_grant_names_a_bad_account_id(runtime: Runtime) -> None:
    result = runner.invoke(app, ["operator", "grant", "not-a-uuid"])
    assert result.exit_code == 2
    assert "is not an account id" in result.output


def test_operator_grant_of_an_unknown_account_fails_clearly(runtime: Runtime) -> None:
    result = runner.invoke(app, ["operator", "grant", str(uuid.uuid4())])
    assert result.exit_code == 1
    assert "no account" in result.output


def test_namespace_retry_requeues_a_stalled_namespace(live: Live) -> None:
    from tests.support.engine_double import script

    live.create()
    script(live.runtime.redis, "policy")
    live.work()
    assert live.namespace("shop").status == "stalled"
    result = runner.invoke(app, ["namespace", "retry", "shop"])
    assert result.exit_code == 0, result.output
    live.work()
    assert live.namespace("shop").status == "ready"
    missing = runner.invoke(app, ["namespace", "retry", "nope"])
    assert missing.exit_code == 1
    assert "no namespace named 'nope'" in missing.output


def test_namespace_retry_names_one_namespace_or_none(live: Live) -> None:
    live.create()
    live.create(headers=live.new_key())  # another account's "shop"
    ambiguous = runner.invoke(app, ["namespace", "retry", "shop"])
    assert ambiguous.exit_code == 1
    assert "several namespaces are named 'shop'" in ambiguous.output
    cluster_name = live.row("shop").cluster_name
    by_cluster_name = runner.invoke(app, ["namespace", "retry", cluster_name])
    assert by_cluster_name.exit_code == 0, by_cluster_name.output
    assert cluster_name in by_cluster_name.output
