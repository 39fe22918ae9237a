"""Scale: CPU time and peak memory to build config for S services x P proxies, and what one change costs.

    .venv/bin/python -m bench.bench_scale [--quick] [--results-dir DIR]   # or: python -m bench scale

Each scenario (S, P, sparse|dense access policy) runs in its own process, so caches start cold and
the peak RSS is that scenario's. Phases are timed in process CPU seconds: build_model, every
proxy_view, every generate, and (if available) every xds Snapshot.build. Then two changes: one new
replica of one workload (touches the proxies that reach it) and one new unrelated service (touches
none); for each, the model is rebuilt, views compared, and only changed views regenerated.
Growth exponents are fitted between sizes: t ~ S^a (P fixed), t ~ P^b (S fixed).
Results: bench/results/scale.json (`--quick`: scale-quick.json).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import envelope

NAMESPACES = 10
FULL_SIZES = [(1_000, 100), (1_000, 1_000), (10_000, 1_000)]
QUICK_SIZES = [(100, 10), (100, 100), (1_000, 100)]
POLICIES = ["sparse", "dense"]


def _sources(i: int, proxies: int, policy: str) -> list[int]:
    """Who may call workload i: two fixed neighbours (sparse), or everyone (dense)."""
    return sorted({(i + 1) % proxies, (i + 7) % proxies}) if policy == "sparse" else list(range(proxies))


def _ns(i: int) -> str:
    return f"ns{i % NAMESPACES}"


def synthetic_world(services: int, proxies: int, policy: str) -> list[Any]:
    """Workload i (one replica, SA sa<i>) in ns<i % 10>; service j selects workload j % P; 1% split."""
    from smimesh.resources.access import TrafficTarget
    from smimesh.resources.core import Service
    from smimesh.resources.specs import HTTPRouteGroup
    from smimesh.resources.split import TrafficSplit
    from smimesh.resources.workload import Workload

    meta = lambda name, ns, **extra: {"name": name, "namespace": ns, **extra}  # noqa: E731
    out: list[Any] = [
        HTTPRouteGroup.model_validate(
            {"metadata": meta("all", f"ns{n}"), "spec": {"matches": [{"name": "all"}]}}
        )
        for n in range(NAMESPACES)
    ]
    for i in range(proxies):
        spec = {
            "serviceAccount": f"sa{i}",
            "command": ["x"],
            "ports": [{"name": "http", "containerPort": 8080}],
        }
        out.append(
            Workload.model_validate(
                {"metadata": meta(f"w{i}", _ns(i), labels={"app": f"w{i}"}), "spec": spec}
            )
        )
        sources = [
            {"kind": "ServiceAccount", "name": f"sa{s}", "namespace": _ns(s)}
            for s in _sources(i, proxies, policy)
        ]
        tt_spec = {
            "destination": {"kind": "ServiceAccount", "name": f"sa{i}"},
            "sources": sources,
            "rules": [{"kind": "HTTPRouteGroup", "name": "all"}],
        }
        out.append(TrafficTarget.model_validate({"metadata": meta(f"tt{i}", _ns(i)), "spec": tt_spec}))
    for j in range(services):
        w = j % proxies
        ports = [{"name": "http", "port": 80, "targetPort": 8080}]
        out.append(
            Service.model_validate(
                {"metadata": meta(f"s{j}", _ns(w)), "spec": {"selector": {"app": f"w{w}"}, "ports": ports}}
            )
        )
        if j % 100 == 0 and j + proxies < services:
            backends = [{"service": f"s{j}", "weight": 90}, {"service": f"s{j + proxies}", "weight": 10}]
            out.append(
                TrafficSplit.model_validate(
                    {
                        "metadata": meta(f"split{j}", _ns(w)),
                        "spec": {"service": f"s{j}", "backends": backends},
                    }
                )
            )
    return out


def _cpu() -> float:
    return time.process_time()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _views(model: Any) -> dict[str, Any]:
    from smimesh.mesh import proxy_view

    return {node: proxy_view(model, node) for node in model.instances}


def _pipeline_path(
    base: Any, resources: list[Any], instances: list[Any], before: dict[str, Any]
) -> dict[str, Any]:
    """The pipeline's path since `mesh.impact`: rebuild the model, compute and compare only the views of
    the nodes the change can affect (`affected_nodes(base, model)`), regenerate the changed ones."""
    from smimesh.mesh import build_model, proxy_view
    from smimesh.mesh.impact import affected_nodes
    from smimesh.xds import generate

    start = _cpu()
    model = build_model(resources, instances)
    model_s = _cpu() - start
    affected = affected_nodes(base, model)
    views = {n: proxy_view(model, n) for n in (model.instances if affected is None else affected)}
    changed = [n for n, v in views.items() if before.get(n) != v]
    views_s = _cpu() - start - model_s
    for node in changed:
        generate(views[node])
    return {
        "cpu_s": round(_cpu() - start, 4),
        "model_s": round(model_s, 4),
        "affected_views_and_diff_s": round(views_s, 4),
        "generate_changed_s": round(_cpu() - start - model_s - views_s, 4),  # caches warm: see _change
        "views_computed": len(views),
        "changed_views": len(changed),
    }


def _change(
    resources: list[Any],
    instances: list[Any],
    before: dict[str, Any],
    extra: list[Any],
    extra_inst: list[Any],
    base: Any = None,
) -> dict[str, Any]:
    """Apply one change computing every view (rebuild the model, diff all views, regenerate changed ones);
    given the `base` model, then also the pipeline's path (`pipeline`: only the views the change can
    affect) from the same state (the model is rebuilt from the base inputs in between). The changed
    views are the same on both paths; the second finds their config in the generators' caches, so
    compare model + views (`views_and_diff_s` with `affected_views_and_diff_s`)."""
    from smimesh.mesh import build_model
    from smimesh.xds import generate

    start = _cpu()
    model = build_model(resources + extra, instances + extra_inst)
    model_s = _cpu() - start
    views = _views(model)
    changed = [n for n, v in views.items() if before.get(n) != v]
    views_s = _cpu() - start - model_s
    for node in changed:
        generate(views[node])
    generate_s = _cpu() - start - model_s - views_s
    total_s = _cpu() - start
    pipeline = None
    if base is not None:
        build_model(resources, instances)  # back to the base state
        pipeline = _pipeline_path(base, resources + extra, instances + extra_inst, before)
    return {
        "cpu_s": round(total_s, 4),
        "model_s": round(model_s, 4),
        "views_and_diff_s": round(views_s, 4),
        "generate_changed_s": round(generate_s, 4),
        "changed_views": len(changed),
        "proxies": len(views),
        **({"pipeline": pipeline} if pipeline is not None else {}),
    }


def run_one(services: int, proxies: int, policy: str) -> dict[str, Any]:
    from smimesh.mesh import InboundPort, Instance, build_model
    from smimesh.mesh.instances import counter, instances_from_workloads
    from smimesh.resources.core import Service
    from smimesh.xds import generate

    resources = synthetic_world(services, proxies, policy)
    allocate = counter(10_000)
    workloads = [(_ns(i), f"w{i}", f"sa{i}", {"app": f"w{i}"}, 1, [("http", 8080)]) for i in range(proxies)]
    instances = instances_from_workloads(workloads, allocate)
    rss_inputs = _rss_mb()
    timings: dict[str, float] = {}
    start = _cpu()
    model = build_model(resources, instances)
    timings["model_s"] = _cpu() - start
    start = _cpu()
    views = _views(model)
    timings["views_s"] = _cpu() - start
    start = _cpu()
    generated = {node: generate(view) for node, view in views.items()}
    timings["generate_s"] = _cpu() - start
    timings["snapshot_s"] = _snapshots(generated)
    timings["total_s"] = (
        timings["model_s"] + timings["views_s"] + timings["generate_s"] + timings["snapshot_s"]
    )
    resources_per_proxy = sum(len(v) for g in generated.values() for v in g.values()) / max(1, len(generated))
    replica = Instance(
        namespace=_ns(0),
        workload="w0",
        name="w0-extra",
        service_account="sa0",
        labels={"app": "w0"},
        admin_port=allocate(),
        outbound_http_port=allocate(),
        inbound=(InboundPort("http", 8080, allocate(), allocate()),),
    )
    unrelated = Service.model_validate(
        {
            "metadata": {"name": "lonely", "namespace": "elsewhere"},
            "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]},
        }
    )
    return {
        "services": services,
        "proxies": proxies,
        "policy": policy,
        "cpu": {k: round(v, 4) for k, v in timings.items()},
        "rss_mb": {
            "after_inputs": round(rss_inputs, 1),
            "peak": round(_rss_mb(), 1),
            "config": round(_rss_mb() - rss_inputs, 1),
        },
        "resources_per_proxy": round(resources_per_proxy, 1),
        "change_new_replica": _change(resources, instances, views, [], [replica], model),
        "change_unrelated_service": _change(resources, instances, views, [unrelated], [], model),
    }


def _snapshots(generated: dict[str, Any]) -> float:
    try:
        from smimesh.xds.snapshot import EntryInterner, Snapshot
    except ImportError:  # the snapshot layer is optional for this benchmark
        return 0.0
    interner = EntryInterner()
    start = _cpu()
    for resources in generated.values():
        Snapshot.build(
            resources, interner=interner
        )  # built and dropped: the server's memory is measured elsewhere
    return _cpu() - start


def _exponent(t1: float, t2: float, x1: int, x2: int) -> float | None:
    if t1 <= 0 or t2 <= 0:
        return None
    return round(math.log(t2 / t1) / math.log(x2 / x1), 2)


def fit(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Growth exponents of total CPU: vs services (P fixed) and vs proxies (S fixed), per policy."""
    fits: dict[str, Any] = {}
    for policy in POLICIES:
        rows = {
            (r["services"], r["proxies"]): r["cpu"]["total_s"]
            for r in results
            if r["policy"] == policy and "cpu" in r
        }
        pairs_s = [(a, b) for a in rows for b in rows if a[1] == b[1] and a[0] < b[0]]
        pairs_p = [(a, b) for a in rows for b in rows if a[0] == b[0] and a[1] < b[1]]
        fits[policy] = {
            "vs_services": [
                {"from": a, "to": b, "exponent": _exponent(rows[a], rows[b], a[0], b[0])} for a, b in pairs_s
            ],
            "vs_proxies": [
                {"from": a, "to": b, "exponent": _exponent(rows[a], rows[b], a[1], b[1])} for a, b in pairs_p
            ],
        }
    return fits


