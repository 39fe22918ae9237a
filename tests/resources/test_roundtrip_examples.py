"""Every example of the SMI spec (tests/data/upstream/smi/examples) decodes, and its hub round-trips through
every version that can express it (hub -> spoke -> hub unchanged); the defective ones fail the way their
defect deserves (INDEX.md says which)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from smimesh.errors import ConversionError
from smimesh.resources import registry
from smimesh.resources.convert import convert, to_hub
from smimesh.resources.meta import Resource
from smimesh.resources.metrics import TrafficMetrics, TrafficMetricsList
from smimesh.testing.smi_data import COMPATIBLE_SPECS, smi_examples_dir

EXAMPLES = smi_examples_dir()

SPECS_VERSION_FOR = COMPATIBLE_SPECS  # INDEX.md compatibility lines
SPECS_KINDS = {"HTTPRouteGroup", "TCPRoute", "UDPRoute"}

# (file, document index) -> why it is defective and which exception it must raise.
DEFECTIVE: dict[tuple[str, int], tuple[type[Exception], str]] = {
    ("specs.smi-spec.io_v1alpha1_02_httproutegroup.yaml", 0): (
        LookupError,
        "apiVersion `v1alpha1` has no group",
    ),
    ("split.smi-spec.io_v1alpha3_02_trafficsplit-httproutegroup.yaml", 1): (
        ValidationError,
        "HTTPRouteGroup in the pre-v1alpha3 top-level `matches` layout inside a v1alpha3 document",
    ),
    ("split.smi-spec.io_v1alpha4_02_trafficsplit-httproutegroup.yaml", 1): (
        ValidationError,
        "HTTPRouteGroup in the pre-v1alpha3 top-level `matches` layout inside a v1alpha4 document",
    ),
}
# access v1alpha4 is an unreleased draft (IdentityBinding, `group` on subjects): not served.
DRAFT_KINDS = {
    ("access.smi-spec.io/v1alpha4", "TrafficTarget"),
    ("access.smi-spec.io/v1alpha4", "IdentityBinding"),
}
NOT_CONFIGURATION = {"APIService", "APIResourceList", "Role", None}


def infer_api_version(file_name: str, doc: dict[str, Any]) -> str:
    if "apiVersion" in doc:
        return str(doc["apiVersion"])
    group, version = file_name.split("_")[:2]
    kind = doc.get("kind")
    if kind in SPECS_KINDS and group != "specs.smi-spec.io":
        specs_version = SPECS_VERSION_FOR[(group, version)]
        if specs_version == "v1alpha1" and any("headers" in m for m in doc.get("matches", [])):
            specs_version = "v1alpha2"  # access v1alpha1 also pairs with specs v1alpha2, which has headers
        return f"specs.smi-spec.io/{specs_version}"
    return f"{group}/{version}"


def documents() -> list[tuple[str, int, dict[str, Any]]]:
    found = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue  # metrics _09: a literal `...` line ends the document; INDEX.md marks it
        for index, doc in enumerate(d for d in docs if d is not None):
            found.append((path.name, index, doc))
    return found


CONFIG_DOCS = [
    pytest.param(name, index, doc, id=f"{name}#{index}")
    for name, index, doc in documents()
    if not name.startswith("metrics.") and doc.get("kind") not in NOT_CONFIGURATION
]


def test_the_examples_are_there() -> None:
    assert len(CONFIG_DOCS) > 80


@pytest.mark.parametrize(("name", "index", "doc"), CONFIG_DOCS)
def test_example_round_trips_through_every_version(name: str, index: int, doc: dict[str, Any]) -> None:
    api_version = infer_api_version(name, doc)
    data = {**doc, "apiVersion": api_version}
    if (api_version, doc["kind"]) in DRAFT_KINDS:
        with pytest.raises(registry.UnknownKindError):
            registry.decode(data)
        return
    if (name, index) in DEFECTIVE:
        error, _why = DEFECTIVE[(name, index)]
        with pytest.raises(error):
            registry.decode(data)
        return
    original = registry.decode(data)
    hub = to_hub(original)
    assert registry.is_hub(type(hub))
    assert to_hub(convert(hub, api_version)) == hub
    for version in registry.versions_of(hub.KIND):
        assert_round_trip(hub, version)


def assert_round_trip(hub: Resource, version: str) -> None:
    try:
        spoke = convert(hub, version)
    except ConversionError as refused:
        # Only what an older version cannot express may be refused: UDPRoute rules before access v1alpha3.
        assert refused.diagnostics[0].code == "SM5002"
        assert any(rule.kind == "UDPRoute" for rule in hub.spec.rules)  # type: ignore[attr-defined]
        return
    assert version == spoke.API_VERSION
    assert convert(spoke, hub.API_VERSION) == hub
    assert registry.decode(spoke.to_dict()) == spoke  # what we write, we read back


def test_split_example_weights_keep_their_ratio() -> None:
    data = yaml.safe_load((EXAMPLES / "split.smi-spec.io_v1alpha1_05_trafficsplit.yaml").read_text())
    hub = to_hub(registry.decode(data))
    weights = [b.weight for b in hub.spec.backends]  # type: ignore[attr-defined]
    assert weights == [1000, 500]


def test_access_port_example_keeps_its_port() -> None:
    doc = yaml.safe_load((EXAMPLES / "access.smi-spec.io_v1alpha2_02_traffictarget.yaml").read_text())
    hub = to_hub(registry.decode({**doc, "apiVersion": "access.smi-spec.io/v1alpha2"}))
    assert hub.legacy_destination_port == 8080  # type: ignore[attr-defined]


METRICS_DOCS = [
    pytest.param(name, doc, id=name)
    for name, _index, doc in documents()
    if name.startswith("metrics.") and doc.get("kind") in ("TrafficMetrics", "TrafficMetricsList")
]


@pytest.mark.parametrize(("name", "doc"), METRICS_DOCS)
def test_metrics_examples_parse_as_output_types(name: str, doc: dict[str, Any]) -> None:
    model = TrafficMetrics if doc["kind"] == "TrafficMetrics" else TrafficMetricsList
    parsed = model.model_validate(doc)
    assert model.model_validate(parsed.to_dict()) == parsed
