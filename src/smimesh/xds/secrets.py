"""SDS secrets and the TLS contexts that use them (pure: identity bundles -> Envoy protos).

Two secrets per sidecar: its identity's certificate and key (`secret_name_for(identity)`), and the
trust bundle of its trust domain (`trust_bundle_secret_name(td)`, every root sidecars accept: two
during a root rotation). TLS contexts never inline key material: they name those secrets and
fetch them over SDS on the ADS stream, so a renewed certificate or a rotated root reaches Envoy
without touching listeners or clusters. The peer's SPIFFE id is checked with a URI SAN matcher in
the context's default validation context, combined with the trust bundle fetched over SDS.

`via_ads=False` names the same secrets without an SDS source: Envoy then looks them up in its
bootstrap's `static_resources.secrets` (how the tests run Envoy without a control plane).

Caveat for callers: a cluster using an SDS-over-ADS context must arrive over CDS, never sit in the
bootstrap's `static_resources`: Envoy (1.40 too) crashes when a static cluster's TLS context names
an ADS secret, because static clusters start before the ADS stream exists (envoyproxy/envoy#15517).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from envoy.config.core.v3 import base_pb2, config_source_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import any_pb2, wrappers_pb2

from smimesh.identity.bundle import IdentityBundle, TrustBundle
from smimesh.identity.errors import InvalidSpiffeIdError
from smimesh.identity.spiffe import SCHEME, SpiffeId

TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"
# The SDS name of a sidecar's own certificate in its TLS contexts (Istio's "default", in spirit): each
# proxy's snapshot binds it to that proxy's identity only, so one cluster message serves every caller
# (N callers x M clusters would otherwise be N*M messages).
OWN_CERTIFICATE = "identity:self"
_IDENTITY_PREFIX = "identity:"
# Every peer is an Envoy sidecar: TLS 1.3 only. The maximum must be set too: Envoy's default maximum
# for upstream (client) contexts is TLS 1.2, and min 1.3 alone leaves no version to offer.
_TLS_1_3 = common_pb2.TlsParameters.TLSv1_3
# The URI SAN matcher of a server context that admits no client: no SPIFFE id is this URI (':' is not
# allowed in a SPIFFE path), and an empty matcher list would admit every identity of the trust bundle.
_NOBODY = "spiffe://invalid/:no-caller-is-allowed"


def secret_name_for(identity: SpiffeId) -> str:
    """The SDS name of an identity's certificate and key: `identity:spiffe://td/ns/N/sa/S`."""
    return f"{_IDENTITY_PREFIX}{identity.uri}"


def trust_bundle_secret_name(trust_domain: str) -> str:
    """The SDS name of a trust domain's roots: `trust-bundle:cluster.local`."""
    return f"trust-bundle:{trust_domain}"


def allowed_secret_names(identity: SpiffeId) -> frozenset[str]:
    """The only secrets a sidecar running as `identity` may receive: its own certificate and its trust
    bundle. The SDS server refuses (and logs) any other name a proxy asks for."""
    return frozenset({secret_name_for(identity), trust_bundle_secret_name(identity.trust_domain)})


def identity_of_secret(name: str) -> SpiffeId | None:
    """The identity whose certificate secret is called `name`, or None for any other name."""
    if not name.startswith(_IDENTITY_PREFIX):
        return None
    try:
        return SpiffeId.parse(name.removeprefix(_IDENTITY_PREFIX))
    except InvalidSpiffeIdError:
        return None


def tls_certificate_secret(bundle: IdentityBundle) -> secret_pb2.Secret:
    """The identity's leaf certificate and private key (inline bytes: SDS is the only way they travel)."""
    return secret_pb2.Secret(
        name=secret_name_for(bundle.identity),
        tls_certificate=common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(inline_bytes=bundle.certificate_chain_pem),
            private_key=base_pb2.DataSource(inline_bytes=bundle.leaf.private_key_pem),
        ),
    )


def trust_bundle_secret(trust: TrustBundle) -> secret_pb2.Secret:
    """Every trusted root of the trust domain, as a validation context."""
    return secret_pb2.Secret(
        name=trust_bundle_secret_name(trust.trust_domain),
        validation_context=common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(inline_bytes=trust.pem),
        ),
    )


def secrets_for(bundle: IdentityBundle) -> list[secret_pb2.Secret]:
    """Both secrets a sidecar running as `bundle.identity` needs."""
    return [tls_certificate_secret(bundle), trust_bundle_secret(bundle.trust)]


