"""Namespaces, apps and custom domains: every change of desired state bumps the generation and queues one reconcile.

Changes are checked before they are stored: the tenant spec must validate and the policy pack must pass
(admission). Lifecycle transitions (suspend, release volumes, resume, delete) are desired-state changes too. Every
accepted change is a revision, and one that raises the price must be covered by the credit (``deployments.changes``).

A namespace's name is the tenant's display name, unique within the account; what reaches the cluster and DNS is
issued at create (``deployments.identity``) and never reused, so a name freed by a delete never leads to the
deleted namespace's objects, and no answer depends on another account's names.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import yaml
from redis import Redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.api.pagination import PageParams, paginate
from controlplane.db import utcnow
from controlplane.deployments import changes, domains, revisions
from controlplane.deployments.digest import digest_or_none
from controlplane.deployments.digest import program_version as program_version
from controlplane.deployments.identity import issue_identity
from controlplane.deployments.identity import stack_name_of as stack_name_of
from controlplane.deployments.models import (
    App,
    CustomDomain,
    DesiredState,
    DomainStatus,
    Namespace,
    Operation,
    OperationKind,
    Revision,
    Status,
)
from controlplane.deployments.platform import platform_settings as platform_settings
from controlplane.deployments.revision_schemas import revision_yaml as revision_yaml
from controlplane.deployments.schemas import AppIn, AppPatch, NamespaceConfig, NamespaceCreate
from controlplane.deployments.spec import app_document as app_document
from controlplane.deployments.spec import build_tenant_spec
from controlplane.deployments.stack_lock import StackLock
from controlplane.errors import AppError, Conflict, NotFound, Unprocessable
from controlplane.queue import LIFECYCLE_QUEUE, TENANT_QUEUE, PendingJob, enqueue_after_commit, job_id
from controlplane.settings import Settings
from programs.components import validation
from programs.tenant import PlatformSettings
from programs.tenant.identity import is_reserved_name

RECONCILE_JOB = "controlplane.deployments.reconcile.reconcile"
PREVIEW_JOB = "controlplane.deployments.reconcile.run_preview"
VERIFY_DOMAIN_JOB = "controlplane.deployments.domain_jobs.verify_domain"


@dataclass(frozen=True)
class Context:
    """What a change needs besides the session: settings (for the platform) and Redis (its cached outputs)."""

    settings: Settings
    redis: Redis | None = None


@dataclass(frozen=True)
class Written:
    """A write's outcome: ``changed`` is False when it left the desired state as it was (nothing bumped or queued)."""

    namespace: Namespace
    changed: bool


def reconcile_job(namespace_id: uuid.UUID, timeout_s: int, queue: str = TENANT_QUEUE) -> PendingJob:
    """The namespace's one reconcile job; ``queue`` says how urgent it is (see ``controlplane.queue``)."""
    return PendingJob(
        RECONCILE_JOB, (str(namespace_id),), job_id=job_id("reconcile", namespace_id), timeout_s=timeout_s, queue=queue
    )


def job_timeout(settings: Settings) -> int:
    # Room for the run, its SIGINT grace, and a recovery refresh before it.
    return settings.operation_timeout_s * 2 + 180


def verify_domain_job(claim_id: uuid.UUID, settings: Settings) -> PendingJob:
    timeout = int(settings.domain_verification_timeout_s * 2) + 30
    return PendingJob(VERIFY_DOMAIN_JOB, (str(claim_id),), job_id=job_id("verify-domain", claim_id), timeout_s=timeout)


# --- reads ------------------------------------------------------------------------------------------------------


def get_namespace(session: Session, account_id: uuid.UUID, name: str, *, for_update: bool = False) -> Namespace:
    stmt = select(Namespace).where(
        Namespace.account_id == account_id, Namespace.name == name, Namespace.desired_state != DesiredState.DELETED
    )
    namespace = session.scalar(stmt.with_for_update() if for_update else stmt)
    if namespace is None:
        raise NotFound(f"no namespace named {name!r}")
    return namespace


def get_deleted_namespace(session: Session, account_id: uuid.UUID, namespace_id: uuid.UUID) -> Namespace:
    """A namespace of the account that was deleted (its destroy may still run), by id: its name may be reused."""
    namespace = session.scalar(
        select(Namespace).where(
            Namespace.account_id == account_id,
            Namespace.id == namespace_id,
            Namespace.desired_state == DesiredState.DELETED,
        )
    )
    if namespace is None:
        raise NotFound("no deleted namespace of this account has that id")
    return namespace


def list_namespaces(
    session: Session, account_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Namespace], str | None]:
    stmt = select(Namespace).where(Namespace.account_id == account_id, Namespace.desired_state != DesiredState.DELETED)
    return paginate(session, stmt, Namespace.created_at, Namespace.id, page)


