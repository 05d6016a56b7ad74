"""The fleet at scale, on the real engine: the `pulumi` CLI, the Kubernetes provider and the policy pack against a
local kube-apiserver + etcd (as tests/engine/test_real_apiserver.py runs them), PostgreSQL and Redis embedded.

1. For W in --workers (1, 2, 4): create N namespaces (one app each) and time until all are ready with W
   `controlplane worker` processes: stacks per minute, CPU seconds per stack.
2. Change what half the stacks declare without a tenant's edit, as a program change would, and run a rollout over
   the whole fleet: its time, stacks per minute, what was updated and what was skipped. (The lever is a flag on half
   the namespaces, written to their apps' environment in the database with no generation bump, so only a rollout
   reaches them. The platform settings that the tenant program reads are the same for every stack or are pinned by
   the policy pack: the ingress class, the storage class; and public apps need TLS, which needs Cloudflare, whose
   provider is not available here.)
3. The cost of a skipped stack: a reconcile that finds its digest unchanged (lock, database, spec, digest), and
   the rollout planner's check of one namespace.
4. With --chaos: another change, rolled out while a worker is killed (SIGKILL to it and to every process group
   under it: the work-horse, pulumi, the plugins) 20 times at random moments, and PostgreSQL and Redis are
   restarted once each; then: did every namespace converge, did any lock outlive its lease, was any operation left
   running.
5. The naive baseline: one `pulumi up` per stack in a loop (the engine alone: no database, queue or lock), over
   --naive-stacks stacks, scaled to the fleet; and its ratio to the rollout.
6. The check of 10,000 unchanged namespaces (rows seeded with their digests; no Pulumi).

Figures only; nothing is asserted about time. Every loop is bounded; everything listens on loopback.

    eval "$(scripts/install-tools | tail -n1)"; eval "$(scripts/install-tools kube-apiserver etcd | tail -n1)"
    PATH="$PATH_ADD:$PATH" .venv/bin/python -m bench.fleet --namespaces 20
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import func, select, text

from bench._support import embedded_servers, fund
from controlplane.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.support.kube_apiserver import KubeApiServer, missing_binaries

REPO = Path(__file__).resolve().parent.parent
KILLS = 20


@dataclass
class Phase:
    name: str
    stacks: int
    seconds: float
    cpu_s: float  # the workers and everything under them: horses, pulumi, plugins, the policy pack
    server_cpu_s: float  # PostgreSQL, Redis, kube-apiserver, etcd
    notes: list[str] = field(default_factory=list)

    @property
    def per_minute(self) -> float:
        return self.stacks / self.seconds * 60 if self.seconds else 0.0

    def line(self) -> str:
        per_stack = self.cpu_s / self.stacks if self.stacks else 0.0
        server = self.server_cpu_s / self.stacks if self.stacks else 0.0
        return (
            f"{self.name:<34} {self.stacks:5d} stacks {self.seconds:8.1f} s {self.per_minute:7.1f} stacks/min"
            f"   CPU {per_stack:5.2f} s/stack (+ servers {server:4.2f} s/stack)"
        )


class Fleet:
    """The servers, the environment every process shares, and W worker processes kept alive (a supervisor)."""

    def __init__(self, tmp: Path, postgres: EmbeddedPostgres, redis: EmbeddedRedis, kube: KubeApiServer) -> None:
        self.tmp, self.postgres, self.redis, self.kube = tmp, postgres, redis, kube
        self.env = {
            **os.environ,
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "CONTROLPLANE_ENV": "development",
            "CONTROLPLANE_DATA_DIR": str(tmp / "data"),
            "CONTROLPLANE_PULUMI_BACKEND_URL": (tmp / "state").as_uri(),
            "CONTROLPLANE_PLATFORM_KUBECONFIG": kube.kubeconfig,
            "CONTROLPLANE_PLATFORM_AWAIT_READINESS": "false",
            "CONTROLPLANE_STACK_LOCK_LEASE_S": "10",
            "CONTROLPLANE_RETRY_BASE_DELAY_S": "1",
            "CONTROLPLANE_RETRY_MAX_DELAY_S": "10",
            "CONTROLPLANE_RECONCILE_MAX_ATTEMPTS": "8",
            "CONTROLPLANE_OPERATION_TIMEOUT_S": "300",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }
        self.workers: list[subprocess.Popen[bytes]] = []
        self.wanted = 0
        self.log = (tmp / "workers.log").open("ab")
        self.apply_env()

    def apply_env(self) -> None:
        """This process runs the services too (creating namespaces, planning): same settings as the workers."""
        from controlplane.runtime import set_runtime
        from controlplane.settings import get_settings

        os.environ.update(self.env)
        get_settings.cache_clear()
        set_runtime(None)

    def start_workers(self, count: int) -> None:
        self.wanted = count
        self.keep_alive()

    def keep_alive(self) -> None:
        """Replace workers that died (killed, or gone with a lost connection), as a service manager would."""
        self.workers = [worker for worker in self.workers if worker.poll() is None]
        while len(self.workers) < self.wanted:
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "controlplane", "worker"],
                    cwd=REPO,
                    env=self.env,
                    stdout=self.log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: a kill takes the horse and pulumi with it
                )
            )

    def stop_workers(self) -> None:
        self.wanted = 0
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                worker.send_signal(signal.SIGTERM)  # RQ's warm shutdown: the job in progress finishes
        for worker in self.workers:
            try:
                worker.wait(timeout=360)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        self.workers = []

    def kill_one(self) -> None:
        """SIGKILL a worker and everything under it, as a lost node would: RQ puts each work-horse in a process
        group of its own (and pulumi, its plugins, the policy pack under it), so every group is killed."""
        alive = [worker for worker in self.workers if worker.poll() is None]
        if alive:
            victim = random.choice(alive)
            groups = {victim.pid}
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(victim.pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error, ProcessLookupError):
                        groups.add(os.getpgid(child.pid))
            for group in groups:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
            victim.wait()

    def server_cpu_s(self) -> float:
        pids = [self.redis.process.pid, *(p.popen.pid for p in self.kube._processes)]
        info = self.postgres._server._postmaster_info
        if info is not None and info.process is not None:
            pids.append(info.process.pid)
        total = 0.0
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                for member in (process, *process.children(recursive=True)):
                    with contextlib.suppress(psutil.Error):
                        times = member.cpu_times()
                        total += times.user + times.system
        return total


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def measured(fleet: Fleet, name: str, stacks: Callable[[], int]) -> Iterator[list[Phase]]:
    """Times a phase; the workers' CPU is counted once they are stopped (and so waited for) at its end."""
    out: list[Phase] = []
    cpu, server, started = children_cpu_s(), fleet.server_cpu_s(), time.monotonic()
    yield out
    seconds = time.monotonic() - started
    fleet.stop_workers()
    out.append(Phase(name, stacks(), seconds, children_cpu_s() - cpu, fleet.server_cpu_s() - server))


