"""Development-only endpoints (``/v1/dev``): what a person would get from the vendors, on one machine.

Mounted only by ``controlplane dev`` (``create_app(runtime, devstack=...)``, which refuses outside development):
the phone codes the Twilio stand-in "texted", the Stripe stand-in's checkout page and its Pay button, and a faucet
on the development chain. Each declares its access rule like every other route.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated

import phonenumbers
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import Field
from web3 import Web3

from controlplane.accounts import service as accounts
from controlplane.accounts.principal import Principal, Public, RequireScope
from controlplane.accounts.scopes import Access
from controlplane.api.deps import SessionDep
from controlplane.api.schemas import ApiModel, ResponseModel
from controlplane.api.text import INTEGRAL
from controlplane.devstack.chain import TOKEN_DECIMALS, TOKEN_SYMBOL
from controlplane.devstack.stack import MICRO_CREDITS_PER_TOKEN, DevStack, mask_phone
from controlplane.errors import Conflict, Forbidden, NotFound, Unprocessable

router = APIRouter(prefix="/v1/dev", tags=["development"])

PHONE_CODES = Public("development only: the local SMS stand-in's outbox, so one can sign in without a phone")
CHECKOUT_PAGE = Public(
    "development only: stands in for Stripe's hosted payment page, which needs no platform credential; "
    "the unguessable checkout session id in the path is what reaches it"
)
FaucetCaller = Annotated[Principal, Depends(RequireScope("billing", Access.WRITE))]
SessionId = Annotated[str, Path(pattern=r"^cs_test_[0-9a-f]{32}$", description="The Checkout Session's id")]


async def get_devstack(request: Request) -> DevStack:
    stack: DevStack = request.app.state.devstack
    return stack


DevStackDep = Annotated[DevStack, Depends(get_devstack)]


def _not_running(what: str, vendor: str) -> NotFound:
    return NotFound(f"{what} go through {vendor} on this server, not a local stand-in", code="stand_in_not_running")


# --- Phone codes ---------------------------------------------------------------------------------------------------


class SentCodeOut(ResponseModel):
    to: str = Field(description="The number, masked")
    code: str
    sent_at: datetime


class PhoneCodesOut(ResponseModel):
    items: list[SentCodeOut] = Field(description="Newest first")


@router.get("/phone-codes", response_model=PhoneCodesOut, dependencies=[Depends(PHONE_CODES)])
def phone_codes(
    stack: DevStackDep,
    phone: Annotated[str | None, Query(max_length=32, description="Only the codes texted to this number")] = None,
) -> PhoneCodesOut:
    """The one-time codes the local Twilio stand-in "texted", newest first."""
    if stack.twilio is None:
        raise _not_running("phone codes", "Twilio")
    sent = stack.twilio.outbox(_e164(phone) if phone else None)
    return PhoneCodesOut(items=[SentCodeOut(to=mask_phone(s.to), code=s.code, sent_at=s.sent_at) for s in sent])


def _e164(phone: str) -> str:
    try:
        return str(phonenumbers.format_number(phonenumbers.parse(phone, None), phonenumbers.PhoneNumberFormat.E164))
    except phonenumbers.NumberParseException:
        raise Unprocessable("phone must be a number in international format, e.g. +14155552671",
                            code="invalid_phone") from None  # fmt: skip


# --- The checkout page ---------------------------------------------------------------------------------------------


@router.get("/checkout/{session_id}", response_class=HTMLResponse, dependencies=[Depends(CHECKOUT_PAGE)])
def checkout_page(session_id: SessionId, stack: DevStackDep) -> HTMLResponse:
    """The payment page a Checkout Session's URL leads to: what is bought, and a Pay button."""
    if stack.stripe is None:
        raise _not_running("card payments", "Stripe")
    session = stack.stripe.session(session_id)
    if session is None:
        raise NotFound("no such checkout session")
    product = html.escape(stack.stripe.products.get(session_id, ""))
    price = html.escape(_money(session["amount_total"], session["currency"]))
    if session["status"] == "complete":
        return _page("Paid", f"<p>{product}: {price}, already paid.</p>")
    action = html.escape(f"/v1/dev/checkout/{session_id}/pay")
    return _page(
        "Checkout (development)",
        f"<p>{product}</p><p><strong>{price}</strong></p>"
        f'<form method="post" action="{action}"><button type="submit">Pay</button></form>'
        "<p><small>No card is charged: the local Stripe stand-in completes the session and sends the signed "
        "webhook, as Stripe would.</small></p>",
    )


