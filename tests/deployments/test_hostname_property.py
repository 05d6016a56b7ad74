"""A property of the whole issuing path: whatever the order of creates, deletes, re-creates and account erasures,
no two distinct (namespace, app) pairs ever get the same platform hostname or the same Kubernetes namespace.

Runs the control plane's own service functions against the real database (each example in a savepoint that is
rolled back), with display and app names drawn from a few that can be glued together the same way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from controlplane.accounts.service import create_account
from controlplane.deployments.platform import platform_settings
from controlplane.deployments.schemas import AppIn, NamespaceCreate, PortIn
from controlplane.deployments.service import Context, create_namespace, delete_namespace
from controlplane.deployments.spec import build_tenant_spec
from controlplane.privacy.deletion import erase_personal_data
from controlplane.runtime import Runtime
from tests.support.live import FUNDS, fund

NAMES = st.sampled_from(["b-c", "c", "b", "web", "a-b-c", "x" * 63, "b-c-" + "d" * 59])
APPS = st.lists(st.sampled_from(["a", "a-b", "a-b-c", "web", "b-c", "a" * 40]), min_size=1, max_size=3, unique=True)


@dataclass(frozen=True)
class Create:
    account: int
    name: str
    apps: list[str]


@dataclass(frozen=True)
class Delete:
    account: int
    name: str


@dataclass(frozen=True)
class Erase:
    account: int


ACCOUNT = st.integers(min_value=0, max_value=2)
OPERATIONS = st.lists(
    st.one_of(
        st.builds(Create, ACCOUNT, NAMES, APPS),
        st.builds(Delete, ACCOUNT, NAMES),
        st.builds(Erase, ACCOUNT),
    ),
    min_size=1,
    max_size=14,
)


def _app(name: str) -> AppIn:
    return AppIn(name=name, image="ghcr.io/acme/web:1.0.0", ports=[PortIn(name="http", port=8080, public=True)])


def funded_account(db: Session, ctx: Context) -> uuid.UUID:
    account = create_account(db)
    fund(db, ctx.settings, account.id, FUNDS)
    return account.id


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPERATIONS)
def test_no_two_namespace_app_pairs_ever_share_a_host_or_a_namespace(
    db: Session, runtime: Runtime, operations: list[Any]
) -> None:
    ctx = Context(runtime.settings.model_copy(update={"admission_policy_check": False}))
    platform = platform_settings(ctx.settings)
    hosts: dict[str, tuple[uuid.UUID, str]] = {}
    cluster_names: dict[str, uuid.UUID] = {}
    savepoint = db.begin_nested()
    try:
        accounts = [funded_account(db, ctx) for _ in range(3)]
        live: dict[tuple[int, str], uuid.UUID] = {}
        for operation in operations:
            if isinstance(operation, Create) and (operation.account, operation.name) not in live:
                body = NamespaceCreate(name=operation.name, apps=[_app(app) for app in operation.apps])
                namespace = create_namespace(db, ctx, accounts[operation.account], body)
                live[(operation.account, operation.name)] = namespace.id
                spec = build_tenant_spec(namespace, platform)
                assert cluster_names.setdefault(spec.namespace, namespace.id) == namespace.id, spec.namespace
                for app in spec.apps:
                    host = spec.platform_hostname(app)
                    assert hosts.setdefault(host, (namespace.id, app.name)) == (namespace.id, app.name), host
            elif isinstance(operation, Delete) and (operation.account, operation.name) in live:
                delete_namespace(db, ctx, accounts[operation.account], operation.name)
                del live[(operation.account, operation.name)]
            elif isinstance(operation, Erase):
                erase_personal_data(db, accounts[operation.account])
                db.expunge_all()
                accounts[operation.account] = funded_account(db, ctx)
                live = {key: value for key, value in live.items() if key[0] != operation.account}
    finally:
        savepoint.rollback()
