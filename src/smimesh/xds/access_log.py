"""The request log of a sidecar: one JSON line per request on Envoy's stdout (the sidecar's log file).

Owns `request_log(direction, port_name, always=False)`, the access log every HTTP connection
manager of a sidecar carries, and the names the reader parses (`REQUEST_MARKER`, `TAP_RUNTIME_KEY`).
What it writes, and when:

- a tapped workload's requests, both directions: the filter is Envoy's `runtime_filter` on the
  runtime key `smimesh.tap`, default 0 %. Nobody tapping = the key is absent = no line, no I/O;
  the cost per request is one runtime lookup. `smimesh tap` sets the key to 100 on the tapped
  instances' sidecars through their admin endpoint (`/runtime_modify`, the bootstrap's admin layer)
  and back to 0 when the last listener leaves. A pod's sidecar has no admin endpoint the controller
  can reach: its bootstrap has an RTDS layer (`RUNTIME_LAYER`) in which the controller sets the key
  for the tapped pods' sidecars (`server/runtime_layer.py`);
- every RBAC denial (inbound, enforced), so denied edges are known without a tap; and every denial
  at the caller (outbound: the `unknown_host` route's 403 for a host this identity may not call,
  a CEL filter on the route name, evaluated only for a 403), which telemetry attributes to the
  service the host names;
- every inbound request of a port in `audit` mode (`always=True`), and every connection to an
  inbound TCP port in audit mode (`connection_log`): `policy suggest` learns from them what a
  namespace needs before it is switched to enforcing. Audit is a transition mode; this is its
  price (one short line per request or connection).

Every message is shared between the proxies that have the same port (no per-sidecar field): the
line says the port and the direction, and the reader knows the sidecar from the file it tails.

Where the lines go (`to_control_plane`): a local sidecar (`smimesh up`) writes them to stdout, its log
file, which the control plane tails. A pod's sidecar (`to_control_plane=True`) sends the same fields
as the attributes of an OpenTelemetry log record (`envoy.access_loggers.open_telemetry`) over gRPC to
the control plane that serves its xDS, through the pod bootstrap's `smimesh_telemetry` cluster, which
adds the pod's token (`pods/sidecar.py`); the node id comes with each batch as the resource attribute
`node_name` (`telemetry/log_service.py`). A controller cannot read files in pods; this needs no file.
"""

from __future__ import annotations

from functools import lru_cache

from envoy.config.accesslog.v3 import accesslog_pb2 as al
from envoy.config.core.v3 import base_pb2, config_source_pb2, grpc_service_pb2
from envoy.config.core.v3 import substitution_format_string_pb2 as sfs
from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2
from envoy.extensions.access_loggers.grpc.v3 import als_pb2
from envoy.extensions.access_loggers.open_telemetry.v3 import logs_service_pb2 as otel
from envoy.extensions.access_loggers.stream.v3 import stream_pb2
from envoy.type.matcher.v3 import metadata_pb2, string_pb2, value_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import duration_pb2, struct_pb2, wrappers_pb2
from opentelemetry.proto.common.v1 import common_pb2

from smimesh.xds.names import UNKNOWN_HOST_ROUTE, UNKNOWN_HOST_STATUS
from smimesh.xds.protos import packed
from smimesh.xds.rbac import AUDIT_STAT_PREFIX, HTTP_RBAC_FILTER

STDOUT_LOGGER = "envoy.access_loggers.stdout"
CEL_FILTER = "envoy.access_loggers.extension_filters.cel"
OTEL_LOGGER = "envoy.access_loggers.open_telemetry"
TELEMETRY_CLUSTER = "smimesh_telemetry"  # a pod bootstrap's static cluster to the control plane
LOG_NAME = "smimesh_requests"
FLUSH_INTERVAL_MS = 200  # a tapped request reaches the control plane within this (Envoy's default: 1 s)
TAP_RUNTIME_KEY = "smimesh.tap"
# Envoy requires a runtime key on a status comparison; nobody sets this one (the route's 403 is fixed).
UNKNOWN_HOST_STATUS_KEY = "smimesh.unknown_host_status"
RUNTIME_LAYER = "smimesh"  # a pod sidecar's RTDS layer: the control plane sets TAP_RUNTIME_KEY there
REQUEST_MARKER = "smimesh_request"  # the key that tells a request line from Envoy's own log lines
INBOUND, OUTBOUND, TCP, TCP_DENIED = "in", "out", "tcp", "tcp_denied"
_RBAC = f"DYNAMIC_METADATA({HTTP_RBAC_FILTER}:"
_FIELDS = {
    "start": "%START_TIME(%s.%3f)%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(:PATH)%",
    "authority": "%REQ(:AUTHORITY)%",
    "status": "%RESPONSE_CODE%",
    "ms": "%DURATION%",
    "route": "%ROUTE_NAME%",
    "cluster": "%UPSTREAM_CLUSTER%",
    "flags": "%RESPONSE_FLAGS%",
    "rbac": f"%{_RBAC}enforced_engine_result)%",
    "audit": f"%{_RBAC}{AUDIT_STAT_PREFIX}shadow_engine_result)%",
}
_PEER = {INBOUND: "%DOWNSTREAM_PEER_URI_SAN%", OUTBOUND: "%UPSTREAM_PEER_URI_SAN%"}


def _fields(direction: str, port_name: str) -> dict[str, str]:
    return {REQUEST_MARKER: direction, "port": port_name, "peer": _PEER[direction], **_FIELDS}


