"""Everything held about a person, in one JSON document, and every namespace's configuration (and each stored
revision of it) as YAML files."""

from __future__ import annotations

import io
import uuid
import zipfile
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account, ApiKey, AuthSession, Wallet
from controlplane.billing.models import Checkout, Deposit, LedgerEntry
from controlplane.deployments.models import DesiredState, Namespace, Operation, Revision
from controlplane.deployments.service import app_document, config_yaml, revision_history, revision_yaml
from controlplane.errors import NotFound
from controlplane.notifications.models import Notification
from controlplane.privacy.models import ApiLog

PHONE_NOTE = (
    "A phone number is linked. Only a keyed hash of it is stored (HMAC-SHA256 with a server-side secret): it cannot "
    "be turned back into the number, so it is not personal data worth returning; the number itself is not kept."
)


def export_account(session: Session, account_id: uuid.UUID) -> dict[str, Any]:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("no such account")
    namespaces = session.scalars(select(Namespace).where(Namespace.account_id == account_id)).all()
    return {
        "account": {
            "id": str(account.id),
            "created_at": account.created_at.isoformat(),
            "status": account.status,
            "is_operator": account.is_operator,
            "age_confirmed_at": account.age_confirmed_at.isoformat(),
            "phone_linked": account.phone_hash is not None,
            "phone_note": PHONE_NOTE if account.phone_hash is not None else None,
        },
        "wallets": _rows(session, Wallet, Wallet.account_id == account_id, ("address", "created_at")),
        "api_keys": _rows(session, ApiKey, ApiKey.account_id == account_id,
                          ("id", "name", "prefix", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at")),
        "sessions": _rows(session, AuthSession, AuthSession.account_id == account_id,
                          ("id", "created_at", "expires_at", "last_seen_at")),
        "namespaces": [_namespace(session, namespace) for namespace in namespaces],
        **_billing(session, account_id),
        "api_logs": _rows(session, ApiLog, ApiLog.account_id == account_id,
                          ("created_at", "api_key_id", "method", "route", "status", "latency_ms", "request_id",
                           "client", "user_agent")),
    }  # fmt: skip


def configs_archive(session: Session, account_id: uuid.UUID) -> bytes:
    """A zip of ``<namespace>.yaml`` files, as ``GET .../config`` writes them, and each stored revision as
    ``revisions/<namespace>/<generation>.yaml`` (as ``GET .../config?generation=N`` writes it); deleted namespaces
    under ``deleted/``, named with their creation time."""
    namespaces = session.scalars(select(Namespace).where(Namespace.account_id == account_id)).all()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for namespace in namespaces:
            folder, name = "", namespace.name
            if namespace.desired_state == DesiredState.DELETED:
                folder, name = "deleted/", f"{namespace.name}-{namespace.created_at:%Y%m%d%H%M%S}"
            archive.writestr(f"{folder}{name}.yaml", config_yaml(namespace))
            for revision in revision_history(session, namespace.id):
                archive.writestr(f"{folder}revisions/{name}/{revision.generation}.yaml", revision_yaml(revision))
    return buffer.getvalue()


def _namespace(session: Session, namespace: Namespace) -> dict[str, Any]:
    operations = session.scalars(
        select(Operation).where(Operation.namespace_id == namespace.id).order_by(Operation.created_at)
    ).all()
    return {
        "name": namespace.name,
        "created_at": namespace.created_at.isoformat(),
        "desired_state": namespace.desired_state,
        "status": namespace.status,
        "generation": namespace.generation,
        "observed_generation": namespace.observed_generation,
        "apps": [app_document(app) for app in namespace.apps],
        "custom_domains": [
            {
                "domain": claim.domain,
                "status": claim.status,
                "created_at": claim.created_at.isoformat(),
                "verified_at": claim.verified_at.isoformat() if claim.verified_at else None,
            }
            for claim in namespace.domains
        ],
        "revisions": [_revision(revision) for revision in revision_history(session, namespace.id)],
        "operations": [
            {
                "id": str(op.id),
                "kind": op.kind,
                "generation": op.generation,
                "result": op.result,
                "created_at": op.created_at.isoformat(),
                "finished_at": op.finished_at.isoformat() if op.finished_at else None,
                "changes": op.changes,
                "error": op.error,
            }
            for op in operations
        ],
    }


def _revision(revision: Revision) -> dict[str, Any]:
    return {
        "generation": revision.generation,
        "created_at": revision.created_at.isoformat(),
        "author": {
            "kind": revision.author_kind,
            "account_id": _plain(revision.author_account_id),
            "api_key_id": _plain(revision.author_api_key_id),
            "session_id": _plain(revision.author_session_id),
            "reason": revision.reason,
        },
        "desired_state": revision.desired_state,
        "config": revision.document,
        "verified_domains": revision.verified_domains,
        "diff": revision.diff,
        "rollback_of": revision.rollback_of,
        "outcome": revision.outcome,
        "operation_id": _plain(revision.operation_id),
        "outcome_at": _plain(revision.outcome_at),
    }


def _billing(session: Session, account_id: uuid.UUID) -> dict[str, Any]:
    return {
        "billing": {
            "ledger": _rows(session, LedgerEntry, LedgerEntry.account_id == account_id,
                            ("created_at", "kind", "source", "amount", "unpaid", "balance_after", "reference")),
            "card_top_ups": _rows(session, Checkout, Checkout.account_id == account_id,
                                  ("created_at", "amount", "currency", "credits", "status", "completed_at")),
            "unit": "amounts in micro-credits (1 credit = 1,000,000); card amounts in the currency's minor units",
        },
        "deposits": _rows(session, Deposit, Deposit.account_id == account_id,
                          ("created_at", "chain_id", "tx_hash", "log_index", "token_symbol", "wallet_address",
                           "amount_raw", "credits", "status", "credited_at")),
        "notifications": _rows(session, Notification, Notification.account_id == account_id,
                               ("created_at", "kind", "title", "body", "read_at")),
    }  # fmt: skip


def _rows(session: Session, model: Any, condition: Any, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = session.scalars(select(model).where(condition).order_by(model.created_at)).all()
    return [{field: _plain(getattr(row, field)) for field in fields} for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # token base units can exceed what JSON numbers hold exactly
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
