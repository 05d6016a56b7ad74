"""What other features ask of billing: the price of a declaration, the account's price and runway, and whether the
account can pay for a change before it is made.

The runway is how long the balance lasts at an hourly price: ``balance / price`` hours. A change that raises the
account's price is refused (402 ``insufficient_credits``) when the balance would last less than
``min_runway_hours`` at the new price, or is zero: the answer names the price, the balance and what to add.
Lowering the price is always allowed, whatever the balance.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from controlplane.billing import prices
from controlplane.billing.ledger import credits_text
from controlplane.billing.models import BillingAccount
from controlplane.billing.prices import AppSize, PriceList
from controlplane.errors import PaymentRequired
from controlplane.settings import Settings


def namespace_price(settings: Settings, state: str, apps: Iterable[AppSize]) -> int:
    """Micro-credits per hour for a namespace in lifecycle ``state`` declaring ``apps``."""
    return prices.namespace_price(PriceList.of(settings), state, apps)


def document_price(settings: Settings, state: str, apps: Iterable[dict[str, Any]]) -> int:
    """The same for apps as a configuration document writes them (a revision's)."""
    return namespace_price(settings, state, [prices.DeclaredApp.of_document(app) for app in apps])


def account_price(session: Session, settings: Settings, account_id: uuid.UUID) -> int:
    """Micro-credits per hour for every namespace of the account as it is declared now (flushed rows)."""
    return prices.account_price(session, PriceList.of(settings), account_id)


def runway_hours(balance: int, hourly_price: int) -> float | None:
    """Hours the balance lasts at this price, rounded down to a hundredth; None when nothing is charged."""
    if hourly_price <= 0:
        return None
    return (balance * 100 // hourly_price) / 100


@dataclass(frozen=True)
class PriceChange:
    """A change's effect on price and runway: the namespace's price and the account's, before and after."""

    namespace_before: int
    namespace_after: int
    account_before: int
    account_after: int
    balance: int
    unpaid: int
    min_runway_hours: int

    @property
    def raises_price(self) -> bool:
        return self.account_after > self.account_before

    @property
    def needed(self) -> int:
        """The balance the new price asks for: ``min_runway_hours`` of it, and never nothing."""
        return max(self.account_after * self.min_runway_hours, 1)

    @property
    def to_add(self) -> int:
        """What a top-up must bring for the change to pass (a top-up pays unpaid usage first)."""
        return max(0, self.needed + self.unpaid - self.balance)

    @property
    def allowed(self) -> bool:
        return not self.raises_price or self.balance >= self.needed

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace_hourly_cost_before": self.namespace_before,
            "namespace_hourly_cost_after": self.namespace_after,
            "hourly_cost_before": self.account_before,
            "hourly_cost_after": self.account_after,
            "balance": self.balance,
            "unpaid": self.unpaid,
            "runway_hours_before": runway_hours(self.balance, self.account_before),
            "runway_hours_after": runway_hours(self.balance, self.account_after),
            "min_runway_hours": self.min_runway_hours,
            "allowed": self.allowed,
            "to_add": self.to_add if not self.allowed else 0,
        }


def price_change(
    session: Session,
    settings: Settings,
    account_id: uuid.UUID,
    namespace_before: int,
    namespace_after: int,
) -> PriceChange:
    """The change of one namespace's price from ``namespace_before`` to ``namespace_after``, for its account; the
    account's price is read with the changed namespace already flushed."""
    row = session.execute(_price_and_balance(PriceList.of(settings)), {"account_id": account_id}).one()
    account_after = int(row.price)
    return PriceChange(
        namespace_before=namespace_before,
        namespace_after=namespace_after,
        account_before=account_after - namespace_after + namespace_before,
        account_after=account_after,
        balance=int(row.balance or 0),
        unpaid=int(row.unpaid or 0),
        min_runway_hours=settings.min_runway_hours,
    )


@functools.lru_cache(maxsize=8)
def _price_and_balance(price_list: PriceList) -> Select[tuple[Any, Any, Any]]:
    """The account's price, balance and unpaid usage in one statement (it runs in every write)."""
    mine = BillingAccount.account_id == bindparam("account_id")
    return select(
        prices.account_price_statement(price_list).scalar_subquery().label("price"),
        select(BillingAccount.balance).where(mine).scalar_subquery().label("balance"),
        select(BillingAccount.unpaid).where(mine).scalar_subquery().label("unpaid"),
    )


def refusal(change: PriceChange) -> PaymentRequired | None:
    """The 402 a change gets when the account cannot pay for it; None when it may go ahead."""
    if change.allowed:
        return None
    message = (
        f"this change raises your price to {credits_text(change.account_after)} credits per hour and your balance "
        f"is {credits_text(change.balance)}"
        + (f" (with {credits_text(change.unpaid)} of usage unpaid)" if change.unpaid else "")
        + f": it must cover at least {change.min_runway_hours} hour(s) at the new price. "
        f"Add at least {credits_text(change.to_add)} credits."
    )
    return PaymentRequired(message, details=change.as_dict())
