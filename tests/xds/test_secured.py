"""The secured config `smimesh up` serves (mTLS + RBAC + SDS), checked three ways before it is refactored:
goldens (every sidecar of the bookstore world in three MeshConfig modes, the edge-case callers and
servers in the default mode), Envoy's `--mode validate` (every world and mode, real certificates) and
requests followed over both hops by the simulator (who gets through, who gets the mesh's 403)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.xds.conftest import WORLDS

from smimesh.local.binaries import find_envoy
from smimesh.testing import static_config
from smimesh.testing.bookstore import BOOKSTORE_V1, BUYER, THIEF, WAREHOUSE
from smimesh.testing.bookstore_edges import EDGE_CASES
from smimesh.testing.golden import Golden
from smimesh.testing.secured import SECURED_MODES, golden_data

BOOKSTORE_NODES = [BUYER, THIEF, BOOKSTORE_V1, WAREHOUSE]
EDGE_NODES = {
    "split_matches": [BUYER],
    "zero_weights": [BUYER],
    "missing_backends": [BUYER],
    "root_self": [BUYER],
    "multiple_ports": [BUYER, "catalog-0.bookstore"],
    "tcp_ports": [WAREHOUSE, "db-0.bookstore"],
}
DENIED = "smimesh: access denied by the mesh"


@pytest.mark.parametrize("mode", list(SECURED_MODES))
@pytest.mark.parametrize("node", BOOKSTORE_NODES)
def test_bookstore_golden(golden: Golden, worlds: dict, mode: str, node: str) -> None:
    config = worlds["bookstore", mode].configs[node]
    golden.check(f"secured/{mode}/bookstore/{node}", golden_data(config))


@pytest.mark.parametrize(("case", "node"), [(c, n) for c, nodes in EDGE_NODES.items() for n in nodes])
def test_edge_case_golden(golden: Golden, worlds: dict, case: str, node: str) -> None:
    golden.check(f"secured/strict/{case}/{node}", golden_data(worlds[case, "strict"].configs[node]))


def test_every_edge_case_has_a_secured_golden() -> None:
    assert set(EDGE_NODES) == set(EDGE_CASES)


def test_secrets_are_the_sidecars_own_and_the_trust_bundle(worlds: dict) -> None:
    data = golden_data(worlds["bookstore", "strict"].configs[BUYER])
    assert [s["name"] for s in data["SDS"]] == ["identity:self", "trust-bundle:cluster.local"]


@pytest.mark.envoy
@pytest.mark.parametrize(("name", "mode"), WORLDS)
def test_envoy_accepts_every_secured_sidecar(tmp_path: Path, worlds: dict, name: str, mode: str) -> None:
    """One Envoy per world (worlds reuse ports) holding all its sidecars, certificates included."""
    config = static_config.static_bootstrap({name: worlds[name, mode].configs})
    assert len(config["static_resources"]["secrets"]) > len(worlds[name, mode].configs)
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))
    command = [str(find_envoy()), "--mode", "validate", "-c", str(path), "-l", "warning"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]


@pytest.mark.envoy
def test_envoy_rejects_a_secured_config_missing_its_trust_bundle(tmp_path: Path, worlds: dict) -> None:
    """The check can fail: a TLS context naming a secret that does not exist is refused."""
    config = static_config.static_bootstrap({"bookstore": worlds["bookstore", "strict"].configs})
    secrets = config["static_resources"]["secrets"]
    config["static_resources"]["secrets"] = [s for s in secrets if not s["name"].startswith("trust-bundle:")]
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))
    command = [str(find_envoy()), "--mode", "validate", "-c", str(path), "-l", "warning"]
    assert subprocess.run(command, capture_output=True, text=True, timeout=300, check=False).returncode != 0


# ---- requests over both hops (the simulator) ------------------------------------------------------


def test_an_allowed_caller_reaches_the_backend_through_its_traffic_target(worlds: dict) -> None:
    hop = worlds["bookstore", "strict"].request(BUYER, "bookstore.bookstore", "/books")
    assert hop.server is not None and hop.server.startswith("bookstore-v")
    assert hop.outcome.forwarded and hop.outcome.policy == "TrafficTarget/bookstore/buyer-to-bookstore"


@pytest.mark.parametrize(("host", "path"), [("bookstore.bookstore", "/books"), ("warehouse", "/stock")])
def test_a_caller_no_traffic_target_allows_gets_the_mesh_403(worlds: dict, host: str, path: str) -> None:
    """Not a 404, not a hang: its own sidecar answers 403 naming the mesh and the host (it has no
    config for a service it may not call: a change of that service never touches it)."""
    hop = worlds["bookstore", "strict"].request(THIEF, host, path)
    assert hop.server is None and hop.outcome.route == "unknown_host"
    assert (
        hop.outcome.status == 403
        and f"at this workload's sidecar: no TrafficTarget lets its identity call {host} " in hop.outcome.body
    )


def test_a_request_outside_the_route_group_is_denied(worlds: dict) -> None:
    hop = worlds["bookstore", "strict"].request(BUYER, "bookstore", "/admin")
    assert hop.outcome.status == 403 and DENIED in hop.outcome.body


def test_every_callers_cluster_accepts_only_the_backends_identity(worlds: dict) -> None:
    world = worlds["bookstore", "strict"]
    cluster = "outbound|bookstore|bookstore-v1|80"
    expected = ("spiffe://cluster.local/ns/bookstore/sa/bookstore",)
    holders = [node for node in world.configs if cluster in world.simulator(node).clusters]
    assert holders and {world.simulator(node).upstream_peers(cluster) for node in holders} == {expected}


def test_strict_mtls_closes_a_plaintext_connection(worlds: dict) -> None:
    world = worlds["bookstore", "strict"]
    port = world.model.instances[BOOKSTORE_V1].inbound[0].sidecar_port
    outcome = world.simulator(BOOKSTORE_V1).http(port, "bookstore", "/books")
    assert not outcome.forwarded and "TLS handshake failed" in outcome.closed


def test_a_certificate_of_another_trust_domain_is_refused(worlds: dict) -> None:
    world = worlds["bookstore", "strict"]
    port = world.model.instances[BOOKSTORE_V1].inbound[0].sidecar_port
    peer = "spiffe://elsewhere/ns/bookstore/sa/buyer"
    outcome = world.simulator(BOOKSTORE_V1).http(port, "bookstore", "/books", peer=peer)
    assert "client certificate" in outcome.closed


def test_audit_mode_lets_a_denied_request_through_and_flags_it(worlds: dict) -> None:
    hop = worlds["bookstore", "permissive-audit"].request(THIEF, "bookstore", "/books")
    assert hop.outcome.forwarded and hop.outcome.audit_denied


def test_permissive_mtls_takes_plaintext_on_its_own_chain(worlds: dict) -> None:
    world = worlds["bookstore", "permissive-audit"]
    port = world.model.instances[BOOKSTORE_V1].inbound[0].sidecar_port
    outcome = world.simulator(BOOKSTORE_V1).http(port, "bookstore", "/books")
    assert outcome.forwarded and outcome.audit_denied  # no certificate: no TrafficTarget names it


def test_open_traffic_policy_has_no_rbac(worlds: dict) -> None:
    hop = worlds["bookstore", "open"].request(THIEF, "bookstore", "/books")
    assert hop.outcome.forwarded and hop.outcome.policy == "" and not hop.outcome.audit_denied


@pytest.mark.parametrize(("caller", "allowed"), [(WAREHOUSE, True), (THIEF, False)])
def test_a_tcp_port_refuses_a_denied_caller_at_the_handshake(
    worlds: dict, caller: str, allowed: bool
) -> None:
    """Not on its first byte (network RBAC): a server-first app would have greeted it by then."""
    world = worlds["tcp_ports", "strict"]
    port = world.model.instances["db-0.bookstore"].inbound[0].sidecar_port
    outcome = world.simulator("db-0.bookstore").tcp(port, peer=world.spiffe(caller))
    assert outcome.forwarded is allowed
    refused = f"TLS handshake failed: client certificate {world.spiffe(caller)} refused"
    assert allowed or outcome.closed == refused, outcome.closed


# ---- one path: the plain config is the secured path with no security ---------------------------


def test_the_plain_setting_is_the_same_generators_without_security(worlds: dict) -> None:
    """`xds.generate` of a secured view's base is the secured config minus what the seams add."""
    from smimesh.xds import generate, type_urls
    from smimesh.xds.security import secure_view

    world = worlds["bookstore", "strict"]
    view = secure_view(world.model, BOOKSTORE_V1, SECURED_MODES["strict"], lambda _identity: None)
    plain, secured = generate(view.base), generate(view)
    assert type_urls.SECRET not in plain and secured[type_urls.SECRET] == []
    assert [x.name for x in plain[type_urls.LISTENER]] == [x.name for x in secured[type_urls.LISTENER]]
    assert not any(c.HasField("transport_socket") for c in plain[type_urls.CLUSTER])
    assert all(
        c.HasField("transport_socket") for c in secured[type_urls.CLUSTER] if c.name.startswith("outbound|")
    )


