"""Request and response shapes of the billing API. Amounts are integer micro-credits (1 credit = 1,000,000)
unless a field says otherwise; ``*_credits`` fields repeat them as exact decimal strings for people."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from controlplane.api.contract import SettingsLimit
from controlplane.api.schemas import ApiModel, ResponseModel
from controlplane.api.text import INTEGRAL, Integer, Line, Prose
from controlplane.billing.chain import DepositConfig
from controlplane.billing.deposits import Submitted
from controlplane.billing.ledger import Balance, credits_text
from controlplane.billing.models import Checkout, Deposit, LedgerEntry

EntryKindName = Literal["top_up", "usage", "refund", "adjustment"]


class CheckoutCreate(ApiModel):
    amount: Annotated[int, Field(gt=0), INTEGRAL] = Field(
        description="What to pay, in minor units of the currency (cents for USD)"
    )


class DepositSubmit(ApiModel):
    tx_hash: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="The transaction that sent the tokens")


class AdjustmentCreate(ApiModel):
    kind: Literal["adjustment", "refund"]
    amount: Integer = Field(description="Signed micro-credits; a refund is negative")
    reason: Prose = Field(min_length=1, max_length=500)
    idempotency_key: Line | None = Field(default=None, min_length=1, max_length=120)


class BalanceOut(ResponseModel):
    balance: int = Field(description="Micro-credits available")
    balance_credits: str
    unpaid: int = Field(description="Usage an empty balance could not cover; the next top-up pays it first")
    hourly_cost: int = Field(description="What the namespaces as declared cost per hour, in micro-credits")
    hours_left: int | None = Field(description="Whole hours the balance covers at that rate; null when free")
    low_balance: bool = Field(description="The runway is below the first runway notice (72 hours by default)")
    suspended: bool = Field(description="Namespaces are suspended because the balance reached zero")
    suspended_at: datetime | None
    volumes_release_at: datetime | None = Field(description="When the volumes of a suspended account are deleted")
    volumes_released: bool = Field(description="The volumes are gone; after a top-up apps start with empty ones")
    volumes_released_at: datetime | None

    @classmethod
    def of(cls, balance: Balance) -> BalanceOut:
        return cls(
            balance=balance.balance,
            balance_credits=credits_text(balance.balance),
            unpaid=balance.unpaid,
            hourly_cost=balance.hourly_cost,
            hours_left=balance.hours_left,
            low_balance=balance.low_balance,
            suspended=balance.suspended_at is not None,
            suspended_at=balance.suspended_at,
            volumes_release_at=balance.volumes_release_at,
            volumes_released=balance.volumes_released_at is not None,
            volumes_released_at=balance.volumes_released_at,
        )


class LedgerEntryOut(ResponseModel):
    id: uuid.UUID
    kind: str
    source: str
    amount: int = Field(description="Signed micro-credits applied to the balance")
    amount_credits: str
    unpaid: int = Field(description="Change of unpaid usage (a charge the balance could not cover)")
    balance_after: int
    reference: str | None
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, entry: LedgerEntry) -> LedgerEntryOut:
        return cls(
            id=entry.id,
            kind=entry.kind,
            source=entry.source,
            amount=entry.amount,
            amount_credits=credits_text(entry.amount),
            unpaid=entry.unpaid,
            balance_after=entry.balance_after,
            reference=entry.reference,
            details=entry.details,
            created_at=entry.created_at,
        )


class CheckoutOut(ResponseModel):
    id: uuid.UUID
    url: str = Field(description="Stripe's payment page: send the person there")
    amount: int = Field(description="Minor units of currency")
    currency: str
    credits: int = Field(description="Micro-credits this payment buys")
    status: str
    created_at: datetime

    @classmethod
    def of(cls, checkout: Checkout) -> CheckoutOut:
        assert checkout.url is not None
        return cls(
            id=checkout.id,
            url=checkout.url,
            amount=checkout.amount,
            currency=checkout.currency,
            credits=checkout.credits,
            status=checkout.status,
            created_at=checkout.created_at,
        )


class WebhookOut(ResponseModel):
    received: bool = True
    outcome: str


class DepositOut(ResponseModel):
    id: uuid.UUID
    status: str = Field(description="pending (waiting for confirmations), credited or failed")
    chain_id: int
    tx_hash: str
    log_index: int
    block_number: int
    token_address: str
    token_symbol: str
    wallet_address: str = Field(description="The sender, a wallet linked to the account")
    amount_raw: str = Field(description="Token base units, as a decimal string (a uint256)")
    credits: int = Field(description="Micro-credits")
    confirmations: int
    required_confirmations: int
    created_at: datetime
    credited_at: datetime | None

    @classmethod
    def of(cls, deposit: Deposit, required_confirmations: int) -> DepositOut:
        return cls(
            id=deposit.id,
            status=deposit.status,
            chain_id=deposit.chain_id,
            tx_hash=deposit.tx_hash,
            log_index=deposit.log_index,
            block_number=deposit.block_number,
            token_address=deposit.token_address,
            token_symbol=deposit.token_symbol,
            wallet_address=deposit.wallet_address,
            amount_raw=str(int(deposit.amount_raw)),
            credits=deposit.credits,
            confirmations=deposit.confirmations,
            required_confirmations=required_confirmations,
            created_at=deposit.created_at,
            credited_at=deposit.credited_at,
        )


class AcceptedToken(ResponseModel):
    symbol: str
    address: str = Field(description="The ERC-20 contract")
    decimals: int
    micro_credits_per_token: int = Field(description="Micro-credits one whole token buys")


class DepositInstructions(ResponseModel):
    """Where and how to send tokens so that they are credited to this account."""

    chain_id: int
    deposit_address: str = Field(description="Send the tokens here (an ERC-20 transfer)")
    tokens: list[AcceptedToken] = Field(description="The tokens credited; any other transfer is not")
    required_confirmations: int = Field(description="Blocks on top of the transfer's before it is credited")
    linked_wallets: list[str] = Field(
        description="Only transfers sent from these wallets count for this account (link one with SIWE first)"
    )
    submit_to: str = Field(description="Then submit the transaction's hash here")

    @classmethod
    def of(cls, config: DepositConfig, linked_wallets: list[str]) -> DepositInstructions:
        tokens = [
            AcceptedToken(symbol=token.symbol, address=address, decimals=token.decimals,
                          micro_credits_per_token=token.micro_credits_per_token)
            for address, token in sorted(config.tokens.items())
        ]  # fmt: skip
        return cls(
            chain_id=config.chain_id,
            deposit_address=config.address,
            tokens=tokens,
            required_confirmations=config.confirmations,
            linked_wallets=linked_wallets,
            submit_to="POST /v1/billing/deposits",
        )


class DepositsSubmitted(ResponseModel):
    """Usually one deposit; a transaction with several transfers to the deposit address makes several."""

    items: list[DepositOut]

    @classmethod
    def of(cls, submitted: Submitted, required_confirmations: int) -> DepositsSubmitted:
        return cls(items=[DepositOut.of(deposit, required_confirmations) for deposit in submitted.deposits])


# Limits the settings decide, published in the OpenAPI document as configured (the checkout enforces them).
SETTINGS_LIMITS = (
    SettingsLimit("CheckoutCreate", "amount", "minimum", lambda settings: settings.checkout_min_amount),
    SettingsLimit("CheckoutCreate", "amount", "maximum", lambda settings: settings.checkout_max_amount),
)
