"""Per-object checks of OSM's Egress (SM3801, SM3803, SM3810, SM3811): what the schema cannot say.

Owns what each field may hold for smimesh to enforce it as OSM defines it: sources are
ServiceAccounts; a port's protocol is http, https, tcp or tcp-server-first; `hosts` are DNS names,
`*.suffix` wildcards or IPv4 addresses (they narrow http and https ports); `ipAddresses` are IPv4
CIDRs or IPv6 ones that can be matched as text (`range_problem`; they narrow tcp ports and https
ports without hosts); `matches` name HTTPRouteGroups (they
narrow http ports). A field that would narrow nothing is refused (ipAddresses) or warned about
(hosts, matches on tcp-only Egresses: OSM ignores them there too).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from smimesh.diagnostics import Diagnostic
from smimesh.resources import codes_policy as pc
from smimesh.resources.checker import Checker

PROTOCOLS = ("http", "https", "tcp", "tcp-server-first")
_HOST = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_HOSTS_HINT = "a DNS name (api.example.com), a wildcard (*.example.com) or an IPv4 address, without port"


def egress(c: Checker) -> Iterator[Diagnostic]:
    yield from _sources(c)
    protocols = set(_protocols(c))
    yield from _bad_protocols(c)
    yield from _hosts(c, protocols)
    yield from _addresses(c, protocols)
    yield from _matches(c, protocols)


def _protocols(c: Checker) -> Iterator[str]:
    for _, port in c.items(("spec", "ports")):
        protocol = port.get("protocol") if isinstance(port, dict) else None
        if isinstance(protocol, str):
            yield protocol.lower()


def _sources(c: Checker) -> Iterator[Diagnostic]:
    for path, source in c.items(("spec", "sources")):
        if isinstance(source, dict) and source.get("kind") != "ServiceAccount":
            yield c.report(
                pc.BAD_SUBJECT_KIND,
                f"kind {source.get('kind')!r} is not ServiceAccount",
                (*path, "kind"),
                source.get("kind"),
                "ServiceAccount",
                "write kind: ServiceAccount",
            )


def _bad_protocols(c: Checker) -> Iterator[Diagnostic]:
    for path, port in c.items(("spec", "ports")):
        protocol = port.get("protocol") if isinstance(port, dict) else None
        if isinstance(protocol, str) and protocol.lower() not in PROTOCOLS:
            yield c.report(
                pc.BAD_EGRESS,
                f"protocol {protocol!r} is not an egress protocol",
                (*path, "protocol"),
                protocol,
                ", ".join(PROTOCOLS),
                "gRPC and other HTTP/2 traffic to an external host: https (a TLS tunnel) or tcp",
            )


def _hosts(c: Checker, protocols: set[str]) -> Iterator[Diagnostic]:
    hosts = c.get(("spec", "hosts")) or []
    for path, host in c.items(("spec", "hosts")):
        if not (isinstance(host, str) and _HOST.fullmatch(host.lower())):
            yield c.report(
                pc.BAD_EGRESS,
                f"{host!r} is not a host name",
                path,
                host,
                _HOSTS_HINT,
                "write the host alone: the port is in `ports`, the protocol in its `protocol`",
            )
    if "http" in protocols and not hosts:
        yield c.report(
            pc.BAD_EGRESS,
            "an http port needs `hosts`: an Egress without them allows no HTTP request",
            ("spec",),
            None,
            "hosts: [HOST, ...]",
            "list the external host names (or addresses) the sources may call",
        )
    if hosts and not protocols & {"http", "https"}:
        yield c.report(
            pc.EGRESS_NO_EFFECT,
            "`hosts` do not narrow tcp ports: this Egress allows its ports on "
            + ("its ipAddresses" if c.get(("spec", "ipAddresses")) else "any address"),
            ("spec", "hosts"),
            hosts,
            "ipAddresses for tcp ports, or protocol https to allow named TLS hosts",
            "remove `hosts`, or use an https port",
        )


def _addresses(c: Checker, protocols: set[str]) -> Iterator[Diagnostic]:
    for path, text in c.items(("spec", "ipAddresses")):
        if problem := range_problem(text):
            yield c.report(
                pc.BAD_EGRESS,
                problem,
                path,
                text,
                "a CIDR, e.g. 203.0.113.0/24 or 2001:db8:e::/48",
                "write ADDRESS/PREFIX-LENGTH; a single address is ADDRESS/32 (IPv4) or ADDRESS/128 (IPv6)",
            )
    narrowed = protocols & {"tcp", "tcp-server-first"} or (
        "https" in protocols and not c.get(("spec", "hosts"))
    )
    if c.get(("spec", "ipAddresses")) and not narrowed:
        yield c.report(
            pc.BAD_EGRESS,
            "`ipAddresses` narrow tcp ports (and https ports without hosts); this Egress has none",
            ("spec", "ipAddresses"),
            c.get(("spec", "ipAddresses")),
            "a port with protocol tcp",
            "http and https destinations are named by `hosts`: remove `ipAddresses` or add a tcp port",
        )


def range_problem(text: object) -> str:
    """Why `text` is no range smimesh can enforce ("" if it is one).

    In local mode a TCP destination is the `CONNECT [address]:port` a client sends, matched as text:
    an IPv6 range is enforceable where every address in it has one textual prefix, in the compressed
    lowercase form clients write (RFC 5952): whole 16-bit groups, none of them zero (2001:db8:e::/48),
    or one address (/128, matched exactly). Any other form of an address in it is refused, never let
    through."""
    try:
        network = ipaddress.ip_network(str(text).strip(), strict=False) if isinstance(text, str) else None
    except ValueError:
        network = None
    if network is None:
        return f"{text!r} is not an IP range"
    if network.version == 4 or network.prefixlen == 128:
        return ""
    groups = network.network_address.exploded.split(":")[: network.prefixlen // 16]
    if network.prefixlen % 16 or "0000" in groups:
        return (
            f"{text!r}: an IPv6 range is matched (in local mode) on the text of `CONNECT [address]:port`, "
            "so its prefix must be whole 16-bit groups with no zero group (e.g. 2001:db8:e::/48), or one "
            "address (/128); list the addresses of this range one by one, or widen it to such groups"
        )
    return ""


def _matches(c: Checker, protocols: set[str]) -> Iterator[Diagnostic]:
    for path, match in c.items(("spec", "matches")):
        kind = match.get("kind") if isinstance(match, dict) else None
        if kind == "UpstreamTrafficSetting":
            yield c.report(
                pc.UNSUPPORTED_FIELD,
                "not supported: an UpstreamTrafficSetting match (connection limits on egress traffic)",
                (*path, "kind"),
                kind,
                "HTTPRouteGroup",
                "smimesh applies UpstreamTrafficSetting to mesh Services only: remove this match",
            )
        elif kind != "HTTPRouteGroup":
            yield c.report(
                pc.BAD_SUBJECT_KIND,
                f"kind {kind!r} is not HTTPRouteGroup",
                (*path, "kind"),
                kind,
                "HTTPRouteGroup",
                "name an HTTPRouteGroup of this namespace",
            )
    if c.get(("spec", "matches")) and "http" not in protocols:
        yield c.report(
            pc.EGRESS_NO_EFFECT,
            "HTTPRouteGroup `matches` narrow http ports only; this Egress has none",
            ("spec", "matches"),
            c.get(("spec", "matches")),
            "a port with protocol http",
            "an https or tcp tunnel carries bytes the sidecar does not read: remove `matches`",
        )
