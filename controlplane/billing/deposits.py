"""On-chain deposits: a caller submits a transaction hash; the platform verifies it with web3 and credits it.

A deposit is accepted when the transaction was mined and succeeded, and one of its logs is an ERC-20 ``Transfer``
of an accepted token (``deposit_tokens``) to the platform's ``deposit_address``, sent from a wallet linked to
the caller's account. Each such log is one deposit row, unique per (chain id, transaction hash, log index): two
submissions of the same transaction, even concurrent, find one row, and the row lock plus the ledger key
``deposit:<chain>:<tx>:<log index>`` credit it once. Until the block has ``deposit_confirmations`` the deposit
is ``pending``; the periodic :func:`recheck_pending` credits it once it has them (and fails it when a later check
finds the transaction reverted or the transfer gone, after a reorganisation).

Credits: ``raw * micro_credits_per_token // 10**decimals`` micro-credits, exact integers.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from redis import Redis
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from controlplane import rate_limits
from controlplane.accounts.models import Wallet
from controlplane.api.pagination import PageParams, paginate
from controlplane.billing import ledger
from controlplane.billing.chain import Chain, DepositConfig, MinedTransaction, NotMined, Transfer, deposit_config
from controlplane.billing.models import Deposit, DepositStatus, EntrySource
from controlplane.db import utcnow
from controlplane.errors import AppError, Conflict, Forbidden, NotFound, Unprocessable
from controlplane.settings import Settings

log = logging.getLogger(__name__)

RECHECK_BATCH = 200


@dataclass(frozen=True)
class Submitted:
    deposits: list[Deposit]
    created: bool  # False: every deposit of this transaction was already recorded for the caller


def linked_wallets(session: Session, account_id: uuid.UUID) -> list[str]:
    """The wallets whose transfers count for the account (EIP-55, sorted)."""
    return sorted(session.scalars(select(Wallet.address).where(Wallet.account_id == account_id)))


def submit(
    session: Session,
    settings: Settings,
    account_id: uuid.UUID,
    tx_hash: str,
    *,
    now: datetime | None = None,
    chain: Chain | None = None,
    redis: Redis | None = None,
) -> Submitted:
    """Verify ``tx_hash`` on chain and record (and credit, once confirmed) its deposits to the caller's account.
    With ``redis``, submissions are limited to ``deposit_submissions_per_hour`` per account."""
    now = now or utcnow()
    config = deposit_config(settings)
    if redis is not None:
        rate_limits.enforce(
            redis,
            f"deposit-submit:{account_id}",
            limit=settings.deposit_submissions_per_hour,
            window_s=3600,
            what="deposit submissions",
        )
    chain = chain or Chain(config)
    tx_hash = tx_hash.lower()
    mined = chain.lookup(tx_hash)
    if mined is NotMined.UNKNOWN:
        raise NotFound(f"chain {config.chain_id} has no transaction {tx_hash}", code="transaction_not_found")
    if mined is NotMined.PENDING:
        raise Conflict("the transaction is not in a block yet; submit it again once it is", code="transaction_pending")
    assert isinstance(mined, MinedTransaction)
    if not mined.succeeded:
        raise Unprocessable("the transaction failed (reverted): nothing was transferred", code="transaction_failed")
    transfers = _deposit_transfers(mined, config)
    linked = set(linked_wallets(session, account_id))
    mine = [transfer for transfer in transfers if transfer.sender in linked]
    if not mine:
        raise Forbidden(
            "the tokens were sent from a wallet that is not linked to this account; link the wallet first",
            code="wallet_not_linked",
        )
    confirmations = chain.confirmations(mined.block_number, chain.head())
    account = ledger.ensure_billing_account(session, account_id, now)
    deposits, created = [], False
    for transfer in mine:
        token = config.tokens[transfer.token]
        credits = transfer.amount * token.micro_credits_per_token // 10**token.decimals
        if credits <= 0:
            raise Unprocessable("the transfer is too small to buy a micro-credit", code="deposit_too_small")
        if credits >= ledger.MAX_AMOUNT:
            raise Unprocessable("the transfer is too large to credit", code="deposit_too_large")
        inserted = session.execute(
            pg_insert(Deposit)
            .values(
                id=uuid.uuid4(),
                billing_account_id=account.id,
                account_id=account_id,
                chain_id=config.chain_id,
                tx_hash=tx_hash,
                log_index=transfer.log_index,
                block_number=mined.block_number,
                block_hash=mined.block_hash,
                token_address=transfer.token,
                token_symbol=token.symbol,
                wallet_address=transfer.sender,
                amount_raw=Decimal(transfer.amount),
                credits=credits,
                status=DepositStatus.PENDING,
                confirmations=confirmations,
                checked_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=[Deposit.chain_id, Deposit.tx_hash, Deposit.log_index])
            .returning(Deposit.id)
        ).scalar_one_or_none()
        created = created or inserted is not None
        deposit = session.scalars(
            select(Deposit)
            .where(
                Deposit.chain_id == config.chain_id,
                Deposit.tx_hash == tx_hash,
                Deposit.log_index == transfer.log_index,
            )
            .execution_options(populate_existing=True)
        ).one()
        if deposit.account_id != account_id:
            raise Conflict("this deposit was already claimed by another account", code="deposit_already_claimed")
        _confirm(session, settings, config, deposit, confirmations, now)
        deposits.append(deposit)
    return Submitted(deposits, created)


def recheck_pending(
    session: Session,
    settings: Settings,
    *,
    now: datetime | None = None,
    chain: Chain | None = None,
    limit: int = RECHECK_BATCH,
) -> int:
    """Look at pending deposits again (oldest check first); returns how many were credited."""
    now = now or utcnow()
    config = deposit_config(settings)
    chain = chain or Chain(config)
    pending = session.scalars(
        select(Deposit)
        .where(
            Deposit.status == DepositStatus.PENDING,
            Deposit.chain_id == config.chain_id,
            Deposit.account_id.is_not(None),
        )
        .order_by(Deposit.checked_at)
        .limit(limit)
    ).all()
    by_tx: dict[str, list[Deposit]] = {}
    for deposit in pending:
        by_tx.setdefault(deposit.tx_hash, []).append(deposit)
    credited = 0
    head = chain.head() if by_tx else 0
    for tx_hash, deposits in by_tx.items():
        try:
            mined = chain.lookup(tx_hash)
        except AppError as exc:
            log.warning("re-check of %s failed: %s", tx_hash, exc.message)
            continue
        for deposit in deposits:
            credited += _recheck_one(session, settings, config, chain, deposit, mined, head, now)
    return credited


def list_deposits(session: Session, account_id: uuid.UUID, page: PageParams) -> tuple[Sequence[Deposit], str | None]:
    stmt = select(Deposit).where(Deposit.account_id == account_id)
    return paginate(session, stmt, Deposit.created_at, Deposit.id, page)


# --- helpers -----------------------------------------------------------------------------------------------------


def _deposit_transfers(mined: MinedTransaction, config: DepositConfig) -> list[Transfer]:
    """The logs that are deposits, or an error saying why there are none."""
    deposits = [t for t in mined.transfers if t.token in config.tokens and t.recipient == config.address]
    if deposits:
        return deposits
    if any(t.recipient == config.address for t in mined.transfers):
        accepted = ", ".join(token.symbol for token in config.tokens.values()) or "none"
        raise Unprocessable(
            f"the transaction sends a token that is not accepted for deposits (accepted: {accepted})",
            code="token_not_accepted",
        )
    if any(t.token in config.tokens for t in mined.transfers):
        raise Unprocessable(
            f"the transaction sends tokens to another address, not the deposit address {config.address}",
            code="wrong_recipient",
        )
    raise Unprocessable("the transaction transfers no accepted token", code="no_token_transfer")


def _recheck_one(
    session: Session,
    settings: Settings,
    config: DepositConfig,
    chain: Chain,
    deposit: Deposit,
    mined: MinedTransaction | NotMined,
    head: int,
    now: datetime,
) -> int:
    deposit.checked_at = now
    if not isinstance(mined, MinedTransaction):
        return 0  # dropped from its block by a reorganisation: it may come back; look again later
    transfer = next((t for t in mined.transfers if t.log_index == deposit.log_index), None)
    still_there = (
        transfer is not None
        and transfer.token == deposit.token_address
        and transfer.recipient == config.address
        and transfer.sender == deposit.wallet_address
        and transfer.amount == int(deposit.amount_raw)
    )
    if not mined.succeeded or not still_there:
        deposit.status = DepositStatus.FAILED
        log.warning("deposit %s failed on re-check (transaction reverted or transfer changed)", deposit.id)
        return 0
    deposit.block_number, deposit.block_hash = mined.block_number, mined.block_hash
    return _confirm(session, settings, config, deposit, chain.confirmations(mined.block_number, head), now)


def _confirm(
    session: Session, settings: Settings, config: DepositConfig, deposit: Deposit, confirmations: int, now: datetime
) -> int:
    """Credit the deposit once it has enough confirmations (under its row lock: once, whoever gets there)."""
    deposit.confirmations = max(deposit.confirmations, confirmations)
    deposit.checked_at = now
    session.flush()
    if deposit.status != DepositStatus.PENDING or confirmations < config.confirmations or deposit.account_id is None:
        return 0
    locked = session.scalars(
        select(Deposit).where(Deposit.id == deposit.id).with_for_update().execution_options(populate_existing=True)
    ).one()
    if locked.status != DepositStatus.PENDING or locked.account_id is None:
        return 0
    applied = ledger.credit(
        session,
        settings,
        locked.account_id,
        locked.credits,
        source=EntrySource.DEPOSIT,
        idempotency_key=f"deposit:{locked.chain_id}:{locked.tx_hash}:{locked.log_index}",
        reference=str(locked.id),
        details={
            "chain_id": locked.chain_id,
            "tx_hash": locked.tx_hash,
            "log_index": locked.log_index,
            "token": locked.token_symbol,
            "amount_raw": str(locked.amount_raw),
        },
        now=now,
    )
    locked.status = DepositStatus.CREDITED
    locked.credited_at = now
    locked.ledger_entry_id = applied.entry.id
    session.flush()
    return 1 if applied.created else 0
