"""The inbound HTTP connection manager of a secured sidecar: RBAC, XFCC hygiene, a mesh-named 403, logs.

Owns `secure_manager(plain, access)`: a copy of the plain inbound connection manager with
- the HTTP RBAC filter of `access` before the router (nothing in `open` mode);
- `forward_client_cert_details: SANITIZE`: an `x-forwarded-client-cert` sent by a client is dropped,
  so nothing downstream can be fooled by a forged identity header (RBAC reads the certificate);
- a local reply mapper that gives a denied request a body naming smimesh and the policy result;
- a stdout access log line (the sidecar's log) for every denial and every audit-mode would-be
  denial, with the peer's SPIFFE id and the request;
- the JSON request log (`xds.access_log`: taps, denials, every request of an audit port) and, on
  the inbound routes, one counted route per HTTPRouteGroup match (`xds.route_stats`).
"""

from __future__ import annotations

from envoy.config.accesslog.v3 import accesslog_pb2 as al
from envoy.config.core.v3 import base_pb2
from envoy.config.core.v3 import substitution_format_string_pb2 as sfs
from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.access_loggers.stream.v3 import stream_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm

from smimesh.xds import names
from smimesh.xds.access_log import INBOUND, rbac_result_denied, request_log
from smimesh.xds.protos import ads_source, packed
from smimesh.xds.rbac import AUDIT_STAT_PREFIX, HTTP_RBAC_FILTER, InboundAccess, http_rbac_filter
from smimesh.xds.route_stats import per_match_routes

STDOUT_LOGGER = "envoy.access_loggers.stdout"
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


# The listener's own RBAC config denies everything; the real rules come per route over RDS, so a
# TrafficTarget change updates only the route configuration and applies to the very next request,
# even on open connections (a listener change would drain them first).
_DENY_ALL = http_rbac.RBAC(rules=rbac_pb2.RBAC(action=rbac_pb2.RBAC.ALLOW))


def secure_manager(plain: hcm.HttpConnectionManager, access: InboundAccess) -> hcm.HttpConnectionManager:
    """A copy of `plain` (never mutated) with the RBAC filter, XFCC sanitizing, the 403 body and the
    denial log; with access control on, its routes come over RDS (`secure_route`)."""
    manager = hcm.HttpConnectionManager()
    manager.CopyFrom(plain)
    manager.forward_client_cert_details = hcm.HttpConnectionManager.SANITIZE
    manager.access_log.append(request_log(INBOUND, access.port_name, always=access.audit and access.enforce))
    if http_rbac_filter(access) is None:
        return manager
    router = [f for f in manager.http_filters if f.name == names.ROUTER_FILTER]
    others = [f for f in manager.http_filters if f.name != names.ROUTER_FILTER]
    del manager.http_filters[:]
    rbac = hcm.HttpFilter(name=HTTP_RBAC_FILTER, typed_config=packed(_DENY_ALL))
    manager.http_filters.extend([*others, rbac, *router])
    manager.rds.CopyFrom(hcm.Rds(config_source=ads_source(), route_config_name=plain.route_config.name))
    manager.local_reply_config.CopyFrom(_denied_reply())
    manager.access_log.append(_denial_log(access.port_name))
    return manager


def secure_route(
    plain: hcm.HttpConnectionManager, access: InboundAccess
) -> route_pb2.RouteConfiguration | None:
    """The inbound route configuration carrying the port's RBAC rules per virtual host (None: no RBAC)."""
    rbac = http_rbac_filter(access)
    if rbac is None:
        return None
    route = route_pb2.RouteConfiguration()
    route.CopyFrom(plain.route_config)
    per_route = packed(http_rbac.RBACPerRoute(rbac=rbac))
    for vhost in route.virtual_hosts:
        vhost.typed_per_filter_config[HTTP_RBAC_FILTER].CopyFrom(per_route)
        routes = [r for app_route in vhost.routes for r in per_match_routes(app_route, access)]
        del vhost.routes[:]
        vhost.routes.extend(routes)
    return route
