"""The tenant's commands, added to the ``controlplane`` command by :func:`register`.

Every command prints the API's own message and code when it refuses (exit status 1), never a traceback.
"""

from __future__ import annotations

import functools
import socket
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, TextIO, TypeVar

import typer
import yaml
from rich.console import Console
from rich.table import Table

from controlplane.tenant_cli import config
from controlplane.tenant_cli.client import ApiClient, CliError
from controlplane.tenant_cli.follow import Follower, require

if TYPE_CHECKING:
    from controlplane.tenant_cli.plan import Plan, Planner

P = ParamSpec("P")
T = TypeVar("T")
MICRO = 1_000_000


def _console(stream: TextIO, *, stderr: bool = False) -> Console:
    # A pipe or a file gets whole lines (tables included), not a guessed 80 columns.
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, soft_wrap=True, highlight=False, width=width)


out = _console(sys.stdout)
err = _console(sys.stderr, stderr=True)


def planner() -> Planner:
    """How ``--dry-run`` learns what would change: the API's own dry run (imported here, not at start: it reads
    files through the server's document model)."""
    from controlplane.tenant_cli.plan import ServerPlanner

    return ServerPlanner()


NameArg = Annotated[str, typer.Argument(help="The namespace's name.")]
WaitTimeout = Annotated[float, typer.Option("--timeout", help="Seconds --wait waits at most.", min=1)]


