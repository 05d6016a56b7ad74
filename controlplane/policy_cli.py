"""`controlplane policy`: the policy pack's offline check, for CI and for operators.

Runs the platform program with every `stacks/Pulumi.<stack>.yaml` and the tenant program with every sample
spec under Pulumi's mocks (no CLI, no credentials), applies every rule of `policies/`, and exits non-zero
on any mandatory violation or on a program that cannot run. Registered by the main CLI as
`app.add_typer(policy_app, name="policy")`.
"""

from __future__ import annotations

import fnmatch
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from policies.offline import TargetResult

policy_app = typer.Typer(
    help="Policy as code: check the Pulumi programs against the policy pack, offline.",
    no_args_is_help=True,
)

EXIT_MANDATORY = 1
EXIT_ERROR = 2


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@policy_app.command()
def check(
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="A human table, or JSON for tools.")
    ] = OutputFormat.TABLE,
    stack_config_dir: Annotated[Path, typer.Option(help="Folder of the platform's Pulumi.<stack>.yaml files.")] = Path(
        "stacks"
    ),
    policy_config: Annotated[
        Path | None,
        typer.Option(help="Policy-pack configuration JSON, as given to `pulumi up --policy-pack-config`."),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(help="Only targets matching this glob, e.g. 'platform/*' or 'tenant/multi-app-*' (repeatable)."),
    ] = None,
) -> None:
    """Run every platform stack config and tenant sample under mocks and apply every rule.

    Exit status: 0 when nothing mandatory is violated, 1 on a mandatory violation, 2 when a program or the
    configuration cannot be used.
    """
    from policies.offline import repository_targets, run_targets
    from policies.registry import ConfigError, validate_pack_config
    from policies.rules import RULES

    config: dict[str, Any] | None = None
    if policy_config is not None:
        try:
            config = json.loads(policy_config.read_text())
            if not isinstance(config, dict):
                raise ConfigError("the policy configuration must be a JSON object")
            validate_pack_config(RULES, config)
        except (OSError, ValueError) as error:  # ConfigError and JSONDecodeError are ValueErrors
            typer.echo(f"policy configuration {policy_config}: {error}", err=True)
            raise typer.Exit(EXIT_ERROR) from None
    if not stack_config_dir.is_dir():
        typer.echo(f"no stack config folder {stack_config_dir}", err=True)
        raise typer.Exit(EXIT_ERROR)

    targets = repository_targets(stack_config_dir, config)
    if target:
        targets = [t for t in targets if any(fnmatch.fnmatchcase(t.name, pattern) for pattern in target)]
    document = report_document(run_targets(targets))
    if output_format is OutputFormat.JSON:
        typer.echo(json.dumps(document, indent=2))
    else:
        _print_table(document["violations"])
        for failure in document["errors"]:
            typer.echo(f"ERROR {failure['target']}: {failure['error']}", err=True)
        typer.echo(document["summary"])
    if document["errors"]:
        raise typer.Exit(EXIT_ERROR)
    if any(row["enforcement"] == "mandatory" for row in document["violations"]):
        raise typer.Exit(EXIT_MANDATORY)


def report_document(results: list[TargetResult]) -> dict[str, Any]:
    """What `check --format json` prints: every target, every violation (with the Pod Security Standards
    `control` and `level` it breaks, null for the project's own rules), the errors and a summary."""
    rows = [{"target": r.target, **v.as_dict()} for r in results for v in r.violations]
    errors = [{"target": r.target, "error": r.error} for r in results if r.error is not None]
    mandatory = sum(1 for row in rows if row["enforcement"] == "mandatory")
    summary = (
        f"{len(results)} targets checked: {mandatory} mandatory and {len(rows) - mandatory} advisory "
        f"violations, {len(errors)} errors"
    )
    return {
        "targets": [{"target": r.target, "seconds": round(r.seconds, 3), "failed": r.failed} for r in results],
        "violations": rows,
        "errors": errors,
        "summary": summary,
    }


@policy_app.command("rules")
def list_rules() -> None:
    """List the pack's rules: kind, default enforcement, Pod Security Standards level, name and description."""
    from policies.rules import RULES

    rows = [
        {
            "kind": rule.kind,
            "enforcement": rule.enforcement.value,
            "level": rule.level.value if rule.level is not None else "-",
            "rule": rule.name,
            "description": rule.description,
        }
        for rule in RULES
    ]
    _print_table(rows, columns=("kind", "enforcement", "level", "rule", "description"))


def _print_table(
    rows: list[dict[str, Any]],
    columns: tuple[str, ...] = ("target", "enforcement", "rule", "resource", "message"),
) -> None:
    if not rows:
        return
    cells = [[_cell(row, column) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    widths[-1] = len(columns[-1])  # the last column is not padded
    typer.echo("  ".join(column.upper().ljust(width) for column, width in zip(columns, widths, strict=True)).rstrip())
    for line in cells:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _cell(row: dict[str, Any], column: str) -> str:
    if column == "resource":
        return f"{row['resource_type']}::{row['resource_name']}"
    return str(row[column])
