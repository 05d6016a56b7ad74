"""The ``controlplane`` command."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from controlplane.logs import configure_logging
from controlplane.policy_cli import policy_app
from controlplane.settings import Settings, get_settings
from controlplane.tenant_cli.commands import register as register_tenant_commands

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from controlplane.fleet.models import Rollout
    from controlplane.fleet.schemas import RolloutOut
    from controlplane.runtime import Runtime

app = typer.Typer(help="Control plane of the container hosting platform.", no_args_is_help=True)
operator_app = typer.Typer(help="Grant or revoke the operator role (never possible through the public API).")
app.add_typer(operator_app, name="operator")
namespace_app = typer.Typer(help="Operator actions on namespaces.")
app.add_typer(namespace_app, name="namespace")
rollout_app = typer.Typer(help="Rollouts: the current program to every stack it changes, in waves (operators).")
app.add_typer(rollout_app, name="rollout")
app.add_typer(policy_app, name="policy")
register_tenant_commands(app)

DataDir = Annotated[Path, typer.Option(help="Folder for the embedded PostgreSQL and Redis, kept between runs.")]


@app.callback()
def _servers_of_a_running_dev(ctx: typer.Context) -> None:
    # In a folder where `controlplane dev` runs, every other command reaches its servers (.data/dev.env).
    if ctx.invoked_subcommand == "dev":
        return
    from controlplane.devstack.envfile import load_dev_env

    if load_dev_env(os.environ) is not None:
        get_settings.cache_clear()


@app.command()
def dev(
    data_dir: DataDir = Path(".data"),
    host: Annotated[str, typer.Option(help="Address the API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the API listens on (and the public URL's, unless set).")] = 8000,
) -> None:
    """Start everything on this machine: embedded PostgreSQL and Redis, migrations, the API, a worker, the scheduler,
    and local stand-ins for Twilio, Stripe and an Ethereum chain (each replaced by the vendor once its settings are
    given). Installs the engine's tools in the background when they are missing.

    Ctrl-C stops all of it.
    """
    from controlplane.devstack.command import run_dev

    run_dev(data_dir, host, port)


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Address the API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the API listens on.")] = 8000,
) -> None:
    """Serve the REST API (DATABASE_URL and REDIS_URL name the servers)."""
    configure_logging()
    _use_metrics_dir(get_settings())
    from controlplane.api.serve import serve
    from controlplane.runtime import Runtime

    serve(Runtime.connect(get_settings()), host, port)


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Exit once the queue is empty.")] = False,
) -> None:
    """Run one RQ worker: each job in its own forked process; queues served by priority (lifecycle, default,
    tenant, fleet)."""
    configure_logging()
    name = f"controlplane-{uuid.uuid4().hex[:8]}"
    _use_metrics_dir(get_settings(), worker_name=name)
    from rq import Worker

    from controlplane.metrics.process import mark_dead, worker_identities
    from controlplane.runtime import get_runtime

    _preload_job_modules()
    runtime = get_runtime()
    os.environ["CONTROLPLANE_WORKER_NAME"] = name  # the engine keeps a PULUMI_HOME per worker
    rq_worker = Worker(runtime.worker_queues, connection=runtime.redis, name=name)
    try:
        rq_worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    finally:
        for identity in worker_identities(name):
            mark_dead(identity)


def _use_metrics_dir(settings: Settings, *, worker_name: str | None = None, clean: bool = False) -> None:
    from controlplane.metrics.process import use_metrics_dir

    use_metrics_dir(settings.resolved_metrics_dir, worker_name=worker_name, clean=clean)


def _preload_job_modules() -> None:
    """Import what jobs use once, in the worker, so each forked work-horse inherits it instead of paying seconds
    of imports (the Pulumi SDKs) per job."""
    import importlib

    for module in (
        "controlplane.deployments.reconcile",
        "controlplane.engine.pulumi_engine",
        "controlplane.fleet.jobs",
        "controlplane.models",
    ):
        importlib.import_module(module)


@app.command()
def scheduler() -> None:
    """Run the periodic scheduler (metering, retention, drift checks, ...)."""
    configure_logging()
    from controlplane.runtime import get_runtime
    from controlplane.worker.scheduler import periodic_tasks, run_scheduler

    runtime = get_runtime()
    run_scheduler(runtime.redis, runtime.queue, periodic_tasks(runtime.settings))


@app.command()
def migrate() -> None:
    """Apply the database migrations (DATABASE_URL names the server)."""
    configure_logging()
    from controlplane.migrations import upgrade

    settings = get_settings()
    if settings.database_url is None:
        raise typer.BadParameter("DATABASE_URL is not set")
    upgrade(settings.database_url)
    typer.echo("migrations applied")


def _set_operator(account_id: str, is_operator: bool) -> None:
    from controlplane.accounts.service import set_operator
    from controlplane.audit.service import CLI_CREDENTIAL, record
    from controlplane.errors import NotFound
    from controlplane.runtime import get_runtime

    try:
        parsed = uuid.UUID(account_id)
    except ValueError as exc:
        raise typer.BadParameter(f"{account_id!r} is not an account id (a UUID)") from exc
    try:
        with get_runtime().transaction() as session:
            set_operator(session, parsed, is_operator)
            action = "operator grant" if is_operator else "operator revoke"
            record(session, actor_account_id=None, credential=CLI_CREDENTIAL, action=action,
                   target={"account_id": str(parsed)}, request_id="cli")  # fmt: skip
    except NotFound as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"account {parsed} is {'now' if is_operator else 'no longer'} an operator")


@operator_app.command("grant")
def operator_grant(account_id: Annotated[str, typer.Argument(help="The account's id.")]) -> None:
    """Make an account a platform operator."""
    _set_operator(account_id, True)


@operator_app.command("revoke")
def operator_revoke(account_id: Annotated[str, typer.Argument(help="The account's id.")]) -> None:
    """Take the operator role away from an account."""
    _set_operator(account_id, False)


@namespace_app.command("retry")
def namespace_retry(
    name: Annotated[str, typer.Argument(help="The namespace's cluster name or id (or its name, when unambiguous).")],
) -> None:
    """Reconcile a stalled namespace again, its failure count reset."""
    from sqlalchemy import or_, select

    from controlplane.audit.service import CLI_CREDENTIAL, record
    from controlplane.deployments.models import DesiredState, Namespace
    from controlplane.deployments.service import Context, retry_stalled
    from controlplane.runtime import get_runtime

    runtime = get_runtime()
    with runtime.transaction() as session:
        by_id = _as_uuid(name)
        matches = [Namespace.name == name, Namespace.cluster_name == name]
        if by_id:
            matches.append(Namespace.id == by_id)
        found = session.scalars(
            select(Namespace.id).where(or_(*matches), Namespace.desired_state != DesiredState.DELETED).limit(2)
        ).all()
        if not found:
            typer.echo(f"error: no namespace named {name!r}", err=True)
            raise typer.Exit(1)
        if len(found) > 1:  # display names are unique per account only
            typer.echo(f"error: several namespaces are named {name!r}: give its cluster name or id", err=True)
            raise typer.Exit(1)
        namespace = retry_stalled(session, Context(runtime.settings, runtime.redis), found[0])
        record(session, actor_account_id=None, credential=CLI_CREDENTIAL, action="namespace retry",
               target={"namespace_id": str(found[0])}, request_id="cli")  # fmt: skip
        typer.echo(f"namespace {namespace.cluster_name} queued for reconcile (generation {namespace.generation})")


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# --- rollouts ---------------------------------------------------------------------------------------------------------


@rollout_app.command("start")
def rollout_start(
    note: Annotated[str, typer.Option(help="Why: shown with the rollout and in the audit log.")] = "",
    canary_percent: Annotated[float | None, typer.Option(help="The first wave's share of the stacks (%).")] = None,
    wave_growth: Annotated[float | None, typer.Option(help="Each wave is this many times the one before.")] = None,
    failure_threshold: Annotated[
        float | None, typer.Option(help="A wave whose failed share (0-1) is above this pauses the rollout.")
    ] = None,
) -> None:
    """Start a rollout: every stack whose applied digest differs from what the current program would apply."""
    from pydantic import ValidationError

    from controlplane.fleet.schemas import RolloutStart
    from controlplane.fleet.service import Actor, RolloutOptions, start

    try:
        body = RolloutStart(
            note=note, canary_percent=canary_percent, wave_growth=wave_growth, failure_threshold=failure_threshold
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        raise typer.BadParameter(problems) from exc

    def act(session: Session, runtime: Runtime) -> uuid.UUID:
        from controlplane.audit.service import CLI_CREDENTIAL

        rollout = start(session, runtime.settings, Actor(None, CLI_CREDENTIAL), RolloutOptions(**body.model_dump()))
        _audit(session, "rollout start", rollout.id, body.model_dump(exclude_none=True))
        return rollout.id

    rollout_id = _rollout_action(act)
    typer.echo(f"rollout {rollout_id} started: planning (controlplane rollout status {rollout_id})")


@rollout_app.command("status")
def rollout_status(
    rollout_id: Annotated[str | None, typer.Argument(help="The rollout's id; the newest when left out.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON shape.")] = False,
) -> None:
    """A rollout's progress, wave by wave: done, failed, pending, and the time left at the pace so far."""
    from controlplane.fleet import service
    from controlplane.fleet.schemas import rollout_out

    parsed = _rollout_id(rollout_id) if rollout_id else None

    def read(session: Session, _runtime: Runtime) -> str:
        rollout = service.get(session, parsed) if parsed else service.latest(session)
        shown = rollout_out(service.progress(session, rollout))
        return shown.model_dump_json(indent=2) if as_json else _rollout_text(shown)

    typer.echo(_rollout_action(read))


