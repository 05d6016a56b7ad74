"""Every setting of the service, in one typed class.

Values come from the environment with the ``CONTROLPLANE_`` prefix (``DATABASE_URL`` and ``REDIS_URL`` are also
read under their conventional names). Development secrets are built in so that ``controlplane dev`` works with no
configuration; outside development and test they are refused at start-up.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTROLPLANE_", extra="ignore")

    env: Environment = "development"
    data_dir: Path = Path(".data")

    # Infrastructure. None means: start the embedded server under data_dir.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CONTROLPLANE_DATABASE_URL", "DATABASE_URL")
    )
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("CONTROLPLANE_REDIS_URL", "REDIS_URL"))
    database_pool_size: int = 10
    database_connect_timeout_s: int = 3
    redis_socket_timeout_s: float = 3.0

    # HTTP
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 1_048_576
    request_id_header: str = "X-Request-ID"
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
    cloudflare_api_token: SecretStr | None = None
    cloudflare_zone_id: str | None = None
    cloudflare_load_balancer_hostname: str | None = None
    cloudflare_base_url: str | None = None
    # --- end of reconcile and platform settings ---------------------------------------------------------------

    @property
    def is_development(self) -> bool:
        return self.env in ("development", "test")

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.resolve()

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
