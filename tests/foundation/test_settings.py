import pytest
from pydantic import ValidationError

from controlplane.settings import Settings


def test_development_runs_with_built_in_secrets() -> None:
    assert Settings(env="development").session_secret.get_secret_value()


def test_production_refuses_every_development_secret() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env="production", database_url="postgresql://db/x", redis_url="redis://r:6379/0")
    message = str(caught.value)
    for name in ("SESSION_SECRET", "PHONE_HASH_PEPPER", "API_KEY_PEPPER", "STRIPE_WEBHOOK_SECRET"):
        assert f"CONTROLPLANE_{name}" in message


def test_production_accepts_real_secrets_and_servers() -> None:
    settings = Settings(
        env="production",
        database_url="postgresql://db/x",
        redis_url="redis://r:6379/0",
        session_secret="s" * 40,
        phone_hash_pepper="p" * 40,
        api_key_pepper="k" * 40,
        stripe_webhook_secret="whsec_" + "w" * 30,
        pulumi_config_passphrase="x" * 40,
    )
    assert settings.env == "production"


def test_production_needs_external_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "CONTROLPLANE_DATABASE_URL", "CONTROLPLANE_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="DATABASE_URL and REDIS_URL"):
        Settings(
            env="production",
            session_secret="s" * 40,
            phone_hash_pepper="p" * 40,
            api_key_pepper="k" * 40,
            stripe_webhook_secret="whsec_" + "w" * 30,
            pulumi_config_passphrase="x" * 40,
        )


def test_secrets_never_render_in_repr() -> None:
    assert "dev-session-secret" not in repr(Settings(env="development"))


def test_database_url_read_under_its_conventional_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    assert Settings().database_url == "postgresql://elsewhere/db"
