"""A mesh without egress policy generates exactly the config it did before HTTPS/TCP egress.

The digests in `data/no_policy_digests.json` were recorded from main before CONNECT egress was added
(`python tests/edges/test_no_policy_bytes.py` rewrites them: only do that for a change that is meant
to alter every sidecar). They cover the plain and the secured generator on every bookstore sidecar
and edge case: the data-plane benchmark's config is exactly this world's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict

from smimesh.mesh import MeshModel, proxy_view
from smimesh.mesh.modes import DEFAULT_MODES
from smimesh.testing.bookstore import bookstore_model
from smimesh.testing.bookstore_edges import EDGE_CASES, edge_model
from smimesh.xds import generate
from smimesh.xds.secure import generate_secure, secure_view

RECORDED = Path(__file__).parent / "data" / "no_policy_digests.json"


def _canonical(message: Any) -> bytes:
    """Every field, with `Any`s unpacked and map keys sorted: a packed `Struct` (the access log's
    JSON format) serializes its keys in hash-seed order, so raw bytes differ between processes."""
    return json.dumps(MessageToDict(message), sort_keys=True).encode()


def _digest(resources: dict[str, list[Any]]) -> str:
    hashed = hashlib.sha256()
    for type_url in sorted(resources):
        # the order of a type's list is not part of the config (the snapshot keys it by name)
        for data in sorted(_canonical(m) for m in resources[type_url]):
            hashed.update(type_url.encode() + b"\0" + data + b"\0")
    return hashed.hexdigest()


def _models() -> dict[str, MeshModel]:
    return {"bookstore": bookstore_model(), **{case: edge_model(case) for case in sorted(EDGE_CASES)}}


def digests() -> dict[str, str]:
    found = {}
    for name, model in _models().items():
        for node in sorted(model.instances):
            found[f"{name}/{node}/plain"] = _digest(generate(proxy_view(model, node)))
            secured = generate_secure(secure_view(model, node, DEFAULT_MODES, lambda _identity: None))
            found[f"{name}/{node}/secure"] = _digest(secured)
    return found


def test_no_policy_config_is_byte_identical_to_before_connect_egress() -> None:
    recorded = json.loads(RECORDED.read_text())
    assert digests() == recorded


if __name__ == "__main__":
    RECORDED.write_text(json.dumps(digests(), indent=1, sort_keys=True) + "\n")
