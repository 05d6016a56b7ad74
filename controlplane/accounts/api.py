"""Account endpoints: sign-in and sessions, the account and its ways in, API keys, and the operators' view.

Sign-in answers set the session cookie (the only cookie: ``HttpOnly``, ``SameSite=Lax``, host-only, ``Secure``
outside development) and return the CSRF token that cookie-authenticated writes must echo in ``X-CSRF-Token``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from controlplane.accounts import api_keys, phone, service, sessions, wallets
from controlplane.accounts.models import Account, ApiKey
from controlplane.accounts.principal import (
    AnyCaller,
    OperatorReader,
    Principal,
    Public,
    RecentSession,
    RequireScope,
    SessionPrincipal,
    check_origin,
)
from controlplane.accounts.scopes import KNOWN_SCOPES, Access
from controlplane.accounts.twilio_verify import TwilioVerify
from controlplane.api.client_address import reduce_client_address
from controlplane.api.contract import answers
from controlplane.api.deps import PageDep, PageReaderDep, RuntimeDep, SessionDep, SettingsDep
from controlplane.api.pagination import columns_for
from controlplane.api.schemas import ApiModel, Page, ResponseModel, json_response
from controlplane.api.text import NO_CONTROL_CHARACTERS_BUT_LINE_BREAKS, Line, Timestamp
from controlplane.settings import Settings

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])
auth_router = APIRouter(prefix="/v1/auth", tags=["sign-in"])
account_router = APIRouter(prefix="/v1/account", tags=["account"])
operator_router = APIRouter(prefix="/v1/operator", tags=["operator"])

ReadKeys = Annotated[Principal, Depends(RequireScope("api-keys", Access.READ))]

# Why the sign-in and linking routes refuse, for their OpenAPI responses.
CROSS_ORIGIN = "Sent from another site's page (`csrf_failed`)"
CROSS_ORIGIN_OR_INACTIVE = "Sent from another site's page, or the account is not active"
SENDS_LIMITED = "Too many codes requested for this number or from this address"
CODES_LIMITED = "Too many wrong codes for this number: a cool-down"
WRONG_CODE = "The code is wrong or has expired (`invalid_code`)"
TWILIO_FAILED = "Twilio failed or could not be reached"
SIWE_REFUSED = "The message or signature is refused (`siwe_*`)"
CHAIN_FAILED = "The Ethereum node (for a contract wallet) failed or could not be reached"
LAST_WAY_IN = "The account's last way to sign in (`last_sign_in_method`)"
WriteKeys = Annotated[Principal, Depends(RequireScope("api-keys", Access.WRITE))]


def _known_scope(value: str) -> str:
    if value not in KNOWN_SCOPES:
        raise ValueError(f"unknown scope {value!r}; one of {', '.join(sorted(KNOWN_SCOPES))}")
    return value


ScopeName = Annotated[
    str, AfterValidator(_known_scope), WithJsonSchema({"type": "string", "enum": sorted(KNOWN_SCOPES)})
]


class ApiKeyCreate(ApiModel):
    name: Annotated[Line, Field(min_length=1, max_length=100, description="Free text, kept as written")]
    scopes: list[ScopeName] = Field(min_length=1, max_length=20)
    expires_at: Timestamp | None = Field(default=None, description="In the future")


class ApiKeyOut(ResponseModel):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. It is shown this once and cannot be recovered.")


NO_STORE = {"Cache-Control": "no-store"}  # shows a secret once: no cache, no idempotent replay, keeps it


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Create an API key (shown once)",
    description=(
        "The new key holds only scopes the caller holds itself (write includes read), and a key that expires "
        "creates keys that expire no later. The answer is never replayed for an `Idempotency-Key`: a retry gets "
        "409 `idempotent_secret_not_replayable`."
    ),
)
def create_api_key(body: ApiKeyCreate, principal: WriteKeys, session: SessionDep, settings: SettingsDep) -> Response:
    issued = api_keys.issue_api_key(
        session, settings, principal, name=body.name, scopes=body.scopes, expires_at=body.expires_at
    )
    created = ApiKeyCreated(**ApiKeyOut.model_validate(issued.row).model_dump(), key=issued.key)
    response = json_response(created, status.HTTP_201_CREATED)
    response.headers.update(NO_STORE)
    return response


@router.get("", response_model=Page[ApiKeyOut])
async def list_api_keys(principal: ReadKeys, reader: PageReaderDep, page: PageDep) -> Response:
    stmt = api_keys.listing(principal.account_id, columns_for(ApiKeyOut, ApiKey))
    rows, next_cursor = await reader.page(stmt, ApiKey.created_at, ApiKey.id, page)
    return json_response(
        Page[ApiKeyOut](items=[ApiKeyOut.model_validate(row) for row in rows], next_cursor=next_cursor)
    )


@router.delete("/{key_id}", response_model=ApiKeyOut)
def revoke_api_key(key_id: uuid.UUID, principal: WriteKeys, session: SessionDep) -> ApiKeyOut:
    return ApiKeyOut.model_validate(api_keys.revoke_api_key(session, principal.account_id, key_id))


# --- Shared dependencies and shapes -------------------------------------------------------------------------------
# (Dependencies that do no I/O are ``async``, as in ``controlplane.api.deps``: no thread-pool hop for them.)

ReadAccount = Annotated[Principal, Depends(RequireScope("account", Access.READ))]
WriteAccount = Annotated[Principal, Depends(RequireScope("account", Access.WRITE))]


async def get_phone_verifier(settings: SettingsDep) -> TwilioVerify:
    return TwilioVerify.from_settings(settings)


PhoneVerifier = Annotated[TwilioVerify, Depends(get_phone_verifier)]


async def same_origin(request: Request, settings: SettingsDep) -> None:
    """Sign-in from another site's page is refused, so nobody can sign a visitor in to the wrong account."""
    check_origin(request, settings)


