"""Secured config shares what every sidecar of a namespace has in common (object identity, counted)."""

from __future__ import annotations

from typing import Any

from smimesh.mesh import build_model
from smimesh.mesh.modes import DEFAULT_MODES
from smimesh.testing import bookstore
from smimesh.xds import generate, type_urls
from smimesh.xds.security import secure_view


def _model() -> Any:
    resources = bookstore.world()
    return build_model(resources, bookstore.world_instances(resources))


def _clusters(model: Any, node: str) -> dict[str, Any]:
    config = generate(secure_view(model, node, DEFAULT_MODES, lambda _identity: None))
    return {cluster.name: cluster for cluster in config[type_urls.CLUSTER]}


def test_two_sidecars_of_a_namespace_share_their_secured_outbound_cluster_messages() -> None:
    model = _model()
    first, second = sorted(model.instances)[:2]
    mine, theirs = _clusters(model, first), _clusters(model, second)
    outbound = [name for name in mine if name in theirs and mine[name] is theirs[name]]
    seen = secure_view(model, first, DEFAULT_MODES, lambda _identity: None).base.outbound.clusters
    assert seen and len(outbound) >= len(seen)  # every cluster it may call, one message for both
    assert all(mine[name] is not theirs[name] for name in mine.keys() & theirs.keys() - set(outbound))


def test_a_rebuilt_equal_model_gives_equal_secured_clusters() -> None:
    node = sorted(_model().instances)[0]
    assert _clusters(_model(), node) == _clusters(_model(), node)
