"""Envoy-style validation: the real Envoy binary in `--mode validate` accepts what we generate.

Every sidecar's listeners, routes, clusters and endpoints, for the bookstore world and every edge
case, are inlined into one static bootstrap (`smimesh.testing.static_config`) and handed to Envoy.
The generated ADS bootstrap is validated the same way (SotW and delta).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smimesh.testing.bookstore import bookstore_model
from smimesh.testing.bookstore_edges import EDGE_CASES, edge_model
from smimesh.testing.envoy_validate import static_bootstrap, validate_config
from smimesh.testing.net import free_port
from smimesh.xds import build_bootstrap

pytestmark = pytest.mark.envoy


@pytest.mark.parametrize("world", ["bookstore", *EDGE_CASES])
def test_envoy_accepts_every_sidecar_config(tmp_path: Path, world: str) -> None:
    """One Envoy run per world (worlds reuse ports), holding every sidecar of that world at once."""
    model = bookstore_model() if world == "bookstore" else edge_model(world)
    config = static_bootstrap({world: model})
    result = validate_config(config, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert len(config["static_resources"]["listeners"]) >= len(model.instances)


@pytest.mark.parametrize("delta", [False, True])
def test_envoy_accepts_bootstrap(tmp_path: Path, delta: bool) -> None:
    config = build_bootstrap("buyer-0.bookstore", "buyer", "127.0.0.1", free_port(), free_port(), delta=delta)
    result = validate_config(config, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]


def test_envoy_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check can fail: a route to a cluster that does not exist is refused."""
    config = static_bootstrap({"bookstore": bookstore_model()})
    config["static_resources"]["clusters"] = [
        c for c in config["static_resources"]["clusters"] if c["name"] != "outbound|bookstore|bookstore-v1|80"
    ]
    assert validate_config(config, tmp_path).returncode != 0