@rollout_app.command("pause")
def rollout_pause(
    rollout_id: Annotated[str, typer.Argument(help="The rollout's id.")],
    reason: Annotated[str, typer.Option(help="Why (shown with the rollout).")] = "paused by an operator",
) -> None:
    """Queue no more of the rollout, and take back its updates that still wait in the queue."""
    from controlplane.fleet.service import pause

    _change_rollout(rollout_id, "pause", lambda session, runtime, parsed: pause(session, runtime.redis, parsed, reason),
                    {"reason": reason})  # fmt: skip


@rollout_app.command("resume")
def rollout_resume(rollout_id: Annotated[str, typer.Argument(help="The rollout's id.")]) -> None:
    """Go on with a paused rollout (a wave that paused it by failing is accepted as it is)."""
    from controlplane.fleet.service import resume

    _change_rollout(rollout_id, "resume", lambda session, runtime, parsed: resume(session, runtime.settings, parsed))


@rollout_app.command("abort")
def rollout_abort(rollout_id: Annotated[str, typer.Argument(help="The rollout's id.")]) -> None:
    """Cancel every update of the rollout not yet running (those running finish)."""
    from controlplane.fleet.service import abort

    _change_rollout(rollout_id, "abort", lambda session, runtime, parsed: abort(session, runtime.redis, parsed))


