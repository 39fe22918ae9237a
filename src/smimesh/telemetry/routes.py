"""Per-route metrics (one HTTPRouteGroup match) and RBAC denials, measured by the destination's sidecar.

Two more kinds of series beside the client-side edges and server-side ports of `edges.py`:

  * `Series(ROUTE, instance, "<port>|HTTPRouteGroup/<ns>/<group>#<match>")`: the requests an
    instance's inbound port served under the route of that match (`xds.route_stats`: the stats of
    the route's own cluster, `cluster.local_app|<port>|<name>.upstream_rq_<N>xx` / `upstream_rq_time`,
    `names.parse_route_cluster`). A request counts under the first match it fits; requests RBAC
    denied never reach a route;
  * `Series(DENIED, instance, "<port>")` and `Series(AUDITED, instance, "<port>")`: RBAC denials on
    the port (`http.inbound_<port>.rbac.denied`, TCP `inbound_<port>.rbac.denied` plus the callers
    refused at the mTLS handshake, `listener.inbound_<port>.ssl.fail_verify_san`), and audit mode's
    would-be denials (`...rbac.audit.shadow_denied`), counted in `success` (a plain count).

A denial is a 403 (or a refused connection), never a 5xx: it is not a failure in the SMI
metrics; these series are how it is counted apart. A denial at the caller (its own sidecar's 403
for a service it may not call) never reaches the destination's stats: the runtime passes those
counted from the callers' request logs (`caller_denials`), and they add to `denied_count`.

The stats are classified in `edges.py` (`route_series`), with the other series of a sample.

`RouteQuery.routes(kind, namespace, name, window_s)` answers the metrics API's
`.../{kind}/{name}/routes`: one item per route with the five SMI metrics and a `route` reference,
plus `denied_count` / `audit_denied_count` for the object.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from smimesh.telemetry import objects
from smimesh.telemetry.edges import AUDITED, DENIED, ROUTE, Series, Topology
from smimesh.telemetry.objects import Ref
from smimesh.telemetry.query import Backend, _Stamp, metrics_of
from smimesh.telemetry.window import Totals
from smimesh.xds.names import parse_route_stat_name


def _owner(kind: str, series: Series, topology: Topology) -> Ref | None:
    if kind == "services":
        return None
    return objects.owner_of(kind, series.instance, topology)


class RouteQuery:
    """Per-route figures and denial counts of one object, from the same backend as the metrics API."""

    def __init__(
        self, backend: Backend, topology: Callable[[], Topology], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.backend, self.topology, self.clock = backend, topology, clock

    async def routes(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        window_s: float,
        caller_denials: Mapping[str, float] | None = None,
    ) -> dict[str, Any] | None:
        """`caller_denials`: denials at the caller in the window, by destination node id
        (`telemetry.caller_denials`): they count in `denied_count` like the destination's own."""
        ref = Ref(objects.KINDS[kind], namespace, name)
        topology = self.topology()
        if ref not in objects.objects_of(kind, topology):
            return None
        now = self.clock()

        def wanted(series: Series) -> bool:
            return series.direction in (ROUTE, DENIED, AUDITED) and _owner(kind, series, topology) == ref

        totals = await self.backend.totals(window_s, now, wanted)
        answer = _answer(ref, totals, _Stamp.of(window_s, now))
        at_callers = (
            n for node, n in (caller_denials or {}).items() if objects.owner_of(kind, node, topology) == ref
        )
        answer["denied_count"] += int(sum(at_callers))
        return answer


def _answer(ref: Ref, totals: Mapping[Series, Totals], stamp: _Stamp) -> dict[str, Any]:
    per_route: dict[str, Totals] = {}
    counts = {DENIED: 0.0, AUDITED: 0.0}
    for series, total in totals.items():
        if series.direction == ROUTE:
            per_route.setdefault(series.target.partition("|")[2], Totals()).add(total)
        else:
            counts[series.direction] += total.success
    items = [_route_item(ref, route, total, stamp) for route, total in sorted(per_route.items())]
    return {
        "kind": "TrafficMetricsList",
        "apiVersion": "metrics.smi-spec.io/v1alpha1",
        "resource": ref.reference().model_dump(exclude_none=True),
        "denied_count": int(counts[DENIED]),
        "audit_denied_count": int(counts[AUDITED]),
        "items": items,
    }


def _route_item(ref: Ref, route: str, totals: Totals, stamp: _Stamp) -> dict[str, Any]:
    namespace, group, match = parse_route_stat_name(route) or ("", route, "")
    return {
        "kind": "TrafficMetrics",
        "resource": ref.reference().model_dump(exclude_none=True),
        "route": {"kind": "HTTPRouteGroup", "namespace": namespace, "name": group, "match": match},
        "timestamp": stamp[0].isoformat().replace("+00:00", "Z"),
        "window": stamp[1],
        "metrics": [m.model_dump(exclude_none=True) for m in metrics_of(totals)],
    }
