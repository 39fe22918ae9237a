"""Egress tunnels: the HTTP CONNECT routes through which a workload reaches HTTPS and TCP destinations.

In local mode an app reaches the outside through its sidecar's HTTP proxy (`HTTP_PROXY`/`HTTPS_PROXY`):
an HTTPS client sends `CONNECT host:port` and then its TLS handshake through the tunnel; a TCP client
does the same with `CONNECT ip:port`. The sidecar terminates CONNECT (answers 200 and carries the raw
bytes to the destination) only where an Egress allows it:

- `https` rule: the virtual host `host:port` (its `egress|host|port` DNS cluster);
- `tcp` rule: in the catch-all virtual host, `:authority` an IPv4 literal (digits and dots) within the
  rule's range and on its port, one route per string prefix of the range (`ipv4_prefixes`), or an IPv6
  literal `[...]` of the range in compressed lowercase form (`ipv6_pattern`), sent to the dynamic
  forward proxy (an IP literal is used as is, never looked up);
- anything else: 403 naming the mesh (egress `open`: the dynamic forward proxy, any host).

The policy decides on the CONNECT authority, not on the TLS inside (the sidecar does not read the
SNI): the tunnel goes to the host the CONNECT names, so an SNI naming another host never reaches that
other host. Owns `ipv4_prefixes`, `tunnel_route`, `address_routes`, `refusal_route` and
`with_connect` (the HCM's CONNECT upgrade, only on sidecars with an egress view).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.type.matcher.v3 import regex_pb2, string_pb2

from smimesh.mesh.egress import EgressRule

CONNECT = "CONNECT"
REFUSED_BODY = (
    "smimesh: no Egress lets this workload's ServiceAccount open a tunnel (CONNECT) to this host and "
    "port; the mesh's egress is by policy\n"
)


def ipv4_prefixes(network: str) -> list[str]:
    """Strings every `a.b.c.d:` of the range starts with, and only those (at most 128 of them)."""
    net = ipaddress.IPv4Network(network)
    whole, rest = divmod(net.prefixlen, 8)
    octets = str(net.network_address).split(".")
    if whole == 4:
        return [f"{net.network_address}:"]
    base = octets[:whole]
    values = range(int(octets[whole]), int(octets[whole]) + (1 << (8 - rest))) if rest else [None]
    found = []
    for value in values:
        parts = base if value is None else [*base, str(value)]
        found.append(".".join(parts) + (":" if len(parts) == 4 else "."))
    return [p for p in found if p != "."]  # /0: no prefix at all


def _upgrade() -> rc.RouteAction.UpgradeConfig:
    """Terminate the CONNECT here (answer 200, then carry raw bytes) instead of forwarding it."""
    return rc.RouteAction.UpgradeConfig(
        upgrade_type=CONNECT, connect_config=rc.RouteAction.UpgradeConfig.ConnectConfig()
    )


def tunnel_route(name: str, cluster: str, headers: list[rc.HeaderMatcher] | None = None) -> rc.Route:
    match = rc.RouteMatch(connect_matcher=rc.RouteMatch.ConnectMatcher(), headers=headers or [])
    return rc.Route(
        name=name, match=match, route=rc.RouteAction(cluster=cluster, upgrade_configs=[_upgrade()])
    )


def _authority(matcher: string_pb2.StringMatcher) -> rc.HeaderMatcher:
    return rc.HeaderMatcher(name=":authority", string_match=matcher)


def address_routes(rule: EgressRule, cluster: str) -> list[rc.Route]:
    """CONNECT to an address in the rule's range (any IPv4 address when it has none) on its port."""
    if rule.network and ipaddress.ip_network(rule.network).version == 6:
        return [tunnel_route(rule.policy, cluster, [_regex_authority(ipv6_pattern(rule.network), rule.port)])]
    literal = _regex_authority("[0-9.]+", rule.port)
    if not rule.network:
        return [tunnel_route(rule.policy, cluster, [literal])]
    return [
        tunnel_route(rule.policy, cluster, [_authority(string_pb2.StringMatcher(prefix=prefix)), literal])
        for prefix in ipv4_prefixes(rule.network)
    ] or [tunnel_route(rule.policy, cluster, [literal])]


def _regex_authority(address: str, port: int) -> rc.HeaderMatcher:
    return _authority(string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=f"{address}:{port}")))


def ipv6_pattern(network: str) -> str:
    """A regex for `[address]` of every address of an IPv6 range in compressed lowercase form: the range's
    leading groups as written (validation admits only ranges of whole, non-zero groups) then any rest;
    one address: exactly its compressed form."""
    net = ipaddress.IPv6Network(network)
    if net.prefixlen == 128:
        return re.escape(f"[{net.network_address.compressed}]")
    groups = [g.lstrip("0") for g in net.network_address.exploded.split(":")[: net.prefixlen // 16]]
    lead = "".join(f"{g}:" for g in groups)
    return re.escape(f"[{lead}") + "[0-9a-f:]+" + re.escape("]")


def refusal_route() -> rc.Route:
    denied = rc.DirectResponseAction(status=403, body=base_pb2.DataSource(inline_string=REFUSED_BODY))
    match = rc.RouteMatch(connect_matcher=rc.RouteMatch.ConnectMatcher())
    return rc.Route(name="egress_refused", match=match, direct_response=denied)


def with_connect(manager: hcm.HttpConnectionManager) -> None:
    """Let the outbound HTTP proxy accept CONNECT (its routes then decide which tunnels open).

    Also HTTP/1.0 requests: Python's http.client (urllib, requests) sends `CONNECT host:port HTTP/1.0`,
    which Envoy otherwise answers with 426."""
    if not any(u.upgrade_type == CONNECT for u in manager.upgrade_configs):
        manager.upgrade_configs.append(hcm.HttpConnectionManager.UpgradeConfig(upgrade_type=CONNECT))
    manager.http_protocol_options.accept_http_10 = True


def is_wildcard(host: str) -> bool:
    return host.startswith("*")


def needs_forward_proxy(rules: Any, open_: bool) -> bool:
    """The dynamic forward proxy filter resolves wildcard hosts, TCP tunnels and open egress."""
    return open_ or any(r.protocol == "tcp" or is_wildcard(r.host) for r in rules)