# --- the control plane's side ------------------------------------------------------------------------------------


def runtime() -> Any:
    from controlplane.runtime import get_runtime

    return get_runtime()


def retrying(action: Callable[[], Any], attempts: int = 60) -> Any:
    """Call ``action``, riding out a restart of PostgreSQL or Redis (bounded)."""
    for attempt in range(attempts):
        try:
            return action()
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
    return None


def create_namespaces(prefix: str, count: int) -> None:
    from controlplane.accounts.service import create_account
    from controlplane.deployments.schemas import AppIn, NamespaceCreate
    from controlplane.deployments.service import Context, create_namespace

    rt = runtime()
    with rt.transaction() as session:
        account = create_account(session)
        fund(session, rt.settings, account.id)
        ctx = Context(rt.settings, rt.redis)
        for index in range(count):
            app = AppIn.model_validate(
                {
                    "name": "app",
                    "image": "ghcr.io/acme/app:1.0.0",
                    "ports": [{"name": "http", "port": 8080}],
                }
            )
            create_namespace(session, ctx, account.id, NamespaceCreate(name=f"{prefix}-{index:04d}", apps=[app]))


def status_counts(prefix: str | None = None) -> dict[str, int]:
    from controlplane.deployments.models import Namespace

    def read() -> dict[str, int]:
        with runtime().new_session(autocommit=True) as session:
            stmt = select(Namespace.status, func.count()).group_by(Namespace.status)
            if prefix is not None:
                stmt = stmt.where(Namespace.name.startswith(prefix + "-"))
            return dict(session.execute(stmt).all())

    result: dict[str, int] = retrying(read)
    return result


