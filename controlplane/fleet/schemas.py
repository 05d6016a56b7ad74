"""Rollouts as the operators' API and the CLI show them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from controlplane.api.schemas import ApiModel, ResponseModel
from controlplane.api.text import Line, Prose
from controlplane.fleet.service import Progress


class RolloutStart(ApiModel):
    note: Prose = Field(default="", max_length=500, description="why: shown with the rollout and in the audit log")
    canary_percent: float | None = Field(default=None, gt=0, le=100, description="the first wave's share")
    wave_growth: float | None = Field(default=None, ge=1, le=100, description="each wave is this many times larger")
    failure_threshold: float | None = Field(
        default=None, ge=0, le=1, description="a wave whose failed share is above this pauses the rollout"
    )


class PauseIn(ApiModel):
    reason: Line = Field(default="paused by an operator", min_length=1, max_length=500)


class WaveOut(ResponseModel):
    wave: int
    size: int
    done: int
    failed: int
    pending: int  # not settled yet: waiting for its wave, or queued
    queued: int
    skipped: int
    cancelled: int
    eta_s: float | None


class RolloutOut(ResponseModel):
    id: uuid.UUID
    status: str
    note: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    started_by_account_id: uuid.UUID | None
    credential: str
    program_version: str
    canary_percent: float
    wave_growth: float
    failure_threshold: float
    considered: int = Field(description="namespaces whose digest was checked")
    targets: int = Field(description="stacks whose digest differed, spread over the waves")
    current_wave: int
    paused_reason: str | None
    done: int
    failed: int
    pending: int
    skipped: int
    cancelled: int
    eta_s: float | None
    waves: list[WaveOut]


def rollout_out(progress: Progress) -> RolloutOut:
    rollout, counts = progress.rollout, progress.counts
    waves = [
        WaveOut(
            wave=wave.wave,
            size=wave.size,
            done=wave.counts.get("done", 0),
            failed=wave.counts.get("failed", 0),
            pending=wave.counts.get("pending", 0) + wave.counts.get("queued", 0),
            queued=wave.counts.get("queued", 0),
            skipped=wave.counts.get("skipped", 0),
            cancelled=wave.counts.get("cancelled", 0),
            eta_s=wave.eta_s,
        )
        for wave in progress.waves
    ]
    return RolloutOut(
        id=rollout.id,
        status=rollout.status,
        note=rollout.note,
        created_at=rollout.created_at,
        started_at=rollout.started_at,
        finished_at=rollout.finished_at,
        started_by_account_id=rollout.started_by_account_id,
        credential=rollout.credential,
        program_version=rollout.program_version,
        canary_percent=rollout.canary_percent,
        wave_growth=rollout.wave_growth,
        failure_threshold=rollout.failure_threshold,
        considered=rollout.considered,
        targets=sum(counts.values()),
        current_wave=rollout.current_wave,
        paused_reason=rollout.paused_reason,
        done=counts["done"],
        failed=counts["failed"],
        pending=counts["pending"] + counts["queued"],
        skipped=counts["skipped"],
        cancelled=counts["cancelled"],
        eta_s=progress.eta_s,
        waves=waves,
    )