def list_operations(session: Session, namespace: Namespace, page: PageParams) -> tuple[Sequence[Operation], str | None]:
    stmt = select(Operation).where(Operation.namespace_id == namespace.id)
    return paginate(session, stmt, Operation.created_at, Operation.id, page)


def get_operation(session: Session, namespace: Namespace, operation_id: uuid.UUID) -> Operation:
    operation = session.scalar(
        select(Operation).where(Operation.id == operation_id, Operation.namespace_id == namespace.id)
    )
    if operation is None:
        raise NotFound("no such operation in this namespace")
    return operation


# --- writes ----------------------------------------------------------------------------------------------------


def create_namespace(session: Session, ctx: Context, account_id: uuid.UUID, body: NamespaceCreate) -> Namespace:
    try:
        validation.dns1123_label(body.name, what="name")
    except ValueError as exc:
        raise Unprocessable(
            str(exc), details=[{"location": ["name"], "message": str(exc), "type": "dns_label"}]
        ) from exc
    if is_reserved_name(body.name):
        raise Unprocessable(
            f"the name {body.name!r} is reserved for the platform and cluster add-ons",
            code="name_reserved",
            details=[{"location": ["name"], "message": "reserved name", "type": "name_reserved"}],
        )
    taken = session.scalar(
        select(Namespace.id).where(
            Namespace.account_id == account_id,
            Namespace.name == body.name,
            Namespace.desired_state != DesiredState.DELETED,
        )
    )
    if taken is not None:
        raise Conflict(f"you already have a namespace named {body.name!r}", code="name_taken")
    identity = issue_identity(session)
    namespace = Namespace(
        id=identity.namespace_id,
        account_id=account_id,
        name=body.name,
        cluster_name=identity.cluster_name,
        host_suffix=identity.host_suffix,
        desired_state=DesiredState.ACTIVE,
        status=Status.PENDING,
        generation=0,
        observed_generation=0,
        failure_count=0,
        drift_detected=False,
        outputs={},
        conditions=[],
    )
    namespace.apps = [_new_app(app) for app in body.apps]
    namespace.domains = []
    _check_unique_app_names(namespace)
    session.add(namespace)
    _apps_changed(session, ctx, namespace)
    try:
        _accept_change(session, ctx, namespace)
    except IntegrityError as exc:  # the same account created the name concurrently
        raise Conflict(f"you already have a namespace named {body.name!r}", code="name_taken") from exc
    return namespace


def apply_config(session: Session, ctx: Context, account_id: uuid.UUID, name: str, config: NamespaceConfig) -> Written:
    """Replace the namespace's apps with the configuration's (the format ``export_config`` writes)."""
    if config.name != name:
        raise Unprocessable(f"the configuration is for {config.name!r}, not {name!r}", code="name_mismatch")
    namespace = get_namespace(session, account_id, name, for_update=True)
    before = _desired(namespace)
    current = {app.name: app for app in namespace.apps}
    wanted = {app.name: app for app in config.apps}
    if len(wanted) != len(config.apps):
        raise Unprocessable("app names must be unique within a namespace", code="duplicate_app")
    for app_name, app in current.items():
        if app_name not in wanted:
            namespace.apps.remove(app)
    for app_name, app_in in wanted.items():
        if app_name in current:
            _update_app(current[app_name], AppPatch(**app_in.model_dump(exclude={"name"})))
        else:
            namespace.apps.append(_new_app(app_in))
    _apps_changed(session, ctx, namespace)
    return _accept_if_changed(session, ctx, namespace, before)


def add_app(session: Session, ctx: Context, account_id: uuid.UUID, name: str, body: AppIn) -> Namespace:
    namespace = get_namespace(session, account_id, name, for_update=True)
    if any(app.name == body.name for app in namespace.apps):
        raise Conflict(f"the namespace already has an app named {body.name!r}", code="duplicate_app")
    namespace.apps.append(_new_app(body))
    _apps_changed(session, ctx, namespace)
    _accept_change(session, ctx, namespace)
    return namespace


def update_app(
    session: Session, ctx: Context, account_id: uuid.UUID, name: str, app_name: str, patch: AppPatch
) -> Written:
    namespace = get_namespace(session, account_id, name, for_update=True)
    before = _desired(namespace)
    _update_app(_find_app(namespace, app_name), patch)
    _apps_changed(session, ctx, namespace)
    return _accept_if_changed(session, ctx, namespace, before)


def delete_app(session: Session, ctx: Context, account_id: uuid.UUID, name: str, app_name: str) -> Namespace:
    namespace = get_namespace(session, account_id, name, for_update=True)
    namespace.apps.remove(_find_app(namespace, app_name))
    _apps_changed(session, ctx, namespace)
    _accept_change(session, ctx, namespace)
    return namespace


