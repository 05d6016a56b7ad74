"""The rollouts' jobs (default queue): planning one rollout, and advancing every active one (periodic)."""

from __future__ import annotations

import uuid

from controlplane.fleet import service
from controlplane.runtime import get_runtime


def plan_rollout(rollout_id: str) -> str:
    runtime = get_runtime()
    with runtime.transaction() as session:
        rollout = service.plan(session, runtime.settings, runtime.redis, uuid.UUID(rollout_id))
        if rollout is None:
            return "rollout gone"
        return f"{rollout.status}: {rollout.waves} waves"


def advance_rollouts() -> list[str]:
    """Every running or paused rollout, one step each, each in its own transaction."""
    runtime = get_runtime()
    with runtime.transaction() as session:
        ids = service.active_rollout_ids(session)
    outcomes = []
    for rollout_id in ids:
        with runtime.transaction() as session:
            outcomes.append(service.advance(session, runtime.settings, runtime.redis, rollout_id))
    return outcomes
