"""Building EIP-4361 messages, signing them, and signing in through the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from controlplane.devstack.fake_twilio import FakeTwilioVerify

DOMAIN = "127.0.0.1:8000"  # the test settings' public_url, http://127.0.0.1:8000
URI = "http://127.0.0.1:8000/login"
PHONE = "+14155552671"
PHONE_AS_TYPED = "+1 (415) 555-2671"
OTHER_PHONE = "+12025550143"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def siwe_message(
    address: str,
    nonce: str,
    *,
    domain: str = DOMAIN,
    uri: str = URI,
    chain_id: int = 1,
    issued_at: datetime | None = None,
    expiration_time: datetime | None = None,
    not_before: datetime | None = None,
) -> str:
    """A message laid out as in EIP-4361's example (statement, then the fields, then resources)."""
    lines = [
        f"{domain} wants you to sign in with your Ethereum account:",
        address,
        "",
        "I accept the ServiceOrg Terms of Service: https://service.invalid/tos",
        "",
        f"URI: {uri}",
        "Version: 1",
        f"Chain ID: {chain_id}",
        f"Nonce: {nonce}",
        f"Issued At: {iso(issued_at or datetime.now(UTC))}",
    ]
    if expiration_time is not None:
        lines.append(f"Expiration Time: {iso(expiration_time)}")
    if not_before is not None:
        lines.append(f"Not Before: {iso(not_before)}")
    lines += [
        "Resources:",
        "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
        "- https://example.com/my-web2-claim.json",
    ]
    return "\n".join(lines)


def sign(key: LocalAccount, message: str) -> str:
    """EIP-191 personal_sign, as a wallet does it."""
    return "0x" + key.sign_message(encode_defunct(text=message)).signature.hex().removeprefix("0x")


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    code: str = body["error"]["code"]
    return code


@dataclass
class SignIn:
    """Signs in through the API, as a browser would."""

    client: TestClient
    twilio: FakeTwilioVerify

    def nonce(self) -> str:
        response = self.client.get("/v1/auth/siwe/nonce")
        assert response.status_code == 200, response.text
        nonce: str = response.json()["nonce"]
        return nonce

    def siwe_payload(self, key: LocalAccount, **message_fields: Any) -> dict[str, Any]:
        message = siwe_message(key.address, self.nonce(), **message_fields)
        return {"message": message, "signature": sign(key, message)}

    def with_wallet(self, key: LocalAccount, *, confirm_age_18: bool = True, **message_fields: Any) -> httpx.Response:
        body = {**self.siwe_payload(key, **message_fields), "confirm_age_18": confirm_age_18}
        return self.client.post("/v1/auth/siwe/verify", json=body)

    def with_phone(self, phone: str, *, confirm_age_18: bool = True) -> httpx.Response:
        started = self.client.post("/v1/auth/otp/start", json={"phone": phone})
        assert started.status_code == 202, started.text
        code = self.twilio.code_for(self.twilio.sent_to()[-1])
        body = {"phone": phone, "code": code, "confirm_age_18": confirm_age_18}
        return self.client.post("/v1/auth/otp/verify", json=body)

    def twice_with_wallet(self, key: LocalAccount) -> tuple[str, dict[str, str]]:
        """Two sessions of one wallet's account, as two browsers would have: the first one's cookie, and the CSRF
        header of the second, which the client now holds."""
        assert self.with_wallet(key).status_code == 200
        elsewhere = self.client.cookies["cp_session"]
        self.client.cookies.clear()
        return elsewhere, self.csrf_headers(self.with_wallet(key))

    def csrf_headers(self, response: httpx.Response) -> dict[str, str]:
        return {"X-CSRF-Token": response.json()["csrf_token"]}
