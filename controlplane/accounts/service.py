"""Accounts: sign-in (creating the account on first sign-in), the ways into an account, operator grants.

A way into an account is its phone (a keyed hash) or one of its wallets; an account always keeps at least one.
Changes to them lock the account row, so two concurrent unlinks cannot leave it with none. They are made by a
recently signed-in session (the API's ``RequireRecentSession``), end every other session of the account, and
tell the person in a notification.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from redis import Redis
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from web3 import Web3

from controlplane.accounts import phone, sessions, wallets
from controlplane.accounts.models import Account, Wallet
from controlplane.accounts.principal import Principal
from controlplane.accounts.twilio_verify import TwilioVerify
from controlplane.api.pagination import PageParams, paginate
from controlplane.db import utcnow
from controlplane.errors import Conflict, Forbidden, NotFound, Unprocessable
from controlplane.notifications import service as notifications
from controlplane.settings import Settings

AGE_FIELD = "confirm_age_18"


def create_account(session: Session, *, phone_hash: bytes | None = None) -> Account:
    account = Account(phone_hash=phone_hash, age_confirmed_at=utcnow())
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, account_id: uuid.UUID) -> Account:
    account = session.scalar(select(Account).where(Account.id == account_id).options(selectinload(Account.wallets)))
    if account is None:
        raise NotFound("no such account")
    return account


def set_operator(session: Session, account_id: uuid.UUID, is_operator: bool) -> Account:
    account = session.scalar(select(Account).where(Account.id == account_id).with_for_update())
    if account is None:
        raise NotFound(f"no account {account_id}")
    account.is_operator = is_operator
    return account


def list_accounts(session: Session, page: PageParams) -> tuple[Sequence[Account], str | None]:
    """Every account, newest first (operators only: the caller checks)."""
    return paginate(session, select(Account), Account.created_at, Account.id, page)


# --- Sign-in ----------------------------------------------------------------------------------------------------


def sign_in_with_phone(
    session: Session,
    redis: Redis,
    settings: Settings,
    verifier: TwilioVerify,
    *,
    phone_number: str,
    code: str,
    confirm_age_18: bool,
    replacing: str | None,
    device: sessions.Device | None = None,
) -> sessions.NewSession:
    """Check the code, then sign in to the number's account, creating it on first sign-in."""
    phone_hash = phone.verify_code(redis, settings, verifier, phone_number, code)
    account = session.scalar(select(Account).where(Account.phone_hash == phone_hash))
    new_account = account is None
    if account is None:
        _require_age(confirm_age_18, "this code is used up; request a new one")
        account = _in_savepoint(session, lambda: create_account(session, phone_hash=phone_hash))
        if account is None:  # a concurrent first sign-in with this number created it
            account = session.scalars(select(Account).where(Account.phone_hash == phone_hash)).one()
    return _start(session, settings, account, replacing, new_account, device)


def sign_in_with_wallet(
    session: Session,
    redis: Redis,
    settings: Settings,
    *,
    message: str,
    signature: str,
    confirm_age_18: bool,
    replacing: str | None,
    device: sessions.Device | None = None,
) -> sessions.NewSession:
    """Check the SIWE message and signature, then sign in to the wallet's account, creating it on first sign-in."""
    address = wallets.prove_wallet(redis, settings, message, signature)
    account = _account_of_wallet(session, address)
    new_account = account is None
    if account is None:
        _require_age(confirm_age_18, "this message's nonce is used up; sign a new message")

        def create() -> Account:
            created = create_account(session)
            return _add_wallet(session, created, address)

        account = _in_savepoint(session, create)
        if account is None:  # a concurrent first sign-in with this wallet created it
            account = session.scalars(_wallet_owner(address)).one()
    return _start(session, settings, account, replacing, new_account, device)


def _start(
    session: Session,
    settings: Settings,
    account: Account,
    replacing: str | None,
    new_account: bool,
    device: sessions.Device | None,
) -> sessions.NewSession:
    if account.status != "active":
        raise Forbidden("this account is not active", code="account_inactive")
    return sessions.start_session(
        session, settings, account, replacing=replacing, new_account=new_account, device=device
    )


def _require_age(confirmed: bool, consequence: str) -> None:
    if not confirmed:
        raise Unprocessable(
            f"new accounts are for people aged 18 or over: send {AGE_FIELD}: true to confirm ({consequence})",
            code="age_confirmation_required",
            details=[{"location": ["body", AGE_FIELD], "message": "must be true to create an account"}],
        )


def _in_savepoint(session: Session, change: Callable[[], Account]) -> Account | None:
    """Run ``change`` in a savepoint; None when a unique constraint refused it (another request got there first)."""
    try:
        with session.begin_nested():
            return change()
    except IntegrityError:
        return None


