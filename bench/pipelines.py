"""The pipelines the benchmarks drive, wired as `smimesh up` wires its own (`runtime.app`).

Owns `secured_pipeline()`: the runtime's `Pipeline` with `runtime.identity.MeshSecurity`'s
build_model / proxy_view / generate / affected (a CA in the given run directory, modes smi +
strict), optionally without the index (`indexed=False`: every view recomputed on every change) and
with the three functions wrapped (`wrap`, e.g. to time them); `plain_pipeline()`, the pipeline's
defaults (no mTLS, visibility trimmed by policy), kept for comparison only; and `stored()`, hub
resources as the objects the runtime's `ResourceStore` holds (as the HTTP API applies them).
Neither the xDS authentication hooks nor the certificate renewal task are wired: the simulated
proxies carry no bootstrap credential and no benchmark runs long enough for a renewal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from smimesh.diagnostics import Location
from smimesh.resources.document import Document
from smimesh.resources.load import LoadedObject
from smimesh.runtime.identity import MeshSecurity
from smimesh.runtime.pipeline import Pipeline
from smimesh.server.cache import SnapshotCache
from smimesh.settings import Settings

Wrap = Callable[[str, Callable[..., Any]], Callable[..., Any]]


def _as_is(_phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
    return function


def secured_pipeline(
    store: Any, cache: SnapshotCache, run_dir: Path, *, indexed: bool = True, wrap: Wrap = _as_is
) -> tuple[Pipeline, MeshSecurity]:
    """`smimesh up`'s pipeline over `store` into `cache`, and the security object it runs with."""
    settings = Settings()
    security = MeshSecurity(run_dir, settings)
    steps = security.pipeline_steps()
    steps["build_model"] = wrap("model", steps["build_model"])
    steps["proxy_view"] = wrap("views", steps["proxy_view"])
    steps["generate"] = wrap("generate", steps["generate"])
    if not indexed:
        steps["affected"] = None  # every view recomputed on every change
    return Pipeline(store, cache, settings=settings, **steps), security


def plain_pipeline(store: Any, cache: SnapshotCache) -> Pipeline:
    """The pipeline's defaults: `mesh.proxy_view` + `xds.generate` (not what `smimesh up` runs)."""
    return Pipeline(store, cache, settings=Settings())


def stored(resources: Iterable[Any], source: str = "bench") -> list[LoadedObject]:
    """Hub resources as loaded objects (the store keeps what it was given, with a location)."""
    return [
        LoadedObject(resource, resource, Location(source, None, index), Document({}, source, index))
        for index, resource in enumerate(resources)
    ]
