"""Requests as the sidecars logged them: parsing the JSON request log and reading it as it grows.

Owns `RequestEvent` (one request seen by one sidecar, in or out), `parse_line(node_id, line)`,
`parse_fields(node_id, fields)` (the same record sent over gRPC, `telemetry/log_service.py`) and
`LogTail`, which follows a set of sidecar log files and hands over the request lines appended since
the last read (`xds/access_log.py` says which requests are logged: taps, denials, audit ports).

A tail starts at the end of a file it sees for the first time (history is not replayed) and starts
again from the beginning when a file shrinks (it was replaced). Lines are read in bounded chunks
(`max_bytes` per file per read), so a burst costs bounded memory; the rest is read on the next call.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smimesh.xds import names
from smimesh.xds.access_log import INBOUND, OUTBOUND, REQUEST_MARKER, TCP, TCP_DENIED

MAX_READ_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One request through one sidecar. `peer`: the other side's SPIFFE id (the caller for inbound,
    the answering destination for outbound); `backend`: `ns/service` an outbound request was sent
    to (a TrafficSplit backend when split; for a denial at the caller, the service its host names:
    `telemetry.caller_denials`); `verdict`: `allowed`, `denied` (inbound: the RBAC; outbound: the
    caller's own sidecar, `unknown_host`), `audit-denied` (would be denied: audit mode) or empty
    (outbound: the destination decides)."""

    node_id: str
    direction: str  # "inbound" | "outbound"
    time: float
    method: str
    path: str
    authority: str
    status: int
    latency_ms: float
    peer: str
    route: str
    backend: str
    port: str
    verdict: str
    protocol: str = "http"  # "tcp": one connection to an inbound TCP port in audit mode (no method/path)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def _text(value: Any) -> str:
    return "" if value in (None, "-") else str(value)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _verdict(data: Mapping[str, Any]) -> str:
    if data.get(REQUEST_MARKER) == OUTBOUND and data.get("route") == names.UNKNOWN_HOST_ROUTE:
        return "denied"  # by the caller's own sidecar: no TrafficTarget lets it call that host
    if data.get("rbac") == "denied":
        return "denied"
    if data.get("audit") == "denied":
        return "audit-denied"
    return "allowed" if data.get(REQUEST_MARKER) == INBOUND else ""


def _backend(cluster: str) -> str:
    parsed = names.parse_outbound_cluster(cluster)
    return str(parsed[0]) if parsed else ""


def parse_line(node_id: str, line: str) -> RequestEvent | None:
    """The request of one log line of sidecar `node_id`; None for any other line (Envoy's own logs)."""
    if REQUEST_MARKER not in line:
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return parse_fields(node_id, data) if isinstance(data, dict) else None


def parse_fields(node_id: str, data: Mapping[str, Any]) -> RequestEvent | None:
    """The request of one log record's fields (a JSON line's, or a record sent over gRPC whose
    values are all strings); None when it is not a request record."""
    if data.get(REQUEST_MARKER) not in ("in", "out", TCP, TCP_DENIED):
        return None
    if data[REQUEST_MARKER] == TCP:
        return _connection(node_id, data)
    if data[REQUEST_MARKER] == TCP_DENIED:
        return _denied_connection(node_id, data)
    inbound = data[REQUEST_MARKER] == INBOUND
    return RequestEvent(
        node_id=node_id,
        direction="inbound" if inbound else "outbound",
        time=_number(data.get("start")),
        method=_text(data.get("method")),
        path=_text(data.get("path")),
        authority=_text(data.get("authority")),
        status=int(_number(data.get("status"))),
        latency_ms=_number(data.get("ms")),
        peer=_text(data.get("peer")),
        route=_text(data.get("route")),
        backend="" if inbound else _backend(_text(data.get("cluster"))),
        port=_text(data.get("port")),
        verdict=_verdict(data),
    )


def _connection(node_id: str, data: Mapping[str, Any]) -> RequestEvent:
    return RequestEvent(
        node_id, "inbound", _number(data.get("start")), method="", path="", authority="", status=0,
        latency_ms=_number(data.get("ms")), peer=_text(data.get("peer")), route="", backend="",
        port=_text(data.get("port")), verdict="allowed", protocol="tcp",
    )  # fmt: skip


def _denied_connection(node_id: str, data: Mapping[str, Any]) -> RequestEvent:
    """A connection the caller's own sidecar refused (`telemetry.caller_denials` attributes it)."""
    return RequestEvent(
        node_id, "outbound", _number(data.get("start")), method="", path="", authority="", status=0,
        latency_ms=_number(data.get("ms")), peer="", route="", backend=_text(data.get("service")),
        port=_text(data.get("port")), verdict="denied", protocol="tcp",
    )  # fmt: skip


class LogTail:
    """Follows sidecar log files (node id -> path) and returns the request events appended to them."""

    def __init__(self, max_bytes: int = MAX_READ_BYTES) -> None:
        self.max_bytes = max_bytes
        self._offsets: dict[str, tuple[Path, int]] = {}
        self._partial: dict[str, bytes] = {}

    def read(self, files: Mapping[str, Path]) -> list[RequestEvent]:
        """Events appended since the last call to the files in `files` (others are forgotten)."""
        for gone in set(self._offsets) - set(files):
            self._offsets.pop(gone, None)
            self._partial.pop(gone, None)
        events: list[RequestEvent] = []
        for node_id, path in files.items():
            events.extend(self._read_one(node_id, path))
        return events

    def _read_one(self, node_id: str, path: Path) -> Iterable[RequestEvent]:
        try:
            size = os.stat(path).st_size
        except OSError:
            return ()
        known = self._offsets.get(node_id)
        if known is None or known[0] != path:
            self._offsets[node_id] = (path, size)  # first sight: start at the end
            return ()
        offset = known[1] if known[1] <= size else 0  # shrunk: the file was replaced
        if offset == size:
            return ()
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read(self.max_bytes)
        self._offsets[node_id] = (path, offset + len(chunk))
        data = self._partial.pop(node_id, b"") + chunk
        complete, _, rest = data.rpartition(b"\n")
        if rest:
            self._partial[node_id] = rest[-self.max_bytes :]
        lines = complete.decode("utf-8", "replace").splitlines()
        return [e for e in (parse_line(node_id, line) for line in lines) if e is not None]