def delete_namespace(session: Session, ctx: Context, account_id: uuid.UUID, name: str) -> Namespace:
    namespace = get_namespace(session, account_id, name, for_update=True)
    return transition(session, ctx, namespace, DesiredState.DELETED, reason="deleted")


def request_preview(session: Session, ctx: Context, account_id: uuid.UUID, name: str) -> Operation:
    namespace = get_namespace(session, account_id, name)
    build_tenant_spec(namespace, platform_settings(ctx.settings, ctx.redis))
    operation = Operation(
        namespace_id=namespace.id,
        kind=OperationKind.PREVIEW,
        generation=namespace.generation,
        result="queued",
        changes={},
    )
    session.add(operation)
    session.flush()
    enqueue_after_commit(
        session,
        PendingJob(
            PREVIEW_JOB,
            (str(operation.id),),
            job_id=job_id("preview", operation.id),
            timeout_s=job_timeout(ctx.settings),
            queue=TENANT_QUEUE,
        ),
    )
    return operation


# --- custom domains ----------------------------------------------------------------------------------------------


def list_domains(session: Session, account_id: uuid.UUID, name: str) -> list[CustomDomain]:
    return list(get_namespace(session, account_id, name).domains)


def request_verification(session: Session, ctx: Context, account_id: uuid.UUID, name: str, domain: str) -> CustomDomain:
    """Queue a check of the domain's TXT challenge now (the scheduler also checks pending domains)."""
    claim = _find_claim(get_namespace(session, account_id, name), domain)
    enqueue_after_commit(session, verify_domain_job(claim.id, ctx.settings))
    return claim


def release_domain(session: Session, ctx: Context, account_id: uuid.UUID, name: str, domain: str) -> None:
    """Give the domain up (another namespace may then verify it). Refused while an app still lists it."""
    namespace = get_namespace(session, account_id, name, for_update=True)
    claim = _find_claim(namespace, domain)
    users = sorted(app.name for app in namespace.apps if claim.domain in app.custom_domains)
    if users:
        raise Conflict(f"{claim.domain!r} is listed by app(s) {', '.join(users)}: remove it there first",
                       code="domain_in_use")  # fmt: skip
    domains.forget_claim(session, namespace, claim)
    if claim.status == DomainStatus.VERIFIED:
        _accept_change(session, ctx, namespace, reason=f"custom domain released: {claim.domain}")


def accept_domain_change(session: Session, ctx: Context, namespace: Namespace, *, reason: str) -> None:
    """A claim of ``namespace`` was verified or lapsed: apply the routes again (a desired-state change)."""
    _accept_change(session, ctx, namespace, reason=reason)


def _find_claim(namespace: Namespace, domain: str) -> CustomDomain:
    wanted = domains.canonical(domain)
    for claim in namespace.domains:
        if claim.domain == wanted:
            return claim
    raise NotFound(f"namespace {namespace.name!r} has no custom domain {wanted!r}")


# --- lifecycle ---------------------------------------------------------------------------------------------------


def transition(
    session: Session, ctx: Context, namespace: Namespace, state: DesiredState, *, reason: str | None = None
) -> Namespace:
    """Move the namespace to ``state`` (a no-op when it is there already); ``reason`` goes on the revision."""
    if namespace.desired_state == state:
        return namespace
    now = utcnow()
    if state is DesiredState.SUSPENDED:
        namespace.suspended_at = namespace.suspended_at or now
    elif state is DesiredState.VOLUMES_RELEASED:
        if namespace.desired_state != DesiredState.SUSPENDED:
            raise Conflict("volumes are released only from a suspended namespace", code="not_suspended")
        namespace.volumes_released_at = now
    elif state is DesiredState.ACTIVE:
        namespace.suspended_at = None
        namespace.volumes_released_at = None
    elif state is DesiredState.DELETED:
        namespace.deleted_at = now
        grace = timedelta(days=ctx.settings.domain_reservation_grace_days)
        domains.release_claims(session, namespace, grace, now)
    namespace.desired_state = state
    _accept_change(session, ctx, namespace, check=state is not DesiredState.DELETED, reason=reason, lifecycle=True)
    return namespace


def retry_stalled(session: Session, ctx: Context, namespace_id: uuid.UUID) -> Namespace:
    """Operator action: forget the failures and reconcile again."""
    namespace = session.get(Namespace, namespace_id, with_for_update=True)
    if namespace is None:
        raise NotFound("no such namespace")
    namespace.failure_count = 0
    namespace.status = Status.PENDING
    enqueue_after_commit(session, reconcile_job(namespace.id, job_timeout(ctx.settings)))
    return namespace


# --- what other features read of deployments (fleet rollouts, the privacy export) -------------------------------


def config_yaml(namespace: Namespace) -> str:
    """The namespace's desired state as ``GET .../config`` writes it."""
    return yaml.safe_dump(revisions.config_document(namespace), sort_keys=False)