SIGNING_IN = Public("signing in: the phone code or the wallet's signature is the credential")


async def client_ip(request: Request) -> str:
    """The caller's address as ``controlplane.api.client_address`` resolved it (trusted proxies only)."""
    address: str | None = getattr(request.state, "client_address", None)
    return address or "unknown"


ClientIp = Annotated[str, Depends(client_ip)]


async def sign_in_device(request: Request, ip: ClientIp, settings: SettingsDep) -> sessions.Device:
    """What the person will see of this sign-in in their list of sessions."""
    user_agent = request.headers.get("user-agent", "")[:200] or None
    return sessions.Device(user_agent=user_agent, client=reduce_client_address(settings, ip))


SignInDevice = Annotated[sessions.Device, Depends(sign_in_device)]

# Kept as typed ("+1 (415) 555-2671", spaces around it included): the phone module normalises it to E.164.
PhoneField = Annotated[Line, Field(min_length=3, max_length=32, description="International format, e.g. +14155552671")]
CodeField = Annotated[str, Field(pattern=r"^[0-9A-Za-z]{4,10}$", description="The code received by SMS")]
AgeField = Annotated[
    bool, Field(description="Must be true when this sign-in creates an account: the service is for adults")
]
# Line breaks are part of the message; the signature covers it byte for byte.
MessageField = Annotated[
    str,
    StringConstraints(pattern=NO_CONTROL_CHARACTERS_BUT_LINE_BREAKS),
    Field(min_length=1, max_length=4096, description="The EIP-4361 message, exactly as signed"),
]
SignatureField = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]*$", max_length=2 + 2 * 4096)]


class WalletOut(ResponseModel):
    address: str = Field(description="EIP-55 checksummed")
    created_at: datetime


class AccountOut(ResponseModel):
    id: uuid.UUID
    created_at: datetime
    age_confirmed_at: datetime
    has_phone: bool = Field(description="The number itself is not kept, only a keyed hash of it")
    wallets: list[WalletOut]
    is_operator: bool

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            id=account.id,
            created_at=account.created_at,
            age_confirmed_at=account.age_confirmed_at,
            has_phone=account.phone_hash is not None,
            wallets=[WalletOut.model_validate(wallet) for wallet in account.wallets],
            is_operator=account.is_operator,
        )


class SignedIn(ResponseModel):
    account: AccountOut
    new_account: bool
    csrf_token: str = Field(description="Echo it in X-CSRF-Token on state-changing requests made with the cookie")
    expires_at: datetime


def _signed_in(response: Response, settings: Settings, new: sessions.NewSession) -> SignedIn:
    response.headers.update(NO_STORE)
    response.set_cookie(
        settings.session_cookie_name,
        new.token,
        max_age=settings.session_ttl_hours * 3600,
        path="/",
        secure=not settings.is_development,
        httponly=True,
        samesite="lax",
    )
    return SignedIn(
        account=AccountOut.of(new.account),
        new_account=new.new_account,
        csrf_token=new.csrf_token,
        expires_at=new.expires_at,
    )


# --- Sign-in: phone one-time codes ---------------------------------------------------------------------------------


class OtpStart(ApiModel):
    phone: PhoneField


class OtpStarted(ResponseModel):
    status: Literal["pending"] = "pending"
    message: str = "if this number can receive SMS, a code is on its way"


class OtpVerify(ApiModel):
    phone: PhoneField
    code: CodeField
    confirm_age_18: AgeField = False


