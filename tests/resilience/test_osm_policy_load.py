"""OSM's Retry and UpstreamTrafficSetting load as published: every field of the CRDs is a field of the
model (so nothing is silently dropped), OSM's own examples load clean, and what smimesh resolves from
them is what they say."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from smimesh.mesh.resilience import Connections, RetrySpec
from smimesh.resources import load_paths, load_text
from smimesh.resources.osm_policy import Retry, UpstreamTrafficSetting
from smimesh.testing.bookstore import bookstore_model
from smimesh.testing.smi_data import osm_data_dir

CRDS = {"policy_retry.yaml": Retry, "policy_upstream_traffic_setting.yaml": UpstreamTrafficSetting}


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    found = set()
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        found.add(path)
        items = sub.get("items", {}) if sub.get("type") == "array" else sub
        if "global" not in path:  # smimesh decodes `global` as a whole and refuses it (SM3801)
            found |= _schema_paths(items, path)
    return found


def _model_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    found = set()
    for name, field in model.model_fields.items():
        alias = field.alias or name
        path = f"{prefix}.{alias}" if prefix else alias
        found.add(path)
        for inner in _models_in(field.annotation):
            found |= _model_paths(inner, path)
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


@pytest.mark.parametrize("crd", sorted(CRDS))
def test_every_field_of_the_published_crd_is_a_field_of_the_model(crd: str) -> None:
    document = yaml.safe_load((osm_data_dir() / crd).read_text())
    schema = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_model = CRDS[crd].model_fields["spec"].annotation
    assert isinstance(spec_model, type)
    missing = _schema_paths(schema) - _model_paths(spec_model)
    assert not missing, sorted(missing)


def test_osms_retry_and_circuit_breaking_examples_load_clean() -> None:
    paths = [
        str(osm_data_dir() / f)
        for f in ("example_retry_5xx.yaml", "example_upstreamtrafficsetting_circuit-breaking.yaml")
    ]
    result = load_paths(paths)
    assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]
    assert sorted(str(o.key) for o in result.objects) == [
        "Retry/curl/retry",
        "UpstreamTrafficSetting/httpbin/httpbin",
    ]


def test_what_the_mesh_resolves_from_osm_kinds() -> None:
    policy = """
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Retry
metadata: {name: retry, namespace: bookstore}
spec:
  source: {kind: ServiceAccount, name: buyer, namespace: bookstore}
  destinations:
  - {kind: Service, name: bookstore, namespace: bookstore}
  - {kind: Service, name: nowhere, namespace: bookstore}
  retryPolicy: {retryOn: "5xx", perTryTimeout: 1s, numRetries: 5, retryBackoffBaseInterval: 1500ms}
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: warehouse, namespace: bookstore}
spec:
  host: warehouse.bookstore.svc.cluster.local
  connectionSettings: {tcp: {maxConnections: 1}, http: {maxPendingRequests: 1, maxRequestsPerConnection: 1}}
"""
    model = bookstore_model(policy)
    assert model.resilience is not None
    [(_, retry)] = model.resilience.retries.items()
    assert retry == RetrySpec("Retry/bookstore/retry", "5xx", 5, 1.0, 1.5)
    [(service, settings)] = model.resilience.services.items()
    assert str(service) == "bookstore/warehouse"
    assert settings.connections == Connections(
        max_connections=1, max_pending_requests=1, max_requests_per_connection=1
    )
    [missing] = [d for d in model.diagnostics if d.code == "SM6801"]
    assert missing.path == "spec.destinations[1]" and "bookstore/nowhere" in missing.message


def test_a_resilience_policy_takes_the_documented_defaults() -> None:
    result = load_text(
        """
apiVersion: smimesh.io/v1alpha1
kind: ResiliencePolicy
metadata: {name: web, namespace: shop}
spec: {service: web, requestTimeout: 2s, outlierDetection: {}}
"""
    )
    assert result.ok, [d.format() for d in result.diagnostics]
    spec = result.objects[0].resource.spec  # type: ignore[attr-defined]
    assert spec.outlier_detection.consecutive_5xx == 5 and spec.outlier_detection.base_ejection_time == "30s"


def test_every_osm_example_loads_clean() -> None:
    result = load_paths([str(p) for p in sorted(osm_data_dir().glob("example_*.yaml"))])
    assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]
    assert sorted(o.key.kind for o in result.objects) == [
        "Egress",
        "IngressBackend",
        "Retry",
        "UpstreamTrafficSetting",
    ]
