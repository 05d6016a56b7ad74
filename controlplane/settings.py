"""Every setting of the service, in one typed class.

Values come from the environment with the ``CONTROLPLANE_`` prefix (``DATABASE_URL`` and ``REDIS_URL`` are also
read under their conventional names). Development secrets are built in so that ``controlplane dev`` works with no
configuration; outside development and test they are refused at start-up.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, PositiveInt, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]
_REPO_ROOT = Path(__file__).resolve().parent.parent

# Well-known values: safe only on a developer's machine or in the test suite.
DEV_SESSION_SECRET = "dev-session-secret-change-me"  # noqa: S105
DEV_PHONE_PEPPER = "dev-phone-pepper-change-me"
DEV_API_KEY_PEPPER = "dev-api-key-pepper-change-me"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_dev_change_me"  # noqa: S105
DEV_PULUMI_PASSPHRASE = "dev-pulumi-passphrase-change-me"  # noqa: S105

_DEV_SECRETS: dict[str, str] = {
    "session_secret": DEV_SESSION_SECRET,
    "phone_hash_pepper": DEV_PHONE_PEPPER,
    "api_key_pepper": DEV_API_KEY_PEPPER,
    "stripe_webhook_secret": DEV_STRIPE_WEBHOOK_SECRET,
    "pulumi_config_passphrase": DEV_PULUMI_PASSPHRASE,
}


class DepositToken(BaseModel):
    """An ERC-20 token accepted for deposits (see the billing settings): ``micro_credits_per_token`` per whole
    token, so a transfer of ``raw`` base units credits ``raw * micro_credits_per_token // 10**decimals``."""

    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    symbol: str = Field(min_length=1, max_length=20)
    decimals: int = Field(ge=0, le=36)
    micro_credits_per_token: int = Field(gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTROLPLANE_", extra="ignore", env_parse_none_str="null")

    env: Environment = "development"
    data_dir: Path = Path(".data")

    # Infrastructure. None means: start the embedded server under data_dir.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CONTROLPLANE_DATABASE_URL", "DATABASE_URL")
    )
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("CONTROLPLANE_REDIS_URL", "REDIS_URL"))
    database_pool_size: int = 10
    database_async_pool_size: int = Field(
        default=5, ge=1, description="the API's event-loop connections (credential lookups, pages of lists)"
    )
    database_connect_timeout_s: int = 3
    redis_socket_timeout_s: float = 3.0

    # HTTP
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 1_048_576
    request_id_header: str = "X-Request-ID"
    # Proxies (CIDRs) whose X-Forwarded-For names the client; none by default: the peer is the client. Set it to
    # the load balancer's networks, or every caller shares its address (and so its rate-limit buckets).
    trusted_proxies: list[str] = []
    idempotency_ttl_hours: int = 24

    # Secrets: development values are refused outside development and test.
    session_secret: SecretStr = SecretStr(DEV_SESSION_SECRET)
    phone_hash_pepper: SecretStr = SecretStr(DEV_PHONE_PEPPER)
    api_key_pepper: SecretStr = SecretStr(DEV_API_KEY_PEPPER)
    stripe_webhook_secret: SecretStr = SecretStr(DEV_STRIPE_WEBHOOK_SECRET)
    pulumi_config_passphrase: SecretStr = SecretStr(DEV_PULUMI_PASSPHRASE)

    # Sessions and API keys
    session_cookie_name: str = "cp_session"
    session_ttl_hours: int = 24 * 7
    # Changing how one signs in and deleting the account need a session that signed in this recently.
    recent_sign_in_s: int = Field(default=600, ge=30)

    # --- Sign-in: phone one-time codes (Twilio Verify) and Sign-In with Ethereum (EIP-4361) -------------------
    # Phone sign-in answers 503 until the account SID, auth token and Verify service SID are set.
    # twilio_verify_base_url stays None for Twilio itself; tests point it at a local stand-in.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_verify_service_sid: str | None = None
    twilio_verify_base_url: str | None = None
    twilio_timeout_s: float = 10.0
    otp_sends_per_number_per_hour: int = 5
    otp_sends_per_ip_per_hour: int = 20
    otp_wrong_codes_before_cooldown: int = 5  # per number; then codes for it are refused for otp_cooldown_s
    otp_cooldown_s: int = 900
    # A SIWE message must name this domain (host[:port]) and a URI under siwe_uri; both default to public_url's.
    siwe_domain: str | None = None
    siwe_uri: str | None = None
    siwe_chain_ids: list[int] = [1]
    siwe_nonce_ttl_s: int = 300  # also the oldest "Issued At" accepted
    siwe_clock_skew_s: int = 60
    siwe_nonces_per_ip_per_hour: int = 300
    # Ethereum JSON-RPC endpoints by chain id, e.g. CONTROLPLANE_ETHEREUM_RPC_URLS='{"1": "https://..."}'. SIWE uses
    # them for contract wallets (EIP-1271); a chain without one accepts only ordinary accounts' signatures.
    ethereum_rpc_urls: dict[int, str] = {}
    ethereum_rpc_timeout_s: float = 10.0
    # --- end of sign-in settings ------------------------------------------------------------------------------

    # --- Reconcile: the engine, its locks and retries ---------------------------------------------------------
    engine: str = "controlplane.engine.pulumi_engine:PulumiEngine"  # module:Class implementing engine.Engine
    pulumi_root: Path | None = None  # a folder with bin/pulumi; None: pulumi and its plugins are found on PATH
    pulumi_backend_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CONTROLPLANE_PULUMI_BACKEND_URL", "PULUMI_BACKEND_URL")
    )  # None: file:// under data_dir; s3:// or postgres:// in production
    pulumi_secrets_provider: str = "passphrase"  # awskms://... in production
    policy_pack_dir: Path | None = _REPO_ROOT / "policies"
    operation_timeout_s: int = 900
    stack_lock_lease_s: int = 60
    reconcile_max_attempts: int = 5  # consecutive failures before the namespace is marked stalled
    retry_base_delay_s: float = 5.0
    retry_max_delay_s: float = 600.0
    resync_interval_s: int = 60
    # Admission runs the policy pack on what the program would declare before a change is accepted (tens of ms
    # per write under Pulumi's mocks). Off only where every update's own policy run is thought enough.
    admission_policy_check: bool = True
    drift_check_interval_s: int = 6 * 3600

    # --- The platform the tenant stacks run on (outputs of the platform stack) --------------------------------
    # With platform_stack set, its outputs replace these values (read through the Automation API and cached).
    platform_stack: str | None = None
    platform_outputs_cache_s: int = 300
    platform_base_domain: str = "apps.controlplane.test"
    platform_ingress_class: str = "nginx"
    platform_ingress_namespace: str = "ingress-nginx"
    platform_storage_class: str = "gp3-encrypted"
    platform_cluster_private_cidrs: list[str] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    platform_kubernetes_version: str = "1.34"
    platform_kubeconfig: SecretStr | None = None
    # Without a kubeconfig the manifests are written here instead of applied (development and end-to-end tests).
    platform_render_dir: Path | None = None
    platform_max_volume_size_gib: int = 100
    platform_allowed_registries: list[str] = []
    # The platform's own DNS zones besides the base domain (its API, its site): no custom domain is one of them or
    # under one of them.
    platform_reserved_zones: list[str] = ["controlplane.test"]
    # False only for clusters without workload controllers (a bare API server in tests): see KubernetesProviderSettings.
    platform_await_readiness: bool = True
    cloudflare_api_token: SecretStr | None = None
    cloudflare_zone_id: str | None = None
    cloudflare_load_balancer_hostname: str | None = None
    cloudflare_base_url: str | None = None
    # --- end of reconcile and platform settings ---------------------------------------------------------------

    # --- The fleet: rollouts in waves, and metrics ------------------------------------------------------------
    # A rollout updates the stacks whose applied digest differs: a canary wave of this share (at least one stack),
    # then waves growing by rollout_wave_growth; a wave whose failed share passes the threshold pauses it.
    rollout_canary_percent: float = Field(default=1.0, gt=0, le=100)
    rollout_wave_growth: float = Field(default=2.0, ge=1)
    rollout_failure_threshold: float = Field(default=0.1, ge=0, le=1)
    rollout_advance_interval_s: int = Field(default=5, ge=1)
    # Where every process of this host writes its metrics for the API's /metrics (None: <data_dir>/metrics).
    metrics_dir: Path | None = None
    # --- end of fleet settings --------------------------------------------------------------------------------
    # --- Custom domains: ownership proved by a DNS TXT challenge -----------------------------------------------
    # Resolvers asked for `_controlplane-challenge.<domain>`, as "ip" or "ip:port" (recursive resolvers the workers
    # can reach; tests point at a local server).
    domain_verification_resolvers: list[str] = ["1.1.1.1", "8.8.8.8"]
    domain_verification_timeout_s: float = 5.0
    domain_check_interval_s: int = 300  # how often the scheduler looks for domains to check
    domain_pending_check_days: int = 7  # pending domains are checked by the scheduler for this long after the claim
    domain_recheck_interval_s: int = 24 * 3600  # a verified domain's record is checked again this often
    domain_recheck_grace_hours: int = 72  # a verified domain whose record is gone is unrouted after this long
    domain_reservation_grace_days: int = 30  # a deleted namespace's verified domains stay reserved this long
    # --- end of custom domain settings --------------------------------------------------------------------------

    # --- Revisions: every accepted desired-state change of a namespace ------------------------------------------
    revision_history_limit: int = Field(default=100, ge=1)  # newest revisions kept per namespace (the running one too)
    revision_prune_interval_s: int = 3600
    # --- end of revision settings ---------------------------------------------------------------------------------

    # --- Billing: credits, prices, card top-ups (Stripe), on-chain deposits, the zero-balance lifecycle -------
    # Money is integer micro-credits everywhere (1 credit = 1,000,000 micro-credits); no floats. A credit is worth
    # one unit of checkout_currency, so a card top-up of N minor units (cents) buys N * micro_credits_per_minor_unit.
    price_vcpu_hour: int = Field(default=30_000, ge=0)  # micro-credits per vCPU-hour (cpu_millicores x replicas)
    price_memory_gib_hour: int = Field(default=4_000, ge=0)  # micro-credits per GiB-hour of memory (x replicas)
    price_volume_gib_month: int = Field(default=100_000, ge=0)  # micro-credits per GiB-month of volume
    hours_per_month: int = Field(default=730, ge=1)  # a GiB-month costs hours_per_month GiB-hours
    metering_interval_s: int = 300  # how often the scheduler looks for complete hours not yet charged
    metering_max_catch_up_hours: int = 24  # after an outage, older uncharged hours are skipped (and logged)
    # Runway: the hours the balance lasts at the current hourly price. A notice at each of these runways, once per
    # crossing (re-armed when the runway rises above it again), with the predicted suspension time.
    runway_notice_hours: list[PositiveInt] = Field(default=[72, 24, 2], min_length=1)
    # A change that raises the price is refused (402 insufficient_credits) when it would leave less runway than this.
    min_runway_hours: int = Field(default=1, ge=0)
    volume_release_after_hours: int = 24  # volumes are deleted this long after a zero-balance suspension
    lifecycle_sweep_interval_s: int = 300
    # Stripe Checkout: card top-ups answer 503 until stripe_api_key is set. stripe_api_base stays None for Stripe
    # itself; tests point it at a local stand-in. The webhook secret is stripe_webhook_secret, above.
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = None
    stripe_timeout_s: float = 20.0
    stripe_webhook_tolerance_s: int = 300  # signed timestamps older than this are refused (replays)
    checkout_currency: str = "usd"
    micro_credits_per_minor_unit: int = Field(default=10_000, ge=1)  # 1 cent = 10,000 micro-credits
    checkout_min_amount: int = 500  # minor units of checkout_currency
    checkout_max_amount: int = 1_000_000
    checkout_success_url: str | None = None  # None: public_url + /billing?checkout=success
    checkout_cancel_url: str | None = None  # None: public_url + /billing?checkout=cancelled
    # On-chain deposits answer 503 until the chain id, its RPC URL and the platform's deposit address are set.
    # Tokens as JSON, e.g. CONTROLPLANE_DEPOSIT_TOKENS='[{"address": "0x...", "symbol": "USDC", "decimals": 6,
    # "micro_credits_per_token": 1000000}]'.
    deposit_chain_id: int | None = None
    deposit_rpc_url: str | None = None
    deposit_rpc_timeout_s: float = 10.0
    deposit_address: str | None = None
    deposit_tokens: list[DepositToken] = []
    deposit_confirmations: int = Field(default=12, ge=1)
    deposit_recheck_interval_s: int = 30
    deposit_submissions_per_hour: int = 120  # per account: each one costs calls to the Ethereum node
    # --- end of billing settings --------------------------------------------------------------------------------

    # --- Development (controlplane dev) --------------------------------------------------------------------------
    # Run in the background when the engine's tools are missing; its last stdout line is PATH_ADD=<folders>.
    dev_install_tools: Path = _REPO_ROOT / "scripts" / "install-tools"
    # --- end of development settings ----------------------------------------------------------------------------

    # --- Privacy: API usage logs and retention ----------------------------------------------------------------
    api_log_client_address: Literal["truncate", "hash", "none"] = "truncate"  # truncate: IPv4 /24, IPv6 /48
    api_log_retention_days: int = 90
    retention_batch_size: int = 5000  # rows deleted per statement by the retention jobs
    # --- end of privacy settings ------------------------------------------------------------------------------

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)  # a ValueError names the bad entry
        return value

    @property
    def is_development(self) -> bool:
        return self.env in ("development", "test")

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.resolve()

    @property
    def resolved_metrics_dir(self) -> Path:
        return (self.metrics_dir or self.data_dir / "metrics").resolve()

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> Settings:
        if self.is_development:
            return self
        still_default = [
            name for name, dev_value in _DEV_SECRETS.items() if getattr(self, name).get_secret_value() == dev_value
        ]
        if still_default:
            names = ", ".join(f"CONTROLPLANE_{name.upper()}" for name in still_default)
            raise ValueError(f"development secrets are refused when env={self.env}: set {names}")
        if self.database_url is None or self.redis_url is None:
            raise ValueError(f"env={self.env} needs DATABASE_URL and REDIS_URL; embedded servers are for development")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