def wait_ready(fleet: Fleet, prefix: str | None, total: int, timeout_s: float, tick: Callable[[], bool]) -> bool:
    """Until ``total`` namespaces are ready and ``tick`` says done (bounded); keeps the workers alive meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        fleet.keep_alive()
        if status_counts(prefix).get("ready", 0) >= total and tick():
            return True
        time.sleep(0.5)
    return False


def start_rollout() -> uuid.UUID:
    from controlplane.fleet.service import Actor, RolloutOptions, start

    with runtime().transaction() as session:
        rollout = start(session, runtime().settings, Actor(None, "bench"), RolloutOptions(note="bench"))
        return uuid.UUID(str(rollout.id))


def rollout_finished(rollout_id: uuid.UUID) -> Callable[[], bool]:
    """The scheduler's rollout tick, played by the benchmark: advance, then say whether the rollout is over."""
    from controlplane.fleet.jobs import advance_rollouts
    from controlplane.fleet.models import Rollout

    def tick() -> bool:
        def step() -> str:
            advance_rollouts()
            with runtime().new_session(autocommit=True) as session:
                return str(session.scalar(select(Rollout.status).where(Rollout.id == rollout_id)))

        status = retrying(step)
        return status not in ("planning", "running")

    return tick


def rollout_summary(rollout_id: uuid.UUID) -> dict[str, Any]:
    from controlplane.fleet import service
    from controlplane.fleet.schemas import rollout_out

    with runtime().transaction() as session:
        shown = rollout_out(service.progress(session, service.get(session, rollout_id)))
    return shown.model_dump()


def run_rollout(fleet: Fleet, workers: int, name: str, fleet_size: int, chaos: bool) -> tuple[Phase, dict[str, Any]]:
    rollout_id = start_rollout()
    fleet.start_workers(workers)
    chaos_log: list[str] = []
    stop = threading.Event()
    monkey = threading.Thread(target=make_chaos, args=(fleet, stop, chaos_log), daemon=True) if chaos else None
    summary: dict[str, Any] = {}
    with measured(fleet, name, lambda: int(summary.get("done", 0)) + int(summary.get("failed", 0))) as out:
        if monkey is not None:
            monkey.start()
        finished = wait_ready(fleet, None, 0, 3600, rollout_finished(rollout_id))
        stop.set()
        if monkey is not None:
            monkey.join()
        if chaos:  # what the kills interrupted last is queued again by the rollout's tick, until all settled
            wait_ready(fleet, None, fleet_size, 900, rollout_finished(rollout_id))
        summary = rollout_summary(rollout_id)
    phase = out[0]
    skipped = summary["considered"] - summary["targets"]
    phase.notes.append(
        f"rollout {summary['status']}{'' if finished else ' (timed out)'}: {summary['targets']} of "
        f"{summary['considered']} stacks differed, {summary['done']} updated, {summary['failed']} failed, "
        f"{skipped} skipped, {len(summary['waves'])} waves"
    )
    phase.notes += chaos_log
    return phase, summary


def make_chaos(fleet: Fleet, stop: threading.Event, log: list[str]) -> None:
    """20 kills at random moments, a PostgreSQL restart after the 7th and a Redis restart after the 14th."""
    for kill in range(1, KILLS + 1):
        if stop.wait(random.uniform(1.0, 6.0)):
            log.append(f"chaos: the rollout ended after {kill - 1} kills")
            return
        fleet.kill_one()
        fleet.keep_alive()
        if kill == 7:
            fleet.postgres.stop()
            time.sleep(2)
            fleet.postgres.restart()
            log.append("chaos: PostgreSQL restarted")
        if kill == 14:
            port, data_dir = fleet.redis.port, fleet.redis.data_dir
            fleet.redis.stop()  # SIGTERM: Redis saves its data, and loads it when it starts again
            time.sleep(2)
            fleet.redis = EmbeddedRedis.start(data_dir, port=port)
            log.append("chaos: Redis restarted")
    log.append(f"chaos: {KILLS} workers killed with SIGKILL")


