"""Billing's RQ jobs. Each takes ids and an optional ISO ``now`` (tests pass a moved clock), owns its transaction,
and is idempotent: run twice, it finds nothing left to do."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime

from controlplane.billing import deposits, lifecycle, metering
from controlplane.db import utcnow
from controlplane.deployments.service import Context
from controlplane.metrics.registry import observe_metering
from controlplane.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)


def sync_account(account_id: str, now: str | None = None) -> str:
    """Suspend an account at zero, or resume it once its balance is above zero again."""
    runtime = get_runtime()
    with runtime.transaction() as session:
        return lifecycle.sync_account(session, _ctx(runtime), uuid.UUID(account_id), now=_moment(now))


def meter_due_hours(now: str | None = None) -> int:
    """Meter every complete hour not yet metered (one transaction per hour); returns the hours metered."""
    runtime = get_runtime()
    moment = _moment(now)
    with runtime.new_session(autocommit=True) as session:
        hours = metering.due_hours(session, runtime.settings, now=moment)
    for hour in hours:
        started, outcome = time.perf_counter(), "failed"
        try:
            with runtime.transaction() as session:
                metering.meter_hour(session, runtime.settings, hour, now=moment)
            outcome = "metered"
        finally:
            observe_metering(outcome, time.perf_counter() - started)
    return len(hours)


def release_suspended_volumes(now: str | None = None) -> int:
    """Delete the volumes of namespaces suspended for zero balance longer than ``volume_release_after_hours``."""
    runtime = get_runtime()
    with runtime.transaction() as session:
        return lifecycle.release_volumes(session, _ctx(runtime), now=_moment(now))


def recheck_deposits(now: str | None = None) -> int:
    """Credit pending deposits that have reached their confirmations."""
    runtime = get_runtime()
    settings = runtime.settings
    if settings.deposit_chain_id is None or settings.deposit_rpc_url is None or settings.deposit_address is None:
        return 0
    with runtime.transaction() as session:
        return deposits.recheck_pending(session, settings, now=_moment(now))


def _ctx(runtime: Runtime) -> Context:
    return Context(runtime.settings, runtime.redis)


def _moment(now: str | None) -> datetime:
    return datetime.fromisoformat(now) if now else utcnow()
