"""The secured side of the simulator: which filter chain takes a connection, whether its TLS handshake
and network RBAC let it through, the `x-forwarded-client-cert` the connection manager sets, what
HTTP RBAC decides (or a route that turns it off because it admitted the caller itself) and which
body a local reply carries.

A connection is described by `peer`: the SPIFFE URI of the client certificate it presents, or None
for plaintext. Only what smimesh generates is modelled (NotImplementedError otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as network_rbac_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from smimesh.testing.matchers import string_matches
from smimesh.testing.rbac_sim import decide, unpacked

HTTP_RBAC = "envoy.filters.http.rbac"
NETWORK_RBAC = "envoy.filters.network.rbac"
ENVOY_DENIED_BODY = "RBAC: access denied"  # Envoy's own 403 body when no local reply mapper matches
XFCC = "x-forwarded-client-cert"


def _peer_accepted(chain: lc.FilterChain, peer: str) -> bool:
    context = unpacked(chain.transport_socket.typed_config, tls_pb2.DownstreamTlsContext)
    if context is None:
        raise NotImplementedError(f"transport socket {chain.transport_socket.typed_config.type_url}")
    validation = context.common_tls_context.combined_validation_context.default_validation_context
    matchers = validation.match_typed_subject_alt_names
    return not matchers or any(string_matches(m.matcher, peer) for m in matchers)


def chain(listener: listener_pb2.Listener, peer: str | None) -> tuple[lc.FilterChain | None, str]:
    """The filter chain a connection lands on (the TLS inspector's `transport_protocol`, a specific
    match before an empty one), or None and why the connection is closed."""
    wanted = "raw_buffer" if peer is None else "tls"
    found = [c for c in listener.filter_chains if c.filter_chain_match.transport_protocol in ("", wanted)]
    found.sort(key=lambda c: c.filter_chain_match.transport_protocol == "")
    if not found:
        return None, f"no filter chain takes a {'plaintext' if peer is None else 'TLS'} connection"
    taken = found[0]
    if taken.HasField("transport_socket") != (peer is not None):
        return None, "TLS handshake failed: " + (
            "plaintext to a TLS port" if peer is None else "TLS to a plaintext port"
        )
    if peer is not None and not _peer_accepted(taken, peer):
        return None, f"TLS handshake failed: client certificate {peer} refused"
    return taken, ""


def _network_rbac(taken: lc.FilterChain) -> network_rbac_pb2.RBAC | None:
    configs = (
        unpacked(f.typed_config, network_rbac_pb2.RBAC) for f in taken.filters if f.name == NETWORK_RBAC
    )
    return next((c for c in configs if c is not None), None)


def network_rbac(taken: lc.FilterChain, peer: str | None) -> str:
    """Why network RBAC closes the connection ("" when it lets it through)."""
    config = _network_rbac(taken)
    if config is None or not config.HasField("rules"):
        return ""
    return "" if decide(config.rules, peer, {}) is not None else "network RBAC denied the connection"


def network_shadow_denied(taken: lc.FilterChain, peer: str | None) -> bool:
    config = _network_rbac(taken)
    return (
        config is not None
        and config.HasField("shadow_rules")
        and decide(config.shadow_rules, peer, {}) is None
    )


@dataclass(frozen=True)
class Verdict:
    denied: bool = False
    policy: str = ""
    audit_denied: bool = False


def forwarded_client_cert(
    manager: hcm.HttpConnectionManager, peer: str | None, headers: Mapping[str, str]
) -> dict[str, str]:
    """The request headers after the connection manager's XFCC handling: a caller's own header is
    dropped (SANITIZE), or replaced by the verified certificate's URI SAN (SANITIZE_SET with `uri`;
    `By` and `Hash` stand in for the sidecar's own URI and the certificate digest)."""
    kept = {k: v for k, v in headers.items() if k != XFCC}
    mode = manager.forward_client_cert_details
    if mode == hcm.HttpConnectionManager.SANITIZE:
        return kept
    details = manager.set_current_client_cert_details
    only_uri = details.uri and not (
        details.HasField("subject") or details.dns or details.cert or details.chain
    )
    if mode != hcm.HttpConnectionManager.SANITIZE_SET or not only_uri:
        raise NotImplementedError(f"forward_client_cert_details {mode} with {details}")
    return kept if peer is None else kept | {XFCC: f"By=spiffe://own;Hash=digest;URI={peer}"}


