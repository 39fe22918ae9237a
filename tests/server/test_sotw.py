"""State-of-the-world ADS over a real gRPC channel on loopback, against the Envoy-like test client."""

from __future__ import annotations

from smimesh.server.sync import NACKED, SYNCED
from smimesh.testing.server_harness import Running
from smimesh.testing.server_world import world
from smimesh.xds import type_urls as T
from smimesh.xds.snapshot import Snapshot

ALL = (T.CLUSTER, T.ENDPOINT, T.LISTENER, T.ROUTE)


def synced(client, *types: str) -> bool:
    return all(client.state(t).acks >= 1 for t in types)


async def test_initial_fetch_follows_references_and_acks(running: Running) -> None:
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002)))
    client = await running.client("a.ns", follow=True)
    await client.subscribe(T.CLUSTER)
    await client.subscribe(T.LISTENER)
    await client.wait_for(lambda c: synced(c, *ALL))
    assert client.names(T.CLUSTER) == {"backend"}
    assert client.names(T.ENDPOINT) == {"backend"}
    assert client.names(T.ROUTE) == {"local_route"}
    await client.wait_for(lambda c: running.sync.status("a.ns") == SYNCED)
    row = running.sync.rows()[0]
    assert row["node_id"] == "a.ns" and row["mode"] == "sotw"
    assert set(row["types"]) == {"CDS", "EDS", "LDS", "RDS"}
    assert all(t["sent"] == t["acked"] != "" for t in row["types"].values())


async def test_unchanged_world_is_not_pushed_and_change_pushes_only_changed_type(running: Running) -> None:
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002)))
    client = await running.client("a.ns", follow=True)
    await client.subscribe(T.CLUSTER)
    await client.subscribe(T.LISTENER)
    await client.wait_for(lambda c: synced(c, *ALL))
    before = {t: client.state(t).responses for t in ALL}
    assert not running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002)))
    assert running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002, tag="v2")))
    await client.wait_for(lambda c: c.state(T.ROUTE).responses == before[T.ROUTE] + 1)
    await client.wait_for(lambda c: running.sync.status("a.ns") == SYNCED)
    assert {t: client.state(t).responses - before[t] for t in ALL} == {
        T.CLUSTER: 0,
        T.ENDPOINT: 0,
        T.LISTENER: 0,
        T.ROUTE: 1,
    }


DETERMINISTIC = "Error adding/updating listener(s) ingress: Proto constraint validation failed: bad thing"
TRANSIENT = "Error adding/updating listener(s) ingress: cannot bind '127.0.0.1:10001': Address already in use"


async def test_nack_is_recorded_with_text_and_not_resent(running: Running) -> None:
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002)))
    client = await running.client("a.ns")
    client.reject[T.LISTENER] = DETERMINISTIC  # the config's own fault: resending cannot help
    await client.subscribe(T.LISTENER)
    await client.wait_for(lambda c: c.state(T.LISTENER).nacks == 1)
    await client.wait_for(lambda c: running.sync.status("a.ns") == NACKED)
    assert running.sync.get("a.ns").nack_message == DETERMINISTIC
    assert running.sync.rows()[0]["nack"].startswith("Error adding/updating")
    assert running.sync.rows()[0]["types"]["LDS"]["resend"] is None
    # An unrelated change (another type) must not resend the rejected listeners.
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002, tag="v2")))
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)
    assert client.state(T.LISTENER).responses == 1
    assert client.names(T.LISTENER) == set()  # the client kept its last accepted (empty) config
    # A new listener version is pushed again, and accepted this time.
    del client.reject[T.LISTENER]
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10003, 10002, tag="v2")))
    await client.wait_for(lambda c: c.state(T.LISTENER).acks == 1)
    assert client.state(T.LISTENER).responses == 2
    await client.wait_for(lambda c: running.sync.status("a.ns") == SYNCED)
    assert b'smimesh_xds_nacks_total{type="LDS"} 1.0' in running.metrics.render()[0]


