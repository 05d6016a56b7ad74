"""The offline check: run a Pulumi program under the SDK's mocks and apply every rule of the pack.

No `pulumi` CLI, no plugins and no credentials are involved: the program's resources are recorded as the
mock monitor receives them (type, logical name, inputs in camelCase wire form, which is what CrossGuard's
resource policies see), their outputs are the inputs plus a few provider-computed fields (what stack
policies see), and the rules of `policies.rules` are applied exactly as the CrossGuard adapter applies them.

Entry points:

- `check_program(program, config=...)`: any program function.
- `check_tenant_spec(spec)`: the tenant program for one `TenantSpec` (the reference for admission, whose fast
  path is `policies.declared`).
- `check_platform_stack(path)`: the platform program with one `stacks/Pulumi.<stack>.yaml`.
- `repository_targets(stack_config_dir)`: every platform stack config and every tenant sample (CI).

Running under mocks mutates Pulumi's process-wide runtime settings, and the SDK needs an asyncio event
loop that nothing else drives. So each run happens on a short-lived worker thread, inside a fresh
`contextvars.Context` and a fresh event loop (closed afterwards), under one process-wide lock; the defaults
the SDK's settings keep on the class (`ContextProperty` writes its first value there) are restored
afterwards. The caller's thread, context and event loop (an async request handler's, for instance) are never
touched, calls from several threads are serialised, and a run that exceeds its timeout raises
`OfflineCheckTimeout` while the lock stays held until the stuck program ends.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import hashlib
import importlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from policies import manifests
from policies.registry import (
    ENFORCEMENT_KEY,
    ConfigError,
    Enforcement,
    Level,
    PackConfig,
    Report,
    ResourceRule,
    ResourceView,
    Rule,
    StackRule,
    validate_pack_config,
)
from policies.rules import RULES
from policies.tenancy import TENANT_PROJECT

T = TypeVar("T")

STACK_TYPE = "pulumi:pulumi:Stack"
AWS_PROVIDER = "pulumi:providers:aws"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
DEFAULT_TIMEOUT = 30.0
PLATFORM_PROJECT = "platform"
MOCK_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"

_UNRENDERABLE = (
    "renders its objects with the provider's Helm or kustomize, which the offline check does not have: "
    "check this program with `pulumi preview --policy-pack policies`"
)
_RUN_LOCK = threading.Lock()
_WORKER_NAME = "policies-offline-check"
_PULUMI_LOG = logging.getLogger("policies.offline.pulumi")


class OfflineCheckError(RuntimeError):
    """The program under check failed (its own exception is the `__cause__`)."""


class OfflineCheckTimeout(OfflineCheckError):
    """The program did not finish within the timeout, or another check held the runtime that long."""


@dataclass(frozen=True)
class Violation:
    """One rule broken by one resource (or by the stack as a whole: `resource_type` pulumi:pulumi:Stack)."""

    rule: str
    enforcement: Enforcement
    resource_type: str
    resource_name: str
    message: str
    control: str | None = None
    """The Pod Security Standards control the rule implements (None for the project's own rules)."""
    level: Level | None = None
    """That control's level, baseline or restricted."""

    @property
    def mandatory(self) -> bool:
        return self.enforcement is Enforcement.MANDATORY

    def as_dict(self) -> dict[str, str | None]:
        return {
            "rule": self.rule,
            "enforcement": self.enforcement.value,
            "control": self.control,
            "level": None if self.level is None else self.level.value,
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "message": self.message,
        }


@dataclass(frozen=True)
class RecordedResource:
    """A resource the program registered, as the mock monitor received it."""

    type: str
    name: str
    urn: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    provider: str = ""

    @property
    def input_view(self) -> ResourceView:
        return ResourceView(type=self.type, name=self.name, props=self.inputs, urn=self.urn)

    @property
    def output_view(self) -> ResourceView:
        return ResourceView(type=self.type, name=self.name, props=self.outputs, urn=self.urn)


def has_mandatory(violations: Iterable[Violation]) -> bool:
    return any(v.mandatory for v in violations)


# --- applying the rules --------------------------------------------------------------------------


def evaluate(
    inputs: Sequence[ResourceView],
    outputs: Sequence[ResourceView] | None = None,
    *,
    config: PackConfig | None = None,
    rules: Sequence[Rule] = RULES,
    stack_name: str = "stack",
) -> list[Violation]:
    """Apply resource rules to `inputs` and stack rules to `outputs` (default: `inputs`).

    `config` has the CrossGuard policy-config shape (see `policies.registry`); a rule at `disabled` is skipped.
    """
    config = config or {}
    validate_pack_config(rules, config)
    all_level = config.get("all")
    stack_views = list(inputs if outputs is None else outputs)
    violations: list[Violation] = []

    for rule in rules:
        entry = config.get(rule.name)
        enforcement, rule_config = rule.resolve(entry)
        has_own_level = isinstance(entry, str) or (isinstance(entry, Mapping) and ENFORCEMENT_KEY in entry)
        if all_level is not None and not has_own_level:
            enforcement, _ = rule.resolve(all_level)
        if enforcement is Enforcement.DISABLED:
            continue

        def add(message: str, view: ResourceView | None, rule: Rule = rule, level: Enforcement = enforcement) -> None:
            resource_type, resource_name = (STACK_TYPE, stack_name) if view is None else (view.type, view.name)
            violations.append(
                Violation(rule.name, level, resource_type, resource_name, message, rule.control, rule.level)
            )

        if isinstance(rule, ResourceRule):
            for view in inputs:
                if rule.applies_to(view.type):
                    rule.check(view, rule_config, _resource_report(add, view))
        elif isinstance(rule, StackRule):

            def stack_report(message: str, resource: ResourceView | None = None, /) -> None:
                add(message, resource)

            rule.check(stack_views, rule_config, stack_report)
    return violations


def _resource_report(add: Callable[[str, ResourceView | None], None], view: ResourceView) -> Report:
    def report(message: str, resource: ResourceView | None = None, /) -> None:
        add(message, view)  # a resource rule's violation always belongs to the resource checked

    return report


# --- running a program under mocks ---------------------------------------------------------------


def _service_of(resource_type: str) -> str:
    # "aws:eks/cluster:Cluster" -> "eks"
    module = resource_type.split(":")[1] if resource_type.count(":") >= 2 else ""
    return module.split("/")[0] or "mock"


def resource_urn(stack: str, project: str, resource_type: str, name: str) -> str:
    """The URN the offline check gives a resource (its own type, not its parents' type chain)."""
    return f"urn:pulumi:{stack}::{project}::{resource_type}::{name}"


def mock_outputs(resource_type: str, name: str, urn: str, inputs: Mapping[str, Any], region: str) -> dict[str, Any]:
    """The state a provider would return: the inputs plus the computed fields programs commonly read."""
    outputs: dict[str, Any] = _copy_tree(dict(inputs))
    suffix = hashlib.sha256(urn.encode()).hexdigest()[:8]
    if resource_type == HELM_RELEASE:
        outputs.setdefault(
            "status",
            {
                "name": inputs.get("name") or f"{name}-{suffix}",
                "namespace": inputs.get("namespace") or "default",
                "chart": inputs.get("chart"),
                "version": inputs.get("version"),
                "status": "deployed",
                "revision": 1,
            },
        )
    elif resource_type.startswith("kubernetes:") and not resource_type.endswith("Patch"):
        metadata = outputs.get("metadata")
        metadata = dict(metadata) if isinstance(metadata, Mapping) else {}
        if not metadata.get("name"):
            metadata["name"] = f"{name}-{suffix}"  # the provider's auto-naming
        outputs["metadata"] = metadata
        if resource_type == "kubernetes:core/v1:Service" and not inputs:  # a read (`Service.get`)
            outputs.setdefault("spec", {"type": "LoadBalancer"})
            outputs.setdefault(
                "status",
                {"loadBalancer": {"ingress": [{"hostname": f"{name}-{suffix}.elb.{region}.amazonaws.com"}]}},
            )
    elif resource_type.startswith("aws:"):
        service = _service_of(resource_type)
        outputs.setdefault("arn", f"arn:aws:{service}:{region}:{MOCK_ACCOUNT}:{name}-{suffix}")
        outputs.setdefault("name", f"{name}-{suffix}")
        if resource_type == "aws:eks/cluster:Cluster":
            outputs.setdefault("endpoint", f"https://{suffix}.gr7.{region}.eks.amazonaws.com")
            outputs.setdefault("certificateAuthority", {"data": "bW9jaw=="})
            outputs.setdefault(
                "identities",
                [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{suffix.upper()}"}]}],
            )
            outputs.setdefault("version", "1.33")
    elif resource_type.startswith("cloudflare:"):
        outputs.setdefault("id", suffix)
    return outputs


def _copy_tree(value: Any) -> Any:
    """A deep copy of wire-form data, several times faster than `copy.deepcopy` for its dicts and lists."""
    kind = type(value)
    if kind is dict:
        return {key: _copy_tree(item) for key, item in value.items()}
    if kind is list:
        return [_copy_tree(item) for item in value]
    if kind in (str, float, bool, int, type(None)):
        return value
    return copy.deepcopy(value)


def _mock_call(token: str, region: str) -> dict[str, Any]:
    zones = [f"{region}{letter}" for letter in "abc"]
    known: dict[str, dict[str, Any]] = {
        "aws:index/getCallerIdentity:getCallerIdentity": {
            "accountId": MOCK_ACCOUNT,
            "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:user/offline-check",
            "userId": "offline-check",
            "id": MOCK_ACCOUNT,
        },
        "aws:index/getRegion:getRegion": {"name": region, "region": region, "id": region},
        "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"},
        "aws:index/getAvailabilityZones:getAvailabilityZones": {
            "names": zones,
            "zoneIds": [f"use1-az{i}" for i in range(1, 4)],
            "id": region,
        },
        "aws:iam/getPolicyDocument:getPolicyDocument": {
            "json": json.dumps({"Version": "2012-10-17", "Statement": []}),
            "id": "offline-check",
        },
    }
    return known.get(token, {})


def _string_config(stack_config: Mapping[str, Any]) -> dict[str, str]:
    """Pulumi hands config to programs as strings; structured values as JSON."""
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in stack_config.items()
        if not (isinstance(value, Mapping) and "secure" in value)  # encrypted values cannot be read here
    }


