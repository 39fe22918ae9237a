"""The Kubernetes source against the test API server: list + watch, any version, any order, 410 with
deletions during the gap, watches cut under a stream of changes, the API server away and back."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from tests.kubernetes.kube_world import meshed_namespace

from smimesh.mesh import build_model
from smimesh.mesh.model import ServiceKey
from smimesh.resources import ResourceKey
from smimesh.resources.crd import all_crds, osm_crds
from smimesh.sources.kubernetes.client import KubeClient
from smimesh.sources.kubernetes.kubeconfig import load_cluster
from smimesh.sources.kubernetes.source import KubernetesSource
from smimesh.sources.store import ResourceStore
from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.kubeapi.mesh_webhooks import serving_webhooks


@pytest.fixture(scope="module")
def api() -> Iterator[KubeApiServer]:
    with KubeApiServer(bookmark_interval=0.3) as server, serving_webhooks(server):
        meshed_namespace(server, "shop")
        yield server


@contextlib.asynccontextmanager
async def running_source(api: KubeApiServer, tmp_path: Path) -> AsyncIterator[KubernetesSource]:
    client = KubeClient(load_cluster(api.write_kubeconfig(tmp_path / "kubeconfig")))
    source = KubernetesSource(client, ResourceStore())
    task = asyncio.create_task(source.run())
    try:
        await asyncio.wait_for(source.wait_synced(), 30)
        yield source
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()


async def eventually(condition: Callable[[], object], limit_s: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        await asyncio.sleep(0.05)


def service(name: str, port: int = 80, ns: str = "shop") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port}]},
    }


SPLIT_V1ALPHA2 = {
    "apiVersion": "split.smi-spec.io/v1alpha2",
    "kind": "TrafficSplit",
    "metadata": {"name": "web-split", "namespace": "shop"},
    "spec": {
        "service": "web",
        "backends": [{"service": "web-v1", "weight": 90}, {"service": "web-v2", "weight": 10}],
    },
}


def cleanup(api: KubeApiServer, *objs: dict) -> None:
    for obj in objs:
        with contextlib.suppress(Exception):
            api.delete(obj)


async def test_objects_in_any_version_and_order_reach_the_store_and_the_model(
    api: KubeApiServer, tmp_path: Path
) -> None:
    objs = [SPLIT_V1ALPHA2, service("web-v1"), service("web-v2"), service("web")]
    try:
        async with running_source(api, tmp_path) as source:
            store = source.store
            api.create(SPLIT_V1ALPHA2)  # before the Services it names
            await eventually(lambda: store.get(ResourceKey("TrafficSplit", "shop", "web-split")) is not None)
            model = build_model(store.snapshot(), [])
            assert not model.splits  # its root Service does not exist yet
            for obj in objs[1:]:
                api.create(obj)
            await eventually(
                lambda: len(build_model(store.snapshot(), []).splits) == 1, what="split in force"
            )
            split = store.get(ResourceKey("TrafficSplit", "shop", "web-split"))
            assert split is not None and split.resource.API_VERSION == "split.smi-spec.io/v1alpha4"
            assert split.origin == "kubernetes:TrafficSplit/shop/web-split"
            api.delete(service("web"))
            await eventually(
                lambda: ServiceKey("shop", "web") not in build_model(store.snapshot(), []).services
            )
    finally:
        cleanup(api, *objs)


async def test_pods_and_slices_become_instances(api: KubeApiServer, tmp_path: Path) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "serviceAccountName": "web",
            "containers": [{"name": "a", "ports": [{"containerPort": 80}]}],
        },
        "status": {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    try:
        async with running_source(api, tmp_path) as source:
            api.create(pod)
            await eventually(lambda: [i.node_id for i in source.instances] == ["web-1.shop"])
            assert source.instances[0].labels == (("app", "web"),)
            api.create(
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": "web-x",
                        "namespace": "shop",
                        "labels": {"kubernetes.io/service-name": "web"},
                    },
                    "addressType": "IPv4",
                    "endpoints": [
                        {
                            "addresses": ["127.0.0.1"],
                            "conditions": {"ready": False},
                            "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "shop"},
                        }
                    ],
                }
            )
            await eventually(lambda: source.instances and source.instances[0].labels == ())
            api.delete(pod)
            await eventually(lambda: source.instances == [])
    finally:
        cleanup(
            api,
            pod,
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": "web-x", "namespace": "shop"},
            },
        )


def api_services(api: KubeApiServer) -> dict[str, dict]:
    with api.client() as client:
        items = client.get("/api/v1/namespaces/shop/services").json()["items"]
    return {item["metadata"]["name"]: item for item in items}


def store_services(source: KubernetesSource) -> dict[str, dict]:
    return {s.key.name: s.resource for s in source.store.items() if s.key.kind == "Service"}


def same_state(api: KubeApiServer, source: KubernetesSource) -> bool:
    """Object by object: the same Services, each with the API's ports (the last write of each)."""
    wanted, have = api_services(api), store_services(source)
    return wanted.keys() == have.keys() and all(
        [p.port for p in have[name].spec.ports] == [p["port"] for p in wanted[name]["spec"]["ports"]]
        for name in wanted
    )


