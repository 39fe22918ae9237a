"""A mesh without egress policy generates exactly the config it would without the egress generator.

Every sidecar of the bookstore world and its edge cases (the data-plane benchmark's world has no
policy either) has no egress view, and its whole config, plain and secured, is equal to the config
built with the egress step skipped. When CONNECT egress was added, the canonical digests of all these
configs were also recorded on main before the change and found identical after it (commit message);
this test keeps the property without pinning other generators' future changes.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.json_format import MessageToDict

from smimesh.mesh import MeshModel, proxy_view
from smimesh.mesh.modes import DEFAULT_MODES
from smimesh.testing.bookstore import bookstore_model
from smimesh.testing.bookstore_edges import EDGE_CASES, edge_model
from smimesh.xds import generate, resilience
from smimesh.xds.generate import generate_plain
from smimesh.xds.security import secure_view


def _canonical(resources: dict[str, list[Any]]) -> dict[str, list[str]]:
    """Every field, `Any`s unpacked, map keys sorted (a packed Struct's bytes follow the hash seed)."""
    return {
        type_url: sorted(json.dumps(MessageToDict(m), sort_keys=True) for m in messages)
        for type_url, messages in resources.items()
    }


def _models() -> dict[str, MeshModel]:
    return {"bookstore": bookstore_model(), **{case: edge_model(case) for case in sorted(EDGE_CASES)}}


def test_without_egress_policy_the_config_is_what_it_was_without_the_egress_generator() -> None:
    checked = 0
    for model in _models().values():
        for node in sorted(model.instances):
            view = proxy_view(model, node)
            assert view.egress is None
            without = resilience.apply(generate_plain(view), view.resilience)
            assert _canonical(generate(view)) == _canonical(without)
            secured = secure_view(model, node, DEFAULT_MODES, lambda _identity: None)
            assert secured.base.egress is None
            text = json.dumps(_canonical(generate(secured)))
            assert not any(mark in text for mark in ('"CONNECT"', "egress|", "egress_open", "egress_forward"))
            checked += 1
    assert checked > 20
