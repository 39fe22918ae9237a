"""The xDS type URLs smimesh serves, and the order in which they are pushed.

One place for the `type.googleapis.com/...` strings, so the generators (which key their output by
them), the snapshot, the ADS server and the test client never spell one differently.

Push order follows Envoy's make-before-break rule (xDS protocol, "Eventual consistency
considerations"): clusters before the endpoints that fill them, endpoints before the listeners
that use the clusters, listeners before the route configurations they name; secrets first, since
clusters and listeners reference them.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "type.googleapis.com/"

LISTENER: Final = PREFIX + "envoy.config.listener.v3.Listener"
ROUTE: Final = PREFIX + "envoy.config.route.v3.RouteConfiguration"
SCOPED_ROUTE: Final = PREFIX + "envoy.config.route.v3.ScopedRouteConfiguration"
VIRTUAL_HOST: Final = PREFIX + "envoy.config.route.v3.VirtualHost"
CLUSTER: Final = PREFIX + "envoy.config.cluster.v3.Cluster"
ENDPOINT: Final = PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET: Final = PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret"
RUNTIME: Final = PREFIX + "envoy.service.runtime.v3.Runtime"

#: The order in which changed types are pushed to a proxy (make-before-break).
PUSH_ORDER: Final[tuple[str, ...]] = (
    SECRET,
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    SCOPED_ROUTE,
    VIRTUAL_HOST,
    RUNTIME,
)

#: Types a proxy subscribes to without naming resources (it gets everything there is).
WILDCARD_TYPES: Final[frozenset[str]] = frozenset({LISTENER, CLUSTER, SCOPED_ROUTE, RUNTIME})

#: Short names for display (`proxy-status` columns, metric labels, logs).
SHORT_NAMES: Final[dict[str, str]] = {
    LISTENER: "LDS",
    ROUTE: "RDS",
    SCOPED_ROUTE: "SRDS",
    VIRTUAL_HOST: "VHDS",
    CLUSTER: "CDS",
    ENDPOINT: "EDS",
    SECRET: "SDS",
    RUNTIME: "RTDS",
}


def short_name(type_url: str) -> str:
    """`CDS` for the cluster type URL; the last dotted segment for anything unknown."""
    return SHORT_NAMES.get(type_url, type_url.rsplit(".", 1)[-1])


def push_rank(type_url: str) -> int:
    """Position of a type in `PUSH_ORDER` (unknown types go last, in a stable order)."""
    try:
        return PUSH_ORDER.index(type_url)
    except ValueError:
        return len(PUSH_ORDER)
