"""Tenant program evaluation time under Pulumi's mocks, for a namespace of 1, 5 and 20 apps.

Each figure is the median of several full program runs (spec already validated; every resource registered with
the mock monitor and every output resolved), after warm-up runs that pay the SDK's lazy imports. The timed runs
use minimal mocks (each resource's state is its inputs), so the figure is the program's and the SDK's cost, not
the test instrumentation's; the resource counts come from one extra run under `RecordingMocks`. Wall time and
CPU time (all threads of the process) are both shown: on a shared machine the wall time includes waiting for a
CPU. The target is under 150 ms for 5 apps.

Then the admission check itself, rules included, both ways in the same process: `check_tenant_spec` (the program
under mocks, the reference) and `check_tenant_spec_fast` (the components' declarations read without the Pulumi
runtime, what admission runs). The targets are under 3 ms for 1 app and under 10 ms for 20 apps.

    .venv/bin/python -m bench.programs [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from policies.declared import check_tenant_spec_fast
from policies.offline import check_tenant_spec
from programs.mocking import run_under_mocks
from programs.tenant import LifecycleState, TenantSpec, tenant_program
from programs.tenant.samples import spec_with_apps

APP_COUNTS = (1, 5, 20)
TARGET_MS_FOR_5_APPS = 150.0
FAST_TARGETS_MS = {1: 3.0, 20: 10.0}
WARM_UP_RUNS = 3


@dataclass(frozen=True)
class Result:
    apps: int
    lifecycle: str
    median_ms: float
    min_ms: float
    max_ms: float
    cpu_median_ms: float
    resources: int
    components: int
    providers: int


class _StateIsInputs(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


def evaluate(spec: TenantSpec) -> tuple[float, float]:
    """Wall and CPU milliseconds of one run (CPU: every thread of the process, the mock monitor's included)."""
    pulumi.runtime.set_mocks(_StateIsInputs(), project="tenant", stack=spec.namespace, preview=False)
    run: Callable[[], None] = pulumi.runtime.test(lambda: tenant_program(spec))  # type: ignore[no-untyped-call]
    started, cpu_started = time.perf_counter(), time.process_time()
    run()
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu_started) * 1000


def measure(apps: int, runs: int, lifecycle: LifecycleState = LifecycleState.ACTIVE) -> Result:
    spec = spec_with_apps(apps, lifecycle=lifecycle)
    for _ in range(WARM_UP_RUNS):
        evaluate(spec)
    timings: list[float] = []
    cpu_timings: list[float] = []
    for _ in range(runs):
        elapsed, cpu = evaluate(spec)
        timings.append(elapsed)
        cpu_timings.append(cpu)
    mocks = run_under_mocks(lambda: tenant_program(spec), project="tenant", stack=spec.namespace)
    if mocks.duplicate_urns:
        raise SystemExit(f"duplicate URNs: {mocks.duplicate_urns}")
    return Result(
        apps=apps,
        lifecycle=lifecycle.value,
        median_ms=statistics.median(timings),
        min_ms=min(timings),
        max_ms=max(timings),
        cpu_median_ms=statistics.median(cpu_timings),
        resources=len(mocks.custom_resources()),
        components=len([r for r in mocks.resources if not r.custom]),
        providers=len([r for r in mocks.resources if r.is_provider]),
    )


@dataclass(frozen=True)
class AdmissionResult:
    apps: int
    mock_run_ms: float
    fast_path_ms: float

    @property
    def ratio(self) -> float:
        return self.mock_run_ms / self.fast_path_ms


def median_ms(check: Callable[[], object], runs: int) -> float:
    for _ in range(WARM_UP_RUNS):
        check()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        check()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def measure_admission(apps: int, runs: int) -> AdmissionResult:
    spec = spec_with_apps(apps)
    if set(check_tenant_spec_fast(spec)) != set(check_tenant_spec(spec)):
        raise SystemExit(f"{apps} apps: the fast path and the mock run disagree")
    return AdmissionResult(
        apps=apps,
        mock_run_ms=median_ms(lambda: check_tenant_spec(spec), runs),
        fast_path_ms=median_ms(lambda: check_tenant_spec_fast(spec), runs),
    )


def print_admission(results: list[AdmissionResult], runs: int) -> None:
    print(f"admission check, rules included, median of {runs} runs")
    print(f"{'apps':>4}  {'mock run ms':>11} {'fast path ms':>12} {'ratio':>7}  target")
    for result in results:
        target = FAST_TARGETS_MS.get(result.apps)
        verdict = "" if target is None else f"< {target:.0f} ms: {'met' if result.fast_path_ms < target else 'MISSED'}"
        timings = f"{result.mock_run_ms:>11.1f} {result.fast_path_ms:>12.2f} {result.ratio:>6.0f}x"
        print(f"{result.apps:>4}  {timings}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per namespace size (default 15)")
    args = parser.parse_args()

    results = [measure(apps, args.runs) for apps in APP_COUNTS]
    results.append(measure(5, args.runs, LifecycleState.SUSPENDED))
    print(f"tenant program under mocks, median of {args.runs} runs")
    print(
        f"{'apps':>4}  {'state':<9} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'cpu ms':>8} "
        f"{'resources':>10} {'components':>11}"
    )
    for result in results:
        print(
            f"{result.apps:>4}  {result.lifecycle:<9} {result.median_ms:>10.1f} {result.min_ms:>8.1f} "
            f"{result.max_ms:>8.1f} {result.cpu_median_ms:>8.1f} {result.resources:>10} {result.components:>11}"
        )
    five = next(r for r in results if r.apps == 5 and r.lifecycle == LifecycleState.ACTIVE.value)
    verdict = "met" if five.median_ms < TARGET_MS_FOR_5_APPS else "MISSED"
    print(f"target: 5 apps under {TARGET_MS_FOR_5_APPS:.0f} ms -> {verdict} ({five.median_ms:.1f} ms)")
    print("resources: Kubernetes and Cloudflare resources (the 2 explicit providers and the components apart)")
    print()
    print_admission([measure_admission(apps, args.runs) for apps in APP_COUNTS], args.runs)
    print(
        f"load average while measuring: {' '.join(f'{load:.1f}' for load in os.getloadavg())} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
