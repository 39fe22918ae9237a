"""MeshConfig: how a user sets the traffic policy, mTLS and audit modes; every mistake located."""

from __future__ import annotations

from pathlib import Path

from smimesh.mesh.modes import (
    DEFAULT_MODES,
    MtlsMode,
    TrafficPolicyMode,
    changes,
    load_mesh_config,
    parse_mesh_config,
    summary,
)

GOOD = """\
apiVersion: smimesh.io/v1alpha1
kind: MeshConfig
metadata: {name: mesh}
spec:
  trafficPolicy: smi
  mtls: strict
  namespaces:
    legacy: {mtls: permissive, audit: true}
    trial: {audit: true}
"""


def test_defaults_are_default_deny_and_strict() -> None:
    assert DEFAULT_MODES.traffic_policy is TrafficPolicyMode.SMI
    assert DEFAULT_MODES.mtls_for("anything") is MtlsMode.STRICT
    assert not DEFAULT_MODES.audit("anything")


def test_namespaces_override_the_mesh_wide_mode() -> None:
    modes, problems = parse_mesh_config(GOOD)
    assert problems == []
    assert modes.mtls_for("legacy") is MtlsMode.PERMISSIVE and modes.audit("legacy")
    assert modes.mtls_for("trial") is MtlsMode.STRICT and modes.audit("trial")
    assert modes.mtls_for("shop") is MtlsMode.STRICT and not modes.audit("shop")
    assert modes.describe("legacy") == {
        "namespace": "legacy",
        "traffic_policy": "smi",
        "mtls": "permissive",
        "audit": True,
    }


def test_open_traffic_policy() -> None:
    modes, problems = parse_mesh_config(GOOD.replace("trafficPolicy: smi", "trafficPolicy: open"))
    assert problems == [] and modes.open


def test_a_bad_value_is_located_and_nothing_half_applies() -> None:
    modes, problems = parse_mesh_config(GOOD.replace("mtls: permissive", "mtls: relaxed"), "mesh.yaml")
    assert modes == DEFAULT_MODES
    (problem,) = problems
    assert problem.code == "SM6101"
    assert problem.location.file == "mesh.yaml" and problem.location.line == 8
    assert problem.path == "spec.namespaces.legacy.mtls"
    assert problem.value == "'relaxed'" and problem.expected == "strict | permissive"


def test_unknown_fields_wrong_kind_and_bad_yaml_are_diagnostics() -> None:
    _, problems = parse_mesh_config(GOOD.replace("mtls: strict", "mtsl: strict"))
    assert [p.path for p in problems] == ["spec.mtsl"]
    _, problems = parse_mesh_config(GOOD.replace("kind: MeshConfig", "kind: TrafficTarget"))
    assert [p.path for p in problems] == ["kind"]
    _, problems = parse_mesh_config("spec: [unclosed")
    assert problems and problems[0].message.startswith("not valid YAML")
    _, problems = parse_mesh_config(GOOD.replace("audit: true}", "audit: maybe}", 1))
    assert [p.path for p in problems] == ["spec.namespaces.legacy.audit"]


def test_an_unreadable_file_is_a_diagnostic(tmp_path: Path) -> None:
    modes, problems = load_mesh_config(tmp_path / "missing.yaml")
    assert modes == DEFAULT_MODES and problems[0].code == "SM6101"
    (tmp_path / "mesh.yaml").write_text(GOOD)
    assert load_mesh_config(tmp_path / "mesh.yaml")[0].audit("legacy")


def test_a_change_of_modes_is_named_setting_by_setting() -> None:
    good, _ = parse_mesh_config(GOOD)
    opened, _ = parse_mesh_config(GOOD.replace("trafficPolicy: smi", "trafficPolicy: open"))
    assert changes(good, opened) == ["trafficPolicy smi -> open"]
    assert changes(good, DEFAULT_MODES) == [
        "legacy: mtls permissive -> strict",
        "legacy: audit on -> off",
        "trial: audit on -> off",
    ]
    assert changes(good, good) == []
    assert (
        summary(good) == "trafficPolicy smi, mtls strict, mtls permissive in legacy, audit in legacy, trial"
    )