@auth_router.post(
    "/otp/start",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OtpStarted,
    dependencies=[Depends(SIGNING_IN), Depends(same_origin)],
    summary="Text a one-time code to a phone number",
    responses=answers({403: CROSS_ORIGIN, 429: SENDS_LIMITED, 502: TWILIO_FAILED}),
)
def start_phone_sign_in(body: OtpStart, runtime: RuntimeDep, verifier: PhoneVerifier, ip: ClientIp) -> OtpStarted:
    phone.send_code(runtime.redis, runtime.settings, verifier, body.phone, ip)
    return OtpStarted()


@auth_router.post(
    "/otp/verify",
    response_model=SignedIn,
    dependencies=[Depends(SIGNING_IN), Depends(same_origin)],
    summary="Sign in with the code (creating the account on first sign-in)",
    responses=answers({400: WRONG_CODE, 403: CROSS_ORIGIN_OR_INACTIVE, 429: CODES_LIMITED, 502: TWILIO_FAILED}),
)
def verify_phone_sign_in(
    body: OtpVerify,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    verifier: PhoneVerifier,
    device: SignInDevice,
) -> SignedIn:
    settings = runtime.settings
    new = service.sign_in_with_phone(
        session,
        runtime.redis,
        settings,
        verifier,
        phone_number=body.phone,
        code=body.code,
        confirm_age_18=body.confirm_age_18,
        replacing=request.cookies.get(settings.session_cookie_name),
        device=device,
    )
    return _signed_in(response, settings, new)


# --- Sign-in: Sign-In with Ethereum --------------------------------------------------------------------------------


class NonceOut(ResponseModel):
    nonce: str = Field(description="Put it in the message's Nonce field; it is good once")
    expires_at: datetime
    domain: str = Field(description="The message's domain must be this")
    uri: str = Field(description="The message's URI must be this, or a path under it")
    chain_ids: list[int] = Field(description="Chains whose messages are accepted")


class SiweSignIn(ApiModel):
    message: MessageField
    signature: SignatureField
    confirm_age_18: AgeField = False


class WalletProof(ApiModel):
    message: MessageField
    signature: SignatureField


@auth_router.get(
    "/siwe/nonce",
    response_model=NonceOut,
    dependencies=[Depends(SIGNING_IN)],
    summary="A single-use nonce for a SIWE message",
    responses=answers({429: "Too many nonces from this address"}),
)
def siwe_nonce(runtime: RuntimeDep, ip: ClientIp) -> NonceOut:
    return NonceOut.model_validate(wallets.issue_nonce(runtime.redis, runtime.settings, ip))


@auth_router.post(
    "/siwe/verify",
    response_model=SignedIn,
    dependencies=[Depends(SIGNING_IN), Depends(same_origin)],
    summary="Sign in with a signed EIP-4361 message (creating the account on first sign-in)",
    responses=answers({400: SIWE_REFUSED, 403: CROSS_ORIGIN_OR_INACTIVE, 502: CHAIN_FAILED}),
)
def siwe_sign_in(
    body: SiweSignIn,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    device: SignInDevice,
) -> SignedIn:
    settings = runtime.settings
    new = service.sign_in_with_wallet(
        session,
        runtime.redis,
        settings,
        message=body.message,
        signature=body.signature,
        confirm_age_18=body.confirm_age_18,
        replacing=request.cookies.get(settings.session_cookie_name),
        device=device,
    )
    return _signed_in(response, settings, new)


# --- Sessions ------------------------------------------------------------------------------------------------------


class SessionOut(ResponseModel):
    account_id: uuid.UUID
    is_operator: bool
    authenticated_by: Literal["session", "api_key"]
    expires_at: datetime | None
    csrf_token: str | None = Field(description="The session's CSRF token (null for API keys)")


@auth_router.get("/session", response_model=SessionOut, summary="Who is signed in")
def who_is_signed_in(principal: AnyCaller, request: Request, session: SessionDep, settings: SettingsDep) -> SessionOut:
    cookie = request.cookies.get(settings.session_cookie_name)
    return SessionOut.model_validate(sessions.signed_in_as(session, settings, principal, cookie))


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End this session")
def logout(principal: SessionPrincipal, session: SessionDep, settings: SettingsDep) -> Response:
    assert principal.session_id is not None
    sessions.end_session(session, principal.account_id, principal.session_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        settings.session_cookie_name, path="/", secure=not settings.is_development, httponly=True, samesite="lax"
    )
    return response


class SessionInfo(ResponseModel):
    id: uuid.UUID
    created_at: datetime = Field(description="When this sign-in happened")
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str | None
    client: str | None = Field(description="The address it signed in from, reduced (IPv4 /24, IPv6 /48)")
    current: bool = Field(description="The session making this request")


class SessionsEnded(ResponseModel):
    ended: int