def collect_resources(
    program: Callable[[], Any],
    *,
    stack_config: Mapping[str, Any] | None = None,
    project: str = "offline",
    stack: str = "offline",
    timeout: float = DEFAULT_TIMEOUT,
) -> list[RecordedResource]:
    """Run `program` under Pulumi's mocks and return the custom resources it registered, in order.

    `stack_config` is the stack's Pulumi configuration (`platform:xxx`, `aws:region`...), readable through
    `pulumi.Config` inside the program.
    """
    stack_config = dict(stack_config or {})
    region = str(stack_config.get("aws:region") or DEFAULT_REGION)
    return _run_isolated(lambda: _record(program, stack_config, project, stack, region), timeout)


def _record(
    program: Callable[[], Any], stack_config: Mapping[str, Any], project: str, stack: str, region: str
) -> list[RecordedResource]:
    # Imported here: the SDK is heavy and only this path needs it.
    import pulumi.runtime
    from pulumi.runtime import mocks
    from pulumi.runtime.settings import SETTINGS
    from pulumi.runtime.stack import run_pulumi_func

    recorded: list[RecordedResource] = []
    recorded_lock = threading.Lock()

    def record(resource_type: str, name: str, inputs: Mapping[str, Any], provider: str) -> dict[str, Any]:
        urn = resource_urn(stack, project, resource_type, name)
        outputs = mock_outputs(resource_type, name, urn, inputs, region)
        with recorded_lock:
            recorded.append(RecordedResource(resource_type, name, urn, copy.deepcopy(inputs), outputs, provider))
        return outputs

    class RecordingMocks(mocks.Mocks):
        def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            resource_id = args.resource_id or f"{args.name}-id"
            if args.custom:  # components are not resources a policy sees; None marks a read (`.get`)
                return resource_id, record(args.typ, args.name, args.inputs, args.provider or "")
            if args.typ in manifests.UNRENDERABLE_COMPONENTS:
                raise manifests.Unrenderable(f"{args.typ} {args.name!r} {_UNRENDERABLE}")
            if args.typ in manifests.YAML_V2_COMPONENTS:  # the provider registers one child per object
                for child in manifests.expand_config_component(args.typ, args.name, args.inputs):
                    record(child.type, child.name, child.props, args.provider or "")
            urn = resource_urn(stack, project, args.typ, args.name)
            return resource_id, mock_outputs(args.typ, args.name, urn, args.inputs, region)

        def call(self, args: mocks.MockCallArgs) -> Any:
            if args.token == manifests.YAML_DECODE:
                return {"result": manifests.decode_yaml(str(args.args.get("text") or ""))}
            if args.token in manifests.UNRENDERABLE_INVOKES:
                raise manifests.Unrenderable(f"{args.token} {_UNRENDERABLE}")
            return _mock_call(args.token, region)

    loop = asyncio.new_event_loop()
    # A failed program leaves futures whose errors nobody reads; they are reported once, as the cause.
    loop.set_exception_handler(lambda _loop, context: _PULUMI_LOG.debug("%s", context.get("message")))
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_all_config(_string_config(stack_config), [])
        mocks.set_mocks(RecordingMocks(), project=project, stack=stack, preview=False, logger=_PULUMI_LOG)
        # The SDK tracks pending outputs in a set shared by default across runs: give this run its own.
        SETTINGS.outputs = set()
        SETTINGS.lock = threading.Lock()
        loop.run_until_complete(run_pulumi_func(program))
    finally:
        _close_loop(loop)
    return recorded


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _settings_properties() -> dict[str, Any]:
    from pulumi._utils import ContextProperty
    from pulumi.runtime.settings import Settings

    return {name: prop for name, prop in vars(Settings).items() if isinstance(prop, ContextProperty)}


