"""Metrics by templateRef: Flagger's MetricTemplate (Prometheus) with its variables filled in, run
against a Prometheus HTTP API (a small real server here), judged by the metric's range; no sample
or no server is "no data", never a pass."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from smimesh.resources import load_text
from smimesh.resources.canary import Canary
from smimesh.runtime.canary.checks import FAIL, NO_DATA, PASS, Measurement, run_checks
from smimesh.runtime.canary.prometheus import PrometheusTemplates, render
from smimesh.sources.store import ResourceStore
from smimesh.testing.smi_data import upstream_dir

FLAGGER = upstream_dir("flagger")


class Prometheus:
    """Answers /api/v1/query with `value` (None: an empty result) and keeps the queries it got."""

    def __init__(self) -> None:
        self.value: str | None = "99.5"
        self.queries: list[str] = []
        prometheus = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["query"][0]
                prometheus.queries.append(query)
                result = [] if prometheus.value is None else [{"metric": {}, "value": [0, prometheus.value]}]
                body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def prometheus() -> Iterator[Prometheus]:
    server = Prometheus()
    yield server
    server.server.shutdown()
    server.server.server_close()


class NoTraffic:
    async def measure(self, namespace: str, workload: str, window_s: float) -> Measurement:
        return Measurement(0.0, None, None)


async def _loaded(address: str) -> tuple[ResourceStore, Canary]:
    text = (FLAGGER / "canary_linkerd-tutorial_metrictemplates-gatewayrefs.yaml").read_text()
    text = text.replace("http://prometheus.linkerd-viz:9090", address)
    workload = """apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: podinfo, namespace: test, labels: {app: podinfo}}
spec: {command: [sleep, "1"], ports: [{name: http, containerPort: 9898}]}
---
"""
    result = load_text(workload + text, "tutorial.yaml")
    assert not [d for d in result.diagnostics if d.severity.value == "error"], [
        d.format() for d in result.diagnostics
    ]
    store = ResourceStore()
    await store.replace_origin("tutorial.yaml", result.objects)
    canary = next(o.resource for o in result.objects if isinstance(o.resource, Canary))
    return store, canary


async def test_the_tutorials_templates_are_queried_with_their_variables(prometheus: Prometheus) -> None:
    store, canary = await _loaded(prometheus.url)
    templates = PrometheusTemplates(store)
    result = await run_checks(canary, NoTraffic(), "now", templates)
    assert [e["result"] for e in result.entries] == [
        PASS,
        PASS,
    ] and result.outcome == PASS  # 99.5 >= 99, <= 500
    first = prometheus.queries[0]
    assert 'namespace="test"' in first and 'deployment=~"podinfo"' in first
    assert 'direction="inbound"' in first and "[1m]" in first  # templateVariables and the metric interval
    prometheus.value = "42"
    result = await run_checks(canary, NoTraffic(), "now", templates)
    assert (
        result.outcome == FAIL and "success-rate" in result.message
    ) or "request-success-rate" in result.message


async def test_no_sample_or_no_server_is_no_data(prometheus: Prometheus) -> None:
    store, canary = await _loaded(prometheus.url)
    prometheus.value = None
    result = await run_checks(canary, NoTraffic(), "now", PrometheusTemplates(store))
    assert result.outcome == NO_DATA and "MetricTemplate" in result.message
    gone, canary = await _loaded("http://127.0.0.1:9")  # nothing listens there
    result = await run_checks(canary, NoTraffic(), "now", PrometheusTemplates(gone))
    assert result.outcome == NO_DATA


def test_render_fills_flaggers_variables() -> None:
    canary = (
        load_text(
            """apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  targetRef: {apiVersion: smimesh.io/v1alpha1, kind: Workload, name: web}
  service: {port: 80}
  analysis:
    interval: 30s
    threshold: 2
    stepWeight: 10
    metrics: [{name: m, templateRef: {name: t}, templateVariables: {code: "5.."}}]
""",
            references=False,
        )
        .objects[0]
        .resource
    )
    assert isinstance(canary, Canary)
    metric = canary.spec.analysis.metrics[0]
    query = "x{ns='{{ namespace }}',w='{{target}}',c=~'{{ variables.code }}'}[{{ interval }}]"
    assert render(query, canary, metric) == "x{ns='shop',w='web',c=~'5..'}[30s]"
