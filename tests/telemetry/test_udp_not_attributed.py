"""UDP traffic is not part of the SMI traffic metrics, and cannot be mis-attributed to an HTTP edge.

SMI TrafficMetrics are HTTP golden metrics (success/failure counts, response latency); a datagram
has neither an outcome nor a response time. The scraper's server-side filter leaves every UDP stat
out, and even a stat that slipped through is never read as an outbound edge: `outbound_udp|...`
cluster names do not parse as `outbound|...` ones (docs/metrics.md, "What is not measured").
The same holds against real Envoy: tests/access/test_e2e_udp.py scrapes the sidecars after UDP traffic.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from smimesh.mesh.model import ServiceKey
from smimesh.telemetry.edges import OUTBOUND, Series, readings_from_sample
from smimesh.telemetry.scrape import STAT_FILTER, Bin, StatsSample
from smimesh.xds import names

DNS_LABEL = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


def udp_stats(service: ServiceKey, port: int) -> dict[str, int]:
    """What a caller's UDP upstream produces, plus request-shaped names a future Envoy might add."""
    cluster = f"cluster.{names.udp_upstream_cluster(service, port)}"
    listener = f"udp.{names.udp_upstream_stat_prefix(service, port)}"
    return {
        f"{cluster}.upstream_cx_total": 3,
        f"{cluster}.upstream_rq_2xx": 5,
        f"{cluster}.upstream_rq_5xx": 1,
        f"{listener}.downstream_sess_rx_datagrams": 7,
        f"udp.{names.inbound_stat_prefix('stats')}.downstream_sess_tx_datagrams": 7,
    }


@given(namespace=DNS_LABEL, name=DNS_LABEL, port=st.integers(1, 65535))
def test_udp_stats_are_never_attributed(namespace: str, name: str, port: int) -> None:
    service = ServiceKey(namespace, name)
    counters = udp_stats(service, port)
    time = f"cluster.{names.udp_upstream_cluster(service, port)}.upstream_rq_time"
    sample = StatsSample(counters, {time: (Bin(1.0, 0.1, 4.0),)})
    assert readings_from_sample("app-0.shop", sample) == {}


@given(namespace=DNS_LABEL, name=DNS_LABEL, port=st.integers(1, 65535))
def test_the_scrape_filter_leaves_udp_stats_out(namespace: str, name: str, port: int) -> None:
    service = ServiceKey(namespace, name)
    stats = [
        *udp_stats(service, port),
        f"cluster.{names.udp_upstream_cluster(service, port)}.upstream_rq_time",
    ]
    assert [stat for stat in stats if re.search(STAT_FILTER, stat)] == []


def test_udp_next_to_http_changes_nothing_of_the_http_edge() -> None:
    web, metrics = ServiceKey("shop", "web"), ServiceKey("shop", "metrics")
    http = {f"cluster.{names.outbound_cluster(web, 80)}.upstream_rq_2xx": 9}
    alone = readings_from_sample("app-0.shop", StatsSample(http))
    mixed = readings_from_sample("app-0.shop", StatsSample({**http, **udp_stats(metrics, 80)}))
    assert mixed == alone
    assert list(mixed) == [Series(OUTBOUND, "app-0.shop", "shop/web")]
    assert mixed[Series(OUTBOUND, "app-0.shop", "shop/web")].success == 9