def revision_history(session: Session, namespace_id: uuid.UUID) -> Sequence[Revision]:
    return revisions.all_of(session, namespace_id)


def desired_digest(namespace: Namespace, platform: PlatformSettings, settings: Settings) -> str | None:
    """The digest an update of the namespace's desired state would apply; None when it no longer builds a spec
    or has no canonical form (never skip such a stack)."""
    try:
        spec = build_tenant_spec(namespace, platform)
    except AppError:
        return None
    return digest_or_none(spec, settings)


def stack_locked(redis: Redis, settings: Settings, namespace_id: uuid.UUID) -> bool:
    """Whether a run holds (or a dead worker's lease still holds) the namespace's stack."""
    return bool(redis.exists(StackLock(redis, stack_name_of(namespace_id), settings.stack_lock_lease_s).key))


# --- helpers -----------------------------------------------------------------------------------------------------


def _apps_changed(session: Session, ctx: Context, namespace: Namespace) -> None:
    """The apps' configuration changed: normalise their custom domains and claim each one for the namespace."""
    domains.normalise_apps(namespace.apps, platform_settings(ctx.settings, ctx.redis))
    domains.sync_claims(session, namespace)


def _accept_change(
    session: Session,
    ctx: Context,
    namespace: Namespace,
    *,
    check: bool = True,
    reason: str | None = None,
    lifecycle: bool = False,
) -> None:
    """The one place a change is accepted: admission, the new generation, its revision and the credit check
    (``deployments.changes``), the reconcile queued."""
    if check:
        spec = build_tenant_spec(namespace, platform_settings(ctx.settings, ctx.redis))
        if ctx.settings.admission_policy_check:
            changes.admit_policy(session, spec)
    namespace.generation += 1
    namespace.status = Status.PENDING
    namespace.failure_count = 0
    session.flush()
    changes.accept(session, ctx.settings, namespace, reason=reason, lifecycle=lifecycle)
    queue = LIFECYCLE_QUEUE if lifecycle else TENANT_QUEUE
    enqueue_after_commit(session, reconcile_job(namespace.id, job_timeout(ctx.settings), queue))


def _desired(namespace: Namespace) -> tuple[str, list[dict[str, Any]]]:
    """What a reconcile would apply: the lifecycle state and the apps (in name order: the order is not state)."""
    apps = sorted((app_document(app) for app in namespace.apps), key=lambda document: str(document["name"]))
    return str(namespace.desired_state), apps


def _accept_if_changed(
    session: Session, ctx: Context, namespace: Namespace, before: tuple[str, list[dict[str, Any]]]
) -> Written:
    if _desired(namespace) == before:
        return Written(namespace, changed=False)
    _accept_change(session, ctx, namespace)
    return Written(namespace, changed=True)


def _new_app(body: AppIn) -> App:
    return App(
        name=body.name,
        image=body.image,
        replicas=body.replicas,
        cpu_millicores=body.cpu_millicores,
        memory_mib=body.memory_mib,
        ports=[port.model_dump() for port in body.ports],
        env=dict(body.env),
        volume_size_gib=body.volume.size_gib if body.volume else None,
        volume_mount_path=body.volume.mount_path if body.volume else None,
        health_check_path=body.health_check_path,
        custom_domains=list(body.custom_domains),
    )


def _update_app(app: App, patch: AppPatch) -> None:
    if "volume" in patch.model_fields_set:
        _resize_volume(app, patch)
    for field, value in patch.model_dump(exclude_unset=True, exclude={"volume"}).items():
        setattr(app, field, value)


def _resize_volume(app: App, patch: AppPatch) -> None:
    if patch.volume is None:
        if app.volume_size_gib is not None:
            raise Unprocessable("a volume cannot be removed from an app", code="volume_shrink")
        return
    if app.volume_size_gib is not None:
        if patch.volume.size_gib < app.volume_size_gib:
            raise Unprocessable(f"volume.size_gib can only grow ({app.volume_size_gib} GiB now)", code="volume_shrink")
        if patch.volume.mount_path != app.volume_mount_path:
            raise Unprocessable("volume.mount_path cannot change", code="volume_immutable")
    app.volume_size_gib = patch.volume.size_gib
    app.volume_mount_path = patch.volume.mount_path


def _find_app(namespace: Namespace, app_name: str) -> App:
    for app in namespace.apps:
        if app.name == app_name:
            return app
    raise NotFound(f"no app named {app_name!r} in namespace {namespace.name!r}")


def _check_unique_app_names(namespace: Namespace) -> None:
    names = [app.name for app in namespace.apps]
    if len(names) != len(set(names)):
        raise Unprocessable("app names must be unique within a namespace", code="duplicate_app")