def clean_errors(command: Callable[P, T]) -> Callable[P, T]:
    """The API's message and code (or why it could not be reached) on stderr, exit status 1; no traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return command(*args, **kwargs)
        except CliError as exc:
            for line in exc.lines():
                err.print(line, markup=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted (what was sent goes on in the background)", markup=False)
            raise typer.Exit(130) from None

    return run


def api() -> ApiClient:
    credentials = config.current()
    return ApiClient(credentials.api_url, credentials.api_key)


# --- login -------------------------------------------------------------------------------------------------------


ApiUrl = Annotated[str | None, typer.Option(help="The API's URL (default: the dev server running here, if any).")]
KeyFromStdin = Annotated[bool, typer.Option("--api-key-stdin", help="Read the key from stdin.")]
Phone = Annotated[
    str | None,
    typer.Option(help="Sign in with a code texted to this number instead, and get a key for this CLI (under "
                 "controlplane dev, the code shows in its console)."),
]  # fmt: skip
AgeConfirmed = Annotated[
    bool, typer.Option("--confirm-age-18", help="With --phone, for a new account: you are 18 or older.")
]


@clean_errors
def login(
    api_url: ApiUrl = None,
    api_key_stdin: KeyFromStdin = False,
    phone: Phone = None,
    confirm_age_18: AgeConfirmed = False,
) -> None:
    """Check an API key against the API and store both, readable by you only (CONTROLPLANE_API_KEY and
    CONTROLPLANE_API_URL, when set, take their place). With --phone, sign in by SMS code and get a key first."""
    url = (api_url or config.login_url_default()).rstrip("/")
    if phone is not None:
        key = key_from_phone_sign_in(url, phone, confirm_age_18)
    else:
        key = sys.stdin.readline() if api_key_stdin else str(typer.prompt("API key", hide_input=True))
    key = key.strip()
    if not key:
        raise CliError("no API key given")
    with ApiClient(url, key) as client:
        who = client.json("GET", "/v1/auth/session")
    path = config.store(config.Credentials(url, key))
    out.print(f"logged in to {url} as account {who['account_id']} (stored in {path})")


CLI_KEY_SCOPES = ["account:write", "api-keys:write", "billing:write", "namespaces:write"]


def key_from_phone_sign_in(url: str, phone: str, confirm_age_18: bool) -> str:
    """Sign in by SMS code, create a key for this CLI with the session, and end the session: only the key stays."""
    with ApiClient(url, None) as client:
        client.json("POST", "/v1/auth/otp/start", json={"phone": phone})
        code = str(typer.prompt(f"the code texted to {phone}")).strip()
        signed_in = client.json(
            "POST", "/v1/auth/otp/verify", json={"phone": phone, "code": code, "confirm_age_18": confirm_age_18}
        )
        csrf = {"X-CSRF-Token": signed_in["csrf_token"]}
        name = f"controlplane CLI on {socket.gethostname()}"[:100]
        created = client.json("POST", "/v1/api-keys", json={"name": name, "scopes": CLI_KEY_SCOPES}, headers=csrf)
        client.request("POST", "/v1/auth/logout", headers=csrf)
    key: str = created["key"]
    return key


# --- namespaces --------------------------------------------------------------------------------------------------


@clean_errors
def apply(
    file: Annotated[Path, typer.Option("-f", "--file", help="A namespace document (the YAML of GET .../config).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the change and its price; change nothing.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until the namespace is ready.")] = False,
    timeout: WaitTimeout = 900,
) -> None:
    """Create the namespace a file describes, or make an existing one match it."""
    document = read_document(file)
    name = str(document["name"])
    with api() as client:
        if dry_run:
            plan = planner().plan(client, document, file.read_bytes())
            show_plan(plan)
            if not plan.allowed:
                raise typer.Exit(1)
            return
        if client.get_or_none(f"/v1/namespaces/{name}") is None:
            from controlplane.tenant_cli.plan import create_body

            accepted = client.json("POST", "/v1/namespaces", json=create_body(document))
            verb = "created"
        else:
            accepted = client.json("PUT", f"/v1/namespaces/{name}/config", content=file.read_bytes(),
                                   headers={"Content-Type": "application/yaml"})  # fmt: skip
            verb = "updated"
        out.print(f"{name} {verb}: generation {accepted['generation']}, {accepted['status']}")
        if wait:
            outcome = Follower(client, out, timeout).until_applied(name, int(accepted["generation"]))
            out.print(require(outcome))


def read_document(file: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CliError(f"{file} is not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise CliError(f"{file} is not a namespace document: it needs at least `name` and `apps`")
    from controlplane.tenant_cli.plan import canonical

    canonical(document)  # the shape is checked here first, field by field, as the server would
    return document


def show_plan(plan: Plan) -> None:
    if not plan.changes:
        out.print(f"{plan.name}: no changes")
    else:
        out.print(f"{plan.name}: {'changes' if plan.exists else 'would be created'}")
        for line in plan.diff:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            out.print(line, style=style, markup=False)
    now = f"{credits(plan.hourly_cost_now)} credits/hour now" if plan.hourly_cost_now is not None else "unknown now"
    after = f"{credits(plan.hourly_cost_after)} after" if plan.hourly_cost_after is not None else "after: unknown"
    out.print(f"price (whole account): {now}; {after}")
    if plan.runway_hours_after is not None:
        out.print(f"runway after: {plan.runway_hours_after:.1f} hours of credit at the new price")
    if plan.allowed:
        out.print("verdict: allowed (nothing was changed: this was a dry run)")
    else:
        out.print("verdict: refused", style="red")
        for refusal in plan.refusals:
            error = refusal.get("error", refusal)
            out.print(f"  {error.get('message', '')} ({error.get('code', '')})", markup=False)
    for note in plan.notes:
        out.print(f"  note: {note}", markup=False)


@clean_errors
def get(
    name: NameArg,
    output: Annotated[
        Literal["table", "yaml", "json"], typer.Option("-o", "--output", help="table, yaml or json")
    ] = "table",
) -> None:
    """Show a namespace: its status and apps, its configuration (-o yaml) or everything (-o json)."""
    with api() as client:
        if output == "yaml":
            out.print(client.request("GET", f"/v1/namespaces/{name}/config").text, end="", markup=False)
            return
        namespace = client.json("GET", f"/v1/namespaces/{name}")
    if output == "json":
        out.print_json(data=namespace)
        return
    out.print(f"{namespace['name']}: {namespace['status']} (generation {namespace['observed_generation']} of "
              f"{namespace['generation']} applied, {namespace['desired_state']})")  # fmt: skip
    if namespace.get("last_error"):
        out.print(f"last error: {namespace['last_error']}", markup=False)
    table = Table("app", "image", "replicas", "cpu (m)", "memory (MiB)", "ports", "volume")
    for app in namespace["apps"]:
        ports = ", ".join(f"{p['name']}:{p['port']}{' public' if p.get('public') else ''}" for p in app["ports"])
        volume = f"{app['volume']['size_gib']} GiB at {app['volume']['mount_path']}" if app.get("volume") else ""
        table.add_row(app["name"], app["image"], str(app["replicas"]), str(app["cpu_millicores"]),
                      str(app["memory_mib"]), ports, volume)  # fmt: skip
    out.print(table)


@clean_errors
def list_namespaces() -> None:
    """Your namespaces."""
    with api() as client:
        page = client.json("GET", "/v1/namespaces", params={"limit": 200})
    table = Table("namespace", "status", "apps", "generation", "updated")
    for namespace in page["items"]:
        applied = f"{namespace['observed_generation']}/{namespace['generation']}"
        table.add_row(namespace["name"], namespace["status"], str(len(namespace["apps"])), applied,
                      namespace["updated_at"])  # fmt: skip
    out.print(table)
    if page.get("next_cursor"):
        out.print("(more namespaces than shown)")


@clean_errors
def delete(
    name: NameArg,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the destroy until the stack is gone.")] = False,
    timeout: WaitTimeout = 900,
) -> None:
    """Delete a namespace: its stack is destroyed in the background (volumes included); its configuration is kept.

    Its name is free again at once; the destroy is followed by the namespace's id (``--wait``)."""
    with api() as client:
        accepted = client.json("DELETE", f"/v1/namespaces/{name}")
        out.print(
            f"{name} deleted: its stack is being destroyed in the background (generation {accepted['generation']})"
        )
        if wait:
            outcome = Follower(client, out, timeout).until_destroyed(name, str(accepted["namespace_id"]))
            out.print(require(outcome))