_DEFAULT_ATTRIBUTE = "_ContextProperty__default"


def _run_isolated(work: Callable[[], T], timeout: float) -> T:
    """Run `work` on a worker thread in a fresh context, holding the process-wide lock."""
    if threading.current_thread().name == _WORKER_NAME:
        raise OfflineCheckError("the offline check cannot run from inside a program under check")
    if not _RUN_LOCK.acquire(timeout=timeout):
        raise OfflineCheckTimeout(f"another offline check held the Pulumi runtime for over {timeout:g}s")
    outcome: dict[str, Any] = {}

    def worker() -> None:
        try:
            properties = _settings_properties()
            saved = {name: getattr(prop, _DEFAULT_ATTRIBUTE) for name, prop in properties.items()}
            try:
                outcome["value"] = contextvars.Context().run(work)
            finally:
                for name, prop in properties.items():
                    setattr(prop, _DEFAULT_ATTRIBUTE, saved[name])
        except BaseException as error:  # handed to the calling thread
            outcome["error"] = error
        finally:
            _RUN_LOCK.release()

    thread = threading.Thread(target=worker, name=_WORKER_NAME, daemon=True)
    try:
        thread.start()
    except BaseException:
        _RUN_LOCK.release()
        raise
    thread.join(timeout)
    if thread.is_alive():
        raise OfflineCheckTimeout(f"the program did not finish within {timeout:g}s")
    if "error" in outcome:
        raise OfflineCheckError(f"the program failed under mocks: {outcome['error']}") from outcome["error"]
    value: T = outcome["value"]
    return value