def _logger(fields: dict[str, str], to_control_plane: bool) -> al.AccessLog:
    """An access log writing `fields` (name -> Envoy format) as a JSON line, or as an OpenTelemetry
    log record's attributes sent to the control plane."""
    if not to_control_plane:
        struct = struct_pb2.Struct()
        struct.update(fields)
        text = sfs.SubstitutionFormatString(json_format=struct)
        return al.AccessLog(
            name=STDOUT_LOGGER, typed_config=packed(stream_pb2.StdoutAccessLog(log_format=text))
        )
    grpc = grpc_service_pb2.GrpcService(
        envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=TELEMETRY_CLUSTER)
    )
    common = als_pb2.CommonGrpcAccessLogConfig(
        log_name=LOG_NAME,
        grpc_service=grpc,
        transport_api_version=config_source_pb2.V3,
        buffer_flush_interval=duration_pb2.Duration(nanos=FLUSH_INTERVAL_MS * 1_000_000),
    )
    values = [
        common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v)) for k, v in fields.items()
    ]
    config = otel.OpenTelemetryAccessLogConfig(
        common_config=common,
        body=common_pb2.AnyValue(string_value=LOG_NAME),
        attributes=common_pb2.KeyValueList(values=values),
    )
    return al.AccessLog(name=OTEL_LOGGER, typed_config=packed(config))


def _tapped() -> al.AccessLogFilter:
    off = percent_pb2.FractionalPercent(numerator=0, denominator=percent_pb2.FractionalPercent.HUNDRED)
    return al.AccessLogFilter(
        runtime_filter=al.RuntimeFilter(
            runtime_key=TAP_RUNTIME_KEY, percent_sampled=off, use_independent_randomness=True
        )
    )


def rbac_result_denied(key: str) -> al.AccessLogFilter:
    """Matches a request whose RBAC result `key` (`enforced_engine_result`, ...) is `denied`."""
    matcher = metadata_pb2.MetadataMatcher(
        filter=HTTP_RBAC_FILTER,
        path=[metadata_pb2.MetadataMatcher.PathSegment(key=key)],
        value=value_pb2.ValueMatcher(string_match=string_pb2.StringMatcher(exact="denied")),
    )
    missing_is_no_match = wrappers_pb2.BoolValue(value=False)
    return al.AccessLogFilter(
        metadata_filter=al.MetadataFilter(matcher=matcher, match_if_key_not_found=missing_is_no_match)
    )


@lru_cache(maxsize=1 << 10)
def connection_log(port_name: str, *, to_control_plane: bool = False) -> al.AccessLog:
    """The log of an inbound TCP port in audit mode: one JSON line per connection (who, which port),
    so `policy suggest` can write TCPRoutes too. Only on audit ports (a connection is a line)."""
    fields = {REQUEST_MARKER: TCP, "port": port_name, "peer": _PEER[INBOUND], "start": _FIELDS["start"],
              "ms": _FIELDS["ms"], "flags": _FIELDS["flags"]}  # fmt: skip
    return _logger(fields, to_control_plane)


@lru_cache(maxsize=1 << 10)
def denied_connection_log(service: str, port: int) -> al.AccessLog:
    """A TCP connection the caller's own sidecar refused (`service` "ns/name" is no service its
    identity may call): one line per refused connection, so it is counted as a denial of that edge."""
    fields = {REQUEST_MARKER: TCP_DENIED, "service": service, "port": str(port), "start": _FIELDS["start"],
              "ms": _FIELDS["ms"], "flags": _FIELDS["flags"]}  # fmt: skip
    return _logger(fields, False)


@lru_cache(maxsize=1 << 10)
def request_log(
    direction: str, port_name: str = "", *, always: bool = False, to_control_plane: bool = False
) -> al.AccessLog:
    """The JSON request log of one connection manager (`direction` INBOUND / OUTBOUND)."""
    log = _logger(_fields(direction, port_name), to_control_plane)
    if always:
        return log
    if direction == INBOUND:
        log.filter.or_filter.filters.extend([_tapped(), rbac_result_denied("enforced_engine_result")])
    else:
        log.filter.or_filter.filters.extend([_tapped(), _caller_denial()])
    return log


def _caller_denial() -> al.AccessLogFilter:
    """A request the caller's own sidecar denied (the `unknown_host` route: xds/routes.py).

    The route name is only visible to a CEL expression, and evaluating CEL costs the client sidecar
    about 5k instructions per request (3 % of it; callgrind, docs/architecture.md). The route always
    answers UNKNOWN_HOST_STATUS, so a status check (an integer compare) runs first and the CEL
    expression only sees the rare 403s: `and_filter` stops at the first filter that does not match.
    """
    expression = f"xds.route_name == '{UNKNOWN_HOST_ROUTE}'"
    cel = al.AccessLogFilter(
        extension_filter=al.ExtensionFilter(
            name=CEL_FILTER, typed_config=packed(cel_pb2.ExpressionFilter(expression=expression))
        )
    )
    status = base_pb2.RuntimeUInt32(default_value=UNKNOWN_HOST_STATUS, runtime_key=UNKNOWN_HOST_STATUS_KEY)
    is_denial_status = al.AccessLogFilter(
        status_code_filter=al.StatusCodeFilter(
            comparison=al.ComparisonFilter(op=al.ComparisonFilter.EQ, value=status)
        )
    )
    return al.AccessLogFilter(and_filter=al.AndFilter(filters=[is_denial_status, cel]))