def _account_of_wallet(session: Session, address: str) -> Account | None:
    return session.scalar(_wallet_owner(address))


def _wallet_owner(address: str) -> Select[Account]:
    return select(Account).join(Wallet, Wallet.account_id == Account.id).where(Wallet.address == address)


# --- Linking and unlinking ---------------------------------------------------------------------------------------


def link_wallet(
    session: Session, redis: Redis, settings: Settings, by: Principal, *, message: str, signature: str
) -> Account:
    """Add the wallet that signed ``message`` to the account (same checks as signing in)."""
    address = wallets.prove_wallet(redis, settings, message, signature)
    account = _locked(session, by.account_id)
    owner = session.scalar(select(Wallet.account_id).where(Wallet.address == address))
    if owner == account.id:
        return account
    if owner is not None:
        raise _in_use("wallet")
    if (
        _in_savepoint(session, lambda: _add_wallet(session, account, address)) is None
    ):  # linked elsewhere in the meantime
        raise _in_use("wallet")
    _ways_in_changed(session, by, f"The wallet {_short(address)} was linked to your account.")
    return account


def _add_wallet(session: Session, account: Account, address: str) -> Account:
    account.wallets.append(Wallet(account_id=account.id, address=address))
    session.flush()
    return account


def unlink_wallet(session: Session, by: Principal, address: str) -> Account:
    account = _locked(session, by.account_id)
    wallet = next((w for w in account.wallets if w.address == _checksummed(address)), None)
    if wallet is None:
        raise NotFound("no such wallet on this account")
    if account.phone_hash is None and len(account.wallets) == 1:
        raise _last_way_in()
    account.wallets.remove(wallet)
    session.flush()
    _ways_in_changed(session, by, f"The wallet {_short(wallet.address)} was unlinked from your account.")
    return account


def start_phone_link(
    redis: Redis, settings: Settings, verifier: TwilioVerify, *, phone_number: str, client_ip: str
) -> None:
    phone.send_code(redis, settings, verifier, phone_number, client_ip)


def link_phone(
    session: Session,
    redis: Redis,
    settings: Settings,
    verifier: TwilioVerify,
    by: Principal,
    *,
    phone_number: str,
    code: str,
) -> Account:
    """Set the account's phone (replacing the one it had) once the code for it checks out."""
    phone_hash = phone.verify_code(redis, settings, verifier, phone_number, code)
    account = _locked(session, by.account_id)
    owner = session.scalar(select(Account.id).where(Account.phone_hash == phone_hash))
    if owner == account.id:
        return account
    if owner is not None:
        raise _in_use("phone number")
    if (
        _in_savepoint(session, lambda: _set_phone(session, account, phone_hash)) is None
    ):  # linked elsewhere in the meantime
        raise _in_use("phone number")
    _ways_in_changed(session, by, "A phone number was linked to your account (replacing any other).")
    return account


def _set_phone(session: Session, account: Account, phone_hash: bytes | None) -> Account:
    account.phone_hash = phone_hash
    session.flush()
    return account


def unlink_phone(session: Session, by: Principal) -> Account:
    account = _locked(session, by.account_id)
    if account.phone_hash is None:
        raise NotFound("this account has no phone number")
    if not account.wallets:
        raise _last_way_in()
    _set_phone(session, account, None)
    _ways_in_changed(session, by, "The phone number was unlinked from your account.")
    return account


def _ways_in_changed(session: Session, by: Principal, what: str) -> None:
    """A way in was added or removed: every other session ends, and the person is told."""
    ended = sessions.end_other_sessions(session, by.account_id, by.session_id)
    notifications.notify(
        session,
        by.account_id,
        "sign_in_methods_changed",
        "How you sign in has changed",
        f"{what} Every other session of your account was signed out ({ended}). "
        "If this was not you, sign in, remove what you do not recognise and revoke your API keys.",
        {"sessions_ended": ended},
    )


def _short(address: str) -> str:
    return f"{address[:6]}...{address[-4:]}"  # enough to recognise; the address itself is kept in one place


def _locked(session: Session, account_id: uuid.UUID) -> Account:
    account = session.scalar(
        select(Account)
        .where(Account.id == account_id)
        .with_for_update()
        .options(selectinload(Account.wallets))
        .execution_options(populate_existing=True)
    )
    if account is None:
        raise NotFound("no such account")
    return account


def _checksummed(address: str) -> str | None:
    if not Web3.is_address(address):
        return None
    return str(Web3.to_checksum_address(address))


def _in_use(what: str) -> Conflict:
    # Which account holds it is not said.
    return Conflict(f"this {what} is linked to another account", code=f"{what.replace(' ', '_')}_in_use")


def _last_way_in() -> Conflict:
    return Conflict(
        "this is the account's last way to sign in; link another wallet or a phone first", code="last_sign_in_method"
    )