def convergence_report(fleet: Fleet) -> list[str]:
    from controlplane.deployments.models import Namespace, Operation
    from controlplane.fleet.service import stale_namespaces

    rt = runtime()
    with rt.new_session() as session:
        total = session.scalar(select(func.count()).select_from(Namespace)) or 0
        ready = session.scalar(select(func.count()).select_from(Namespace).where(Namespace.status == "ready")) or 0
        stale = sum(1 for checked in stale_namespaces(session, rt.settings, rt.redis) if checked.stale)
        running = session.scalar(select(func.count()).select_from(Operation).where(Operation.result == "running"))
    lease_s = rt.settings.stack_lock_lease_s
    unbounded = [key for key in rt.redis.scan_iter("controlplane:stack-lock:*") if rt.redis.pttl(key) < 0]
    time.sleep(lease_s + 1)  # every worker is stopped: whatever lock is left must be gone within its lease
    outlived = list(rt.redis.scan_iter("controlplane:stack-lock:*"))
    markers = list(rt.redis.scan_iter("controlplane:stack-run:*"))
    pulumi_locks = list((fleet.tmp / "state" / ".pulumi" / "locks").rglob("*.json"))
    return [
        f"converged: {ready} of {total} namespaces ready, {stale} whose stack differs from the current program "
        f"({'100%' if ready == total and stale == 0 else 'NOT converged'})",
        f"locks past their lease: {len(outlived) + len(unbounded)} (lease {lease_s} s; {len(unbounded)} without "
        f"expiry); runs cut short and not yet recovered: {len(markers)}; Pulumi backend locks left: "
        f"{len(pulumi_locks)}",
        f"operations left running: {running}",
    ]


def skipped_reconcile_ms(sample: int) -> float:
    """A reconcile of unchanged stacks, in this process: lock, database, spec, digest, and the skip."""
    from controlplane.deployments.models import Namespace
    from controlplane.deployments.reconcile import reconcile

    with runtime().new_session(autocommit=True) as session:
        ids = session.scalars(select(Namespace.id).where(Namespace.status == "ready").limit(sample)).all()
    for namespace_id in ids[:3]:
        reconcile(str(namespace_id))  # warm: imports and the first connections
    started = time.perf_counter()
    outcomes = [reconcile(str(namespace_id)) for namespace_id in ids]
    elapsed = time.perf_counter() - started
    if any(outcome != "up to date" for outcome in outcomes):
        print(f"  (not every sampled stack was unchanged: {sorted(set(outcomes))})")
    return elapsed / max(len(ids), 1) * 1000


def check_pass() -> tuple[int, int, float]:
    """One pass of the rollout planner's check: (namespaces, stale, seconds)."""
    from controlplane.fleet.service import stale_namespaces

    rt = runtime()
    started = time.perf_counter()
    with rt.new_session() as session:
        checked = list(stale_namespaces(session, rt.settings, rt.redis))
    return len(checked), sum(1 for item in checked if item.stale), time.perf_counter() - started


def create_account_id() -> uuid.UUID:
    from controlplane.accounts.service import create_account

    with runtime().transaction() as session:
        return uuid.UUID(str(create_account(session).id))


def change_half(tag: str) -> int:
    """What a program change reaching half the stacks does to them: their declarations change (an env flag on the
    namespaces whose id is even), with no generation bump (no tenant edited anything). Returns the count."""
    with runtime().engine.begin() as conn:
        changed = conn.execute(
            text(
                "UPDATE apps SET env = json_build_object('FLEET_FLAG', CAST(:tag AS text)) FROM namespaces n "
                "WHERE n.id = apps.namespace_id AND n.name NOT LIKE 'seed-%' AND get_byte(uuid_send(n.id), 15) % 2 = 0"
            ),
            {"tag": tag},
        )
        return int(changed.rowcount)


