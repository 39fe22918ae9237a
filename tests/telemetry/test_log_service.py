"""`RequestLogService`: the request logs pods' sidecars send to the controller over gRPC.

A real gRPC server and client: records sent with an accepted token become request events, once
each, named by the batch's node; a token refused for that node gets PERMISSION_DENIED and nothing is
kept; the accepted (token, node) is remembered (one check for many batches); the queue is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from smimesh.telemetry.log_service import SERVICE, RequestLogService


def _kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def _batch(node: str, paths: Sequence[str]) -> logs.ExportLogsServiceRequest:
    records = [
        logs_pb2.LogRecord(
            attributes=[
                _kv("smimesh_request", "out"),
                _kv("path", p),
                _kv("status", "200"),
                _kv("ms", "3"),
                _kv("peer", "spiffe://cluster.local/ns/shop/sa/web"),
                _kv("start", "1700000000.5"),
                _kv("cluster", "-"),
                _kv("method", "GET"),
            ]
        )
        for p in paths
    ]
    resource = resource_pb2.Resource(attributes=[_kv("node_name", node), _kv("log_name", "smimesh_requests")])
    scope = logs_pb2.InstrumentationLibraryLogs(logs=records)
    return logs.ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(resource=resource, instrumentation_library_logs=[scope])]
    )


async def _world(max_events: int = 100) -> tuple[RequestLogService, grpc.aio.Server, Any, list[str]]:
    checked: list[str] = []

    async def authenticate(node_id: str, peer: str, metadata: Sequence[tuple[str, Any]]) -> bool:
        checked.append(node_id)
        return dict(metadata).get("authorization") == f"Bearer token-of-{node_id}"

    service = RequestLogService(authenticate, max_events=max_events)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([service.handler()])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    export = channel.unary_unary(
        f"/{SERVICE}/Export",
        request_serializer=logs.ExportLogsServiceRequest.SerializeToString,
        response_deserializer=logs.ExportLogsServiceResponse.FromString,
    )
    return service, server, (channel, export), checked


def test_records_with_the_node_token_become_events_once() -> None:
    async def run() -> None:
        service, server, (channel, export), checked = await _world()
        try:
            token = (("authorization", "Bearer token-of-pod-a.shop"),)
            await export(_batch("pod-a.shop", ["/a", "/b"]), metadata=token)
            await export(_batch("pod-a.shop", ["/c"]), metadata=token)
            events = service.drain()
            assert [(e.node_id, e.path, e.status, e.direction) for e in events] == [
                ("pod-a.shop", "/a", 200, "outbound"),
                ("pod-a.shop", "/b", 200, "outbound"),
                ("pod-a.shop", "/c", 200, "outbound"),
            ]
            assert events[0].peer == "spiffe://cluster.local/ns/shop/sa/web" and events[0].backend == ""
            assert service.drain() == []
            assert checked == ["pod-a.shop"]  # remembered: one check for both batches
        finally:
            await channel.close()
            await server.stop(0)

    asyncio.run(run())


def test_another_pods_token_is_refused_and_nothing_kept() -> None:
    async def run() -> None:
        service, server, (channel, export), _ = await _world()
        try:
            for metadata in ((("authorization", "Bearer token-of-pod-a.shop"),), ()):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await export(_batch("pod-b.shop", ["/forged"]), metadata=metadata)
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert service.drain() == [] and service.refused == 2
        finally:
            await channel.close()
            await server.stop(0)

    asyncio.run(run())


def test_the_queue_is_bounded_and_counts_what_it_dropped() -> None:
    async def run() -> None:
        service, server, (channel, export), _ = await _world(max_events=3)
        try:
            token = (("authorization", "Bearer token-of-pod-a.shop"),)
            await export(_batch("pod-a.shop", [f"/{i}" for i in range(5)]), metadata=token)
            assert [e.path for e in service.drain()] == ["/2", "/3", "/4"] and service.dropped == 2
        finally:
            await channel.close()
            await server.stop(0)

    asyncio.run(run())