def _rbac_off(route: rc.Route | None) -> bool:
    """Whether `route` turns the RBAC filter off (`FilterConfig.disabled`: it admitted the caller)."""
    if route is None or HTTP_RBAC not in route.typed_per_filter_config:
        return False
    config = unpacked(route.typed_per_filter_config[HTTP_RBAC], rc.FilterConfig)
    return config is not None and bool(config.disabled)


def _http_rbac(
    manager: hcm.HttpConnectionManager, vhost: rc.VirtualHost | None, route: rc.Route | None
) -> http_rbac_pb2.RBAC | None:
    """The RBAC config in force: the most specific per-route one (route, virtual host), else the filter's."""
    found = [f for f in manager.http_filters if f.name == HTTP_RBAC]
    if not found:
        return None
    for scope in (route, vhost):
        if scope is not None and HTTP_RBAC in scope.typed_per_filter_config:
            per_route = unpacked(scope.typed_per_filter_config[HTTP_RBAC], http_rbac_pb2.RBACPerRoute)
            if per_route is None:
                raise NotImplementedError(
                    f"per-route RBAC {scope.typed_per_filter_config[HTTP_RBAC].type_url}"
                )
            return per_route.rbac
    config = unpacked(found[0].typed_config, http_rbac_pb2.RBAC)
    return config if isinstance(config, http_rbac_pb2.RBAC) else None


def _admitted_by_route(
    manager: hcm.HttpConnectionManager,
    vhost: rc.VirtualHost | None,
    peer: str | None,
    headers: Mapping[str, str],
) -> Verdict:
    """A route that admitted the caller itself must admit only what the RBAC it skips allows: checked
    here on every simulated request (a generator bug would be a hole in access control)."""
    config = _http_rbac(manager, vhost, None)
    policy = None if config is None or not config.HasField("rules") else decide(config.rules, peer, headers)
    if policy is None:
        raise AssertionError(f"a route admitted {peer} to {headers.get(':path')}, which RBAC denies")
    return Verdict(policy=policy)


def http_rbac(
    manager: hcm.HttpConnectionManager,
    vhost: rc.VirtualHost | None,
    route: rc.Route | None,
    peer: str | None,
    headers: Mapping[str, str],
) -> Verdict:
    if _rbac_off(route):
        return _admitted_by_route(manager, vhost, peer, headers)
    config = _http_rbac(manager, vhost, route)
    if config is None:
        return Verdict()
    if config.HasField("shadow_rules"):
        return Verdict(audit_denied=decide(config.shadow_rules, peer, headers) is None)
    rules: rbac_pb2.RBAC = config.rules
    policy = decide(rules, peer, headers)
    return Verdict(denied=True) if policy is None else Verdict(policy=policy)


def local_reply(manager: hcm.HttpConnectionManager, status: int, details: str) -> str:
    """The body of a local reply with `status`: the first status mapper's body, else Envoy's own."""
    for mapper in manager.local_reply_config.mappers:
        comparison = mapper.filter.status_code_filter.comparison
        if comparison.op != comparison.EQ:
            raise NotImplementedError(f"status comparison {comparison.op}")
        if comparison.value.default_value == status and mapper.HasField("body_format_override"):
            text = mapper.body_format_override.text_format_source.inline_string
            return str(text).replace("%RESPONSE_CODE_DETAILS%", details)
    return ENVOY_DENIED_BODY


def upstream_peers(cluster: cluster_pb2.Cluster) -> tuple[str, ...] | None:
    """The server identities a cluster accepts (exact URI SANs), or None when it speaks plaintext."""
    if not cluster.HasField("transport_socket"):
        return None
    context = unpacked(cluster.transport_socket.typed_config, tls_pb2.UpstreamTlsContext)
    if context is None:
        raise NotImplementedError(f"transport socket {cluster.transport_socket.typed_config.type_url}")
    validation = context.common_tls_context.combined_validation_context.default_validation_context
    return tuple(m.matcher.exact for m in validation.match_typed_subject_alt_names)