@router.post("/checkout/{session_id}/pay", response_class=HTMLResponse, dependencies=[Depends(CHECKOUT_PAGE)])
def pay(session_id: SessionId, stack: DevStackDep) -> HTMLResponse:
    """The Pay button: the session completes and the platform's webhook is called, signed."""
    if stack.stripe is None:
        raise _not_running("card payments", "Stripe")
    if stack.stripe.session(session_id) is None:
        raise NotFound("no such checkout session")
    payment = stack.stripe.pay(session_id)
    price = html.escape(_money(payment.session["amount_total"], payment.session["currency"]))
    if payment.already_paid:
        return _page("Paid", f"<p>{price}, already paid.</p>")
    if not payment.delivered:
        raise Conflict(f"paid, but the webhook was refused: {payment.webhook_answer}", code="webhook_refused")
    success = html.escape(str(payment.session.get("success_url") or "/"))
    return _page("Paid", f'<p>{price} paid. The credits are on your balance.</p><p><a href="{success}">Back</a></p>')


def _money(minor_units: int, currency: str) -> str:
    return f"{minor_units // 100}.{minor_units % 100:02d} {currency.upper()}"


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


# --- The faucet ----------------------------------------------------------------------------------------------------


class FaucetRequest(ApiModel):
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="A wallet linked to your account")
    tokens: Annotated[int, Field(ge=1, le=10_000), INTEGRAL] = Field(default=100, description="Whole tokens to send")


class TokenOut(ResponseModel):
    address: str
    symbol: str
    decimals: int
    micro_credits_per_token: int


class FaucetOut(ResponseModel):
    address: str
    tokens_raw: str = Field(description="Token base units sent, as a decimal string")
    ether_wei: str = Field(description="Ether sent for gas, in wei")
    transactions: list[str]
    chain_id: int
    rpc_url: str
    token: TokenOut
    deposit_address: str = Field(description="Send tokens here, then submit the transaction to /v1/billing/deposits")
    confirmations: int


@router.post("/faucet", response_model=FaucetOut)
def faucet(body: FaucetRequest, principal: FaucetCaller, session: SessionDep, stack: DevStackDep) -> FaucetOut:
    """Tokens (and ether for gas) on the development chain, for a wallet linked to the caller's account."""
    if stack.chain is None:
        raise _not_running("deposits", "a real chain")
    address = Web3.to_checksum_address(body.address)
    linked = {wallet.address for wallet in accounts.get_account(session, principal.account_id).wallets}
    if address not in linked:
        raise Forbidden(
            "the faucet sends tokens only to a wallet linked to your account: link it first (POST /v1/account/wallets)",
            code="wallet_not_linked",
        )
    chain = stack.chain
    drop = chain.faucet(address, body.tokens)
    return FaucetOut(
        address=address,
        tokens_raw=str(drop.tokens_raw),
        ether_wei=str(drop.ether_wei),
        transactions=drop.transactions,
        chain_id=chain.chain_id,
        rpc_url=chain.url,
        token=TokenOut(
            address=chain.token_address,
            symbol=TOKEN_SYMBOL,
            decimals=TOKEN_DECIMALS,
            micro_credits_per_token=MICRO_CREDITS_PER_TOKEN,
        ),
        deposit_address=chain.deposit_address,
        confirmations=chain.confirmations,
    )
