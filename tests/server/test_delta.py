"""Incremental (delta) ADS over a real gRPC channel: subscriptions, removals, reconnects, NACKs."""

from __future__ import annotations

import pytest
from envoy.config.core.v3 import base_pb2
from hypothesis import given
from hypothesis import strategies as st

from smimesh.server.sync import NACKED, SYNCED
from smimesh.testing.ads_client import Mode
from smimesh.testing.server_harness import Running
from smimesh.testing.server_world import world
from smimesh.xds import type_urls as T
from smimesh.xds.snapshot import Snapshot

ALL = (T.CLUSTER, T.ENDPOINT, T.LISTENER, T.ROUTE)


def two_backends(tag: str = "v1") -> Snapshot:
    resources = world(10001, 10002, tag=tag)
    other = world(10001, 10004, backend="other")
    resources[T.CLUSTER] += other[T.CLUSTER]
    resources[T.ENDPOINT] += other[T.ENDPOINT]
    return Snapshot.build(resources)


async def test_initial_fetch_acks_every_type(running: Running) -> None:
    running.cache.set_snapshot("a.ns", two_backends())
    client = await running.client("a.ns", "delta", follow=True)
    await client.subscribe(T.CLUSTER)
    await client.subscribe(T.LISTENER)
    await client.wait_for(lambda c: all(c.state(t).acks >= 1 for t in ALL))
    assert client.names(T.CLUSTER) == {"backend", "other"}
    assert client.names(T.ENDPOINT) == {"backend", "other"}
    assert client.names(T.ROUTE) == {"local_route"}
    await client.wait_for(lambda c: running.sync.status("a.ns") == SYNCED)
    assert running.sync.rows()[0]["mode"] == "delta"


async def test_update_sends_only_changed_resources_and_removals(running: Running) -> None:
    running.cache.set_snapshot("a.ns", two_backends())
    client = await running.client("a.ns", "delta")
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: c.names(T.CLUSTER) == {"backend", "other"})
    only_backend = world(10001, 10002)
    running.cache.set_snapshot("a.ns", Snapshot.build(only_backend))
    await client.wait_for(lambda c: c.names(T.CLUSTER) == {"backend"})
    assert client.state(T.CLUSTER).last_removed == ["other"]
    assert client.state(T.CLUSTER).responses == 2


async def test_named_subscribe_unsubscribe_and_missing_names(running: Running) -> None:
    running.cache.set_snapshot("a.ns", two_backends())
    client = await running.client("a.ns", "delta")
    await client.subscribe(T.ENDPOINT, ["other", "missing"])
    await client.wait_for(lambda c: c.state(T.ENDPOINT).acks == 1)
    assert client.names(T.ENDPOINT) == {"other"}
    assert client.state(T.ENDPOINT).last_removed == ["missing"]  # told it does not exist
    await client.subscribe(T.ENDPOINT, ["backend"])
    await client.wait_for(lambda c: c.names(T.ENDPOINT) == {"other", "backend"})
    await client.unsubscribe(T.ENDPOINT, ["other"])
    running.cache.set_snapshot("a.ns", two_backends(tag="v2"))  # routes changed only: no EDS push
    sent = client.state(T.ENDPOINT).responses
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10009)))  # backend moved
    await client.wait_for(lambda c: c.state(T.ENDPOINT).responses == sent + 1)
    assert client.names(T.ENDPOINT) == {"backend"}


async def test_reconnect_with_initial_versions_sends_only_what_changed(running: Running) -> None:
    running.cache.set_snapshot("a.ns", two_backends())
    client = await running.client("a.ns", "delta")
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)
    await client.close()
    changed = world(10001, 10002)
    changed[T.CLUSTER][0].connect_timeout.seconds = 5  # "backend" changes, "other" is gone
    running.cache.set_snapshot("a.ns", Snapshot.build(changed))
    await client.reconnect()
    await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 2)
    assert client.names(T.CLUSTER) == {"backend"}
    assert client.state(T.CLUSTER).last_removed == ["other"]


async def test_reconnect_holding_everything_gets_an_empty_answer(running: Running) -> None:
    running.cache.set_snapshot("a.ns", two_backends())
    client = await running.client("a.ns", "delta")
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)
    held = dict(client.state(T.CLUSTER).versions)
    await client.reconnect()
    await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 2)
    assert client.state(T.CLUSTER).versions == held and client.names(T.CLUSTER) == {"backend", "other"}