def _target(ident: str, what: str, value: Any, target: str, met: bool | None) -> dict[str, Any]:
    return {"id": ident, "what": what, "value": value, "target": target, "met": met}


def targets(results: list[dict[str, Any]], fits: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 3: linear in the proxies a change affects, flat in unrelated services (largest sparse run)."""
    sparse = [r for r in results if r.get("policy") == "sparse" and "cpu" in r]
    if not sparse:
        return []
    big = max(sparse, key=lambda r: (r["services"], r["proxies"]))
    size = f"{big['services']}x{big['proxies']} sparse"
    unrelated, replica = (
        big["change_unrelated_service"]["changed_views"],
        big["change_new_replica"]["changed_views"],
    )
    found = [
        _target(
            "unrelated-no-push",
            f"views changed by a service nobody reaches ({size})",
            unrelated,
            "0",
            unrelated == 0,
        ),
        # The new replica's own proxy + the 2 proxies whose identities may call workload 0.
        _target(
            "replica-affected-only",
            f"views changed by one new replica ({size})",
            replica,
            "<= 3",
            replica <= 3,
        ),
    ]
    for axis in ("vs_services", "vs_proxies"):
        exps = [f["exponent"] for f in fits.get("sparse", {}).get(axis, []) if f["exponent"] is not None]
        value = max(exps) if exps else None
        met = None if value is None else value <= 1.1
        found.append(
            _target(
                f"sparse-exponent-{axis}",
                f"growth exponent of build CPU {axis} (sparse)",
                value,
                "<= 1.1",
                met,
            )
        )
    return found


def _spawn(services: int, proxies: int, policy: str, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.bench_scale", "--one", str(services), str(proxies), policy]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )
    except subprocess.TimeoutExpired:
        return {"services": services, "proxies": proxies, "policy": policy, "skipped": f"over {timeout:.0f}s"}
    if done.returncode != 0:
        return {"services": services, "proxies": proxies, "policy": policy, "error": done.stderr[-2000:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one", nargs=3, metavar=("SERVICES", "PROXIES", "POLICY"))
    parser.add_argument("--timeout", type=float, default=900.0, help="per scenario, seconds")
    envelope.add_results_dir(parser)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(int(args.one[0]), int(args.one[1]), args.one[2])))
        return 0
    started = envelope.Run("scale", args.quick)
    results = []
    for services, proxies in QUICK_SIZES if args.quick else FULL_SIZES:
        for policy in POLICIES:
            row = _spawn(services, proxies, policy, args.timeout)
            print(json.dumps(row), flush=True)
            results.append(row)
    fits = fit(results)
    payload = {"results": results, "fits": fits}
    # Quick runs (scale-quick.json) never overwrite the full figures the README quotes.
    found = [
        envelope.target(t["what"], t["target"], t["value"], t["met"], id=t["id"])
        for t in targets(results, fits)
    ]
    results_file = envelope.write(started, args.results_dir, payload, found)
    print(f"wrote {results_file}")
    print(json.dumps(payload["fits"], indent=2))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
