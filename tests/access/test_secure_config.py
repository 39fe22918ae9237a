"""The secured sidecar config: mTLS on both sides of every hop, RBAC in place, only the node's own secrets."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from smimesh.identity import CertificateBook, SpiffeId, create_root
from smimesh.mesh.model import Protocol
from smimesh.mesh.modes import DEFAULT_MODES, MeshModes, MtlsMode, NamespaceMode
from smimesh.mesh.view import InboundSpec
from smimesh.testing.access_world import model_of, routes, target, workload
from smimesh.xds import generate, listeners, type_urls
from smimesh.xds.inbound_access import InboundSecurity
from smimesh.xds.rbac import AccessRule, InboundAccess
from smimesh.xds.secrets import OWN_CERTIFICATE
from smimesh.xds.security import secure_view

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MODEL = model_of(
    workload("web"),
    workload("client"),
    routes("all", "[{name: all}]"),
    target("t", "web", ["client"], "[{kind: HTTPRouteGroup, name: all}]"),
)


def _book() -> CertificateBook:
    book = CertificateBook(create_root(trust_domain="cluster.local", now=NOW), trust_domain="cluster.local")
    book.sync({SpiffeId("cluster.local", "shop", sa) for sa in ("web", "client")}, NOW)
    return book


def _config(node: str, modes: MeshModes = DEFAULT_MODES) -> dict[str, list[object]]:
    book = _book()
    return generate(secure_view(MODEL, node, modes, book.bundle))


def _inbound(config: dict[str, list[object]]) -> object:
    return next(item for item in config[type_urls.LISTENER] if item.name.startswith("inbound|"))


def test_strict_inbound_has_only_a_tls_chain_requiring_client_certificates() -> None:
    listener = _inbound(_config("web-0.shop"))
    (chain,) = listener.filter_chains
    context = tls_pb2.DownstreamTlsContext()
    chain.transport_socket.typed_config.Unpack(context)
    assert context.require_client_certificate.value
    manager = hcm.HttpConnectionManager()
    chain.filters[-1].typed_config.Unpack(manager)
    assert [f.name for f in manager.http_filters] == ["envoy.filters.http.rbac", "envoy.filters.http.router"]
    # a caller's own XFCC is dropped and replaced by the verified certificate's URI SAN (the routes that
    # admit callers read it: xds.route_stats), then removed before the app
    assert manager.forward_client_cert_details == hcm.HttpConnectionManager.SANITIZE_SET
    assert manager.set_current_client_cert_details.uri and not manager.set_current_client_cert_details.cert


def test_permissive_inbound_adds_a_plaintext_chain_behind_the_tls_inspector() -> None:
    modes = MeshModes(namespaces=(NamespaceMode("shop", MtlsMode.PERMISSIVE),))
    listener = _inbound(_config("web-0.shop", modes))
    assert [c.filter_chain_match.transport_protocol for c in listener.filter_chains] == ["tls", "raw_buffer"]
    assert [f.name for f in listener.listener_filters] == ["envoy.filters.listener.tls_inspector"]
    assert not listener.filter_chains[1].HasField("transport_socket")


def test_outbound_clusters_expect_the_destination_identity() -> None:
    config = _config("client-0.shop")
    cluster = next(c for c in config[type_urls.CLUSTER] if c.name == "outbound|shop|web|80")
    context = tls_pb2.UpstreamTlsContext()
    cluster.transport_socket.typed_config.Unpack(context)
    validation = context.common_tls_context.combined_validation_context.default_validation_context
    assert [m.matcher.exact for m in validation.match_typed_subject_alt_names] == [
        "spiffe://cluster.local/ns/shop/sa/web"
    ]
    assert context.common_tls_context.tls_certificate_sds_secret_configs[0].name == OWN_CERTIFICATE
    # one message for every caller: the certificate is named per proxy, not per identity (web sees
    # its own service only with its namespace in audit mode: no TrafficTarget lets it call itself)
    audited = MeshModes(namespaces=(NamespaceMode("shop", audit=True),))
    assert (
        next(c for c in _config("web-0.shop", audited)[type_urls.CLUSTER] if c.name == "outbound|shop|web|80")
        is cluster
    )
    assert not any(c.name == "outbound|shop|web|80" for c in _config("web-0.shop")[type_urls.CLUSTER])


def test_a_sidecar_gets_only_its_own_identity_secret_and_the_trust_bundle() -> None:
    own, trust = _config("client-0.shop")[type_urls.SECRET]
    assert (own.name, trust.name) == (OWN_CERTIFICATE, "trust-bundle:cluster.local")
    pem = own.tls_certificate.certificate_chain.inline_bytes
    certificate = x509.load_pem_x509_certificate(pem)
    uris = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert uris.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://cluster.local/ns/shop/sa/client"
    ]


def test_a_caller_routes_only_to_what_it_may_call_and_answers_the_rest_itself() -> None:
    # `other` is named by no TrafficTarget: it has no config for web (a change of web never touches
    # it) and its own sidecar answers 403 naming the mesh; with shop in audit mode it routes to web.
    model = model_of(workload("web"), workload("other"))
    view = secure_view(model, "other-0.shop", MeshModes(), lambda _: None)
    assert view.base.outbound.clusters == ()
    (table,) = [r for r in generate(view)[type_urls.ROUTE] if r.name == "outbound_http"]
    (vhost,) = table.virtual_hosts
    assert vhost.name == "unknown_host" and vhost.routes[0].direct_response.status == 403
    audited = secure_view(
        model, "other-0.shop", MeshModes(namespaces=(NamespaceMode("shop", audit=True),)), lambda _: None
    )
    assert [c.service.name for c in audited.base.outbound.clusters] == ["other", "web"]
    assert generate(view)[type_urls.SECRET] == []


def test_a_policy_change_changes_the_inbound_route_not_the_listener() -> None:
    # Rules travel per route over RDS: open connections get them on their next request, no drain.
    book = _book()
    tighter = model_of(
        workload("web"),
        workload("client"),
        routes("all", '[{name: all, pathRegex: "/only"}]'),
        target("t", "web", ["client"], "[{kind: HTTPRouteGroup, name: all}]"),
    )
    before = generate(secure_view(MODEL, "web-0.shop", DEFAULT_MODES, book.bundle))
    after = generate(secure_view(tighter, "web-0.shop", DEFAULT_MODES, book.bundle))
    assert _inbound(before).SerializeToString() == _inbound(after).SerializeToString()
    route = [r for r in before[type_urls.ROUTE] if r.name == "inbound|http"]
    assert route and route != [r for r in after[type_urls.ROUTE] if r.name == "inbound|http"]


# ---- a TCP port refuses at the handshake whom its RBAC would deny (server-first apps) ------------


def _tcp_listener(rules: tuple[AccessRule, ...], mtls: MtlsMode, **access: bool) -> object:
    spec = InboundSpec("tcp-smtp", 2525, 20001, 20002, Protocol.TCP, "127.0.0.1")
    inbound = InboundAccess("tcp-smtp", Protocol.TCP, rules, **access)
    return listeners.inbound_listener(
        spec, InboundSecurity(inbound, SpiffeId("cluster.local", "shop", "mail"), mtls)
    )


def _chain_parts(chain: object) -> tuple[list[str], tcp_proxy_pb2.TcpProxy]:
    """The URI SAN matchers of a chain's TLS context ([] for plaintext) and its tcp_proxy."""
    proxy = tcp_proxy_pb2.TcpProxy()
    chain.filters[-1].typed_config.Unpack(proxy)
    if not chain.HasField("transport_socket"):
        return [], proxy
    context = tls_pb2.DownstreamTlsContext()
    chain.transport_socket.typed_config.Unpack(context)
    sans = context.common_tls_context.combined_validation_context.default_validation_context
    return [str(m.matcher).strip() for m in sans.match_typed_subject_alt_names], proxy


