"""SpiffeId: parse/format round trip and the SPIFFE spec's rules, one bad input at a time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smimesh.identity import InvalidSpiffeIdError, SpiffeId

_segment = st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,30}", fullmatch=True)
_trust_domain = st.from_regex(r"[a-z0-9_-][a-z0-9._-]{0,40}", fullmatch=True)


def test_formats_the_smi_identity_uri() -> None:
    sid = SpiffeId("cluster.local", "bookstore", "bookstore-v1")
    assert sid.uri == "spiffe://cluster.local/ns/bookstore/sa/bookstore-v1"
    assert str(sid) == sid.uri
    assert sid.trust_domain_uri == "spiffe://cluster.local"


def test_parse_reads_every_part() -> None:
    sid = SpiffeId.parse("spiffe://example.org/ns/default/sa/service_a")
    assert (sid.trust_domain, sid.namespace, sid.service_account) == ("example.org", "default", "service_a")


@given(_trust_domain, _segment, _segment)
def test_parse_inverts_format(trust_domain: str, namespace: str, service_account: str) -> None:
    sid = SpiffeId(trust_domain, namespace, service_account)
    assert SpiffeId.parse(sid.uri) == sid


@given(st.text(max_size=120))
def test_parse_never_fails_with_anything_but_a_clear_error(text: str) -> None:
    try:
        sid = SpiffeId.parse(text)
    except InvalidSpiffeIdError as exc:
        assert exc.message and exc.expected
    else:
        assert sid.uri == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("http://cluster.local/ns/a/sa/b", "must start with 'spiffe://'"),
        ("SPIFFE://cluster.local/ns/a/sa/b", "must start with 'spiffe://'"),
        ("spiffe://Cluster.Local/ns/a/sa/b", "lowercase letters"),
        ("spiffe://cluster.local:8443/ns/a/sa/b", "port or user info"),
        ("spiffe://user@cluster.local/ns/a/sa/b", "port or user info"),
        ("spiffe:///ns/a/sa/b", "1 to 255 characters"),
        ("spiffe://cluster.local", "path must be /ns/"),
        ("spiffe://cluster.local/", "path must be /ns/"),
        ("spiffe://cluster.local/ns/a/sa/b/", "path must be /ns/"),
        ("spiffe://cluster.local/ns/a/sa/b/c", "path must be /ns/"),
        ("spiffe://cluster.local/sa/b/ns/a", "path must be /ns/"),
        ("spiffe://cluster.local/ns//sa/b", "must not be empty"),
        ("spiffe://cluster.local/ns/../sa/b", "must not be empty, '.' or '..'"),
        ("spiffe://cluster.local/ns/a/sa/.", "must not be empty, '.' or '..'"),
        ("spiffe://cluster.local/ns/a b/sa/b", "only letters, digits"),
        ("spiffe://cluster.local/ns/a/sa/b%20c", "only letters, digits"),
        ("spiffe://cluster.local/ns/a/sa/b?x=1", "query or fragment"),
        ("spiffe://cluster.local/ns/a/sa/b#frag", "query or fragment"),
        ("spiffe://" + "a" * 256 + "/ns/a/sa/b", "1 to 255 characters"),
    ],
)
def test_parse_rejects_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidSpiffeIdError, match=None) as caught:
        SpiffeId.parse(text)
    assert reason in caught.value.message
    assert caught.value.expected


def test_overlong_uri_is_refused() -> None:
    with pytest.raises(InvalidSpiffeIdError, match="longer than 2048 bytes"):
        SpiffeId("cluster.local", "n" * 1000, "s" * 1100)


def test_ids_are_hashable_and_ordered() -> None:
    a, b = SpiffeId("td", "a", "x"), SpiffeId("td", "b", "x")
    assert {a, SpiffeId("td", "a", "x")} == {a}
    assert sorted([b, a]) == [a, b]


def test_invalid_id_becomes_a_coded_diagnostic_at_the_users_field() -> None:
    from smimesh.diagnostics import Location, ObjectRef, lookup
    from smimesh.identity.codes import INVALID_SPIFFE_ID, invalid_spiffe_id

    with pytest.raises(InvalidSpiffeIdError) as caught:
        SpiffeId("cluster.local", "shop", "bad name")
    diagnostic = invalid_spiffe_id(
        caught.value,
        location=Location("w.yaml", 7),
        obj=ObjectRef("Workload", "shop", "web"),
        path="spec.serviceAccount",
    )
    assert diagnostic.code == "SM3090" and lookup("SM3090") is INVALID_SPIFFE_ID
    assert diagnostic.value == "bad name" and diagnostic.expected and diagnostic.hint
    assert diagnostic.format().startswith("w.yaml:7: error SM3090: service account may hold only")