async def test_a_forced_410_with_deletions_during_the_gap(api: KubeApiServer, tmp_path: Path) -> None:
    names = [f"gap-{i}" for i in range(6)]
    try:
        for name in names:
            api.create(service(name))
        async with running_source(api, tmp_path) as source:
            await eventually(lambda: set(names) <= set(store_services(source)))
            informer = source.informers["Service"]
            api.down()
            for name in names[:3]:  # deleted while smimesh cannot see: only a relist can tell
                key = ("services", "shop", name)
                api.api.store.delete(key, "services")
            api.api.store.create(("services", "shop", "gap-new"), service("gap-new"))
            api.compact()
            api.up()
            await eventually(lambda: same_state(api, source), what="store == API after the gap")
            assert informer.stats.gone >= 1
            assert not set(names[:3]) & set(store_services(source))
    finally:
        cleanup(api, *(service(n) for n in [*names, "gap-new"]))


@pytest.mark.slow
async def test_watches_cut_every_few_seconds_under_a_stream_of_changes_lose_nothing(
    api: KubeApiServer, tmp_path: Path
) -> None:
    stop = threading.Event()
    rng = random.Random(12)

    def churn() -> None:
        live: set[str] = set()
        with api.client() as client:
            base = "/api/v1/namespaces/shop/services"
            while not stop.is_set():
                name = f"churn-{rng.randrange(40)}"
                if name in live and rng.random() < 0.4:
                    client.delete(f"{base}/{name}")
                    live.discard(name)
                elif name in live:
                    port = rng.randrange(1, 65535)
                    client.patch(
                        f"{base}/{name}",
                        json={"spec": {"ports": [{"name": "http", "port": port}]}},
                        headers={"content-type": "application/merge-patch+json"},
                    )
                else:
                    client.post(base, json=service(name, rng.randrange(1, 65535)))
                    live.add(name)
                time.sleep(0.005)

    async with running_source(api, tmp_path) as source:
        writer = threading.Thread(target=churn)
        writer.start()
        try:
            for round_ in range(6):
                await asyncio.sleep(1.5)
                api.cut_watches()
                if round_ == 3:
                    api.compact()  # one resume lands on a compacted resourceVersion: relist and diff
        finally:
            stop.set()
            writer.join(30)
        await eventually(lambda: same_state(api, source), what="store == API after the churn")
        informer = source.informers["Service"]
        assert informer.stats.watches >= 6 and informer.stats.events > 100
    for name in api_services(api):
        cleanup(api, service(name))


@pytest.mark.slow
async def test_the_api_server_away_for_30_seconds(api: KubeApiServer, tmp_path: Path) -> None:
    try:
        async with running_source(api, tmp_path) as source:
            api.create(service("steady"))
            await eventually(lambda: "steady" in store_services(source))
            api.down()
            await asyncio.sleep(30)
            assert "steady" in store_services(source)  # what it had stays in force meanwhile
            api.api.store.create(("services", "shop", "later"), service("later"))
            api.up()
            await eventually(lambda: same_state(api, source), what="catch-up after 30 s away")
            assert source.informers["Service"].stats.errors >= 1
    finally:
        cleanup(api, service("steady"), service("later"))


async def test_a_cluster_without_the_egress_crd_syncs_and_egresses_come_once_it_is_installed(
    tmp_path: Path,
) -> None:
    """A cluster installed before smimesh watched OSM's Egress has no such CRD: the source still syncs
    (none of that kind), and picks Egresses up once the CRD is installed."""
    egress = {
        "apiVersion": "policy.openservicemesh.io/v1alpha1",
        "kind": "Egress",
        "metadata": {"name": "out", "namespace": "shop"},
        "spec": {
            "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}],
            "hosts": ["api.example.com"],
            "ports": [{"number": 80, "protocol": "http"}],
        },
    }
    with KubeApiServer() as bare:
        for definition in all_crds():
            bare.create(definition)
        meshed_namespace(bare, "shop")
        async with running_source(bare, tmp_path) as source:  # synced within 30 s, Egress unserved
            assert source.informers["Egress"].synced.is_set()
            for definition in osm_crds():
                bare.create(definition)
            bare.create(egress)
            await eventually(
                lambda: any(s.key.kind == "Egress" for s in source.store.items()), what="the Egress"
            )
