"""Pure pieces: Envoy stats JSON, attribution from stat names, quantiles, formats, Prometheus deltas."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smimesh.mesh.model import ServiceKey
from smimesh.telemetry.edges import INBOUND, OUTBOUND, Pod, Series, Topology, readings_from_sample
from smimesh.telemetry.prometheus_backend import _delta, scrape_config
from smimesh.telemetry.quantiles import (
    go_duration,
    parse_go_duration,
    parse_quantity,
    quantile,
    quantiles,
    quantity,
)
from smimesh.telemetry.scrape import Bin, StatsSample, parse_stats_json
from smimesh.xds import names

CLUSTER = names.outbound_cluster(ServiceKey("shop", "store"), 8080)
ENVOY_JSON = {
    "stats": [
        {"name": f"cluster.{CLUSTER}.upstream_rq_2xx", "value": 40},
        {"name": f"cluster.{CLUSTER}.upstream_rq_4xx", "value": 2},
        {"name": f"cluster.{CLUSTER}.upstream_rq_5xx", "value": 3},
        {"name": "http.inbound_http.downstream_rq_2xx", "value": 9},
        {"name": "cluster.local_app|http.upstream_rq_2xx", "value": 9},
        {
            "histograms": {
                "supported_percentiles": [50],
                "details": [
                    {"name": f"cluster.{CLUSTER}.upstream_rq_time", "totals": [
                        {"lower_bound": 4, "width": 0.1, "count": 45}], "intervals": [], "percentiles": []},
                    {"name": "http.inbound_http.downstream_rq_time", "totals": [], "intervals": []},
                ],
            }
        },
    ]
}  # fmt: skip


def test_attribution_from_the_generators_names() -> None:
    readings = readings_from_sample("client-0.shop", parse_stats_json(ENVOY_JSON))
    outbound = readings[Series(OUTBOUND, "client-0.shop", "shop/store")]
    assert (outbound.success, outbound.failure) == (42, 3)
    assert outbound.latency == (Bin(4, 0.1, 45),)
    assert readings[Series(INBOUND, "client-0.shop", "http")].success == 9
    assert len(readings) == 2  # the local_app cluster is not an edge


def test_unparseable_cluster_names_are_ignored() -> None:
    sample = StatsSample({"cluster.outbound|x.upstream_rq_2xx": 1, "cluster.smimesh_xds.upstream_rq_2xx": 5})
    assert readings_from_sample("a.b", sample) == {}


def test_quantile_interpolates_inside_the_bin() -> None:
    bins = (Bin(1, 0.1, 50), Bin(50, 1, 40), Bin(200, 10, 10))
    assert quantile(bins, 0.5) == pytest.approx(1.1)
    assert quantile(bins, 0.9) == pytest.approx(51)
    assert quantile(bins, 0.99) == pytest.approx(209)
    assert quantile((), 0.5) is None
    assert quantile((Bin(10000, float("inf"), 3),), 0.99) == 10000


@given(
    st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 50)), min_size=1, max_size=30), st.floats(0.01, 1)
)
def test_quantile_lies_in_a_bin_that_holds_samples(parts: list[tuple[int, int]], q: float) -> None:
    bins = tuple(sorted({(lower / 10, 0.1): count for lower, count in parts}.items()))
    value = quantile([Bin(lower, width, count) for (lower, width), count in bins], q)
    assert value is not None and any(lower <= value <= lower + width for (lower, width), _ in bins)


def test_quantities_and_durations() -> None:
    assert [quantity(v) for v in (294, 10.123456, 0, 0.5)] == ["294", "10123m", "0", "500m"]
    assert parse_quantity("10123m") == pytest.approx(10.123) and parse_quantity("7") == 7
    assert [go_duration(s) for s in (30, 300, 90, 3600, 0.5)] == ["30s", "5m0s", "1m30s", "1h0m0s", "500ms"]
    assert [parse_go_duration(t) for t in ("30s", "5m0s", "1m30s", "500ms")] == [30, 300, 90, 0.5]
    with pytest.raises(ValueError):
        parse_go_duration("5 minutes")


def test_prometheus_delta_takes_the_baseline_before_the_window() -> None:
    samples = [(10.0, 5.0), (20.0, 8.0), (30.0, 12.0), (40.0, 2.0), (50.0, 6.0)]  # reset at t=40
    assert _delta(samples, 20.0) == 4 + 2 + 4
    assert _delta(samples, 0.0) == 5 + 3 + 4 + 2 + 4  # born inside the window: counts from zero
    assert _delta(samples, 60.0) == 0


def test_scrape_config_labels_every_sidecar() -> None:
    topology = Topology(
        {"a-0.ns": Pod("a-0.ns", "ns", "a-0", "a", {}, 15000), "b-0.ns": Pod("b-0.ns", "ns", "b-0", "b")}
    )
    (job,) = scrape_config(topology)["scrape_configs"]
    assert job["metrics_path"] == "/stats/prometheus"
    assert job["static_configs"] == [
        {"targets": ["127.0.0.1:15000"],
         "labels": {"smimesh_instance": "a-0.ns", "namespace": "ns", "pod": "a-0", "workload": "a"}}
    ]  # fmt: skip


@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 50)), max_size=30))
def test_quantiles_in_one_pass_equal_quantile(parts: list[tuple[int, int]]) -> None:
    counts = {(lower / 10, 0.1): float(count) for lower, count in parts}
    bins = [Bin(lower, width, count) for (lower, width), count in sorted(counts.items())]
    expected = [quantile(bins, q) or 0.0 for q in (0.99, 0.9, 0.5)]
    assert quantiles(counts, (0.99, 0.9, 0.5)) == pytest.approx(expected)


def test_file_sd_config_points_at_the_targets_file(tmp_path: Path) -> None:
    pods = (Pod("a-0.ns", "ns", "a-0", "a", {}, 15000),)
    config = scrape_config(Topology({p.node_id: p for p in pods}), targets_file=tmp_path / "t.json")
    (job,) = config["scrape_configs"]
    assert job["file_sd_configs"] == [{"files": [str(tmp_path / "t.json")], "refresh_interval": "5s"}]
    assert "static_configs" not in job
