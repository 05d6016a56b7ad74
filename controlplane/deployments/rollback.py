"""Rollback: a new revision whose configuration is an earlier revision's, accepted like any change.

The earlier revision's configuration document (apps with their env, ports, custom domains...) is applied through
``service.apply_config``: the same validation, admission, credit check and reconcile as a ``PUT .../config``, and
a new revision that says which generation it restores. Two things are not rolled back:

- volumes never shrink: an app that has a volume now keeps it at its current size (and mount path) when the
  revision had a smaller one or none; the answer lists each volume kept so;
- the lifecycle state: suspension and resumption are billing's, so a rollback never resumes a suspended namespace
  nor suspends a running one.

A revision that the policy pack refused when it ran is refused at once (422 ``revision_refused``).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from controlplane.deployments import changes, revisions, service
from controlplane.deployments.models import App, Namespace, RevisionOutcome
from controlplane.deployments.revision_schemas import KeptVolume
from controlplane.deployments.schemas import NamespaceConfig
from controlplane.errors import Unprocessable


def rollback(
    session: Session, ctx: service.Context, account_id: uuid.UUID, name: str, generation: int
) -> tuple[Namespace, list[KeptVolume]]:
    namespace = service.get_namespace(session, account_id, name, for_update=True)
    target = revisions.get_revision(session, namespace, generation)
    if target.outcome == RevisionOutcome.REFUSED:
        raise Unprocessable(
            f"revision {generation} was refused by policy when it ran: {target.outcome_message or 'no details'}",
            code="revision_refused",
        )
    document, kept = keep_volumes(target.document, namespace.apps)
    try:
        config = NamespaceConfig.model_validate(document)
    except ValidationError as exc:
        problems = [{"location": list(e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise Unprocessable(f"revision {generation} no longer validates", details=problems) from exc
    with changes.rolling_back_to(session, generation, kept):
        service.apply_config(session, ctx, account_id, name, config)
    return namespace, kept


def keep_volumes(document: dict[str, Any], current_apps: list[App]) -> tuple[dict[str, Any], list[KeptVolume]]:
    """The document with each existing volume kept at least as large as it is now (and where it is mounted)."""
    restored = copy.deepcopy(document)
    current = {app.name: app for app in current_apps}
    kept = []
    for app in restored.get("apps", []):
        now = current.get(app["name"])
        if now is None or now.volume_size_gib is None or now.volume_mount_path is None:
            continue
        wanted = app.get("volume")
        wanted_size = wanted["size_gib"] if wanted else None
        volume = {"size_gib": max(now.volume_size_gib, wanted_size or 0), "mount_path": now.volume_mount_path}
        if volume != wanted:
            kept.append(KeptVolume(app=app["name"], size_gib=volume["size_gib"], revision_size_gib=wanted_size,
                                   mount_path=volume["mount_path"]))  # fmt: skip
        app["volume"] = volume
    return restored, kept
