"""What access control adds to one inbound port of a secured sidecar, built (never patched) for the
listener and route generators' seams.

Owns `InboundSecurity` (the frozen input of one inbound port: its RBAC input `access`, the sidecar's
own SPIFFE id and its namespace's mTLS mode; an lru_cache key) and:
- `transport_socket`: TLS terminated with the sidecar's own certificate (SDS), a client certificate
  of the trust domain required (RBAC then decides per identity and can say why); on a TCP port
  whose RBAC is enforced, only the identities RBAC could allow pass the handshake (`handshake_gated`);
- `network_filters`: the network RBAC filter of a TCP port (before `tcp_proxy`); `tcp_access_logs`:
  an audit TCP port's `tcp_proxy` logs each connection (`policy suggest` reads it);
  `tcp_proxy_overlay`: when a gated TCP port's `tcp_proxy` connects to the app (after the caller
  was admitted);
- `http_filters`: the HTTP RBAC filter before the router. The listener's own RBAC config denies
  everything; the real rules come per virtual host over RDS (`route_config`), so a TrafficTarget
  change updates only the route configuration and applies to the very next request, even on open
  connections (a listener change would drain them first);
- `manager_overlay`: XFCC sanitized (a client's header is never trusted: RBAC reads the certificate;
  where the counted routes admit their callers, it is set from the verified certificate for them to
  match, then removed before the app: `xds.route_stats`),
  the JSON request log (taps, denials, every request of an audit port), and with RBAC on: routes
  over RDS, a 403 body naming the mesh, a stdout line for every denial and audit would-be denial;
- `route_config`: the inbound route configuration with the port's RBAC rules per virtual host and
  one counted route per HTTPRouteGroup match (`xds.route_stats`: with enforced RBAC, each admits the
  callers allowed that match without asking the RBAC filter), whose names `counted_route_names`
  gives (their clusters are generated with the port's local app cluster).
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.accesslog.v3 import accesslog_pb2 as al
from envoy.config.core.v3 import base_pb2
from envoy.config.core.v3 import substitution_format_string_pb2 as sfs
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.access_loggers.stream.v3 import stream_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import wrappers_pb2

from smimesh.identity.spiffe import SpiffeId
from smimesh.mesh.modes import MtlsMode
from smimesh.xds import secrets
from smimesh.xds.access_log import INBOUND, STDOUT_LOGGER, connection_log, rbac_result_denied, request_log
from smimesh.xds.protos import ads_source, packed
from smimesh.xds.rbac import (
    AUDIT_STAT_PREFIX,
    HTTP_RBAC_FILTER,
    NETWORK_RBAC_FILTER,
    InboundAccess,
    allowed_principals,
    http_rbac_filter,
    network_rbac_filter,
)
from smimesh.xds.route_stats import CLIENT_CERT_HEADER, admits_by_route, counted_routes, per_match_routes

DENIED_BODY = (
    "smimesh: access denied by the mesh (SMI Traffic Access Control: no TrafficTarget allows this request"
    " from this identity; %RESPONSE_CODE_DETAILS%)\n"
)
_PEER = "peer=%DOWNSTREAM_PEER_URI_SAN% request=%REQ(:METHOD)% %REQ(:AUTHORITY)%%REQ(:PATH)%"
DENY_LOG = (
    "smimesh rbac: inbound_{port} result=%DYNAMIC_METADATA(envoy.filters.http.rbac:enforced_engine_result)% "
    "audit=%DYNAMIC_METADATA(envoy.filters.http.rbac:audit.shadow_engine_result)% "
    "policy=%DYNAMIC_METADATA(envoy.filters.http.rbac:audit.shadow_effective_policy_id)% "
    + _PEER
    + " status=%RESPONSE_CODE%\n"
)
_EARLY_DATA_BYTES = 64 * 1024  # buffered from the caller while the app's connection opens
_DENY_ALL = http_rbac.RBAC(rules=rbac_pb2.RBAC(action=rbac_pb2.RBAC.ALLOW))


@dataclass(frozen=True, slots=True)
class InboundSecurity:
    """The access-control input of one inbound port (an lru_cache key of the listener generator)."""

    access: InboundAccess
    own: SpiffeId
    mtls: MtlsMode
    logs_to_control_plane: bool = False  # a pod's sidecar: request log over gRPC (xds/access_log.py)


def handshake_gated(security: InboundSecurity) -> bool:
    """Whether the port refuses at the mTLS handshake every caller its RBAC would deny: a TCP port
    with enforced RBAC (not `open`, not audit). Why: network RBAC decides on the caller's first byte,
    while `tcp_proxy` connects to the app at once, so a server-first app (SMTP, MySQL...) would send
    its greeting to a caller RBAC is about to refuse. The handshake fails before any app byte can be
    encrypted for it. HTTP ports keep their per-request RBAC (a 403 naming the mesh)."""
    access = security.access
    return access.enforce and not access.audit and not access.protocol.is_http


def transport_socket(security: InboundSecurity) -> base_pb2.TransportSocket:
    peers = None
    if handshake_gated(security):
        peers = [SpiffeId.parse(uri) for uri in allowed_principals(security.access)]
    context = secrets.downstream_tls_context(security.own, allowed_peers=peers)
    return secrets.transport_socket(secrets.present_own_certificate(context))


def tcp_proxy_overlay(security: InboundSecurity, plaintext: bool) -> tcp_proxy_pb2.TcpProxy:
    """When a gated TCP port's `tcp_proxy` connects to the app (default: at once, on accept): over
    TLS once the handshake has admitted the caller; on a permissive port's plaintext chain on the
    caller's first byte, which network RBAC sees first and refuses (a plaintext caller has no
    identity). So the app never even accepts a connection from a refused caller."""
    if not handshake_gated(security):
        return tcp_proxy_pb2.TcpProxy()
    mode = tcp_proxy_pb2.ON_DOWNSTREAM_DATA if plaintext else tcp_proxy_pb2.ON_DOWNSTREAM_TLS_HANDSHAKE
    return tcp_proxy_pb2.TcpProxy(
        upstream_connect_mode=mode, max_early_data_bytes=wrappers_pb2.UInt32Value(value=_EARLY_DATA_BYTES)
    )


def network_filters(security: InboundSecurity) -> list[lc.Filter]:
    rbac = network_rbac_filter(security.access)
    return [] if rbac is None else [lc.Filter(name=NETWORK_RBAC_FILTER, typed_config=packed(rbac))]


def tcp_access_logs(security: InboundSecurity) -> list[al.AccessLog]:
    """An audit TCP port logs each connection (what `policy suggest` reads)."""
    access = security.access
    if not (access.audit and access.enforce):
        return []
    return [connection_log(access.port_name, to_control_plane=security.logs_to_control_plane)]


def http_filters(security: InboundSecurity) -> list[hcm.HttpFilter]:
    if http_rbac_filter(security.access) is None:
        return []
    return [hcm.HttpFilter(name=HTTP_RBAC_FILTER, typed_config=packed(_DENY_ALL))]


def _denial_log(port_name: str) -> al.AccessLog:
    either = al.OrFilter(
        filters=[
            rbac_result_denied("enforced_engine_result"),
            rbac_result_denied(AUDIT_STAT_PREFIX + "shadow_engine_result"),
        ]
    )
    text = sfs.SubstitutionFormatString(
        text_format_source=base_pb2.DataSource(inline_string=DENY_LOG.format(port=port_name))
    )
    logger = stream_pb2.StdoutAccessLog(log_format=text)
    return al.AccessLog(
        name=STDOUT_LOGGER, filter=al.AccessLogFilter(or_filter=either), typed_config=packed(logger)
    )


def _denied_reply() -> hcm.LocalReplyConfig:
    is_403 = al.AccessLogFilter(
        status_code_filter=al.StatusCodeFilter(
            comparison=al.ComparisonFilter(
                op=al.ComparisonFilter.EQ,
                value=base_pb2.RuntimeUInt32(default_value=403, runtime_key="smimesh.denied_status"),
            )
        )
    )
    body = sfs.SubstitutionFormatString(
        text_format_source=base_pb2.DataSource(inline_string=DENIED_BODY), content_type="text/plain"
    )
    return hcm.LocalReplyConfig(mappers=[hcm.ResponseMapper(filter=is_403, body_format_override=body)])


def manager_overlay(security: InboundSecurity, route_name: str) -> hcm.HttpConnectionManager:
    """The inbound connection manager's fields that access control sets, to merge into the plain one
    (`rds` then replaces the inline `route_config`: they are one oneof)."""
    access = security.access
    overlay = hcm.HttpConnectionManager(
        forward_client_cert_details=hcm.HttpConnectionManager.SANITIZE,
        access_log=[
            request_log(
                INBOUND,
                access.port_name,
                always=access.audit and access.enforce,
                to_control_plane=security.logs_to_control_plane,
            )
        ],
    )
    if http_rbac_filter(access) is not None:
        overlay.access_log.append(_denial_log(access.port_name))
        overlay.rds.CopyFrom(hcm.Rds(config_source=ads_source(), route_config_name=route_name))
        overlay.local_reply_config.CopyFrom(_denied_reply())
        if admits_by_route(access):  # the routes read the verified caller from XFCC (xds.route_stats)
            overlay.forward_client_cert_details = hcm.HttpConnectionManager.SANITIZE_SET
            overlay.set_current_client_cert_details.uri = True
    return overlay


def counted_route_names(access: InboundAccess) -> tuple[str, ...]:
    """The per-match routes `route_config` gives the port (none without RBAC: no route configuration);
    each forwards to its own cluster (`names.route_cluster`), which CDS must then carry."""
    return () if http_rbac_filter(access) is None else counted_routes(access)


def route_config(
    plain: route_pb2.RouteConfiguration, access: InboundAccess
) -> route_pb2.RouteConfiguration | None:
    """The inbound route configuration carrying the port's RBAC rules per virtual host (None: no RBAC)."""
    rbac = http_rbac_filter(access)
    if rbac is None:
        return None
    per_route = packed(http_rbac.RBACPerRoute(rbac=rbac))
    route = route_pb2.RouteConfiguration()
    route.CopyFrom(plain)  # freshly built by the listener generator for this port, shared by no one
    for vhost in route.virtual_hosts:
        vhost.typed_per_filter_config[HTTP_RBAC_FILTER].CopyFrom(per_route)
        if admits_by_route(access):
            vhost.request_headers_to_remove.append(CLIENT_CERT_HEADER)  # set for the routes, not the app
        routes = [r for app_route in vhost.routes for r in per_match_routes(app_route, access)]
        del vhost.routes[:]
        vhost.routes.extend(routes)
    return route
