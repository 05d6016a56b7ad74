"""Schemathesis against the app: the OpenAPI document is the contract, and the server keeps it.

Every operation gets generated requests (valid and invalid ones, a fixed seed, a bounded number of examples), sent
to the in-process app with an API key of an account that holds every scope and is an operator, on real commits.
A case fails on any 5xx, a response that breaks its schema (status, content type, body), an invalid request
accepted, an unsupported method not answered 405 with ``Allow``, and a valid request refused without the schema
saying so: a 4xx status the operation does not document, or a shape error (``validation_error``) for a request
the schema allows.

The exceptions, each a rule no JSON Schema can state (so the server names it with a code of its own):
- a 422 whose code is not ``validation_error``: a rule across fields (two ports with one number, an app's hostname
  label too long for its namespace), the platform's policy, or the stored state (a volume cannot shrink);
- a 400 documented for the operation: a value well formed but not this server's (a cursor it did not issue, a
  wrong one-time code, a SIWE message it cannot read);
- 409 and 404 (a name taken, a resource that does not exist), as schemathesis itself allows;
- 402 (a change whose price the balance would not cover for `min_runway_hours`): the account is funded, but
  generated replica counts and sizes can price a namespace beyond any balance.
Hypothesis's health checks about generating data are off (they judge the generator, not the server).

Phases: examples, coverage (boundary values, missing and wrong-typed fields, methods the schema does not list) and
fuzzing; not the stateful one (links between operations are not declared).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from pydantic import SecretStr
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy.orm import Session

from controlplane.accounts.api_keys import issue_api_key
from controlplane.accounts.principal import account_owner
from controlplane.accounts.scopes import KNOWN_SCOPES
from controlplane.accounts.service import create_account
from controlplane.api.app import create_app
from controlplane.devstack.evm_rpc import EvmRpc
from controlplane.devstack.fake_stripe import FakeStripe
from controlplane.devstack.fake_twilio import FakeTwilioVerify
from controlplane.runtime import Runtime
from controlplane.settings import DepositToken
from tests.support.live import FUNDS, fund

EXAMPLES_PER_OPERATION = 12
SEED = 16
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "unsupported_method",
    "shape_errors_only_for_invalid_requests",
]
# A valid request may be refused with a status the operation documents (status_code_conformance holds them to
# that) and, at 422, only with a code other than validation_error (shape_errors_only_for_invalid_requests).
VALID_REQUEST_STATUSES = ["2xx", "400", "401", "402", "403", "404", "409", "422", "429"]


@schemathesis.check
def shape_errors_only_for_invalid_requests(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request the schema allows never gets ``validation_error``: that code says the shape is wrong."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    code = response.json().get("error", {}).get("code")
    if code == "validation_error":
        raise AssertionError(f"a request the schema allows was refused as malformed: {response.text[:500]}")
    return None


@pytest.fixture
def vendors() -> Iterator[tuple[FakeTwilioVerify, FakeStripe, EvmRpc]]:
    twilio, stripe, evm = FakeTwilioVerify.start(), FakeStripe.start(), EvmRpc.start()
    yield twilio, stripe, evm
    for server in (twilio, stripe, evm):
        server.stop()


@pytest.fixture
def configured(runtime: Runtime, vendors: tuple[FakeTwilioVerify, FakeStripe, EvmRpc]) -> Runtime:
    """The runtime with every vendor pointed at its local stand-in."""
    twilio, stripe, evm = vendors
    settings = runtime.settings.model_copy(
        update={
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": SecretStr(twilio.auth_token),
            "twilio_verify_service_sid": twilio.service_sid,
            "twilio_verify_base_url": twilio.url,
            "stripe_api_key": SecretStr(stripe.api_key),
            "stripe_api_base": stripe.url,
            "deposit_chain_id": evm.chain_id,
            "deposit_rpc_url": evm.url,
            "deposit_address": evm.funded_accounts[3],
            "deposit_tokens": [
                DepositToken(address=evm.funded_accounts[2], symbol="TUSD", decimals=6, micro_credits_per_token=1)
            ],
        }
    )
    return dataclasses.replace(runtime, settings=settings)


def operator_key(runtime: Runtime, new_session: Callable[[], Session]) -> str:
    """The key of an operator's account, holding every scope, with credit (writes that raise a price need some)."""
    with new_session() as session:
        account = create_account(session)
        account.is_operator = True
        owner = account_owner(account.id, is_operator=True)
        issued = issue_api_key(
            session, runtime.settings, owner, name="contract", scopes=sorted(KNOWN_SCOPES), expires_at=None
        )
        fund(session, runtime.settings, account.id, FUNDS)
        session.commit()
        return issued.key


def failures_of(event: Any) -> list[str]:
    found = []
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.failure_info is not None:
                case = event.recorder.cases[case_id].value
                found.append(
                    f"{event.recorder.label} [{check.name}] {check.failure_info.failure.title}: "
                    f"{check.failure_info.failure.message[:300]}\n    {check.failure_info.code_sample[:400]}"
                )
                del case
    return found


def test_the_server_keeps_its_published_contract(
    configured: Runtime, committed: Callable[[], Session], capsys: pytest.CaptureFixture[str]
) -> None:
    key = operator_key(configured, committed)
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # Hypothesis's own complaints about generating data (a pattern few strings match, say) are not the
            # server's failures: they are not reported; every generated case is still checked.
            "suppress-health-check": ["filter_too_much", "too_slow", "data_too_large", "large_base_example"],
            "headers": {"Authorization": f"Bearer {key}"},
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                "positive_data_acceptance": {"enabled": True, "expected-statuses": VALID_REQUEST_STATUSES},
            },
            "phases": {"stateful": {"enabled": False}},
            "generation": {"max-examples": EXAMPLES_PER_OPERATION},
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(configured), config=config)
    started = time.perf_counter()
    failures: list[str] = []
    scenarios = 0
    cases = 0
    accepted: set[str] = set()  # operations that answered 2xx at least once: the key does authenticate
    try:
        for event in schemathesis.engine.from_schema(schema).execute():
            if isinstance(event, schemathesis.engine.events.ScenarioFinished):
                scenarios += 1
                cases += len(event.recorder.cases)
                failures += failures_of(event)
                for interaction in event.recorder.interactions.values():
                    if interaction.response is not None and 200 <= interaction.response.status_code < 300:
                        accepted.add(event.recorder.label)
            elif isinstance(event, schemathesis.engine.events.NonFatalError | schemathesis.engine.events.FatalError):
                failures.append(f"engine error: {event!r}")
    finally:
        # schemathesis keeps an app's lifespan running until the process exits; end it (its API-log writer and
        # connections) before the tables are emptied, so nothing of this test reaches the next one.
        shutdown_lifespans()
    with capsys.disabled():
        print(f"\nschemathesis: {cases} cases in {scenarios} scenarios, {time.perf_counter() - started:.1f} s")
    assert not failures, "\n".join(failures)
    assert {"GET /v1/namespaces", "POST /v1/api-keys", "GET /v1/operator/api-logs"} <= accepted
