"""Cross-object checks (SM4xxx) on any `InputSnapshot`: references between objects and what they imply.

Owns: TrafficTarget rules naming a missing route object or match; TrafficSplit roots, backends and
`matches` that do not exist, backends lacking the root's ports, all-zero weights per root port, several
unconditional splits for one root; Services selecting no Workload; Workloads running as an identity no
TrafficTarget names. All references are same-namespace (SPEC-DIGEST §1.4). Works on hub resources only,
so it serves files and the API alike; paths are hub paths unless `locate` maps them to what was written.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from smimesh.diagnostics import Diagnostic, Location, ObjectRef, Severity, lookup, shorten
from smimesh.resources import codes, codes_canary, codes_gateway
from smimesh.resources.access import TrafficTarget
from smimesh.resources.canary import Canary, MetricTemplate
from smimesh.resources.core import Service
from smimesh.resources.document import format_path
from smimesh.resources.gateway_references import check_http_routes
from smimesh.resources.meta import Resource, ResourceKey
from smimesh.resources.snapshot import InputSnapshot
from smimesh.resources.specs import HTTPRouteGroup, TCPRoute, UDPRoute
from smimesh.resources.split import TrafficSplit
from smimesh.resources.workload import Workload

Path = tuple[str | int, ...]
Locate = Callable[[ResourceKey, Path], tuple[Location, str]]
# (expected, default hint) per code
_DEFAULTS: dict[str, tuple[str, str]] = {
    codes.MISSING_ROUTE: ("a route object of that kind in the TrafficTarget's namespace", ""),
    codes.MISSING_MATCH: ("a match name the HTTPRouteGroup defines", ""),
    codes.MISSING_SPLIT_MATCH: ("an HTTPRouteGroup in the split's namespace", ""),
    codes.MISSING_ROOT: ("a Service in the split's namespace", ""),
    codes.MISSING_BACKEND: ("a Service in the split's namespace", ""),
    codes.BACKEND_LACKS_PORT: ("every port number of the root Service", ""),
    codes.ZERO_WEIGHTS: ("an eligible backend with a weight above 0 for every root port", ""),
    codes.SELECTS_NOTHING: ("the labels of at least one Workload in the namespace", ""),
    codes.IDENTITY_MISMATCH: ("a ServiceAccount that a TrafficTarget names", ""),
    codes_canary.MISSING_TARGET: ("a Workload of that name in the Canary's namespace", ""),
    codes_canary.MISSING_TEMPLATE: ("a MetricTemplate of that name", ""),
    codes_gateway.MISSING_PARENT: ("a Service (and port) in the HTTPRoute's namespace", ""),
    codes_gateway.MISSING_ROUTE_BACKEND: ("a Service with that port in the HTTPRoute's namespace", ""),
    codes_gateway.SPLIT_AND_ROUTE: ("one kind of route per Service port", ""),
    codes.DUPLICATE_SPLIT: (
        "one TrafficSplit without `matches` per root service",
        "merge the splits, or give this one `matches`",
    ),
}
_ROUTE_KINDS: dict[str, type[Resource]] = {
    "HTTPRouteGroup": HTTPRouteGroup,
    "TCPRoute": TCPRoute,
    "UDPRoute": UDPRoute,
}


def validate_references(snapshot: InputSnapshot, locate: Locate | None = None) -> list[Diagnostic]:
    """Every cross-object problem in `snapshot`, in a deterministic order."""
    refs = _Refs(snapshot, locate)
    for check in (_targets, _splits, _services, _identities, _canaries, _http_routes):
        check(refs)
    return refs.found


def _http_routes(refs: _Refs) -> None:
    check_http_routes(refs.snapshot, refs.report)


class _Refs:
    def __init__(self, snapshot: InputSnapshot, locate: Locate | None) -> None:
        self.snapshot = snapshot
        self.locate: Locate = locate or (lambda key, path: (snapshot.location(key), format_path(path)))
        self.found: list[Diagnostic] = []

    def report(
        self, resource: Resource, code: str, message: str, path: Path, value: Any = None, hint: str = ""
    ) -> None:
        location, where = self.locate(resource.key, path)
        expected, default_hint = _DEFAULTS.get(code, ("", ""))
        hint = hint or default_hint
        info = lookup(code)
        key = resource.key
        self.found.append(
            Diagnostic(
                code,
                message,
                info.severity if info else Severity.ERROR,
                location,
                ObjectRef(key.kind, key.namespace, key.name),
                where,
                None if value is None else shorten(value),
                expected,
                hint,
            )
        )

    def names(self, model: type[Resource], namespace: str) -> list[str]:
        return [r.metadata.name for r in self.snapshot.of_kind(model) if r.metadata.namespace == namespace]


def _did_you_mean(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return (
        "defined here: " + ", ".join(sorted(candidates)[:8])
        if candidates
        else "none is defined in this namespace"
    )


# --- TrafficTarget --------------------------------------------------------------------------------
def _targets(refs: _Refs) -> None:
    for target in refs.snapshot.of_kind(TrafficTarget):
        for index, rule in enumerate(target.spec.rules):
            _rule(refs, target, index, rule.kind, rule.name, rule.matches)


def _rule(
    refs: _Refs, target: TrafficTarget, index: int, kind: str, name: str, matches: list[str] | None
) -> None:
    namespace = target.metadata.namespace
    route = refs.snapshot.find(_ROUTE_KINDS[kind], namespace, name)
    path: Path = ("spec", "rules", index)
    if route is None:
        refs.report(
            target,
            codes.MISSING_ROUTE,
            f"{kind} {name!r} does not exist in namespace {namespace!r}",
            (*path, "name"),
            name,
            _did_you_mean(name, refs.names(_ROUTE_KINDS[kind], namespace)),
        )
        return
    if not isinstance(route, HTTPRouteGroup) or not matches:
        return
    defined = [m.name for m in route.spec.matches]
    for position, match in enumerate(matches):
        if match not in defined:
            refs.report(
                target,
                codes.MISSING_MATCH,
                f"HTTPRouteGroup {name!r} has no match named {match!r}",
                (*path, "matches", position),
                match,
                _did_you_mean(match, defined),
            )


# --- TrafficSplit ---------------------------------------------------------------------------------
def _splits(refs: _Refs) -> None:
    unconditional: dict[tuple[str, str], str] = {}
    for split in refs.snapshot.of_kind(TrafficSplit):
        namespace, root_name = split.metadata.namespace, split.root
        root = refs.snapshot.find(Service, namespace, root_name)
        if root is None:
            refs.report(
                split,
                codes.MISSING_ROOT,
                f"root Service {root_name!r} does not exist in namespace {namespace!r}",
                ("spec", "service"),
                split.spec.service,
                _did_you_mean(root_name, refs.names(Service, namespace)),
            )
        _split_matches(refs, split)
        _split_backends(refs, split, root)
        if not split.spec.matches:
            first = unconditional.setdefault((namespace, root_name), split.metadata.name)
            if first != split.metadata.name:
                refs.report(
                    split,
                    codes.DUPLICATE_SPLIT,
                    f"TrafficSplit {first!r} already splits {root_name!r} "
                    "without matches; this one is ignored",
                    ("spec", "service"),
                    root_name,
                )


def _split_matches(refs: _Refs, split: TrafficSplit) -> None:
    namespace = split.metadata.namespace
    for index, match in enumerate(split.spec.matches or []):
        if refs.snapshot.find(HTTPRouteGroup, namespace, match.name) is None:
            refs.report(
                split,
                codes.MISSING_SPLIT_MATCH,
                f"HTTPRouteGroup {match.name!r} does not exist in namespace {namespace!r}",
                ("spec", "matches", index, "name"),
                match.name,
                _did_you_mean(match.name, refs.names(HTTPRouteGroup, namespace)),
            )


def _split_backends(refs: _Refs, split: TrafficSplit, root: Service | None) -> None:
    namespace = split.metadata.namespace
    services: dict[int, Service | None] = {}
    for index, backend in enumerate(split.spec.backends):
        name = split.local_name(backend.service)
        service = refs.snapshot.find(Service, namespace, name)
        services[index] = service
        path: Path = ("spec", "backends", index, "service")
        if service is None and name != split.root:
            refs.report(
                split,
                codes.MISSING_BACKEND,
                f"backend Service {backend.service!r} does not exist in "
                f"namespace {namespace!r}; it gets no traffic",
                path,
                backend.service,
                _did_you_mean(name, refs.names(Service, namespace)),
            )
        elif service is not None and root is not None:
            _backend_ports(refs, split, root, service, path)
    _zero_weights(refs, split, root, services)


def _backend_ports(refs: _Refs, split: TrafficSplit, root: Service, backend: Service, path: Path) -> None:
    offered = {p.port for p in backend.spec.ports}
    for port in root.spec.ports:
        if port.port not in offered:
            refs.report(
                split,
                codes.BACKEND_LACKS_PORT,
                f"backend {backend.metadata.name!r} has no port "
                f"{port.port} of root {root.metadata.name!r}; it gets no traffic on that port",
                path,
                backend.metadata.name,
                f"add port {port.port} to Service {backend.metadata.name!r}",
            )


def _zero_weights(
    refs: _Refs, split: TrafficSplit, root: Service | None, services: dict[int, Service | None]
) -> None:
    ports: list[int | None] = (
        [p.port for p in root.spec.ports] if root is not None and root.spec.ports else [None]
    )
    for port in ports:
        eligible = [
            b.weight
            for i, b in enumerate(split.spec.backends)
            if _serves(services[i], port, split.local_name(b.service) == split.root)
        ]
        if sum(eligible) == 0:
            where = f" on port {port}" if port is not None else ""
            refs.report(
                split,
                codes.ZERO_WEIGHTS,
                f"no backend{where} has a weight above 0; requests to "
                f"{split.spec.service!r}{where} will get 503",
                ("spec", "backends"),
                hint="give at least one existing backend a positive weight",
            )


def _serves(service: Service | None, port: int | None, is_root: bool) -> bool:
    if service is None:
        return is_root  # the root as its own backend: its own endpoints (SPEC-DIGEST A10)
    return port is None or any(p.port == port for p in service.spec.ports)


# --- Services and Workloads -----------------------------------------------------------------------
def _services(refs: _Refs) -> None:
    workloads = refs.snapshot.of_kind(Workload)
    if not workloads:
        return  # pure SMI input (e.g. for Kubernetes): there are no Workloads to select
    for service in refs.snapshot.of_kind(Service):
        selector = service.endpoint_selector
        if not selector:
            continue
        if not any(
            _selects(selector, w) for w in workloads if w.metadata.namespace == service.metadata.namespace
        ):
            refs.report(
                service,
                codes.SELECTS_NOTHING,
                f"the selector matches no Workload in namespace {service.metadata.namespace!r}",
                ("spec", "selector"),
                selector,
                "make the Workload's metadata.labels include every selector label",
            )


def _selects(selector: dict[str, str], workload: Workload) -> bool:
    labels = workload.metadata.labels
    return all(labels.get(key) == value for key, value in selector.items())


def _identities(refs: _Refs) -> None:
    named: dict[str, set[str]] = {}
    for target in refs.snapshot.of_kind(TrafficTarget):
        for subject in (target.spec.destination, *target.spec.sources):
            namespace = subject.namespace or target.metadata.namespace
            named.setdefault(namespace, set()).add(subject.name)
    for workload in refs.snapshot.of_kind(Workload):
        accounts = named.get(workload.metadata.namespace)
        account = workload.spec.service_account
        if accounts and account not in accounts:
            refs.report(
                workload,
                codes.IDENTITY_MISMATCH,
                f"serviceAccount {account!r} is named by no "
                f"TrafficTarget in namespace {workload.metadata.namespace!r}",
                ("spec", "serviceAccount"),
                account,
                _did_you_mean(account, sorted(accounts)),
            )


# --- Canary ---------------------------------------------------------------------------------------
def _canaries(refs: _Refs) -> None:
    for canary in refs.snapshot.of_kind(Canary):
        namespace, name = canary.metadata.namespace, canary.spec.target_ref.name
        if refs.snapshot.find(Workload, namespace, name) is None:
            refs.report(
                canary,
                codes_canary.MISSING_TARGET,
                f"{canary.spec.target_ref.kind} {name!r} (the canary's target) does not exist in "
                f"namespace {namespace!r}",
                ("spec", "targetRef", "name"),
                name,
                _did_you_mean(name, refs.names(Workload, namespace)),
            )
        _templates(refs, canary)


def _templates(refs: _Refs, canary: Canary) -> None:
    for index, metric in enumerate(canary.spec.analysis.metrics):
        ref = metric.template_ref
        namespace = (ref.namespace if ref else None) or canary.metadata.namespace
        if ref is not None and refs.snapshot.find(MetricTemplate, namespace, ref.name) is None:
            refs.report(
                canary,
                codes_canary.MISSING_TEMPLATE,
                f"MetricTemplate {ref.name!r} does not exist in namespace {namespace!r}",
                ("spec", "analysis", "metrics", index, "templateRef", "name"),
                ref.name,
                _did_you_mean(ref.name, refs.names(MetricTemplate, namespace)),
            )
