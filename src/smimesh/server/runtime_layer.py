"""Runtime values per sidecar over RTDS: the `smimesh` runtime layer of a pod's sidecar.

Owns `RuntimeLayers`, a `SnapshotCache` that adds to every node's snapshot one Runtime resource
named `xds.access_log.RUNTIME_LAYER` carrying that node's values (`set_values(node_id, {...})`;
none = an empty layer, which still answers the sidecar's RTDS subscription, so its start is never
held up waiting for it). The controller uses it for `smimesh tap` in a cluster: it sets
`smimesh.tap: 100` on the tapped pods' sidecars and clears it after, which Envoy applies at once,
without touching listeners (a listener change would drain connections).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from envoy.service.runtime.v3 import rtds_pb2
from google.protobuf import struct_pb2

from smimesh.server.cache import SnapshotCache
from smimesh.xds import type_urls
from smimesh.xds.access_log import RUNTIME_LAYER
from smimesh.xds.snapshot import EntryInterner, Snapshot


class RuntimeLayers(SnapshotCache):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._base: dict[str, Snapshot] = {}
        self._values: dict[str, dict[str, float]] = {}
        self._interner = EntryInterner(capacity=1_000)  # its own: layers are small and few

    def set_snapshot(self, node_id: str, snapshot: Snapshot) -> bool:
        self._base[node_id] = snapshot
        return super().set_snapshot(node_id, self._with_layer(node_id, snapshot))

    def clear(self, node_id: str) -> None:
        self._base.pop(node_id, None)
        self._values.pop(node_id, None)
        super().clear(node_id)

    def values(self, node_id: str) -> Mapping[str, float]:
        return MappingProxyType(self._values.get(node_id, {}))

    def set_values(self, node_id: str, values: Mapping[str, float]) -> None:
        """The node's layer becomes `values` (pushed at once if the node has a snapshot)."""
        if dict(values) == self._values.get(node_id, {}):
            return
        if values:
            self._values[node_id] = dict(values)
        else:
            self._values.pop(node_id, None)
        base = self._base.get(node_id)
        if base is not None:
            super().set_snapshot(node_id, self._with_layer(node_id, base))

    def _with_layer(self, node_id: str, snapshot: Snapshot) -> Snapshot:
        layer = struct_pb2.Struct()
        layer.update(self._values.get(node_id, {}))
        found = self._interner.type_entries([rtds_pb2.Runtime(name=RUNTIME_LAYER, layer=layer)])
        resources = MappingProxyType({**snapshot.resources, type_urls.RUNTIME: found.entries})
        versions = MappingProxyType({**snapshot.versions, type_urls.RUNTIME: found.version})
        return Snapshot(resources, versions, snapshot.changed_at, snapshot.interner)
