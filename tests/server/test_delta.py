"""Incremental (delta) ADS over a real gRPC channel: subscriptions, removals, reconnects, NACKs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from server_harness import Running
from server_world import world

from smimesh.server.sync import NACKED, SYNCED
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

    from smimesh.server.delta import _DeltaType, _diff, _remember

    entries = dict(
        Snapshot.build({T.CLUSTER: [cluster_pb2.Cluster(name=n) for n in present]}).entries(T.CLUSTER)
    )
    proxy = {n: ("old" if n in changed or n not in entries else entries[n].digest) for n in held}
    state = _DeltaType(wildcard=wildcard, names=set(subscribed), known=dict(proxy))
    updated, removed = _diff(state, entries)
    for entry in updated:
        proxy[entry.name] = entry.digest
    for name in removed:
        proxy.pop(name, None)
    _remember(state, updated, removed)
    visible = set(entries) if wildcard else set(entries) & subscribed
    assert {n for n in proxy if n in visible} == visible
    assert all(proxy[n] == entries[n].digest for n in visible)
    assert not {n for n in proxy if n not in entries}  # nothing gone is still held
    assert _diff(state, entries) == ([], [])  # and the next diff is empty: no resend
