"""The request logs pods' sidecars send to the control plane (OpenTelemetry logs over gRPC).

Owns `RequestLogService`: the `opentelemetry.proto.collector.logs.v1.LogsService/Export` method,
served on the controller's xDS gRPC server (`handler()`), into which a pod's sidecar sends its
request log records (`xds/access_log.py`: taps, denials, audit ports). Each batch names its sidecar
in the resource attribute `node_name`; the call carries the pod's token (`authorization: Bearer`,
added by the pod bootstrap's `smimesh_telemetry` cluster) and is refused (PERMISSION_DENIED) unless
`authenticate(node_id, peer, metadata)` accepts that token for that node: the same check as the
sidecar's xDS stream (TokenReview), remembered for `AUTH_TTL_S` per (token, node) so a tap does not
cost one TokenReview per batch. So a pod can only report requests as itself.

Bounded in memory: at most `max_events` records wait for `drain()` (the observatory's loop takes
them every 200 ms); beyond that the oldest go and are counted in `dropped`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs
from opentelemetry.proto.common.v1 import common_pb2

from smimesh.telemetry.requests import RequestEvent, parse_fields

SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
MAX_EVENTS = 10_000
AUTH_TTL_S = 60.0
Authenticate = Callable[[str, str, Sequence[tuple[str, Any]]], Awaitable[bool]]


def _attributes(values: Sequence[common_pb2.KeyValue]) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in values}


class RequestLogService:
    """See the module docstring."""

    def __init__(self, authenticate: Authenticate, max_events: int = MAX_EVENTS) -> None:
        self._authenticate = authenticate
        self._events: deque[RequestEvent] = deque(maxlen=max_events)
        self._trusted: dict[tuple[str, str], float] = {}  # (authorization, node id) -> until
        self.dropped = 0
        self.refused = 0

    def handler(self) -> grpc.GenericRpcHandler:
        export = grpc.unary_unary_rpc_method_handler(
            self.export,
            request_deserializer=logs.ExportLogsServiceRequest.FromString,
            response_serializer=logs.ExportLogsServiceResponse.SerializeToString,
        )
        return grpc.method_handlers_generic_handler(SERVICE, {"Export": export})

    def drain(self) -> list[RequestEvent]:
        """The records received since the last call, oldest first."""
        taken = list(self._events)
        self._events.clear()
        return taken

    async def export(
        self, request: logs.ExportLogsServiceRequest, context: grpc.aio.ServicerContext
    ) -> logs.ExportLogsServiceResponse:
        metadata = tuple(context.invocation_metadata() or ())
        for resource_logs in request.resource_logs:
            node_id = _attributes(resource_logs.resource.attributes).get("node_name", "")
            if not await self._trust(node_id, context.peer(), metadata):
                self.refused += 1
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"not authenticated as {node_id!r}")
            # xds-protos' OpenTelemetry is older than Envoy's: its `instrumentation_library_logs` and
            # `logs` are today's `scope_logs` and `log_records` (the same field numbers on the wire).
            scopes = resource_logs.instrumentation_library_logs
            for record in (r for scope in scopes for r in scope.logs):
                self._keep(parse_fields(node_id, _attributes(record.attributes)))
        return logs.ExportLogsServiceResponse()

    def _keep(self, event: RequestEvent | None) -> None:
        if event is None:
            return
        if len(self._events) == self._events.maxlen:
            self.dropped += 1
        self._events.append(event)

    async def _trust(self, node_id: str, peer: str, metadata: Sequence[tuple[str, Any]]) -> bool:
        if not node_id:
            return False
        authorization = next((str(v) for k, v in metadata if k.lower() == "authorization"), "")
        key, now = (authorization, node_id), time.monotonic()
        if self._trusted.get(key, 0.0) > now:
            return True
        if not await self._authenticate(node_id, peer, metadata):
            return False
        if len(self._trusted) > 4 * MAX_EVENTS:  # bounded: forget them all, they are re-checked
            self._trusted.clear()
        self._trusted[key] = now + AUTH_TTL_S
        return True