def upstream_tls_context(
    own: SpiffeId,
    expected_peers: Sequence[SpiffeId],
    *,
    sni: str = "",
    alpn: Sequence[str] = (),
    via_ads: bool = True,
) -> tls_pb2.UpstreamTlsContext:
    """Client side: present `own`'s certificate; accept a server only if its URI SAN is an expected peer."""
    if not expected_peers:
        raise ValueError("an upstream TLS context needs at least one expected peer identity")
    matchers = [_uri_san(string_pb2.StringMatcher(exact=peer.uri)) for peer in sorted(set(expected_peers))]
    return tls_pb2.UpstreamTlsContext(common_tls_context=_common(own, matchers, alpn, via_ads), sni=sni)


def downstream_tls_context(
    own: SpiffeId,
    *,
    allowed_peers: Sequence[SpiffeId] | None = None,
    alpn: Sequence[str] = (),
    via_ads: bool = True,
) -> tls_pb2.DownstreamTlsContext:
    """Server side: require a client certificate chaining to the trust bundle.

    The client's URI SAN must be one of `allowed_peers` (none: no client is admitted), or, when None,
    any SPIFFE id of `own`'s trust domain (then RBAC decides per identity, and can say why in its
    stats and logs).
    """
    if allowed_peers is None:
        prefix = f"{SCHEME}{own.trust_domain}/"
        matchers = [_uri_san(string_pb2.StringMatcher(prefix=prefix))]
    else:
        uris = sorted({peer.uri for peer in allowed_peers}) or [_NOBODY]
        matchers = [_uri_san(string_pb2.StringMatcher(exact=uri)) for uri in uris]
    return tls_pb2.DownstreamTlsContext(
        common_tls_context=_common(own, matchers, alpn, via_ads),
        require_client_certificate=wrappers_pb2.BoolValue(value=True),
    )


def present_own_certificate(context: Any) -> Any:
    """Point a TLS context at the sidecar's own certificate by the per-proxy name `OWN_CERTIFICATE`."""
    context.common_tls_context.tls_certificate_sds_secret_configs[0].name = OWN_CERTIFICATE
    return context


def own_secrets(bundle: IdentityBundle) -> tuple[secret_pb2.Secret, secret_pb2.Secret]:
    """The identity's certificate (under the per-proxy name `OWN_CERTIFICATE`) and the trust bundle."""
    certificate = tls_certificate_secret(bundle)
    certificate.name = OWN_CERTIFICATE
    return certificate, trust_bundle_secret(bundle.trust)


def transport_socket(
    context: tls_pb2.UpstreamTlsContext | tls_pb2.DownstreamTlsContext,
) -> base_pb2.TransportSocket:
    """Wrap a TLS context as the `transport_socket` of a cluster or a filter chain."""
    typed = any_pb2.Any()
    typed.Pack(context)
    return base_pb2.TransportSocket(name=TLS_TRANSPORT_SOCKET, typed_config=typed)


def _common(
    own: SpiffeId, matchers: list[common_pb2.SubjectAltNameMatcher], alpn: Sequence[str], via_ads: bool
) -> tls_pb2.CommonTlsContext:
    return tls_pb2.CommonTlsContext(
        tls_params=common_pb2.TlsParameters(
            tls_minimum_protocol_version=_TLS_1_3, tls_maximum_protocol_version=_TLS_1_3
        ),
        tls_certificate_sds_secret_configs=[_sds(secret_name_for(own), via_ads)],
        combined_validation_context=tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
            default_validation_context=common_pb2.CertificateValidationContext(
                match_typed_subject_alt_names=matchers,
            ),
            validation_context_sds_secret_config=_sds(trust_bundle_secret_name(own.trust_domain), via_ads),
        ),
        alpn_protocols=list(alpn),
    )


def _sds(name: str, via_ads: bool) -> secret_pb2.SdsSecretConfig:
    if not via_ads:
        return secret_pb2.SdsSecretConfig(name=name)  # looked up in static_resources.secrets
    source = config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.ApiVersion.V3
    )
    return secret_pb2.SdsSecretConfig(name=name, sds_config=source)


def _uri_san(matcher: string_pb2.StringMatcher) -> common_pb2.SubjectAltNameMatcher:
    return common_pb2.SubjectAltNameMatcher(san_type=common_pb2.SubjectAltNameMatcher.URI, matcher=matcher)
