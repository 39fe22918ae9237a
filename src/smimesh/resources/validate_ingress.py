"""Per-object checks (SM38xx) of Kubernetes Ingress and OSM IngressBackend: what the schema cannot say.

Owns the refusals of what smimesh's local ingress does not do (TLS termination, resource backends,
skipping client-certificate validation, SNI hosts) and the shape of paths, backends and sources.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from smimesh.diagnostics import Diagnostic
from smimesh.resources import codes
from smimesh.resources import codes_policy as pc
from smimesh.resources.checker import Checker, Path

SOURCE_KINDS = ("Service", "AuthenticatedPrincipal", "IPRange")
PROTOCOLS = ("http", "https", "grpc")


def _unsupported(c: Checker, path: Path, why: str, hint: str) -> Iterator[Diagnostic]:
    value = c.get(path)
    if value not in (None, False, []):
        yield c.report(pc.UNSUPPORTED_FIELD, f"not supported: {why}", path, value, "nothing here", hint)


def ingress(c: Checker) -> Iterator[Diagnostic]:
    yield from _unsupported(
        c, ("spec", "tls"), "the local ingress serves plain HTTP on loopback", "remove `tls`"
    )
    yield from _backend(c, ("spec", "defaultBackend"))
    for rule_path, _ in c.items(("spec", "rules")):
        for path, item in c.items((*rule_path, "http", "paths")):
            yield from _ingress_path(c, path, item)


def _ingress_path(c: Checker, path: Path, item: object) -> Iterator[Diagnostic]:
    if not isinstance(item, dict):
        return
    value = item.get("path")
    if item.get("pathType") in ("Exact", "Prefix") and not (isinstance(value, str) and value.startswith("/")):
        yield c.report(
            pc.BAD_INGRESS,
            f"path {value!r} of type {item.get('pathType')} does not start with '/'",
            (*path, "path"),
            value,
            "an absolute path such as /api",
            "write the path from its leading '/'",
        )
    yield from _backend(c, (*path, "backend"))


def _backend(c: Checker, path: Path) -> Iterator[Diagnostic]:
    if c.get(path) is None:
        return
    yield from _unsupported(c, (*path, "resource"), "smimesh routes only to Services", "use `service`")
    port = c.get((*path, "service", "port"))
    if (
        c.get((*path, "service")) is None
        or not isinstance(port, dict)
        or not (port.get("number") or port.get("name"))
    ):
        yield c.report(
            pc.BAD_INGRESS,
            "the backend names no Service port",
            (*path, "service"),
            c.get(path),
            "service: {name: SERVICE, port: {number: 80}} (or port.name)",
            "name the Service and its port",
        )
    yield from c.name(
        codes.BAD_NAME,
        "Service name",
        c.get((*path, "service", "name")),
        (*path, "service", "name"),
        "dns1035-label",
    )


def ingress_backend(c: Checker) -> Iterator[Diagnostic]:
    for path, _ in c.items(("spec", "backends")):
        yield from c.name(
            codes.BAD_NAME, "Service name", c.get((*path, "name")), (*path, "name"), "dns1035-label"
        )
        protocol = c.get((*path, "port", "protocol"))
        if isinstance(protocol, str) and protocol.lower() not in PROTOCOLS:
            yield c.report(
                pc.UNSUPPORTED_FIELD,
                f"protocol {protocol!r} is not supported",
                (*path, "port", "protocol"),
                protocol,
                " or ".join(PROTOCOLS),
                "the ingress reaches a backend over mTLS whichever you write",
            )
        yield from _unsupported(
            c,
            (*path, "tls", "skipClientCertValidation"),
            "a mesh sidecar always checks the ingress's certificate",
            "remove it or set false",
        )
        yield from _unsupported(
            c, (*path, "tls", "sniHosts"), "the ingress sends no custom SNI", "remove `sniHosts`"
        )
    for path, source in c.items(("spec", "sources")):
        if isinstance(source, dict):
            yield from _source(c, path, source)
    yield from _route_groups(c)


def _source(c: Checker, path: Path, source: dict[str, object]) -> Iterator[Diagnostic]:
    kind, name = source.get("kind"), source.get("name")
    if kind not in SOURCE_KINDS:
        yield c.report(
            pc.BAD_INGRESS_SOURCE,
            f"source kind {kind!r} is unknown",
            (*path, "kind"),
            kind,
            ", ".join(SOURCE_KINDS),
            "for `smimesh up --ingress`: {kind: Service, name: smimesh-ingress, namespace: smimesh-system}",
        )
    elif kind == "IPRange":
        try:
            ipaddress.ip_network(str(name), strict=False)
        except ValueError:
            yield c.report(
                pc.BAD_INGRESS_SOURCE,
                f"{name!r} is not an IP range",
                (*path, "name"),
                name,
                "a CIDR, e.g. 127.0.0.1/32",
                "write ADDRESS/PREFIX-LENGTH",
            )
    elif kind == "Service" and not source.get("namespace"):
        yield c.report(
            pc.BAD_INGRESS_SOURCE,
            "a Service source needs its namespace",
            path,
            source,
            "namespace: the ingress's namespace",
            "for `smimesh up --ingress`: {kind: Service, name: smimesh-ingress, namespace: smimesh-system}",
        )


def _route_groups(c: Checker) -> Iterator[Diagnostic]:
    for path, match in c.items(("spec", "matches")):
        if isinstance(match, dict) and match.get("kind") != "HTTPRouteGroup":
            yield c.report(
                pc.BAD_SUBJECT_KIND,
                f"kind {match.get('kind')!r} is not HTTPRouteGroup",
                (*path, "kind"),
                match.get("kind"),
                "HTTPRouteGroup",
                "name an HTTPRouteGroup of this namespace",
            )
