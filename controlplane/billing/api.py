"""Billing endpoints: the balance and its ledger, card top-ups (and Stripe's webhook), on-chain deposits, and the
operators' adjustments. Endpoints parse, call one service function, and return; the request's edge commits."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from controlplane.accounts.principal import Principal, Public, RequireScope
from controlplane.accounts.scopes import Access
from controlplane.api.contract import answers
from controlplane.api.deps import PageDep, RuntimeDep, SessionDep, SettingsDep
from controlplane.api.schemas import Page, json_response
from controlplane.api.text import Timestamp
from controlplane.audit.service import OperatorWriteAudit
from controlplane.billing import checkout, deposits, ledger, service
from controlplane.billing.chain import deposit_config
from controlplane.billing.models import EntryKind
from controlplane.billing.schemas import (
    AdjustmentCreate,
    BalanceOut,
    CheckoutCreate,
    CheckoutOut,
    DepositInstructions,
    DepositOut,
    DepositsSubmitted,
    DepositSubmit,
    EntryKindName,
    LedgerEntryOut,
    WebhookOut,
)

router = APIRouter(prefix="/v1/billing", tags=["billing"])
operator_router = APIRouter(prefix="/v1/operator/billing", tags=["operator"])

ReadBilling = Annotated[Principal, Depends(RequireScope("billing", Access.READ))]
WriteBilling = Annotated[Principal, Depends(RequireScope("billing", Access.WRITE))]


@router.get("/balance", response_model=BalanceOut)
def get_balance(principal: ReadBilling, session: SessionDep, settings: SettingsDep) -> Response:
    hourly_cost = service.account_price(session, settings, principal.account_id)
    return json_response(BalanceOut.of(ledger.balance_of(session, settings, principal.account_id, hourly_cost)))


@router.get("/transactions", response_model=Page[LedgerEntryOut])
def list_transactions(
    principal: ReadBilling,
    session: SessionDep,
    page: PageDep,
    kind: Annotated[EntryKindName | None, Query(description="Only entries of this kind")] = None,
    since: Annotated[Timestamp | None, Query(description="From this time (inclusive), with a time zone")] = None,
    until: Annotated[Timestamp | None, Query(description="Before this time (exclusive), with a time zone")] = None,
) -> Response:
    rows, next_cursor = ledger.list_entries(
        session, principal.account_id, page, kind=EntryKind(kind) if kind else None, since=since, until=until
    )
    return json_response(Page[LedgerEntryOut](items=[LedgerEntryOut.of(row) for row in rows], next_cursor=next_cursor))


@router.post(
    "/checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckoutOut,
    responses=answers({502: "Stripe failed or could not be reached"}),
)
def create_checkout(
    body: CheckoutCreate, principal: WriteBilling, session: SessionDep, settings: SettingsDep
) -> Response:
    created = checkout.create_checkout(session, settings, principal.account_id, body.amount)
    return json_response(CheckoutOut.of(created), status.HTTP_201_CREATED)


@router.post(
    "/webhooks/stripe",
    response_model=WebhookOut,
    dependencies=[Depends(Public("Stripe's calls: the Stripe-Signature header is the credential"))],
    responses=answers({400: "The Stripe-Signature header does not verify (`invalid_signature`)"}),
)
async def stripe_webhook(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Stripe's calls: no session or API key (the signature is the authentication), so no CSRF check either."""
    payload = await request.body()
    outcome = await run_in_threadpool(
        checkout.handle_webhook, session, settings, payload, request.headers.get("stripe-signature")
    )
    return json_response(WebhookOut(outcome=outcome))


@router.post(
    "/deposits",
    status_code=status.HTTP_201_CREATED,
    response_model=DepositsSubmitted,
    responses=answers(
        {
            404: "The chain has no such transaction (`transaction_not_found`)",
            409: "Not mined yet, or claimed by another account",
            502: "The Ethereum node failed or could not be reached",
        }
    ),
)
def submit_deposit(body: DepositSubmit, principal: WriteBilling, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Credit a token transfer to the deposit address: 201 when recorded now, 200 when it was already."""
    settings = runtime.settings
    submitted = deposits.submit(session, settings, principal.account_id, body.tx_hash, redis=runtime.redis)
    answer = DepositsSubmitted.of(submitted, settings.deposit_confirmations)
    return json_response(answer, status.HTTP_201_CREATED if submitted.created else status.HTTP_200_OK)


@router.get(
    "/deposits/instructions",
    response_model=DepositInstructions,
    responses=answers({503: "On-chain deposits are not configured on this server (`deposits_unavailable`)"}),
)
def deposit_instructions(principal: ReadBilling, session: SessionDep, settings: SettingsDep) -> Response:
    """Where to send tokens (the chain, the deposit address, the tokens accepted and what they buy), from which
    wallets, and how many confirmations a transfer needs before it is credited."""
    config = deposit_config(settings)
    return json_response(DepositInstructions.of(config, deposits.linked_wallets(session, principal.account_id)))


@router.get("/deposits", response_model=Page[DepositOut])
def list_deposits(principal: ReadBilling, session: SessionDep, page: PageDep, settings: SettingsDep) -> Response:
    rows, next_cursor = deposits.list_deposits(session, principal.account_id, page)
    items = [DepositOut.of(row, settings.deposit_confirmations) for row in rows]
    return json_response(Page[DepositOut](items=items, next_cursor=next_cursor))


@operator_router.post(
    "/accounts/{account_id}/entries",
    status_code=status.HTTP_201_CREATED,
    response_model=LedgerEntryOut,
    responses=answers({409: "The idempotency key was used for another entry"}),
)
def adjust_balance(
    account_id: uuid.UUID,
    body: AdjustmentCreate,
    audit: OperatorWriteAudit,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Record an adjustment (either sign) or a refund (negative) on an account's ledger."""
    audit.details = {"amount": body.amount, "kind": body.kind, "reason": body.reason}
    applied = ledger.adjust(
        session,
        settings,
        account_id,
        body.amount,
        kind=EntryKind(body.kind),
        reason=body.reason,
        idempotency_key=f"operator:{body.idempotency_key or uuid.uuid4()}",
    )
    return json_response(LedgerEntryOut.of(applied.entry), status.HTTP_201_CREATED)
