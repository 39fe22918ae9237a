"""Which (apiVersion, kind) pairs exist, which model class each maps to, and `decode()` of a raw document.

Owns the table of kinds (Kubernetes names: plural, singular, short names, list kind), the hub class of
each kind and every older (spoke) version. A2's loader calls `decode(doc)` and then `to_hub()`;
`convert.py` and `crd.py` read the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smimesh.resources.access import TrafficTarget
from smimesh.resources.canary import Canary, MetricTemplate
from smimesh.resources.core import Service
from smimesh.resources.gateway import HTTPRoute
from smimesh.resources.ingress import Egress, Ingress, IngressBackend
from smimesh.resources.meta import Resource, SpokeResource
from smimesh.resources.metrics import TrafficMetrics, TrafficMetricsList
from smimesh.resources.osm_policy import Retry, UpstreamTrafficSetting
from smimesh.resources.resilience import ResiliencePolicy
from smimesh.resources.specs import HTTPRouteGroup, TCPRoute, UDPRoute
from smimesh.resources.split import TrafficSplit
from smimesh.resources.versions import SPOKES
from smimesh.resources.workload import Workload


@dataclass(frozen=True, slots=True)
class KindInfo:
    """Kubernetes naming of one kind (SPEC-DIGEST §1.1) and its hub model."""

    kind: str
    hub: type[Resource]
    plural: str
    short_names: tuple[str, ...] = ()
    printer_columns: tuple[tuple[str, str], ...] = ()  # (column name, JSON path)

    @property
    def group(self) -> str:
        return group_of(self.hub.API_VERSION)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def is_smi(self) -> bool:
        return self.group.endswith(".smi-spec.io")


KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo("TrafficTarget", TrafficTarget, "traffictargets", ("tt",)),
        KindInfo("HTTPRouteGroup", HTTPRouteGroup, "httproutegroups", ("htr",)),
        KindInfo("TCPRoute", TCPRoute, "tcproutes", ("tr",)),
        KindInfo("UDPRoute", UDPRoute, "udproutes", ("ur",)),
        KindInfo("TrafficSplit", TrafficSplit, "trafficsplits", ("ts",), (("Service", ".spec.service"),)),
        KindInfo("Service", Service, "services", ("svc",)),
        KindInfo("Workload", Workload, "workloads", ("wl",)),
        KindInfo("Retry", Retry, "retries", ("retry",)),
        KindInfo(
            "UpstreamTrafficSetting",
            UpstreamTrafficSetting,
            "upstreamtrafficsettings",
            ("upstreamtrafficsetting",),
        ),
        KindInfo("ResiliencePolicy", ResiliencePolicy, "resiliencepolicies", ("rp",)),
        KindInfo("HTTPRoute", HTTPRoute, "httproutes"),  # Gateway API (GAMMA), beside SMI
        KindInfo("Ingress", Ingress, "ingresses", ("ing",)),
        KindInfo("IngressBackend", IngressBackend, "ingressbackends", ("ingressbackend",)),
        KindInfo(
            "Canary",
            Canary,
            "canaries",
            (),
            (("Status", ".status.phase"), ("Weight", ".status.canaryWeight")),
        ),  # Flagger's, run by smimesh's own controller (issue 14)
        KindInfo("MetricTemplate", MetricTemplate, "metrictemplates"),  # Flagger's (Prometheus queries)
        KindInfo("Egress", Egress, "egresses", ("egress",)),
    )
}
OUTPUT_KINDS: tuple[type[Any], ...] = (TrafficMetrics, TrafficMetricsList)
# The v1alpha1 specs CRD registered this misspelt group; the Go types always used `specs.smi-spec.io`.
MISSPELT_GROUPS = {"spec.smi-spec.io": "specs.smi-spec.io"}

_BY_VERSION: dict[tuple[str, str], type[Resource]] = {
    (cls.API_VERSION, cls.KIND): cls for cls in [*(i.hub for i in KINDS.values()), *SPOKES]
}


class UnknownKindError(LookupError):
    """`apiVersion`/`kind` name no model; `known` lists what would be accepted (for the hint)."""

    def __init__(self, api_version: str, kind: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.api_version = api_version
        self.kind = kind
        self.message = message
        self.hint = hint
        self.known = known()


def group_of(api_version: str) -> str:
    """`specs.smi-spec.io/v1alpha4` -> `specs.smi-spec.io`; core `v1` -> `""`."""
    return api_version.rpartition("/")[0]


def lookup(api_version: str, kind: str) -> type[Resource] | None:
    return _BY_VERSION.get((api_version, kind))


def known() -> list[tuple[str, str]]:
    """Every accepted (apiVersion, kind), sorted by kind then version."""
    return sorted(_BY_VERSION, key=lambda pair: (pair[1], pair[0]))


def versions_of(kind: str) -> list[str]:
    """Every apiVersion a kind is served in, oldest first (the hub last)."""
    return sorted(api for api, k in _BY_VERSION if k == kind)


def hub_of(kind: str) -> type[Resource]:
    return KINDS[kind].hub


def is_hub(cls: type[Resource]) -> bool:
    info = KINDS.get(cls.KIND)
    return info is not None and info.hub is cls


def info_of(kind: str) -> KindInfo | None:
    """The kind by name, plural or short name (case-insensitive), as `kubectl get` resolves them."""
    wanted = kind.lower()
    for info in KINDS.values():
        if wanted in (info.kind.lower(), info.plural, *info.short_names):
            return info
    return None


def plural(kind: str) -> str:
    return KINDS[kind].plural


def short_names(kind: str) -> tuple[str, ...]:
    return KINDS[kind].short_names


def output_kinds() -> list[tuple[str, str]]:
    return [(cls.API_VERSION, cls.KIND) for cls in OUTPUT_KINDS]


def decode(doc: Mapping[str, Any]) -> Resource:
    """The model of a raw document; raises `pydantic.ValidationError` or `UnknownKindError`."""
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    cls = lookup(api_version, kind) if isinstance(api_version, str) and isinstance(kind, str) else None
    if cls is None:
        raise _unknown(api_version, kind)
    return cls.model_validate(dict(doc))


def _unknown(api_version: object, kind: object) -> UnknownKindError:
    api, kind_text = str(api_version or ""), str(kind or "")
    if not api_version or not kind:
        missing = "apiVersion" if not api_version else "kind"
        return UnknownKindError(api, kind_text, f"the document has no `{missing}`", _hint_for(kind_text))
    group = group_of(api)
    if group in MISSPELT_GROUPS:
        fixed = api.replace(group, MISSPELT_GROUPS[group], 1)
        return UnknownKindError(api, kind_text, f"unknown apiVersion {api!r}", f"write `apiVersion: {fixed}`")
    if (api, kind_text) in output_kinds():
        hint = "TrafficMetrics are served by the metrics API of a running mesh; they are not configuration"
        return UnknownKindError(api, kind_text, f"{kind_text} is an output type, not an input", hint)
    message = f"unknown kind {kind_text!r} in apiVersion {api!r}"
    return UnknownKindError(api, kind_text, message, _hint_for(kind_text))


def _hint_for(kind: str) -> str:
    info = info_of(kind) if kind else None
    if info is not None:
        return f"{info.kind} is served as apiVersion " + ", ".join(versions_of(info.kind))
    kinds = ", ".join(sorted(KINDS))
    return f"known kinds: {kinds}; `smimesh crds` lists every version"


def is_spoke(cls: type[Resource]) -> bool:
    return issubclass(cls, SpokeResource)
