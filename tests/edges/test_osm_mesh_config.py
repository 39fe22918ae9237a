"""OSM's MeshConfig as the MeshConfig file: mapped fields become smimesh's modes, the rest is listed."""

from __future__ import annotations

from smimesh.mesh.modes import EgressMode, MeshModes, TrafficPolicyMode, parse_mesh_config

OSM = """apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  sidecar:
    enablePrivilegedInitContainer: false
    logLevel: error
  traffic:
    enableEgress: true
    enablePermissiveTrafficPolicyMode: true
    outboundPortExclusionList: [6379]
  certificate:
    serviceCertValidityDuration: 2h
  featureFlags: {enableRetryPolicy: true}
"""


def test_mapped_fields_become_modes_and_the_others_one_warning() -> None:
    modes, problems = parse_mesh_config(OSM, "osm.yaml")
    assert modes == MeshModes(
        traffic_policy=TrafficPolicyMode.OPEN, egress=EgressMode.OPEN, leaf_lifetime_s=7200.0
    )
    [warning] = problems
    assert warning.code == "SM6102" and warning.severity.value == "warning"
    assert warning.location.line == 6  # the first unmapped field
    for field in (
        "sidecar.enablePrivilegedInitContainer",
        "sidecar.logLevel",
        "traffic.outboundPortExclusionList",
        "featureFlags.enableRetryPolicy",
    ):
        assert field in warning.message
    assert "enableEgress" not in warning.message


def test_a_mapped_field_of_the_wrong_type_is_an_error_at_its_line() -> None:
    text = OSM.replace("enableEgress: true", "enableEgress: sometimes").replace("2h", "soon")
    modes, problems = parse_mesh_config(text, "osm.yaml")
    errors = [p for p in problems if p.severity.value == "error"]
    assert modes == MeshModes()  # nothing half-applied
    assert {(e.code, e.path, e.location.line) for e in errors} == {
        ("SM6101", "spec.traffic.enableEgress", 9),
        ("SM6101", "spec.certificate.serviceCertValidityDuration", 13),
    }


def test_osm_v1alpha1_with_only_mapped_fields_has_no_warning() -> None:
    text = (
        "apiVersion: config.openservicemesh.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: m}\n"
        "spec: {traffic: {enableEgress: false}}\n"
    )
    modes, problems = parse_mesh_config(text, "osm.yaml")
    assert problems == [] and modes.egress is EgressMode.POLICY
