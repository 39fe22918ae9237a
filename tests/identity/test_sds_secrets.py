"""xds.secrets: the Secret protos, TLS contexts referencing them over ADS, and Envoy's own validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2

from smimesh.identity import CertificateBook, IdentityBundle, SpiffeId, TrustBundle, issue_leaf
from smimesh.testing.identity_envoy import (
    as_json,
    bootstrap,
    cluster,
    http_listener,
    static_secrets,
    validate,
)
from smimesh.testing.identity_helpers import NOW, TRUST_DOMAIN
from smimesh.testing.net import free_port
from smimesh.xds import secrets


@pytest.fixture
def bundle(root, bookstore) -> IdentityBundle:
    return IdentityBundle(issue_leaf(root, bookstore, now=NOW), TrustBundle.of(TRUST_DOMAIN, [root]))


def test_secret_names_are_per_identity_and_per_trust_domain(bookstore, bookbuyer) -> None:
    assert secrets.secret_name_for(bookstore) == "identity:spiffe://cluster.local/ns/bookstore/sa/bookstore"
    assert secrets.secret_name_for(bookstore) != secrets.secret_name_for(bookbuyer)
    assert secrets.trust_bundle_secret_name(TRUST_DOMAIN) == "trust-bundle:cluster.local"


def test_a_sidecar_may_receive_only_its_own_secrets(bookstore, bookbuyer) -> None:
    allowed = secrets.allowed_secret_names(bookstore)
    assert allowed == {secrets.secret_name_for(bookstore), "trust-bundle:cluster.local"}
    assert secrets.secret_name_for(bookbuyer) not in allowed


def test_secret_names_map_back_to_identities(bookstore) -> None:
    assert secrets.identity_of_secret(secrets.secret_name_for(bookstore)) == bookstore
    assert secrets.identity_of_secret("trust-bundle:cluster.local") is None
    assert secrets.identity_of_secret("identity:spiffe://cluster.local/not/an/identity") is None


def test_tls_certificate_secret_carries_the_leaf(bundle: IdentityBundle) -> None:
    secret = secrets.tls_certificate_secret(bundle)
    assert secret.name == secrets.secret_name_for(bundle.identity)
    assert secret.tls_certificate.certificate_chain.inline_bytes == bundle.leaf.certificate_pem
    assert secret.tls_certificate.private_key.inline_bytes == bundle.leaf.private_key_pem


def test_trust_bundle_secret_holds_every_root_during_rotation(root, other_root, bookstore) -> None:
    book = CertificateBook(root, trust_domain=TRUST_DOMAIN)
    book.sync([bookstore], NOW)
    book.begin_root_rotation(other_root, NOW)
    secret = secrets.trust_bundle_secret(book.bundle(bookstore).trust)
    roots = x509.load_pem_x509_certificates(secret.validation_context.trusted_ca.inline_bytes)
    assert [r.fingerprint(r.signature_hash_algorithm) for r in roots] == [
        c.certificate.fingerprint(c.certificate.signature_hash_algorithm) for c in (root, other_root)
    ]


def test_unchanged_bundle_serializes_identically(bundle: IdentityBundle, root) -> None:
    again = IdentityBundle(bundle.leaf, TrustBundle.of(TRUST_DOMAIN, [root]))
    first = [s.SerializeToString(deterministic=True) for s in secrets.secrets_for(bundle)]
    assert first == [s.SerializeToString(deterministic=True) for s in secrets.secrets_for(again)]


def test_upstream_context_checks_the_server_spiffe_id_and_uses_ads(bookbuyer, bookstore) -> None:
    context = secrets.upstream_tls_context(bookbuyer, [bookstore, bookstore], sni="bookstore")
    common = context.common_tls_context
    assert context.sni == "bookstore"
    assert [c.name for c in common.tls_certificate_sds_secret_configs] == [secrets.secret_name_for(bookbuyer)]
    assert common.tls_certificate_sds_secret_configs[0].sds_config.HasField("ads")
    combined = common.combined_validation_context
    assert combined.validation_context_sds_secret_config.name == "trust-bundle:cluster.local"
    assert combined.validation_context_sds_secret_config.sds_config.HasField("ads")
    (matcher,) = combined.default_validation_context.match_typed_subject_alt_names
    assert matcher.san_type == common_pb2.SubjectAltNameMatcher.URI
    assert matcher.matcher.exact == bookstore.uri
    assert common.tls_params.tls_minimum_protocol_version == common_pb2.TlsParameters.TLSv1_3
    assert common.tls_params.tls_maximum_protocol_version == common_pb2.TlsParameters.TLSv1_3
    assert not common.tls_certificates  # never inline key material in a cluster


def test_upstream_context_needs_an_expected_peer(bookbuyer) -> None:
    with pytest.raises(ValueError, match="at least one expected peer"):
        secrets.upstream_tls_context(bookbuyer, [])


def test_downstream_context_requires_a_client_certificate_of_the_trust_domain(bookstore, bookbuyer) -> None:
    context = secrets.downstream_tls_context(bookstore)
    assert context.require_client_certificate.value is True
    (matcher,) = (
        context.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names
    )
    assert matcher.matcher.prefix == "spiffe://cluster.local/"
    narrowed = secrets.downstream_tls_context(bookstore, allowed_peers=[bookbuyer], alpn=["h2"])
    names = narrowed.common_tls_context.combined_validation_context.default_validation_context
    assert [m.matcher.exact for m in names.match_typed_subject_alt_names] == [bookbuyer.uri]
    assert list(narrowed.common_tls_context.alpn_protocols) == ["h2"]


def test_transport_socket_wraps_the_context(bookstore) -> None:
    socket = secrets.transport_socket(secrets.downstream_tls_context(bookstore))
    assert socket.name == "envoy.transport_sockets.tls"
    unpacked = tls_pb2.DownstreamTlsContext()
    assert socket.typed_config.Unpack(unpacked)


@pytest.mark.envoy
def test_envoy_accepts_the_static_forms(tmp_path: Path, root, bundle, bookbuyer, bookstore) -> None:
    buyer_cert = as_json(
        secrets.tls_certificate_secret(IdentityBundle(issue_leaf(root, bookbuyer, now=NOW), bundle.trust))
    )
    up = secrets.upstream_tls_context(bookbuyer, [bookstore], via_ads=False)
    down = secrets.downstream_tls_context(bookstore, via_ads=False)
    listener = http_listener("in", free_port(), [("/", "out")], tls=down)
    config = bootstrap(
        [listener], [cluster("out", free_port(), tls=up)], [*static_secrets(bundle), buyer_cert], free_port()
    )
    result = validate(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.envoy
def test_envoy_accepts_a_listener_fetching_its_secrets_over_ads(tmp_path: Path, bookstore) -> None:
    """The ADS form, on a listener. (A *static* cluster with SDS over ADS crashes Envoy, validate mode
    and real mode alike, envoyproxy/envoy#15517: clusters using these contexts must come over CDS.)"""
    xds_cluster = cluster("xds", free_port()) | {
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    }
    down = secrets.downstream_tls_context(bookstore)
    config = bootstrap(
        [http_listener("in", free_port(), [("/", "xds")], tls=down)], [xds_cluster], [], free_port()
    )
    config["dynamic_resources"] = {
        "ads_config": {
            "api_type": "GRPC",
            "transport_api_version": "V3",
            "grpc_services": [{"envoy_grpc": {"cluster_name": "xds"}}],
        }
    }
    result = validate(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.envoy
def test_envoy_rejects_a_reference_to_a_missing_static_secret(tmp_path: Path, bookstore) -> None:
    """Negative control: validation really looks at the secrets (so the test above can fail)."""
    down = secrets.downstream_tls_context(bookstore, via_ads=False)
    config = bootstrap([http_listener("in", free_port(), [("/", "in")], tls=down)], [], [], free_port())
    result = validate(config, tmp_path)
    assert result.returncode != 0
    assert "unknown static" in (result.stdout + result.stderr).lower()


def test_json_form_names_the_spiffe_matcher(bookstore, bookbuyer) -> None:
    as_dict = as_json(secrets.upstream_tls_context(bookbuyer, [SpiffeId(TRUST_DOMAIN, "a", "b"), bookstore]))
    matchers = as_dict["common_tls_context"]["combined_validation_context"]["default_validation_context"]
    assert [m["san_type"] for m in matchers["match_typed_subject_alt_names"]] == ["URI", "URI"]