def _default_provider_views(
    resources: Sequence[RecordedResource], stack_config: Mapping[str, Any], project: str, stack: str
) -> list[ResourceView]:
    """The engine registers a default aws provider (from `aws:region`) for resources with no explicit
    provider; mocks never see it, so stand it in for the region rule."""
    if not any(r.type.startswith("aws:") and not r.provider for r in resources):
        return []
    props = {"region": stack_config["aws:region"]} if stack_config.get("aws:region") else {}
    urn = resource_urn(stack, project, AWS_PROVIDER, "default")
    return [ResourceView(type=AWS_PROVIDER, name="default", props=props, urn=urn)]


def check_program(
    program: Callable[[], Any],
    config: PackConfig | None = None,
    *,
    stack_config: Mapping[str, Any] | None = None,
    project: str = "offline",
    stack: str = "offline",
    rules: Sequence[Rule] = RULES,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Violation]:
    """Run `program` under mocks and return every violation of every rule (enforcement levels per `config`).

    Raises `OfflineCheckError` if the program itself fails, `OfflineCheckTimeout` if it hangs, and
    `policies.registry.ConfigError` for a configuration naming unknown rules or properties.
    """
    if config:
        validate_pack_config(rules, config)  # fail before running anything
    stack_config = dict(stack_config or {})
    resources = collect_resources(program, stack_config=stack_config, project=project, stack=stack, timeout=timeout)
    extra = _default_provider_views(resources, stack_config, project, stack)
    return evaluate(
        [r.input_view for r in resources] + extra,
        [r.output_view for r in resources] + extra,
        config=config,
        rules=rules,
        stack_name=stack,
    )


# --- the project's programs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One program run the repository check covers (a platform stack config or a tenant sample)."""

    name: str
    run: Callable[[], list[Violation]] = field(repr=False)


