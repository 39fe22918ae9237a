"""Canary metrics by `templateRef`: Flagger's MetricTemplate queries, run against Prometheus.

The template's `query` gets Flagger's variables filled in (`{{ namespace }}`, `{{ target }}`,
`{{ interval }}`, `{{ variables.NAME }}` from the metric's `templateVariables`) and goes to the
template's `provider.address`, else to the mesh's `--prometheus-url`. The first sample of the
answer is the value; no sample, NaN, no Prometheus or a failed query is "no data" (the canary's
`smimesh.io/on-no-data` decides), never a silent pass.
"""

from __future__ import annotations

import math
import re
from typing import Any

import httpx

from smimesh.resources.canary import Canary, CanaryMetric, MetricTemplate

_VARIABLE = re.compile(r"\{\{\s*(namespace|target|interval|variables\.([A-Za-z0-9_]+))\s*\}\}")
TIMEOUT_S = 10.0


def render(query: str, canary: Canary, metric: CanaryMetric) -> str:
    variables = metric.template_variables or {}
    known = {
        "namespace": canary.metadata.namespace,
        "target": canary.spec.target_ref.name,
        "interval": metric.interval or canary.spec.analysis.interval or "1m",
    }
    return _VARIABLE.sub(lambda m: variables.get(m[2], "") if m[2] else known[m[1]], query)


class PrometheusTemplates:
    """`value(canary, metric)` -> the template query's value, or None (no data)."""

    def __init__(self, store: Any, default_url: str | None = None) -> None:
        self.store, self.default_url = store, default_url

    def template(self, canary: Canary, metric: CanaryMetric) -> MetricTemplate | None:
        ref = metric.template_ref
        if ref is None:
            return None
        found = self.store.snapshot().find(
            MetricTemplate, ref.namespace or canary.metadata.namespace, ref.name
        )
        return found if isinstance(found, MetricTemplate) else None

    async def value(self, canary: Canary, metric: CanaryMetric) -> float | None:
        template = self.template(canary, metric)
        address = (template.spec.provider.address if template else None) or self.default_url
        if template is None or not address:
            return None
        query = render(template.spec.query, canary, metric)
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT_S) as client:
                answer = await client.get(f"{address.rstrip('/')}/api/v1/query", params={"query": query})
            return _first(answer.json())
        except (httpx.HTTPError, ValueError):
            return None


def _first(body: Any) -> float | None:
    try:
        result = body["data"]["result"]
        sample = result[0]["value"][1] if result else None
    except (KeyError, IndexError, TypeError):
        return None
    value = float(sample) if sample is not None else math.nan
    return None if math.isnan(value) else value