def test_the_secured_config_comes_from_the_generator_seams() -> None:
    """TLS and RBAC are built by the listener/cluster seams, not patched in afterwards."""
    from smimesh.identity.spiffe import SpiffeId
    from smimesh.mesh.model import Protocol
    from smimesh.mesh.modes import MtlsMode
    from smimesh.mesh.view import InboundSpec
    from smimesh.xds import clusters, listeners
    from smimesh.xds.inbound_access import InboundSecurity
    from smimesh.xds.rbac import InboundAccess

    spec = InboundSpec("http", 8080, 20001, 20002, Protocol.HTTP, "127.0.0.1")
    own = SpiffeId("cluster.local", "shop", "web")
    security = InboundSecurity(InboundAccess("http", Protocol.HTTP), own, MtlsMode.STRICT)
    assert listeners.inbound_transport_socket(spec, None) is None
    assert listeners.inbound_transport_socket(spec, security) is not None
    assert [f.name for f in listeners.inbound_http_filters(spec, security)] == ["envoy.filters.http.rbac"]
    assert clusters.upstream_transport_socket(clusters.UpstreamTls("cluster.local", (own,))) is not None


def test_replicas_share_one_inbound_route_configuration_equal_to_a_fresh_build(worlds: dict) -> None:
    """Two replicas differ only in their ports: their inbound route configuration (with RBAC) is one
    cached message, as a change elsewhere gives each sidecar again (neither rebuilt nor serialized
    again), and it is exactly what building it afresh gives."""
    from dataclasses import replace

    from smimesh.xds import generate, inbound_access, listeners, names, type_urls
    from smimesh.xds.security import secure_view

    world = worlds["bookstore", "strict"]
    view = secure_view(world.model, BOOKSTORE_V1, SECURED_MODES["strict"], lambda _identity: None)
    moved = tuple(
        replace(s, app_port=s.app_port + 1000, sidecar_port=s.sidecar_port + 1000) for s in view.base.inbound
    )
    replica = replace(view, base=replace(view.base, inbound=moved))
    ours, theirs = generate(view)[type_urls.ROUTE], generate(replica)[type_urls.ROUTE]
    inbound = [r for r in ours if r.name != names.OUTBOUND_HTTP_ROUTE]
    assert inbound and all(any(r is t for t in theirs) for r in inbound)
    for spec, access in zip(view.base.inbound, view.inbound_access, strict=True):
        fresh = inbound_access.route_config(listeners.inbound_route_config(spec), access)
        assert fresh is not None and fresh in inbound