async def test_nack_recorded_and_not_resent(running: Running) -> None:
    running.cache.set_snapshot("a.ns", two_backends())
    client = await running.client("a.ns", "delta")
    client.reject[T.CLUSTER] = "cluster other: Proto constraint validation failed"  # deterministic
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: running.sync.status("a.ns") == NACKED)
    assert running.sync.get("a.ns").nack_message == "cluster other: Proto constraint validation failed"
    await client.subscribe(T.LISTENER)
    running.cache.set_snapshot("a.ns", two_backends(tag="v2"))
    await client.wait_for(lambda c: c.state(T.LISTENER).acks == 1)
    assert client.state(T.CLUSTER).responses == 1
    assert running.sync.status("a.ns") == NACKED


async def test_a_refusal_that_may_pass_is_resent_in_full(running: Running) -> None:
    running.cache.set_snapshot("a.ns", two_backends())
    client = await running.client("a.ns", "delta")
    client.reject[T.CLUSTER] = "cluster other: connection refused"  # may pass
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: c.state(T.CLUSTER).nacks == 1)
    del client.reject[T.CLUSTER]
    await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1, within=10)  # resent after 1 s
    assert client.names(T.CLUSTER) == {"backend", "other"}  # everything it refused came again
    await client.wait_for(lambda c: running.sync.status("a.ns") == SYNCED)


async def test_a_later_delta_carries_what_was_refused_again(running: Running) -> None:
    running.cache.set_snapshot("a.ns", two_backends())
    client = await running.client("a.ns", "delta")
    client.reject[T.CLUSTER] = "Proto constraint validation failed"  # deterministic: no resend
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: c.state(T.CLUSTER).nacks == 1)
    del client.reject[T.CLUSTER]
    resources = world(10001, 10002)
    for extra in ("other", "third"):
        more = world(10001, 10004, backend=extra)
        resources[T.CLUSTER] += more[T.CLUSTER]
        resources[T.ENDPOINT] += more[T.ENDPOINT]
    running.cache.set_snapshot("a.ns", Snapshot.build(resources))  # adds `third` only
    await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)
    assert client.names(T.CLUSTER) == {"backend", "other", "third"}  # not just the new one


names = st.sets(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=5)


@given(held=names, subscribed=names, present=names, wildcard=st.booleans(), changed=names)
def test_applying_a_delta_leaves_the_proxy_holding_exactly_what_it_should(
    held: set[str], subscribed: set[str], present: set[str], wildcard: bool, changed: set[str]
) -> None:
    """Whatever the proxy held, one push (updates + removals) makes it hold the visible set, current."""
    from envoy.config.cluster.v3 import cluster_pb2

    from smimesh.server.delta import Held, _DeltaType, _diff, _remember

    entries = dict(
        Snapshot.build({T.CLUSTER: [cluster_pb2.Cluster(name=n) for n in present]}).entries(T.CLUSTER)
    )
    proxy = {n: ("old" if n in changed or n not in entries else entries[n].digest) for n in held}
    state = _DeltaType(wildcard=wildcard, names=frozenset(subscribed), known=Held(own=dict(proxy)))
    updated, removed = _diff(state, entries)
    for entry in updated:
        proxy[entry.name] = entry.digest
    for name in removed:
        proxy.pop(name, None)
    _remember(state, entries, updated, removed)
    visible = set(entries) if wildcard else set(entries) & subscribed
    assert {n for n in proxy if n in visible} == visible
    assert all(proxy[n] == entries[n].digest for n in visible)
    assert not {n for n in proxy if n not in entries}  # nothing gone is still held
    assert _diff(state, entries) == ([], [])  # and the next diff is empty: no resend


def three_backends(changed: str = "") -> Snapshot:
    """`backend`, `third` and (unless `changed` says gone) `other`; `changed` cluster's timeout moved."""
    resources = world(10001, 10002)
    extras = ("third",) if changed == "other-gone" else ("other", "third")
    for extra in extras:
        more = world(10001, 10004, backend=extra)
        resources[T.CLUSTER] += more[T.CLUSTER]
        resources[T.ENDPOINT] += more[T.ENDPOINT]
    for cluster in resources[T.CLUSTER]:
        if cluster.name == "backend" and changed:
            cluster.connect_timeout.seconds = 7
    return Snapshot.build(resources)


