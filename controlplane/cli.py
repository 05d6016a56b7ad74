"""The ``controlplane`` command."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Annotated

import typer

from controlplane.logs import configure_logging
from controlplane.policy_cli import policy_app
from controlplane.settings import get_settings
from controlplane.tenant_cli.commands import register as register_tenant_commands

app = typer.Typer(help="Control plane of the container hosting platform.", no_args_is_help=True)
operator_app = typer.Typer(help="Grant or revoke the operator role (never possible through the public API).")
app.add_typer(operator_app, name="operator")
namespace_app = typer.Typer(help="Operator actions on namespaces.")
app.add_typer(namespace_app, name="namespace")
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
    from controlplane.api.serve import serve
    from controlplane.runtime import Runtime

    serve(Runtime.connect(get_settings()), host, port)


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Exit once the queue is empty.")] = False,
) -> None:
    """Run one RQ worker: each job in its own forked process."""
    configure_logging()
    from rq import Worker

    from controlplane.runtime import get_runtime

    _preload_job_modules()
    runtime = get_runtime()
    name = f"controlplane-{uuid.uuid4().hex[:8]}"
    os.environ["CONTROLPLANE_WORKER_NAME"] = name  # the engine keeps a PULUMI_HOME per worker
    rq_worker = Worker([runtime.queue], connection=runtime.redis, name=name)
    rq_worker.work(burst=burst, with_scheduler=True, logging_level="INFO")


def _preload_job_modules() -> None:
    """Import what jobs use once, in the worker, so each forked work-horse inherits it instead of paying seconds
    of imports (the Pulumi SDKs) per job."""
    import importlib

    for module in ("controlplane.deployments.reconcile", "controlplane.engine.pulumi_engine", "controlplane.models"):
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