CLIENT = "spiffe://cluster.local/ns/shop/sa/client"
RULE = AccessRule("TrafficTarget/shop/t", (CLIENT,), None)


def test_an_enforced_tcp_port_admits_at_the_handshake_only_the_identities_rbac_allows() -> None:
    listener = _tcp_listener((RULE,), MtlsMode.STRICT)
    (chain,) = listener.filter_chains
    sans, proxy = _chain_parts(chain)
    assert sans == [f'exact: "{CLIENT}"']  # and the app is connected only once the handshake admitted it:
    assert proxy.upstream_connect_mode == tcp_proxy_pb2.ON_DOWNSTREAM_TLS_HANDSHAKE
    assert listener.stat_prefix == "inbound_tcp-smtp"  # its refusals are counted per port
    (nobody,) = _tcp_listener((), MtlsMode.STRICT).filter_chains  # no target at all: nobody, not everybody
    assert _chain_parts(nobody)[0] == ['exact: "spiffe://invalid/:no-caller-is-allowed"']


def test_a_permissive_tcp_port_connects_a_plaintext_caller_to_the_app_only_after_rbac_saw_it() -> None:
    tls, plain = _tcp_listener((RULE,), MtlsMode.PERMISSIVE).filter_chains
    assert _chain_parts(tls)[0] == [f'exact: "{CLIENT}"']
    assert _chain_parts(plain)[1].upstream_connect_mode == tcp_proxy_pb2.ON_DOWNSTREAM_DATA
    assert [f.name for f in plain.filters] == [
        "envoy.filters.network.rbac",
        "envoy.filters.network.tcp_proxy",
    ]


def test_audit_and_open_tcp_ports_keep_every_identity_of_the_trust_domain() -> None:
    for listener in (
        _tcp_listener((RULE,), MtlsMode.PERMISSIVE, audit=True),
        _tcp_listener((), MtlsMode.PERMISSIVE, enforce=False),
    ):
        for chain in listener.filter_chains:
            sans, proxy = _chain_parts(chain)
            assert sans in ([], ['prefix: "spiffe://cluster.local/"'])
            assert proxy.upstream_connect_mode == tcp_proxy_pb2.IMMEDIATE
        assert listener.stat_prefix == ""