async def test_streams_at_one_version_get_exactly_the_changed_resources_and_removals(
    running: Running,
) -> None:
    """Streams at the same version hold it shared (delta.Held); each still gets exactly the diff."""
    before = two_backends()
    for node in ("a.ns", "b.ns"):
        running.cache.set_snapshot(node, before)  # one snapshot object: the streams share its entries
    first, second = await running.client("a.ns", "delta"), await running.client("b.ns", "delta")
    for client in (first, second):
        await client.subscribe(T.CLUSTER)
        await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)
    running.cache.set_snapshot("a.ns", three_backends(changed="other-gone"))
    await first.wait_for(lambda c: c.state(T.CLUSTER).acks == 2)
    assert first.state(T.CLUSTER).last_updated == ["backend", "third"]  # changed, added: nothing else
    assert first.state(T.CLUSTER).last_removed == ["other"]
    assert second.state(T.CLUSTER).responses == 1  # the other stream at the old version: untouched
    running.cache.set_snapshot("b.ns", three_backends(changed="other-gone"))
    await second.wait_for(lambda c: c.state(T.CLUSTER).acks == 2)
    assert (second.state(T.CLUSTER).last_updated, second.state(T.CLUSTER).last_removed) == (
        ["backend", "third"],
        ["other"],
    )
    running.cache.set_snapshot("a.ns", two_backends())  # back: `backend` and `other` again, `third` gone
    await first.wait_for(lambda c: c.state(T.CLUSTER).acks == 3)
    assert first.state(T.CLUSTER).last_updated == ["backend", "other"]
    assert first.state(T.CLUSTER).last_removed == ["third"]
    assert first.names(T.CLUSTER) == {"backend", "other"} and second.names(T.CLUSTER) == {"backend", "third"}


def test_a_wildcard_push_leaves_the_stream_holding_the_snapshot_shared() -> None:
    """Memory per proxy: after a push, what a stream knows the proxy holds is the snapshot's own
    mapping (no copy of every name and version), and it still answers per name."""
    from smimesh.server.delta import _ABSENT, Held, _DeltaType, _diff, _remember

    entries = two_backends().entries(T.CLUSTER)
    state = _DeltaType(wildcard=True, names=frozenset({"missing"}), known=Held())
    updated, removed = _diff(state, entries)
    assert [e.name for e in updated] == ["backend", "other"] and removed == ["missing"]
    _remember(state, entries, updated, removed)
    assert state.known.is_exactly(entries)
    digests = {"backend": entries["backend"].digest, "other": entries["other"].digest}
    assert dict(state.known) == {**digests, "missing": _ABSENT}  # told that it does not exist
    assert _diff(state, entries) == ([], [])
    assert "other" not in state.known.without("other") and "backend" in state.known.without("other")


def _identity(node: str) -> Snapshot:
    """A snapshot whose SDS secret has one name for every proxy and this proxy's own content."""
    from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

    pem = f"-----BEGIN CERTIFICATE-----\n{node}\n-----END CERTIFICATE-----\n"
    own = common_pb2.TlsCertificate(certificate_chain=base_pb2.DataSource(inline_string=pem))
    return Snapshot.build({T.SECRET: [secret_pb2.Secret(name="workload-identity", tls_certificate=own)]})


@pytest.mark.parametrize("mode", ["sotw", "delta"])
async def test_sharing_never_gives_a_proxy_another_ones_secret(running: Running, mode: Mode) -> None:
    """Subscriptions are shared by name, held versions by snapshot: each proxy still gets only
    its own identity's certificate under the common name."""
    clients = {}
    for node in ("a.ns", "b.ns"):
        running.cache.set_snapshot(node, _identity(node))
        clients[node] = await running.client(node, mode)
        await clients[node].subscribe(T.SECRET, ["workload-identity"])
    for node, client in clients.items():
        await client.wait_for(lambda c: c.state(T.SECRET).acks == 1)
        packed = client.state(T.SECRET).resources["workload-identity"]
        other = ({"a.ns", "b.ns"} - {node}).pop()
        assert node.encode() in packed.value and other.encode() not in packed.value
