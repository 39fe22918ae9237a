"""The Flagger Canary kind: Flagger's examples load as they are (what smimesh ignores is a warning,
never an error), and our additions live in annotations."""

from __future__ import annotations

import pytest

from smimesh.diagnostics import Severity
from smimesh.resources import load_text
from smimesh.resources.canary import Canary
from smimesh.testing.smi_data import upstream_dir

FLAGGER = upstream_dir("flagger")
WORKLOAD = """
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: podinfo, namespace: test, labels: {app: podinfo}}
spec:
  command: [sleep, "100"]
  ports: [{name: http, containerPort: 9898}]
"""
EXAMPLES = [
    "canary_linkerd-tutorial_metrictemplates-gatewayrefs.yaml",
    "canary_linkerd-provider_webhooks.yaml",
    "canary_osm-provider_tutorial.yaml",
    "canary_linkerd-tutorial_ab-match.yaml",
]


@pytest.mark.parametrize("name", EXAMPLES)
def test_flagger_examples_load_with_only_warnings(name: str) -> None:
    text = (FLAGGER / name).read_text()
    result = load_text(WORKLOAD + "---\n" + text, name)
    errors = [d.format() for d in result.diagnostics if d.severity is Severity.ERROR]
    assert not errors, errors
    canaries = [o.resource for o in result.objects if isinstance(o.resource, Canary)]
    assert len(canaries) == 1
    assert all(d.code == "SM3901" for d in result.diagnostics), [d.format() for d in result.diagnostics]


def test_ignored_fields_are_named() -> None:
    text = (FLAGGER / "canary_linkerd-tutorial_ab-match.yaml").read_text()
    result = load_text(WORKLOAD + "---\n" + text, "ab.yaml")
    ignored = {d.path for d in result.diagnostics}
    assert {"spec.ingressRef", "spec.autoscalerRef", "spec.provider"} <= ignored


def test_annotations_are_the_policy() -> None:
    text = (
        WORKLOAD
        + """---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
  annotations: {smimesh.io/min-requests: "20", smimesh.io/on-no-data: fail}
spec:
  targetRef: {apiVersion: smimesh.io/v1alpha1, kind: Workload, name: podinfo}
  service: {port: 9898}
  analysis: {interval: 1s, threshold: 2, stepWeight: 10}
"""
    )
    result = load_text(text)
    assert result.ok, [d.format() for d in result.diagnostics]
    canary = next(o.resource for o in result.objects if isinstance(o.resource, Canary))
    assert (canary.min_requests, canary.on_no_data, canary.service_name) == (20, "fail", "podinfo")


def test_unknown_field_is_an_error_with_a_hint() -> None:
    text = (
        WORKLOAD
        + """---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: smimesh.io/v1alpha1, kind: Workload, name: podinfo}
  service: {port: 9898}
  analysis: {interval: 1s, threshold: 2, stepWieght: 10}
"""
    )
    result = load_text(text)
    codes = {(d.code, d.path) for d in result.diagnostics}
    assert any(path == "spec.analysis.stepWieght" for _, path in codes), codes