def _change_rollout(
    rollout_id: str,
    verb: str,
    change: Callable[[Session, Runtime, uuid.UUID], Rollout],
    details: dict[str, object] | None = None,
) -> None:
    """One audited change of a rollout's status, in one transaction; prints the status it leaves."""
    parsed = _rollout_id(rollout_id)

    def act(session: Session, runtime: Runtime) -> str:
        rollout = change(session, runtime, parsed)
        _audit(session, f"rollout {verb}", parsed, details or {})
        return rollout.status

    typer.echo(f"rollout {parsed} is {_rollout_action(act)}")


T = TypeVar("T")


def _rollout_action(action: Callable[[Session, Runtime], T]) -> T:
    """Run ``action`` in one transaction; an error the service raises is printed, not a traceback."""
    from controlplane.errors import AppError
    from controlplane.runtime import get_runtime

    runtime = get_runtime()
    try:
        with runtime.transaction() as session:
            return action(session, runtime)
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


def _audit(session: Session, action: str, rollout_id: uuid.UUID, details: dict[str, object]) -> None:
    from controlplane.audit.service import CLI_CREDENTIAL, record

    record(session, actor_account_id=None, credential=CLI_CREDENTIAL, action=action,
           target={"rollout_id": str(rollout_id)}, details=details, request_id="cli")  # fmt: skip


def _rollout_id(value: str) -> uuid.UUID:
    parsed = _as_uuid(value)
    if parsed is None:
        raise typer.BadParameter(f"{value!r} is not a rollout id (a UUID)")
    return parsed


def _rollout_text(shown: RolloutOut) -> str:
    eta = "-" if shown.eta_s is None else f"{shown.eta_s:.0f} s"
    lines = [
        f"rollout {shown.id}: {shown.status}" + (f" ({shown.paused_reason})" if shown.paused_reason else ""),
        f"  {shown.targets} of {shown.considered} stacks differ; done {shown.done}, failed {shown.failed}, "
        f"pending {shown.pending}, skipped {shown.skipped}, cancelled {shown.cancelled}; eta {eta}",
        f"  {'wave':>4} {'size':>6} {'done':>6} {'failed':>6} {'pending':>7} {'eta':>8}",
    ]
    for wave in shown.waves:
        marker = "*" if wave.wave == shown.current_wave and shown.status in ("running", "paused") else " "
        wave_eta = "-" if wave.eta_s is None or wave.pending == 0 else f"{wave.eta_s:.0f} s"
        lines.append(
            f"{marker} {wave.wave:>4} {wave.size:>6} {wave.done:>6} {wave.failed:>6} {wave.pending:>7} {wave_eta:>8}"
        )
    return "\n".join(lines)
