"""What a namespace costs per hour: one price function for metering, the prices shown, and the checks before a change.

The price of an amount of usage is :func:`hourly_price`, written once with ``+``, ``*`` and a floor division that
work alike on Python integers and on SQL expressions: the hourly metering pass builds its SQL from it, and every
price the API shows (a namespace's ``hourly_cost``, the account's, a dry run's before and after) is the same
function on the same integers, so a bill and the prices shown cannot disagree.

What a namespace pays for depends on its lifecycle state (:func:`billable_usage`): vCPU and memory (x replicas)
while ``active``; its volumes (one per app, whatever the replicas) while ``active`` or ``suspended``; nothing once
its volumes are released or it is deleted. A namespace's price is rounded down once, per namespace and hour, and an
account pays the sum of its namespaces' prices.

``hourly_cost`` shown on a namespace is its *desired* state's price, known as soon as the change is accepted.
Metering charges a namespace only for what is both declared and applied (see ``metering``): once a change is
applied, the two are the same price.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Numeric, Select, bindparam, cast, func, literal_column, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from controlplane.deployments.models import App, Namespace
from controlplane.settings import Settings

COMPUTE_STATES: tuple[str, ...] = ("active",)  # vCPU and memory are paid for in these states
VOLUME_STATES: tuple[str, ...] = ("active", "suspended")  # volumes are paid for in these states

Amount = TypeVar("Amount", int, ColumnElement[Any])


@dataclass(frozen=True)
class PriceList:
    """The price settings as integer factors over one common divisor: the price stays exact until its one floor."""

    cpu_factor: int  # per millicore-hour, x divisor
    memory_factor: int  # per MiB-hour, x divisor
    volume_factor: int  # per GiB-hour of volume, x divisor
    divisor: int

    @classmethod
    def of(cls, settings: Settings) -> PriceList:
        hours = settings.hours_per_month
        return cls(
            cpu_factor=settings.price_vcpu_hour * 1024 * hours,
            memory_factor=settings.price_memory_gib_hour * 1000 * hours,
            volume_factor=settings.price_volume_gib_month * 1000 * 1024,
            divisor=1000 * 1024 * hours,
        )


def hourly_price(prices: PriceList, cpu_millicores: Amount, memory_mib: Amount, volume_gib: Amount) -> Amount:
    """Micro-credits per hour for this usage, rounded down: on integers, or on SQL expressions (NUMERIC)."""
    numerator = (
        cpu_millicores * prices.cpu_factor + memory_mib * prices.memory_factor + volume_gib * prices.volume_factor
    )
    if isinstance(numerator, int):
        return numerator // prices.divisor
    # PostgreSQL's div() is exact integer division of NUMERIC; floor(a / b) would round the quotient first.
    return func.div(numerator, prices.divisor)


# --- a namespace's usage ---------------------------------------------------------------------------------------


class AppSize(Protocol):
    """What an app's price depends on (an ``App`` row, or an app of a revision's document)."""

    @property
    def replicas(self) -> int: ...
    @property
    def cpu_millicores(self) -> int: ...
    @property
    def memory_mib(self) -> int: ...
    @property
    def volume_size_gib(self) -> int | None: ...


@dataclass(frozen=True)
class Usage:
    cpu_millicores: int  # x replicas
    memory_mib: int  # x replicas
    volume_gib: int


@dataclass(frozen=True)
class DeclaredApp:
    replicas: int
    cpu_millicores: int
    memory_mib: int
    volume_size_gib: int | None

    @classmethod
    def of_document(cls, app: dict[str, Any]) -> DeclaredApp:
        """An app as the configuration document writes it (``volume: {size_gib, mount_path}`` or absent)."""
        volume = app.get("volume") or {}
        return cls(int(app["replicas"]), int(app["cpu_millicores"]), int(app["memory_mib"]), volume.get("size_gib"))


def billable_usage(state: str, apps: Iterable[AppSize]) -> Usage:
    """What a namespace in lifecycle ``state`` pays for."""
    cpu = memory = volume = 0
    for app in apps:
        if state in COMPUTE_STATES:
            cpu += app.replicas * app.cpu_millicores
            memory += app.replicas * app.memory_mib
        if state in VOLUME_STATES:
            volume += app.volume_size_gib or 0
    return Usage(cpu, memory, volume)


def namespace_price(prices: PriceList, state: str, apps: Iterable[AppSize]) -> int:
    """A namespace's price per hour in micro-credits, for its lifecycle ``state`` and ``apps``."""
    usage = billable_usage(state, apps)
    return hourly_price(prices, usage.cpu_millicores, usage.memory_mib, usage.volume_gib)


# --- in SQL ------------------------------------------------------------------------------------------------------


def states_sql(column: str, states: Sequence[str]) -> str:
    """``column IN ('a', 'b')`` for a hand-written statement (the states are this module's constants)."""
    return f"{column} IN ({', '.join(repr(state) for state in states)})"


def cost_sql(prices: PriceList, cpu_millicores: str, memory_mib: str, volume_gib: str) -> str:
    """:func:`hourly_price` as SQL text over three NUMERIC column names, for metering's hand-written statement.

    The factors are integers from the settings, written as literals."""
    expression = hourly_price(
        prices,
        cast(literal_column(cpu_millicores), Numeric),
        cast(literal_column(memory_mib), Numeric),
        cast(literal_column(volume_gib), Numeric),
    )
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    compiled = expression.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


def account_price(session: Session, prices: PriceList, account_id: uuid.UUID) -> int:
    """The account's price per hour: the sum of its namespaces' desired-state prices (each rounded down)."""
    return int(session.scalar(account_price_statement(prices), {"account_id": account_id}) or 0)


@functools.lru_cache(maxsize=8)
def account_price_statement(prices: PriceList) -> Select[tuple[Any]]:
    """``account_price`` as one statement (built once per price list; the account is the ``account_id`` parameter)."""
    computes = Namespace.desired_state.in_(COMPUTE_STATES)
    per_namespace = (
        select(
            hourly_price(
                prices,
                cast(func.coalesce(func.sum(cast(App.replicas, BigInteger) * App.cpu_millicores).filter(computes), 0),
                     Numeric),
                cast(func.coalesce(func.sum(cast(App.replicas, BigInteger) * App.memory_mib).filter(computes), 0),
                     Numeric),
                cast(func.coalesce(func.sum(App.volume_size_gib), 0), Numeric),
            ).label("price")
        )
        .select_from(Namespace)
        .join(App, App.namespace_id == Namespace.id)
        .where(Namespace.account_id == bindparam("account_id"), Namespace.desired_state.in_(VOLUME_STATES))
        .group_by(Namespace.id)
        .subquery()
    )  # fmt: skip
    return select(func.coalesce(func.sum(per_namespace.c.price), 0))