def check_tenant_spec(
    spec: Any, config: PackConfig | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> list[Violation]:
    """The tenant program for `spec` (a `programs.tenant.TenantSpec`), checked under project `tenant`."""
    tenant_program = _program_attribute("programs.tenant", "tenant_program")
    return check_program(
        lambda: tenant_program(spec),
        config,
        project=TENANT_PROJECT,
        stack=tenant_stack_name(spec),
        timeout=timeout,
    )


def warm_up() -> None:
    """Import the tenant program and its SDKs and run an empty program once (about 2 s), so that the
    first admission check of a fresh API process is as fast as the next ones. Call it at startup."""
    _program_attribute("programs.tenant", "tenant_program")
    check_program(lambda: None)


def _program_attribute(module: str, name: str) -> Any:
    # The programs are imported on use: the rules, the pack and `check_program` never depend on them.
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise OfflineCheckError(f"{module}.{name} is not available: {error}") from error


def tenant_stack_name(spec: Any) -> str:
    for attribute in ("stack_name", "namespace", "name"):
        value = getattr(spec, attribute, None)
        if isinstance(value, str) and value:
            return value
    return "tenant"


def load_stack_config(path: Path) -> dict[str, Any]:
    """The `config:` map of a `Pulumi.<stack>.yaml`."""
    import yaml

    document = yaml.safe_load(path.read_text()) or {}
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise OfflineCheckError(f"{path}: 'config' is not a mapping")
    return config


def stack_name_of(path: Path) -> str:
    # Pulumi.dev.yaml -> dev
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")


def check_platform_stack(
    path: Path | str, config: PackConfig | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> list[Violation]:
    """The platform program with the stack configuration in `path` (`stacks/Pulumi.<stack>.yaml`)."""
    platform_program = _program_attribute("programs.platform", "platform_program")
    path = Path(path)
    stack_config = load_stack_config(path)
    try:
        platform_config = platform_config_from_stack(stack_config)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise OfflineCheckError(f"{path}: the platform configuration is invalid: {error}") from error
    return check_program(
        lambda: platform_program(platform_config),
        config,
        stack_config=stack_config,
        project=PLATFORM_PROJECT,
        stack=stack_name_of(path),
        timeout=timeout,
    )


def platform_config_from_stack(stack_config: Mapping[str, Any]) -> Any:
    """`PlatformConfig` from a stack's `platform:*` keys, as `programs/platform/__main__.py` reads them."""
    platform_config_model = _program_attribute("programs.platform", "PlatformConfig")
    namespace = f"{PLATFORM_PROJECT}:"
    values = {key.removeprefix(namespace): value for key, value in stack_config.items() if key.startswith(namespace)}
    return platform_config_model.model_validate(values)


def repository_targets(stack_config_dir: Path | str = "stacks", config: PackConfig | None = None) -> list[Target]:
    """Every platform stack config in `stack_config_dir` and every tenant sample spec."""
    targets: list[Target] = []
    for path in sorted(Path(stack_config_dir).glob("Pulumi.*.yaml")):
        targets.append(Target(f"platform/{stack_name_of(path)}", functools.partial(check_platform_stack, path, config)))
    try:
        samples = importlib.import_module("programs.tenant.samples")
        named = sample_specs(samples)
    except (ImportError, OfflineCheckError, ValueError) as error:
        targets.append(Target("tenant/samples", functools.partial(_unavailable, error)))
        return targets
    for sample_name, spec in named:
        targets.append(Target(f"tenant/{sample_name}", functools.partial(check_tenant_spec, spec, config)))
    return targets


def _unavailable(error: Exception) -> list[Violation]:
    raise OfflineCheckError(f"the tenant samples cannot be loaded: {error}") from error


def sample_specs(module: Any) -> list[tuple[str, Any]]:
    """The named `TenantSpec`s of a samples module: its `samples()` mapping, else its module-level specs."""
    tenant_spec = _program_attribute("programs.tenant", "TenantSpec")
    factory = getattr(module, "samples", None)
    if callable(factory):
        named = factory()
        if isinstance(named, Mapping):
            return [(str(name), spec) for name, spec in named.items() if isinstance(spec, tenant_spec)]
    return [(name.lower(), value) for name, value in vars(module).items() if isinstance(value, tenant_spec)]


@dataclass(frozen=True)
class TargetResult:
    """What one target produced: its violations, or the error that kept it from running."""

    target: str
    violations: list[Violation]
    error: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None or has_mandatory(self.violations)


def run_targets(targets: Iterable[Target]) -> list[TargetResult]:
    """Run each target; a program that fails is recorded as an error instead of stopping the others."""
    results = []
    for target in targets:
        started = time.perf_counter()
        try:
            violations = target.run()
        except (OfflineCheckError, ConfigError) as error:
            cause = error.__cause__
            detail = f"{error}" if cause is None else f"{error} ({type(cause).__name__})"
            results.append(TargetResult(target.name, [], detail, time.perf_counter() - started))
        else:
            results.append(TargetResult(target.name, violations, None, time.perf_counter() - started))
    return results
