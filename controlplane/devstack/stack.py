"""The vendors' stand-ins ``controlplane dev`` runs, and the settings that point the real SDKs at them.

Each stand-in runs only when ``CONTROLPLANE_ENV=development`` and only while its vendor's real settings are absent:

- Twilio Verify, unless any of ``CONTROLPLANE_TWILIO_ACCOUNT_SID``/``_AUTH_TOKEN``/``_VERIFY_SERVICE_SID`` is set;
- Stripe, unless ``CONTROLPLANE_STRIPE_API_KEY`` is set;
- an Ethereum chain with a test ERC-20, unless ``CONTROLPLANE_DEPOSIT_RPC_URL`` is set.

The stand-ins are the same servers the test suite uses, and the service reaches them through the real SDKs (the
Twilio client's base URL, the Stripe client's base address, web3's HTTP provider), from the settings
:attr:`DevStack.settings_env` holds. Nothing else in the service knows they are not the vendors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controlplane.devstack.fake_stripe import FakeStripe, Webhook
from controlplane.devstack.fake_twilio import FakeTwilioVerify, SentCode
from controlplane.settings import Settings

if TYPE_CHECKING:
    from controlplane.devstack.chain import DevChain

DEV_CONFIRMATIONS = 3  # deposits on the dev chain, unless CONTROLPLANE_DEPOSIT_CONFIRMATIONS says otherwise
DEV_DEPOSIT_RECHECK_S = 5
MICRO_CREDITS_PER_TOKEN = 1_000_000  # one dev token buys one credit
_TWILIO = ("twilio_account_sid", "twilio_auth_token", "twilio_verify_service_sid")


class DevStackRefused(RuntimeError):
    """The stand-ins were asked for outside development."""


def refuse_outside_development(env: str) -> None:
    if env != "development":
        raise DevStackRefused(
            "the local vendor stand-ins (Twilio, Stripe, an Ethereum chain) and the development endpoints run only "
            f"with CONTROLPLANE_ENV=development; it is {env!r}"
        )


def mask_phone(e164: str) -> str:
    """``+14155552671`` -> ``+1******2671``: enough for a developer to tell their numbers apart."""
    return e164[:2] + "*" * max(0, len(e164) - 6) + e164[-4:]


@dataclass
class DevStack:
    twilio: FakeTwilioVerify | None = None
    stripe: FakeStripe | None = None
    chain: DevChain | None = None
    settings_env: dict[str, str] = field(default_factory=dict)  # CONTROLPLANE_* values pointing at the stand-ins

    @classmethod
    def start(cls, settings: Settings, say: Callable[[str], None]) -> DevStack:
        """Start the stand-ins whose vendor is not configured; ``say`` prints to the dev console."""
        refuse_outside_development(settings.env)
        stack = cls()
        try:
            if not any(name in settings.model_fields_set for name in _TWILIO):
                stack._start_twilio(say)
            if "stripe_api_key" not in settings.model_fields_set:
                stack._start_stripe(settings)
            if "deposit_rpc_url" not in settings.model_fields_set:
                stack._start_chain(settings, say)
        except BaseException:
            stack.stop()
            raise
        return stack

    def stop(self) -> None:
        for stand_in in (self.twilio, self.stripe, self.chain):
            if stand_in is not None:
                stand_in.stop()

    def _start_twilio(self, say: Callable[[str], None]) -> None:
        def print_code(sent: SentCode) -> None:
            say(f"SMS code {sent.code} to {mask_phone(sent.to)} (also at GET /v1/dev/phone-codes)")

        twilio = FakeTwilioVerify.start(on_code=print_code)
        self.twilio = twilio
        self.settings_env.update(
            CONTROLPLANE_TWILIO_ACCOUNT_SID=twilio.account_sid,
            CONTROLPLANE_TWILIO_AUTH_TOKEN=twilio.auth_token,
            CONTROLPLANE_TWILIO_VERIFY_SERVICE_SID=twilio.service_sid,
            CONTROLPLANE_TWILIO_VERIFY_BASE_URL=twilio.url,
        )

    def _start_stripe(self, settings: Settings) -> None:
        public = settings.public_url.rstrip("/")
        webhook = Webhook(f"{public}/v1/billing/webhooks/stripe", settings.stripe_webhook_secret.get_secret_value())
        stripe = FakeStripe.start(checkout_page=f"{public}/v1/dev/checkout/{{session_id}}", webhook=webhook)
        self.stripe = stripe
        self.settings_env.update(CONTROLPLANE_STRIPE_API_KEY=stripe.api_key, CONTROLPLANE_STRIPE_API_BASE=stripe.url)

    def _start_chain(self, settings: Settings, say: Callable[[str], None]) -> None:
        from controlplane.devstack.chain import TOKEN_DECIMALS, TOKEN_SYMBOL, DevChain, DevChainUnavailable

        given = settings.model_fields_set
        confirmations = settings.deposit_confirmations if "deposit_confirmations" in given else DEV_CONFIRMATIONS
        try:
            chain = DevChain.start(confirmations)
        except DevChainUnavailable as exc:
            say(f"no development chain: {exc}; on-chain deposits are off")
            return
        self.chain = chain
        token = {"address": chain.token_address, "symbol": TOKEN_SYMBOL, "decimals": TOKEN_DECIMALS,
                 "micro_credits_per_token": MICRO_CREDITS_PER_TOKEN}  # fmt: skip
        self.settings_env.update(
            CONTROLPLANE_DEPOSIT_CHAIN_ID=str(chain.chain_id),
            CONTROLPLANE_DEPOSIT_RPC_URL=chain.url,
            CONTROLPLANE_DEPOSIT_ADDRESS=chain.deposit_address,
            CONTROLPLANE_DEPOSIT_TOKENS=json.dumps([token]),
            CONTROLPLANE_DEPOSIT_CONFIRMATIONS=str(confirmations),
        )
        if "deposit_recheck_interval_s" not in given:
            self.settings_env["CONTROLPLANE_DEPOSIT_RECHECK_INTERVAL_S"] = str(DEV_DEPOSIT_RECHECK_S)
        # Wallets on the dev chain can sign in (SIWE) and contract wallets there can be checked (EIP-1271).
        if "siwe_chain_ids" not in given:
            self.settings_env["CONTROLPLANE_SIWE_CHAIN_IDS"] = json.dumps([*settings.siwe_chain_ids, chain.chain_id])
        if "ethereum_rpc_urls" not in given:
            urls = {str(chain_id): url for chain_id, url in settings.ethereum_rpc_urls.items()}
            self.settings_env["CONTROLPLANE_ETHEREUM_RPC_URLS"] = json.dumps({**urls, str(chain.chain_id): chain.url})

    def describe(self, settings: Settings) -> list[tuple[str, str]]:
        """What each vendor is in this run, for the dev console."""
        api = settings.public_url.rstrip("/")
        lines = []
        if self.twilio is not None:
            lines.append(("Phone codes", f"local Twilio stand-in: printed here, listed at {api}/v1/dev/phone-codes"))
        else:
            lines.append(("Phone codes", "Twilio Verify (CONTROLPLANE_TWILIO_* settings)"))
        if self.stripe is not None:
            lines.append(("Card top-ups", f"local Stripe stand-in: its checkout page ({api}/v1/dev/checkout/...) "
                                          "has a Pay button that sends the signed webhook"))  # fmt: skip
        else:
            lines.append(("Card top-ups", "Stripe (CONTROLPLANE_STRIPE_API_KEY)"))
        if self.chain is not None:
            chain = self.chain
            where = f"local chain {chain.chain_id} at {chain.url}: token DUSD {chain.token_address}"
            how = f"deposit address {chain.deposit_address}, {chain.confirmations} confirmations"
            faucet = f"POST {api}/v1/dev/faucet sends tokens to a wallet linked to your account"
            lines.append(("Deposits", f"{where}, {how}; {faucet}"))
        elif settings.deposit_rpc_url is not None:
            lines.append(("Deposits", f"chain {settings.deposit_chain_id} at CONTROLPLANE_DEPOSIT_RPC_URL"))
        else:
            lines.append(("Deposits", "off (no development chain; CONTROLPLANE_DEPOSIT_* settings name a real one)"))
        return lines