@account_router.get("/sessions", response_model=Page[SessionInfo], summary="Where this account is signed in")
def list_sessions(principal: ReadAccount, session: SessionDep, page: PageDep) -> Response:
    rows, next_cursor = sessions.list_sessions(session, principal.account_id, page)
    items = [SessionInfo.model_validate({**_fields(row), "current": row.id == principal.session_id}) for row in rows]
    return json_response(Page[SessionInfo](items=items, next_cursor=next_cursor))


def _fields(row: object) -> dict[str, object]:
    return {name: getattr(row, name) for name in SessionInfo.model_fields if name != "current"}


@account_router.delete(
    "/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, summary="End one of this account's sessions"
)
def end_session(session_id: uuid.UUID, principal: WriteAccount, session: SessionDep) -> Response:
    sessions.end_session(session, principal.account_id, session_id, must_exist=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@account_router.delete(
    "/sessions",
    response_model=SessionsEnded,
    summary="Sign out everywhere else",
    description="Ends every session of the account except the one making the request (with a key: every one).",
)
def end_other_sessions(principal: WriteAccount, session: SessionDep) -> SessionsEnded:
    return SessionsEnded(ended=sessions.end_other_sessions(session, principal.account_id, principal.session_id))


# --- The account and its ways in -----------------------------------------------------------------------------------
# Adding or removing a way in needs a session that signed in recently, never an API key, and ends every other
# session of the account (the person is told in a notification).


class PhoneLink(ApiModel):
    phone: PhoneField
    code: CodeField


AddressPath = Annotated[Line, Path(min_length=1, max_length=42, description="The wallet's address")]


@account_router.get("", response_model=AccountOut, summary="The signed-in account")
def read_account(principal: ReadAccount, session: SessionDep) -> AccountOut:
    return AccountOut.of(service.get_account(session, principal.account_id))


@account_router.post(
    "/wallets",
    response_model=AccountOut,
    summary="Link a wallet (a signed SIWE message)",
    responses=answers({400: SIWE_REFUSED, 409: "The wallet is linked to another account", 502: CHAIN_FAILED}),
)
def link_wallet(body: WalletProof, principal: RecentSession, runtime: RuntimeDep, session: SessionDep) -> AccountOut:
    account = service.link_wallet(
        session, runtime.redis, runtime.settings, principal, message=body.message, signature=body.signature
    )
    return AccountOut.of(account)


@account_router.delete(
    "/wallets/{address}", response_model=AccountOut, summary="Unlink a wallet", responses=answers({409: LAST_WAY_IN})
)
def unlink_wallet(address: AddressPath, principal: RecentSession, session: SessionDep) -> AccountOut:
    return AccountOut.of(service.unlink_wallet(session, principal, address))


@account_router.post(
    "/phone/start",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OtpStarted,
    summary="Text a code to the phone number to link",
    responses=answers({429: SENDS_LIMITED, 502: TWILIO_FAILED}),
)
def start_phone_link(
    body: OtpStart, _principal: RecentSession, runtime: RuntimeDep, verifier: PhoneVerifier, ip: ClientIp
) -> OtpStarted:
    service.start_phone_link(runtime.redis, runtime.settings, verifier, phone_number=body.phone, client_ip=ip)
    return OtpStarted()


@account_router.post(
    "/phone/verify",
    response_model=AccountOut,
    summary="Link the phone number with its code (replacing any other)",
    responses=answers(
        {400: WRONG_CODE, 409: "The number is linked to another account", 429: CODES_LIMITED, 502: TWILIO_FAILED}
    ),
)
def link_phone(
    body: PhoneLink, principal: RecentSession, runtime: RuntimeDep, session: SessionDep, verifier: PhoneVerifier
) -> AccountOut:
    account = service.link_phone(
        session, runtime.redis, runtime.settings, verifier, principal, phone_number=body.phone, code=body.code
    )
    return AccountOut.of(account)


@account_router.delete(
    "/phone",
    response_model=AccountOut,
    summary="Unlink the phone number",
    responses=answers({404: "The account has no phone number", 409: LAST_WAY_IN}),
)
def unlink_phone(principal: RecentSession, session: SessionDep) -> AccountOut:
    return AccountOut.of(service.unlink_phone(session, principal))


# --- Operators -----------------------------------------------------------------------------------------------------


class OperatorAccountOut(ResponseModel):
    id: uuid.UUID
    created_at: datetime
    status: str


@operator_router.get("/accounts", response_model=Page[OperatorAccountOut], summary="Every account (operators only)")
def list_accounts(_operator: OperatorReader, session: SessionDep, page: PageDep) -> Response:
    rows, next_cursor = service.list_accounts(session, page)
    return json_response(
        Page[OperatorAccountOut](
            items=[OperatorAccountOut.model_validate(row) for row in rows], next_cursor=next_cursor
        )
    )
