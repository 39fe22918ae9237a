"""Per-object semantic checks (SM3xxx) that a schema cannot express: the entry point and the table of checks.

Owns `validate_object(document, resource)`, the metadata checks every kind shares (DNS names,
namespaces, labels), and the TrafficTarget, Service and Workload checks; the route and split checks
live in `validate_specs`. Checks read the document as the user wrote it (any version), so each
diagnostic names the exact field path and line. They run only on objects that decoded cleanly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from smimesh.diagnostics import Diagnostic
from smimesh.resources import codes, dns
from smimesh.resources.checker import Checker, Path, re2_error
from smimesh.resources.document import Document
from smimesh.resources.gateway import check_http_route
from smimesh.resources.meta import Resource
from smimesh.resources.validate_canary import validate_canary, validate_metric_template
from smimesh.resources.validate_egress import egress
from smimesh.resources.validate_ingress import ingress, ingress_backend
from smimesh.resources.validate_policy import resilience_policy, retry, upstream_traffic_setting
from smimesh.resources.validate_specs import http_matches, port_matches, split

__all__ = ["re2_error", "validate_object"]

Check = Callable[[Checker], Iterator[Diagnostic]]


def validate_object(document: Document, resource: Resource) -> list[Diagnostic]:
    """Every semantic problem of one object (decoded without schema errors)."""
    checker = Checker(document, resource)
    found = list(_metadata(checker))
    for check in _CHECKS.get(resource.KIND, ()):
        found.extend(check(checker))
    return found


# Services become DNS names (DNS-1035); Workload names prefix instance names (a label); the rest: subdomains.
_NAME_RULES = {"Service": "dns1035-label", "Workload": "dns1123-label"}


def _metadata(c: Checker) -> Iterator[Diagnostic]:
    meta = c.resource.metadata
    yield from c.name(
        codes.BAD_NAME,
        "name",
        meta.name,
        ("metadata", "name"),
        _NAME_RULES.get(c.resource.KIND, "dns1123-subdomain"),
    )
    yield from c.name(
        codes.BAD_NAMESPACE, "namespace", meta.namespace, ("metadata", "namespace"), "dns1123-label"
    )
    yield from labels(c, ("metadata", "labels"), meta.labels, codes.BAD_LABEL)
    for key in meta.annotations:
        if problem := dns.label_key(key):
            yield c.report(
                codes.BAD_LABEL, f"annotation key {key!r}: {problem}", ("metadata", "annotations", key), key
            )


def labels(c: Checker, path: Path, mapping: dict[str, str], code: str) -> Iterator[Diagnostic]:
    for key, value in mapping.items():
        if problem := dns.label_key(key):
            yield c.report(code, f"label key {key!r}: {problem}", (*path, key), key)
        if problem := dns.label_value(value):
            yield c.report(code, f"label value {value!r} of {key!r}: {problem}", (*path, key), value)


# --- access.smi-spec.io -----------------------------------------------------------------------------
def _traffic_target(c: Checker) -> Iterator[Diagnostic]:
    destination = c.get((*c.base, "destination"))
    if isinstance(destination, dict):
        yield from _subject(c, (*c.base, "destination"), destination)
        namespace = destination.get("namespace")
        if isinstance(namespace, str) and namespace and namespace != c.resource.metadata.namespace:
            yield c.report(
                codes.FOREIGN_DESTINATION,
                f"destination namespace {namespace!r} differs from the "
                f"TrafficTarget's namespace {c.resource.metadata.namespace!r}",
                (*c.base, "destination", "namespace"),
                namespace,
                c.resource.metadata.namespace,
                "create the TrafficTarget in the destination's namespace",
            )
    sources = c.items((*c.base, "sources"))
    for path, source in sources:
        if isinstance(source, dict):
            yield from _subject(c, path, source)
    yield from _repeats(c, sources, "source")
    rules_key = "specs" if not c.base and "specs" in c.data else "rules"
    rules = c.items((*c.base, rules_key))
    yield from _repeats(c, rules, "rule")
    for path, rule in rules:
        if isinstance(rule, dict) and rule.get("kind") in ("TCPRoute", "UDPRoute") and rule.get("matches"):
            yield c.report(
                codes.MATCHES_IGNORED,
                f"a {rule['kind']} has no named matches; `matches` is ignored",
                (*path, "matches"),
                rule["matches"],
                hint="remove `matches` from this rule",
            )


def _subject(c: Checker, path: Path, subject: dict[str, Any]) -> Iterator[Diagnostic]:
    yield from c.name(
        codes.BAD_SERVICE_ACCOUNT,
        "ServiceAccount name",
        subject.get("name"),
        (*path, "name"),
        "dns1123-subdomain",
    )
    yield from c.name(
        codes.BAD_NAMESPACE, "namespace", subject.get("namespace"), (*path, "namespace"), "dns1123-label"
    )


def _repeats(c: Checker, entries: list[tuple[Path, Any]], what: str) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    for path, entry in entries:
        fingerprint = repr(sorted(entry.items())) if isinstance(entry, dict) else repr(entry)
        if fingerprint in seen:
            yield c.report(codes.DUPLICATE_SUBJECT, f"this {what} repeats an earlier one", path, entry)
        seen.add(fingerprint)


# --- v1 Service -------------------------------------------------------------------------------------
def _service(c: Checker) -> Iterator[Diagnostic]:
    selector = c.get(("spec", "selector"))
    if isinstance(selector, dict):
        yield from labels(c, ("spec", "selector"), selector, codes.BAD_SELECTOR)
    ports = [(path, p) for path, p in c.items(("spec", "ports")) if isinstance(p, dict)]
    names = Counter(p.get("name") for _, p in ports)
    pairs = Counter((p.get("port"), p.get("protocol", "TCP")) for _, p in ports)
    for path, port in ports:
        yield from _service_port(c, path, port, len(ports), names, pairs)
    yield from _service_type(c)


def _service_type(c: Checker) -> Iterator[Diagnostic]:
    """ExternalName and ClientIP affinity are accepted but change nothing in the mesh: say so."""
    spec = c.get(("spec",)) or {}
    if spec.get("type") == "ExternalName":
        yield _external_name(c, spec.get("externalName"))
    if spec.get("sessionAffinity") == "ClientIP":
        yield c.report(
            codes.CLIENT_IP_AFFINITY,
            "sessionAffinity ClientIP is not honoured: sidecars balance every request across the endpoints",
            ("spec", "sessionAffinity"),
            "ClientIP",
            "None",
            "remove sessionAffinity; the Service is otherwise served as usual",
        )


def _external_name(c: Checker, external: Any) -> Diagnostic:
    if not external:
        return c.report(
            codes.MISSING_FIELD,
            "a Service of type ExternalName needs `externalName`",
            ("spec", "externalName"),
            expected="the DNS name this Service stands for",
            hint="add `externalName: host.example.com`, or use another type",
        )
    return c.report(
        codes.EXTERNAL_NAME,
        f"the mesh does not route to externalName {external!r}: the Service has no endpoints in the mesh "
        "(its selector is not used), so requests to it through a sidecar fail with 503",
        ("spec", "type"),
        "ExternalName",
        "ClusterIP, NodePort or LoadBalancer for a Service the mesh routes",
        f"call {external} directly from the app (outside the mesh), or select Workloads instead",
    )


def _service_port(
    c: Checker, path: Path, port: dict[str, Any], count: int, names: Counter[Any], pairs: Counter[Any]
) -> Iterator[Diagnostic]:
    name = port.get("name")
    if name is None and count > 1:
        yield c.report(
            codes.SERVICE_PORTS,
            "every port needs a name when a Service has several",
            path,
            port,
            hint="name it after its protocol, e.g. http or tcp-db",
        )
    else:
        yield from c.name(codes.BAD_PORT_NAME, "port name", name, (*path, "name"), "dns1123-label")
    if name is not None and names[name] > 1:
        yield c.report(codes.SERVICE_PORTS, f"port name {name!r} is used twice", (*path, "name"), name)
    if pairs[(port.get("port"), port.get("protocol", "TCP"))] > 1:
        yield c.report(
            codes.SERVICE_PORTS,
            f"port {port.get('port')} is defined twice",
            (*path, "port"),
            port.get("port"),
        )
    target = port.get("targetPort")
    if isinstance(target, str) and (problem := dns.iana_service_name(target)):
        yield c.report(
            codes.BAD_PORT_NAME,
            f"targetPort name {target!r} is not a port name: {problem}",
            (*path, "targetPort"),
            target,
        )


# --- smimesh.io Workload ----------------------------------------------------------------------------
def _workload(c: Checker) -> Iterator[Diagnostic]:
    yield from c.name(
        codes.BAD_SERVICE_ACCOUNT,
        "serviceAccount",
        c.get(("spec", "serviceAccount")),
        ("spec", "serviceAccount"),
        "dns1123-subdomain",
    )
    env = c.get(("spec", "env"))
    for name in env if isinstance(env, dict) else {}:
        if problem := dns.env_name(name):
            yield c.report(
                codes.BAD_ENV_NAME,
                f"environment variable name {name!r} is invalid",
                ("spec", "env", name),
                name,
                problem,
            )
    ports = [(path, p) for path, p in c.items(("spec", "ports")) if isinstance(p, dict)]
    names = Counter(p.get("name") for _, p in ports if p.get("name") is not None)
    pairs = Counter((p.get("containerPort"), p.get("protocol", "TCP")) for _, p in ports)
    for path, port in ports:
        yield from _workload_port(c, path, port, names, pairs)


def _workload_port(
    c: Checker, path: Path, port: dict[str, Any], names: Counter[Any], pairs: Counter[Any]
) -> Iterator[Diagnostic]:
    name = port.get("name")
    if isinstance(name, str) and (problem := dns.iana_service_name(name)):
        yield c.report(codes.BAD_PORT_NAME, f"port name {name!r} is invalid", (*path, "name"), name, problem)
    if isinstance(name, str) and names[name] > 1:
        yield c.report(codes.WORKLOAD_PORTS, f"port name {name!r} is used twice", (*path, "name"), name)
    if pairs[(port.get("containerPort"), port.get("protocol", "TCP"))] > 1:
        yield c.report(
            codes.WORKLOAD_PORTS,
            f"containerPort {port.get('containerPort')} is defined twice",
            (*path, "containerPort"),
            port.get("containerPort"),
        )


_CHECKS: dict[str, tuple[Check, ...]] = {
    "HTTPRouteGroup": (http_matches,),
    "TCPRoute": (port_matches,),
    "UDPRoute": (port_matches,),
    "TrafficSplit": (split,),
    "TrafficTarget": (_traffic_target,),
    "HTTPRoute": (check_http_route,),
    "Service": (_service,),
    "Workload": (_workload,),
    "Retry": (retry,),
    "UpstreamTrafficSetting": (upstream_traffic_setting,),
    "ResiliencePolicy": (resilience_policy,),
    "Ingress": (ingress,),
    "IngressBackend": (ingress_backend,),
    "Canary": (validate_canary,),
    "MetricTemplate": (validate_metric_template,),
    "Egress": (egress,),
}