def seed_unchanged(count: int) -> None:
    """``count`` namespaces with one app each, written in bulk, each recording the digest it would get."""
    from controlplane.deployments.digest import applied_digest
    from controlplane.deployments.models import Namespace
    from controlplane.deployments.platform import platform_settings
    from controlplane.deployments.spec import build_tenant_spec

    rt = runtime()
    with rt.engine.begin() as conn:
        account = retrying(lambda: create_account_id())
        conn.execute(
            text(
                """
                WITH made AS (
                  INSERT INTO namespaces (id, account_id, name, cluster_name, host_suffix, desired_state, status,
                    generation, observed_generation, observed_state, outputs, conditions, drift_detected,
                    failure_count, created_at, updated_at)
                  SELECT gen_random_uuid(), :account, 'seed-' || lpad(g::text, 5, '0'),
                    'seed-' || lpad(g::text, 5, '0'), 'sd' || lpad(g::text, 6, '0'), 'active', 'ready', 1, 1,
                    'active', '{}', '[]', false, 0, now(), now()
                  FROM generate_series(1, :count) g RETURNING id, name)
                INSERT INTO apps (id, namespace_id, name, image, replicas, cpu_millicores, memory_mib, ports, env,
                  health_check_path, custom_domains, created_at)
                SELECT gen_random_uuid(), id, 'app', 'ghcr.io/acme/app:1.0.0', 1, 250, 256,
                  '[{"name": "http", "port": 8080, "public": false}]', '{}', '/', '[]', now()
                FROM made
                """
            ),
            {"account": account, "count": count},
        )
    platform = platform_settings(rt.settings, rt.redis)
    with rt.transaction() as session:
        seeded = session.scalars(select(Namespace).where(Namespace.name.startswith("seed-"))).all()
        for namespace in seeded:
            namespace.applied_digest = applied_digest(build_tenant_spec(namespace, platform), rt.settings)


def naive_loop(stacks: int) -> tuple[int, float, float]:
    """One `pulumi up` per stack, in a loop, with the engine alone: (stacks, seconds, CPU seconds)."""
    from controlplane.deployments.models import Namespace
    from controlplane.deployments.platform import platform_settings
    from controlplane.deployments.service import stack_name_of
    from controlplane.deployments.spec import build_tenant_spec
    from controlplane.engine.interface import RunKind
    from controlplane.engine.pulumi_engine import PulumiEngine

    rt = runtime()
    platform = platform_settings(rt.settings, rt.redis)
    with rt.new_session() as session:
        namespaces = session.scalars(select(Namespace).where(Namespace.status == "ready").limit(stacks)).all()
        specs = [(stack_name_of(ns.id), build_tenant_spec(ns, platform)) for ns in namespaces]
    engine = PulumiEngine(rt.settings)
    cpu, started = children_cpu_s(), time.monotonic()
    self_cpu = time.process_time()
    for stack, spec in specs:
        engine.run(RunKind.UP, stack, spec, lambda _event: None)
    seconds = time.monotonic() - started
    return len(specs), seconds, children_cpu_s() - cpu + time.process_time() - self_cpu


