"""`controlplane policy check`: table and JSON output, exit status, summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pulumi_kubernetes as k8s
import pytest
import typer
from typer.testing import CliRunner

from controlplane.policy_cli import policy_app, report_document
from policies.offline import TargetResult, check_program
from tests.policies.pss_cases import CASES

STACKS = Path(__file__).resolve().parents[2] / "stacks"
app = typer.Typer()
app.add_typer(policy_app, name="policy")
runner = CliRunner()


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    """One platform stack config (dev), to keep the runs short."""
    shutil.copy(STACKS / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    return tmp_path


def test_clean_repository_exits_zero(stacks: Path) -> None:
    # Every sample is checked in test_policy_programs; two targets are enough for the command itself.
    result = runner.invoke(
        app, ["policy", "check", "--stack-config-dir", str(stacks), "--target", "platform/*", "--target", "*active"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == ["2 targets checked: 0 mandatory and 0 advisory violations, 0 errors"]


def test_mandatory_violation_exits_non_zero(stacks: Path, tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(
        json.dumps(
            {
                "eks-public-endpoint-restricted": {"allowedPublicAccessCidrs": ["198.51.100.0/24"]},
                "aws-region": {"enforcementLevel": "advisory", "allowedRegions": ["eu-west-1"]},
            }
        )
    )
    result = runner.invoke(
        app,
        [
            "policy",
            "check",
            "--stack-config-dir",
            str(stacks),
            "--policy-config",
            str(config),
            "--target",
            "platform/*",
        ],
    )
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["TARGET", "ENFORCEMENT", "RULE", "RESOURCE", "MESSAGE"]
    assert any(
        "platform/dev" in line
        and "mandatory" in line
        and "eks-public-endpoint-restricted" in line
        and "aws:eks/cluster:Cluster::cluster" in line
        for line in lines
    )
    assert any("advisory" in line and "aws-region" in line for line in lines)
    assert lines[-1].startswith("1 targets checked: 1 mandatory and ")


def test_json_output(stacks: Path, tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"eks-control-plane-logging": {"requiredLogTypes": ["api", "everything"]}}))
    result = runner.invoke(
        app,
        [
            "policy",
            "check",
            "--format",
            "json",
            "--stack-config-dir",
            str(stacks),
            "--policy-config",
            str(config),
            "--target",
            "platform/dev",
            "--target",
            "tenant/empty",
        ],
    )
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert [v["rule"] for v in document["violations"]] == ["eks-control-plane-logging"]
    assert document["violations"][0].keys() == {
        "target",
        "rule",
        "enforcement",
        "control",
        "level",
        "resource_type",
        "resource_name",
        "message",
    }
    assert (document["violations"][0]["control"], document["violations"][0]["level"]) == (None, None)
    assert [(t["target"], t["failed"]) for t in document["targets"]] == [
        ("platform/dev", True),
        ("tenant/empty", False),
    ]
    assert document["summary"].endswith("1 mandatory and 0 advisory violations, 0 errors")


def test_unusable_inputs_exit_two(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"no-such-rule": "advisory"}))
    result = runner.invoke(app, ["policy", "check", "--policy-config", str(config)])
    assert result.exit_code == 2
    assert "unknown rule" in result.output

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "Pulumi.bad.yaml").write_text("config:\n  platform:environment: Not Valid\n")
    result = runner.invoke(app, ["policy", "check", "--stack-config-dir", str(broken), "--target", "platform/*"])
    assert result.exit_code == 2
    assert "ERROR platform/bad" in result.output
    assert "1 errors" in result.output.splitlines()[-1]

    result = runner.invoke(app, ["policy", "check", "--stack-config-dir", str(tmp_path / "missing")])
    assert result.exit_code == 2


def test_rules_command_lists_every_rule() -> None:
    result = runner.invoke(app, ["policy", "rules"])
    assert result.exit_code == 0
    assert "tenant-namespace-containment" in result.output
    assert "eks-secrets-encryption" in result.output


def test_json_names_the_control_and_level_of_each_violation() -> None:
    [case] = [case for case in CASES if case.id == "seccomp/pod-Unconfined"]

    def program() -> None:
        k8s.core.v1.Pod("unconfined", metadata=case.pod()["metadata"], spec=case.pod()["spec"])

    document = report_document([TargetResult("tenant/unconfined", check_program(program))])
    named = {(row["rule"], row["control"], row["level"]) for row in json.loads(json.dumps(document))["violations"]}
    assert named == {
        ("pss-baseline-seccomp", "Seccomp", "baseline"),
        ("pss-restricted-seccomp", "Seccomp", "restricted"),
    }
    assert document["summary"] == "1 targets checked: 4 mandatory and 0 advisory violations, 0 errors"


def test_rules_command_shows_the_level() -> None:
    result = runner.invoke(app, ["policy", "rules"])
    lines = result.output.splitlines()
    assert lines[0].split() == ["KIND", "ENFORCEMENT", "LEVEL", "RULE", "DESCRIPTION"]
    assert any(line.split()[2:4] == ["restricted", "pss-restricted-volume-types"] for line in lines)
    assert any(line.split()[2:4] == ["-", "pinned-image-tags"] for line in lines)