async def test_a_refusal_that_may_pass_is_resent_with_backoff_until_accepted(running: Running) -> None:
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002)))
    client = await running.client("a.ns")
    client.reject[T.LISTENER] = TRANSIENT
    await client.subscribe(T.LISTENER)

    # the same version again after 1 s, refused again: the next resend is attempt 2, after 2 s
    def resend_attempt() -> int:
        rows = running.sync.rows()
        lds = rows[0]["types"].get("LDS", {}) if rows else {}
        return int((lds.get("resend") or {}).get("attempt", 0))

    await client.wait_for(lambda c: resend_attempt() == 2)
    assert client.state(T.LISTENER).nacks == 2
    del client.reject[T.LISTENER]  # the port is free now
    await client.wait_for(lambda c: c.state(T.LISTENER).acks == 1, within=10)
    await client.wait_for(lambda c: running.sync.status("a.ns") == SYNCED)
    assert client.names(T.LISTENER) == {"ingress"}
    assert running.sync.rows()[0]["types"]["LDS"]["nacks"] == 2


async def test_a_new_version_is_sent_at_once_while_a_resend_waits(running: Running) -> None:
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002)))
    client = await running.client("a.ns")
    client.reject[T.LISTENER] = TRANSIENT
    await client.subscribe(T.LISTENER)
    await client.wait_for(lambda c: c.state(T.LISTENER).nacks == 1)
    del client.reject[T.LISTENER]
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10003, 10002)))  # the fix: no backoff
    await client.wait_for(lambda c: c.state(T.LISTENER).acks == 1, within=0.5)
    assert client.state(T.LISTENER).responses == 2


async def test_named_subscription_and_unsubscribe(running: Running) -> None:
    resources = world(10001, 10002)
    resources[T.ENDPOINT] += world(10001, 10004, backend="other")[T.ENDPOINT]
    running.cache.set_snapshot("a.ns", Snapshot.build(resources))
    client = await running.client("a.ns")
    await client.subscribe(T.ENDPOINT, ["other", "missing"])
    await client.wait_for(lambda c: c.state(T.ENDPOINT).acks == 1)
    assert client.names(T.ENDPOINT) == {"other"}
    await client.subscribe(T.ENDPOINT, ["backend"])
    await client.wait_for(lambda c: c.names(T.ENDPOINT) == {"other", "backend"})
    await client.unsubscribe(T.ENDPOINT, ["other"])
    await client.wait_for(lambda c: c.state(T.ENDPOINT).acks == 3)
    assert client.names(T.ENDPOINT) == {"backend"}


async def test_two_streams_one_node_and_disconnect(running: Running) -> None:
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002)))
    first, second = await running.client("a.ns"), await running.client("a.ns")
    for client in (first, second):
        await client.subscribe(T.CLUSTER)
        await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)
    assert running.sync.get("a.ns").streams == 2
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002, backend="b2")))
    for client in (first, second):
        await client.wait_for(lambda c: c.names(T.CLUSTER) == {"b2"})
    await first.close()
    await second.wait_for(lambda c: running.sync.get("a.ns").streams == 1)
    await second.close()
    await second.wait_for(lambda c: running.sync.status("a.ns") == "DISCONNECTED")
    assert running.cache.watcher_count() == 0
    assert b"smimesh_xds_connected_proxies 0.0" in running.metrics.render()[0]


async def test_reconnect_gets_current_config(running: Running) -> None:
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002)))
    client = await running.client("a.ns")
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)
    await client.close()
    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002, backend="b2")))
    await client.connect()
    await client.reconnect()
    await client.wait_for(lambda c: c.names(T.CLUSTER) == {"b2"})


async def test_node_without_snapshot_waits_then_gets_it(running: Running) -> None:
    client = await running.client("late.ns")
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: running.sync.get("late.ns") is not None)
    assert client.state(T.CLUSTER).responses == 0
    running.cache.set_snapshot("late.ns", Snapshot.build(world(10001, 10002)))
    await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)


async def test_a_request_with_a_stale_nonce_is_ignored(running: Running) -> None:
    from envoy.service.discovery.v3 import discovery_pb2
    from google.rpc import status_pb2

    running.cache.set_snapshot("a.ns", Snapshot.build(world(10001, 10002)))
    client = await running.client("a.ns")
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)
    stale = discovery_pb2.DiscoveryRequest(
        type_url=T.CLUSTER, response_nonce="not-the-last-one", error_detail=status_pb2.Status(message="late")
    )
    client._send(stale)
    await client.subscribe(T.LISTENER)  # a later request on the same stream: the stale one was handled
    await client.wait_for(lambda c: c.state(T.LISTENER).acks == 1)
    await client.wait_for(lambda c: running.sync.status("a.ns") == SYNCED)
    assert running.sync.get("a.ns").nack_message == ""
