"""What one change costs on the secured path `smimesh up` runs: sidecars regenerated and CPU.

    .venv/bin/python -m bench.secured_changes [--sizes 3000x300,10000x1000]

A helper's measurement for issue 10 item 3 (the final benchmark is bench_scale's): the world of
`bench_scale.synthetic_world` (sparse policy: workload i is called by two neighbours), every
secured view computed and generated once (the steady state), then four changes, each from that
state: (a) a Service nobody calls, (b) one endpoint added (a new replica of w0), (c) one
TrafficTarget source added (sa3 may now call w0), (d) a split's weights changed. Per change, the
pipeline's path: rebuild the model, `secure_affected_nodes` (None = every node), the secured view
of every affected node, compare with the previous one, generate the changed ones. Process CPU
seconds (the heap frozen first, as `smimesh up` does); one JSON line per size on stdout.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import time
from typing import Any

from bench.bench_scale import _ns, synthetic_world


def _world(services: int, proxies: int) -> tuple[list[Any], list[Any]]:
    from smimesh.mesh.instances import counter, instances_from_workloads

    resources = synthetic_world(services, proxies, "sparse")
    workloads = [(_ns(i), f"w{i}", f"sa{i}", {"app": f"w{i}"}, 1, [("http", 8080)]) for i in range(proxies)]
    return resources, instances_from_workloads(workloads, counter(10_000))


def _replaced(resources: list[Any], kind: str, name: str, change: Any) -> list[Any]:
    found = [r for r in resources if type(r).__name__ == kind and r.metadata.name == name]
    updated = type(found[0]).model_validate(change(found[0].model_dump(by_alias=True, exclude_none=True)))
    return [updated if r is found[0] else r for r in resources]


def _changes(resources: list[Any], instances: list[Any]) -> dict[str, tuple[list[Any], list[Any]]]:
    from smimesh.mesh import InboundPort, Instance
    from smimesh.resources.core import Service

    lonely = Service.model_validate(
        {
            "metadata": {"name": "lonely", "namespace": "elsewhere"},
            "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]},
        }
    )
    replica = Instance(
        namespace=_ns(0), workload="w0", name="w0-extra", service_account="sa0", labels={"app": "w0"},
        admin_port=60_001, outbound_http_port=60_002, inbound=(InboundPort("http", 8080, 60_003, 60_004),),
    )  # fmt: skip

    def add_source(body: dict[str, Any]) -> dict[str, Any]:
        body["spec"]["sources"].append({"kind": "ServiceAccount", "name": "sa3", "namespace": _ns(3)})
        return body

    def reweigh(body: dict[str, Any]) -> dict[str, Any]:
        for backend in body["spec"]["backends"]:
            backend["weight"] = 50
        return body

    return {
        "a_service_nobody_calls": ([*resources, lonely], instances),
        "b_endpoint_added": (resources, [*instances, replica]),
        "c_traffic_target_source_added": (
            _replaced(resources, "TrafficTarget", "tt0", add_source),
            instances,
        ),
        "d_split_weight_change": (_replaced(resources, "TrafficSplit", "split0", reweigh), instances),
    }


def _affected(old: Any, new: Any) -> Any:
    from smimesh.xds.secure_impact import secure_affected_nodes

    if len(inspect.signature(secure_affected_nodes).parameters) > 2:
        return secure_affected_nodes(old, new, frozenset())
    return secure_affected_nodes(old, new)


def _view(model: Any, node: str) -> Any:
    from smimesh.mesh.modes import DEFAULT_MODES
    from smimesh.xds.security import secure_view

    return secure_view(model, node, DEFAULT_MODES, lambda _identity: None)


def _build(resources: list[Any], instances: list[Any], previous: Any = None) -> Any:
    """`build_model`, reusing what `previous` holds as the pipeline does (when this version can)."""
    from smimesh.mesh import build_model

    if previous is not None and "previous" in inspect.signature(build_model).parameters:
        return build_model(resources, instances, previous=previous.build_state)
    return build_model(resources, instances)


def _pass(base: Any, before: dict[str, Any], resources: list[Any], instances: list[Any]) -> dict[str, Any]:
    from smimesh.xds import generate

    start = time.process_time()
    model = _build(resources, instances, base)
    model_s = time.process_time() - start
    affected = _affected(base, model)
    nodes = model.instances if affected is None else affected
    views = {n: _view(model, n) for n in nodes}
    changed = [n for n, v in views.items() if before.get(n) != v]
    for node in changed:
        generate(views[node])
    return {
        "cpu_s": round(time.process_time() - start, 4),
        "model_s": round(model_s, 4),
        "views_computed": len(views),
        "regenerated": len(changed),
    }


def run(services: int, proxies: int) -> dict[str, Any]:
    from smimesh.mesh import build_model
    from smimesh.xds import generate

    resources, instances = _world(services, proxies)
    start = time.process_time()
    base = build_model(resources, instances)
    before = {n: _view(base, n) for n in base.instances}
    for view in before.values():
        generate(view)
    result: dict[str, Any] = {"services": services, "proxies": proxies}
    result["full_build_cpu_s"] = round(time.process_time() - start, 2)
    for name, (changed_resources, changed_instances) in _changes(resources, instances).items():
        gc.collect()
        gc.freeze()  # as `smimesh up` does after start: the steady heap stays out of full collections
        result[name] = _pass(base, before, changed_resources, changed_instances)
        gc.unfreeze()
        base = _build(resources, instances, base)  # back to the steady state
        before = {n: _view(base, n) for n in base.instances}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3000x300,10000x1000")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        services, proxies = (int(x) for x in size.split("x"))
        print(json.dumps(run(services, proxies)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
