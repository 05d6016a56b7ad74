"""The pods inside Kubernetes objects: where each kind, API version and shape carries its pod.

Every rule about pods reads them through `carried_pods(view)`, so all of them see the same pods:

- by kind, in every API version (the SDK ships e.g. `apps/v1`, `apps/v1beta1`, `apps/v1beta2` and
  `extensions/v1beta1` Deployments, and `batch/v1`, `batch/v1beta1` and `batch/v2alpha1` CronJobs): a Pod is its
  own pod, a PodTemplate carries one at `template`, a Deployment, StatefulSet, DaemonSet, ReplicaSet,
  ReplicationController or Job at `spec.template`, a CronJob at `spec.jobTemplate.spec.template`;
- the SDK's `<Kind>Patch` types (server-side apply patches) carry a *partial* pod: a field the patch does not
  set is left as it is on the server, so a rule checks the fields that are present and cannot require one;
- the SDK's `<Kind>List` types carry one object per item of `items`;
- any other Kubernetes object (a custom resource, a kind this table does not know) is inspected by shape: a
  mapping at `spec.template.spec` or `spec.jobTemplate.spec.template.spec` is a pod template.

A pod's metadata (the AppArmor annotations) is the object's own for a Pod and the template's otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from policies.kube import is_kubernetes_object
from policies.props import get_path, items, mapping, strings
from policies.registry import Level, Report, ResourceRule, ResourceView, RuleConfig

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
PATCH_SUFFIX = "Patch"
LIST_SUFFIX = "List"
_DERIVED_KEY = "pods"  # in ResourceView.derived

# (pod spec, pod metadata) paths inside an object of each shape.
_OWN = ("spec", "metadata")
_TEMPLATE = ("template.spec", "template.metadata")
_SPEC_TEMPLATE = ("spec.template.spec", "spec.template.metadata")
_JOB_TEMPLATE = ("spec.jobTemplate.spec.template.spec", "spec.jobTemplate.spec.template.metadata")
_SHAPES = (_SPEC_TEMPLATE, _JOB_TEMPLATE)

# The built-in kinds that carry a pod, by API group ("core" is the legacy group, as in the SDK's tokens).
POD_PATHS: Mapping[tuple[str, str], tuple[str, str]] = {
    ("core", "Pod"): _OWN,
    ("core", "PodTemplate"): _TEMPLATE,
    ("core", "ReplicationController"): _SPEC_TEMPLATE,
    ("apps", "Deployment"): _SPEC_TEMPLATE,
    ("apps", "StatefulSet"): _SPEC_TEMPLATE,
    ("apps", "DaemonSet"): _SPEC_TEMPLATE,
    ("apps", "ReplicaSet"): _SPEC_TEMPLATE,
    ("extensions", "Deployment"): _SPEC_TEMPLATE,
    ("extensions", "DaemonSet"): _SPEC_TEMPLATE,
    ("extensions", "ReplicaSet"): _SPEC_TEMPLATE,
    ("batch", "Job"): _SPEC_TEMPLATE,
    ("batch", "CronJob"): _JOB_TEMPLATE,
}


@dataclass(frozen=True)
class Container:
    """One container of a pod spec, with where it came from (for messages)."""

    list_name: str
    name: str
    spec: Mapping[str, Any]

    @property
    def label(self) -> str:
        kind = {"initContainers": "init container", "ephemeralContainers": "ephemeral container"}
        return f"{kind.get(self.list_name, 'container')} {self.name!r}"

    @property
    def security_context(self) -> Mapping[str, Any]:
        return mapping(self.spec.get("securityContext"))


@dataclass(frozen=True)
class CarriedPod:
    """A pod spec and its metadata as one object carries it.

    `where` locates it inside the object for messages ("" for the object's own pod, "items[2]" in a list);
    `partial` marks a patch's pod, where an absent field means "unchanged", not "unset".
    """

    spec: Mapping[str, Any]
    metadata: Mapping[str, Any]
    namespace: str | None
    where: str = ""
    partial: bool = False

    @property
    def security_context(self) -> Mapping[str, Any]:
        return mapping(self.spec.get("securityContext"))

    @property
    def is_windows(self) -> bool:
        """`spec.os.name: windows`: the standard exempts these pods from its Linux-only controls."""
        return bool(get_path(self.spec, "os.name") == "windows")

    @property
    def annotations(self) -> Mapping[str, Any]:
        return mapping(self.metadata.get("annotations"))

    def containers(self) -> Iterator[Container]:
        """Every init container, container and ephemeral container."""
        return containers(self.spec)

    def located(self, message: str) -> str:
        return f"{self.where}: {message}" if self.where else message


def containers(spec: Mapping[str, Any]) -> Iterator[Container]:
    """Every container, init container and ephemeral container of a pod spec."""
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate(items(spec.get(list_name))):
            container = mapping(container)
            name = container.get("name")
            yield Container(list_name, name if isinstance(name, str) else f"#{index}", container)


def split_type(resource_type: str) -> tuple[str, str]:
    """`kubernetes:apps/v1beta2:DeploymentPatch` -> ("apps", "DeploymentPatch")."""
    _, _, rest = resource_type.partition(":")
    module, _, kind = rest.partition(":")
    return module.split("/", 1)[0], kind


def carried_pods(view: ResourceView) -> list[CarriedPod]:
    """The pods `view` carries (none for an object that carries no pod, or for anything but a Kubernetes
    object). Computed once per view: every pod rule asks."""
    pods: list[CarriedPod] | None = view.derived.get(_DERIVED_KEY)
    if pods is None:
        pods = view.derived[_DERIVED_KEY] = _carried_pods(view)
    return pods


def _carried_pods(view: ResourceView) -> list[CarriedPod]:
    if not is_kubernetes_object(view.type):
        return []
    group, kind = split_type(view.type)
    partial = kind.endswith(PATCH_SUFFIX)
    if partial:
        kind = kind.removesuffix(PATCH_SUFFIX)
    listed = items(view.props.get("items")) if kind.endswith(LIST_SUFFIX) else ()
    if listed:
        item_kind = kind.removesuffix(LIST_SUFFIX)
        pods = []
        for index, item in enumerate(listed):
            pods.extend(_pods_of(group, item_kind, mapping(item), f"items[{index}]", partial))
        return pods
    return _pods_of(group, kind, view.props, "", partial)


def _pods_of(group: str, kind: str, props: Mapping[str, Any], where: str, partial: bool) -> list[CarriedPod]:
    namespace = get_path(props, "metadata.namespace")
    namespace = namespace if isinstance(namespace, str) and namespace else None
    known = POD_PATHS.get((group, kind))
    if known is not None:
        # A known kind's pod counts with only its metadata too (a patch of the template's annotations).
        spec, metadata = get_path(props, known[0]), get_path(props, known[1])
        if isinstance(spec, Mapping) or isinstance(metadata, Mapping):
            return [CarriedPod(mapping(spec), mapping(metadata), namespace, where, partial)]
        return []
    for spec_path, metadata_path in _SHAPES:
        spec = get_path(props, spec_path)
        if isinstance(spec, Mapping):
            return [CarriedPod(spec, mapping(get_path(props, metadata_path)), namespace, where, partial)]
    return []


# --- rules over pods ------------------------------------------------------------------------------

PodReport: TypeAlias = Callable[[str], None]
PodCheck: TypeAlias = Callable[[CarriedPod, PodReport], None]

EXEMPT_NAMESPACES: Mapping[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "default": ["kube-system"],
    "description": "Namespaces whose pods this rule does not check (platform add-ons only; a tenant's namespace "
    "name is derived from its id and is never one of these).",
}


def pod_rule(
    *, name: str, description: str, check: PodCheck, control: str | None = None, level: Level | None = None
) -> ResourceRule:
    """A resource rule that runs `check` on every pod an object carries, outside the exempt namespaces."""

    def run(view: ResourceView, config: RuleConfig, report: Report) -> None:
        pods = carried_pods(view)
        if not pods:  # most objects: no configuration to read
            return
        exempt = strings(config.get("exemptNamespaces"))
        for pod in pods:
            if pod.namespace is not None and pod.namespace in exempt:
                continue
            check(pod, _located(report, pod))

    return ResourceRule(
        name=name,
        description=description,
        check=run,
        config_schema={"exemptNamespaces": EXEMPT_NAMESPACES},
        control=control,
        level=level,
    )


def _located(report: Report, pod: CarriedPod) -> PodReport:
    def located(message: str) -> None:
        report(pod.located(message))

    return located