@clean_errors
def history(
    name: NameArg,
    limit: Annotated[int, typer.Option(help="How many operations, newest first.", min=1, max=200)] = 20,
) -> None:
    """A namespace's operations (runs of the engine), newest first."""
    with api() as client:
        page = client.json("GET", f"/v1/namespaces/{name}/operations", params={"limit": limit})
    table = Table("started", "kind", "generation", "result", "changes", "error")
    for operation in page["items"]:
        changes = ", ".join(f"{count} {op}" for op, count in operation["changes"].items() if count)
        table.add_row(operation["started_at"] or operation["created_at"], operation["kind"],
                      str(operation["generation"]), operation["result"], changes, operation["error"] or "")  # fmt: skip
    out.print(table)


# --- billing -----------------------------------------------------------------------------------------------------


@clean_errors
def balance() -> None:
    """Your credit balance and what your namespaces cost per hour."""
    with api() as client:
        shown = client.json("GET", "/v1/billing/balance")
    out.print(f"balance: {credits(shown['balance'])} credits")
    out.print(f"cost: {credits(shown['hourly_cost'])} credits/hour"
              + (f" ({shown['hours_left']} hours left)" if shown.get("hours_left") is not None else ""))  # fmt: skip
    if shown.get("unpaid"):
        out.print(f"unpaid usage: {credits(shown['unpaid'])} credits (the next top-up pays it first)")
    if shown.get("suspended"):
        out.print("your namespaces are suspended for lack of credits: top up to resume them")


@clean_errors
def top_up(
    amount: Annotated[str, typer.Argument(help="How much to pay, in the platform's currency (e.g. 25 or 25.50).")],
) -> None:
    """Open a card payment and print the page to pay it on."""
    minor_units = to_minor_units(amount)
    with api() as client:
        checkout = client.json("POST", "/v1/billing/checkout", json={"amount": minor_units})
    out.print(f"pay {amount} {checkout['currency'].upper()} for {credits(checkout['credits'])} credits at:")
    out.print(checkout["url"], markup=False)


@clean_errors
def deposit(
    tx_hash: Annotated[
        str | None, typer.Argument(help="A transaction that sent tokens to the deposit address: credit it.")
    ] = None,
) -> None:
    """Pay with tokens on chain: without a transaction, where and how to send them; with one, credit it."""
    with api() as client:
        if tx_hash is None:
            show_deposit_instructions(client.json("GET", "/v1/billing/deposits/instructions"))
            return
        submitted = client.json("POST", "/v1/billing/deposits", json={"tx_hash": tx_hash})
    for item in submitted["items"]:
        sent = f"{item['token_symbol']} from {item['wallet_address']}"
        if item["status"] == "credited":
            out.print(f"{sent}: credited {credits(item['credits'])} credits", markup=False)
        else:
            progress = f"{item['confirmations']} of {item['required_confirmations']} confirmations"
            out.print(f"{sent}: {item['status']}, {progress}: {credits(item['credits'])} credits once confirmed",
                      markup=False)  # fmt: skip


def show_deposit_instructions(shown: dict[str, Any]) -> None:
    out.print(f"send an ERC-20 transfer on chain {shown['chain_id']} to {shown['deposit_address']}", markup=False)
    for token in shown["tokens"]:
        out.print(f"  {token['symbol']} ({token['address']}): one token buys "
                  f"{credits(token['micro_credits_per_token'])} credits", markup=False)  # fmt: skip
    if shown["linked_wallets"]:
        out.print("from a wallet linked to your account: " + ", ".join(shown["linked_wallets"]), markup=False)
    else:
        out.print("no wallet is linked to your account: link one (Sign-In with Ethereum) first, or the transfer "
                  "cannot be credited to you")  # fmt: skip
    out.print("then run: controlplane deposit <transaction hash> "
              f"(credited once the transfer has {shown['required_confirmations']} confirmations)")  # fmt: skip


def to_minor_units(amount: str) -> int:
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise CliError(f"{amount!r} is not an amount (e.g. 25 or 25.50)") from None
    cents = value * 100
    if value <= 0 or cents != cents.to_integral_value():
        raise CliError(f"{amount!r} is not an amount (e.g. 25 or 25.50): positive, at most two decimals")
    return int(cents)


def credits(micro: int | None) -> str:
    if micro is None:
        return "?"
    return format((Decimal(micro) / MICRO).normalize(), "f")


def register(app: typer.Typer) -> None:
    """The tenant's commands as subcommands of ``controlplane``."""
    app.command()(login)
    app.command()(apply)
    app.command()(get)
    app.command("list")(list_namespaces)
    app.command()(delete)
    app.command()(history)
    app.command()(balance)
    app.command("top-up")(top_up)
    app.command()(deposit)
