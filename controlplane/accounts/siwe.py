"""Sign-In with Ethereum (EIP-4361): parse a message, check it against this server, check its signature.

Parsing is the ``siwe`` package's ABNF parser (it refuses an address that is not in EIP-55 form, as the EIP
requires). The checks are ours: the domain and URI must be this server's, the chain one we accept, the times
current. The signature is an ordinary account's EIP-191 ``personal_sign`` of the message; when it does not recover
to the message's address and that address holds code on the message's chain, the contract is asked through
``ethereum_rpc_urls`` whether the signature is its own (EIP-1271 ``isValidSignature`` returning ``0x1626ba7e``).
Whether the nonce is one we issued is the caller's business (see ``wallets``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from eth_account import Account
from eth_account.messages import defunct_hash_message, encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError as EthValidationError
from pydantic import ValidationError
from siwe import SiweMessage
from siwe.siwe import datetime_from_iso8601_string
from web3 import HTTPProvider, Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, Web3Exception

from controlplane.errors import BadRequest, UpstreamError
from controlplane.settings import Settings

log = logging.getLogger(__name__)

EIP1271_MAGIC_VALUE = bytes.fromhex("1626ba7e")
EIP1271_ABI = [
    {
        "name": "isValidSignature",
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
        "outputs": [{"name": "", "type": "bytes4"}],
    }
]
_SIGNATURE_LENGTH = 65


@dataclass(frozen=True)
class CheckedMessage:
    """A message that passed every check but the nonce and the signature."""

    text: str
    address: str  # EIP-55
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None


def expected_domain(settings: Settings) -> str:
    return settings.siwe_domain or urlsplit(settings.public_url).netloc


def expected_uri(settings: Settings) -> str:
    return settings.siwe_uri or settings.public_url


def refused(code: str, message: str) -> BadRequest:
    return BadRequest(message, code=f"siwe_{code}")


def check_message(settings: Settings, text: str, now: datetime) -> CheckedMessage:
    """Parse ``text`` and check its domain, URI, chain and times; raises a 400 naming what is wrong."""
    message = _parse(text)
    domain = expected_domain(settings)
    if message.domain.lower() != domain.lower():
        raise refused("domain_mismatch", f"the message is for {message.domain!r}, not for {domain!r}")
    uri = expected_uri(settings)
    if message.scheme is not None and message.scheme != urlsplit(uri).scheme:
        raise refused("domain_mismatch", f"the message's scheme {message.scheme!r} is not this server's")
    if not _is_under(str(message.uri), uri):
        raise refused("uri_mismatch", f"the message's URI must be {uri!r} or a path under it")
    if message.chain_id not in settings.siwe_chain_ids:
        allowed = ", ".join(str(chain) for chain in settings.siwe_chain_ids)
        raise refused("chain_not_allowed", f"chain {message.chain_id} is not accepted here (accepted: {allowed})")
    issued_at = _time(message.issued_at, "Issued At")
    expiration = _time(message.expiration_time, "Expiration Time") if message.expiration_time else None
    not_before = _time(message.not_before, "Not Before") if message.not_before else None
    skew = timedelta(seconds=settings.siwe_clock_skew_s)
    if issued_at > now + skew:
        raise refused("not_yet_valid", "the message's Issued At is in the future")
    if issued_at < now - timedelta(seconds=settings.siwe_nonce_ttl_s) - skew:
        raise refused("expired", "the message was issued too long ago; sign a new one")
    if expiration is not None and now >= expiration:
        raise refused("expired", "the message's Expiration Time has passed")
    if not_before is not None and now < not_before:
        raise refused("not_yet_valid", "the message's Not Before time has not come yet")
    return CheckedMessage(text, message.address, message.chain_id, message.nonce, issued_at, expiration)


def check_signature(settings: Settings, message: CheckedMessage, signature: str) -> None:
    """The message's address signed it: EIP-191 recovery, or EIP-1271 for a contract wallet."""
    raw = _signature_bytes(signature)
    if _recovered(message.text, raw) == message.address:
        return
    rpc_url = settings.ethereum_rpc_urls.get(message.chain_id)
    if rpc_url is None or not _contract_accepts(settings, rpc_url, message, raw):
        raise refused("bad_signature", "the signature is not the message's address's")


def _parse(text: str) -> SiweMessage:
    try:
        return SiweMessage.from_message(text)
    except ValidationError as exc:
        if any(error["loc"][:1] == ("address",) for error in exc.errors()):
            raise refused(
                "address_not_checksummed",
                "the message's address must be in EIP-55 mixed-case checksum form, as EIP-4361 requires",
            ) from None
        raise refused("malformed", "the message is not an EIP-4361 sign-in message") from None
    except ValueError:  # the parser's own grammar errors
        raise refused("malformed", "the message is not an EIP-4361 sign-in message") from None


def _time(value: str, field: str) -> datetime:
    try:
        parsed: datetime = datetime_from_iso8601_string(value)
    except ValueError:
        raise refused("malformed", f"the message's {field} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise refused("malformed", f"the message's {field} needs a time zone offset")
    return parsed


def _is_under(uri: str, base: str) -> bool:
    if uri == base:
        return True
    return uri.startswith(base.rstrip("/") + "/")


def _signature_bytes(signature: str) -> bytes:
    try:
        return bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raise refused("bad_signature", "the signature is not hex") from None


def _recovered(text: str, signature: bytes) -> str | None:
    if len(signature) != _SIGNATURE_LENGTH:
        return None
    try:
        address: str = Account.recover_message(encode_defunct(text=text), signature=signature)
    except (ValueError, BadSignature, EthValidationError):
        return None
    return address


def _contract_accepts(settings: Settings, rpc_url: str, message: CheckedMessage, signature: bytes) -> bool:
    w3 = Web3(
        HTTPProvider(
            rpc_url,
            request_kwargs={"timeout": settings.ethereum_rpc_timeout_s},
            exception_retry_configuration=None,
        )
    )
    try:
        if not w3.eth.get_code(message.address):  # type: ignore[arg-type]
            return False
        node_chain = w3.eth.chain_id
        if node_chain != message.chain_id:
            log.error("the RPC for chain %s is on chain %s: check ethereum_rpc_urls", message.chain_id, node_chain)
            raise UpstreamError("the Ethereum node for this chain is misconfigured")
        wallet = w3.eth.contract(address=message.address, abi=EIP1271_ABI)  # type: ignore[call-overload]
        answer = wallet.functions.isValidSignature(defunct_hash_message(text=message.text), signature).call()
    except (ContractLogicError, BadFunctionCallOutput):
        return False
    except (Web3Exception, requests.RequestException) as exc:
        log.warning("EIP-1271 check on chain %s failed: %s", message.chain_id, type(exc).__name__)
        raise UpstreamError("the Ethereum node could not be reached; try again shortly") from None
    return bytes(answer) == EIP1271_MAGIC_VALUE