# --- the benchmark ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespaces", type=int, default=200, help="namespaces created per worker count")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to time creation with")
    parser.add_argument("--chaos", action="store_true", help="kills and restarts during a second rollout")
    parser.add_argument("--naive-stacks", type=int, default=None, help="stacks in the naive loop (default: N)")
    parser.add_argument("--check-namespaces", type=int, default=10_000, help="unchanged namespaces to check")
    args = parser.parse_args()
    missing = [tool for tool in ("pulumi", "pulumi-resource-kubernetes") if shutil.which(tool) is None]
    missing += missing_binaries()
    if missing:
        sys.exit(f"not on PATH: {', '.join(missing)} (see this module's docstring)")
    worker_counts = [int(part) for part in args.workers.split(",")]
    with embedded_servers() as (postgres, redis), tempfile.TemporaryDirectory(prefix="cp-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        with KubeApiServer.start(tmp / "apiserver") as kube:
            fleet = Fleet(tmp, postgres, redis, kube)
            try:
                run(fleet, args, worker_counts)
            finally:
                fleet.stop_workers()
                fleet.redis.stop()


def run(fleet: Fleet, args: argparse.Namespace, worker_counts: list[int]) -> None:
    n = args.namespaces
    load = os.getloadavg()
    print(f"fleet benchmark: {n} namespaces per worker count, {os.cpu_count()} CPUs, load before "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)  # fmt: skip
    phases: list[Phase] = []
    for workers in worker_counts:
        prefix = f"w{workers}"
        create_namespaces(prefix, n)
        fleet.start_workers(workers)
        with measured(fleet, f"create, {workers} worker(s)", lambda: n) as out:
            if not wait_ready(fleet, prefix, n, 120 + n * 60 / workers, lambda: True):
                print(f"  timed out: {status_counts(prefix)}")
        phases.append(out[0])
        print(out[0].line(), flush=True)
    one = next((phase for phase in phases if phase.name.startswith("create, 1 ")), None)
    if one is not None:
        for phase, workers in zip(phases, worker_counts, strict=True):
            target = 0.8 * workers * one.per_minute
            print(
                f"  {workers} worker(s): {phase.per_minute / one.per_minute:4.2f} x one worker (target >= "
                f"{0.8 * workers:.1f} x, {target:.1f} stacks/min, until the CPUs are saturated)"
            )

    fleet_size = n * len(worker_counts)
    rollout_workers = max(worker_counts)
    print(f"program change: {change_half('v2')} of {fleet_size} stacks now declare something new", flush=True)
    rollout, summary = run_rollout(fleet, rollout_workers, f"rollout, {rollout_workers} workers", fleet_size, False)
    print(rollout.line())
    for note in rollout.notes:
        print("  " + note)

    reconcile_ms = skipped_reconcile_ms(50)
    checked, stale, seconds = check_pass()
    print(f"skipped stack: a reconcile that finds its digest unchanged {reconcile_ms:.2f} ms; the planner's check "
          f"{seconds / max(checked, 1) * 1000:.2f} ms per namespace ({checked} checked, {stale} stale) "
          "(target < 5 ms)")  # fmt: skip

    if args.chaos:
        change_half("v3")
        chaotic, _ = run_rollout(fleet, rollout_workers, f"rollout under chaos, {rollout_workers} workers",
                                 fleet_size, True)  # fmt: skip
        print(chaotic.line())
        for note in chaotic.notes + convergence_report(fleet):
            print("  " + note)

    naive_n = min(args.naive_stacks or n, fleet_size)
    stacks, naive_s, naive_cpu = naive_loop(naive_n)
    per_stack = naive_s / max(stacks, 1)
    naive_fleet = per_stack * fleet_size
    print(f"naive loop (one `pulumi up` per stack, no control plane): {stacks} stacks in {naive_s:.1f} s, "
          f"{per_stack:.2f} s and {naive_cpu / max(stacks, 1):.2f} CPU s per stack; for the fleet of {fleet_size}: "
          f"{naive_fleet:.0f} s{' (scaled from the sample)' if stacks < fleet_size else ''}")  # fmt: skip
    print(f"  rollout vs naive loop over the same fleet: {naive_fleet / rollout.seconds:.2f} x faster "
          f"({rollout.seconds:.0f} s vs {naive_fleet:.0f} s; the rollout updated {summary['done']} stacks and "
          f"skipped {summary['considered'] - summary['targets']})")  # fmt: skip

    seed_unchanged(args.check_namespaces)
    checked, stale, seconds = check_pass()
    print(f"check of unchanged namespaces: {checked} checked in {seconds:.1f} s ({seconds / checked * 1000:.2f} ms "
          f"each; {stale} stale) (target: 10,000 in < 60 s)")  # fmt: skip
    load = os.getloadavg()
    print(f"load after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
