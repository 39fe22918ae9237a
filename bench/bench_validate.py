"""Validation throughput: `smimesh validate` on 1,000 documents of a realistic mix, and where the time goes.

    .venv/bin/python -m bench.bench_validate [--quick] [--results-dir DIR]   # or: python -m bench validate

A generated directory of manifests (10 files; Services, Workloads, TrafficTargets, HTTPRouteGroups,
TCPRoutes and TrafficSplits in hub and older versions, 2% with a mistake, references that resolve) is
measured side by side in one run, each as median wall and median CPU seconds (`*_cpu_s`: this process
plus its children; the fair figure on a shared, busy machine):
  parse        YAML -> data with PyYAML's C loader (`yaml.load_all(CSafeLoader)`), the floor;
  read         smimesh's reader: the same parse plus line maps and bomb/depth/duplicate-key limits;
  load         everything `validate` does in-process: read, decode, convert, checks, references;
  cli          `smimesh validate -f DIR` as a real process (interpreter start and imports included);
  cli_one_document  the same process on one document: the fixed start-up cost inside `cli`;
  python_bare  `python -c pass`: the interpreter's own share of that start-up.
Target (issue 2): `smimesh validate` on 1,000 documents well under a second (`cli_cpu_s` < 1 s).
Writes bench/results/validate.json (validate-quick.json with --quick: 200 documents, 3 runs).
Timings are reported, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench import envelope
from smimesh.resources import load_paths
from smimesh.resources.reader import read_paths

TARGET_CLI_S = 1.0
FILES = 10


def _doc(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def _group(i: int) -> list[str]:
    """One app's worth of objects (10 documents): a service with two versions, a split, routes, policy."""
    ns, app = f"ns{i % 7}", f"app{i}"
    ports = "[{name: http, port: 80, targetPort: 8080}, {name: tcp-admin, port: 9000}]"
    docs = [
        _doc(f"""
            apiVersion: v1
            kind: Service
            metadata: {{name: {app}, namespace: {ns}, labels: {{app: {app}}}}}
            spec: {{selector: {{app: {app}}}, ports: {ports}}}"""),
        *(
            _doc(f"""
            apiVersion: v1
            kind: Service
            metadata: {{name: {app}-{v}, namespace: {ns}}}
            spec: {{selector: {{app: {app}, version: {v}}}, ports: {ports}}}""")
            for v in ("v1", "v2")
        ),
        *(
            _doc(f"""
            apiVersion: smimesh.io/v1alpha1
            kind: Workload
            metadata:
              name: {app}-{v}
              namespace: {ns}
              labels: {{app: {app}, version: {v}}}
            spec:
              serviceAccount: {app}
              replicas: 2
              command: [python3, server.py]
              env: {{GREETING: hi, VERSION: {v}}}
              ports: [{{name: http, containerPort: 8080}}, {{name: admin, containerPort: 9000}}]""")
            for v in ("v1", "v2")
        ),
        _split(i, ns, app),
        _doc(f"""
            apiVersion: specs.smi-spec.io/v1alpha4
            kind: HTTPRouteGroup
            metadata: {{name: {app}-routes, namespace: {ns}}}
            spec:
              matches:
              - name: read
                pathRegex: "/api/v[0-9]+/items/.*"
                methods: [GET, HEAD]
              - name: write
                pathRegex: /api/.*
                methods: [POST, PUT]
                headers:
                - x-user: "^[a-z]+$"
              - name: metrics
                pathRegex: /metrics
                methods: [GET]"""),
        _doc(f"""
            apiVersion: specs.smi-spec.io/v1alpha4
            kind: TCPRoute
            metadata: {{name: {app}-admin, namespace: {ns}}}
            spec: {{matches: {{ports: [9000]}}}}"""),
        _target(i, ns, app),
        _doc(f"""
            apiVersion: smimesh.io/v1alpha1
            kind: Workload
            metadata: {{name: {app}-client, namespace: {ns}}}
            spec: {{serviceAccount: {app}-client, command: [python3, client.py]}}"""),
    ]
    if i % 10 == 0:  # 2% of documents carry a mistake a user makes: an RE2-invalid regex, an unknown field
        docs[6] = docs[6].replace("/metrics", "/metrics(?=/)")
        docs[3] = docs[3].replace("replicas: 2", "replicas: 2\n  replica: 3")
    return docs


def _split(i: int, ns: str, app: str) -> str:
    old = i % 3 == 0  # an older version with Quantity weights, converted to the hub on load
    version, weights = ("v1alpha1", ("900m", "100m")) if old else ("v1alpha4", ("90", "10"))
    return _doc(f"""
        apiVersion: split.smi-spec.io/{version}
        kind: TrafficSplit
        metadata: {{name: {app}, namespace: {ns}}}
        spec:
          service: {app}
          backends:
          - {{service: {app}-v1, weight: {weights[0]}}}
          - {{service: {app}-v2, weight: {weights[1]}}}""")


def _target(i: int, ns: str, app: str) -> str:
    if i % 4 == 0:  # access v1alpha2, with the destination port it still had
        version, port, tcp, matches = "v1alpha2", ", port: 8080", "", "read, write"
    else:
        version, port, matches = "v1alpha3", "", "read, write, metrics"
        tcp = f"\n          - {{kind: TCPRoute, name: {app}-admin}}"
    return _doc(f"""
        apiVersion: access.smi-spec.io/{version}
        kind: TrafficTarget
        metadata: {{name: {app}, namespace: {ns}}}
        spec:
          destination: {{kind: ServiceAccount, name: {app}, namespace: {ns}{port}}}
          rules:
          - {{kind: HTTPRouteGroup, name: {app}-routes, matches: [{matches}]}}{tcp}
          sources: [{{kind: ServiceAccount, name: {app}-client, namespace: {ns}}}]""")


def write_manifests(directory: Path, documents: int) -> int:
    groups = [_group(i) for i in range(documents // 10)]
    per_file = max(1, len(groups) // FILES)
    for index in range(0, len(groups), per_file):
        chunk = [doc for group in groups[index : index + per_file] for doc in group]
        (directory / f"mesh-{index // per_file:02d}.yaml").write_text("\n---\n".join(chunk) + "\n")
    return sum(len(g) for g in groups)


def timed(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (this process plus waited-for children) of `action`."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu_before, wall_before = _cpu_now(), time.perf_counter()
        action()
        walls.append(time.perf_counter() - wall_before)
        cpus.append(_cpu_now() - cpu_before)
    return statistics.median(walls), statistics.median(cpus)


def _cpu_now() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def parse_only(directory: Path) -> None:
    for path in sorted(directory.glob("*.yaml")):
        list(yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader))


def run_cli(directory: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "smimesh", "validate", "-f", str(directory), "-o", "json"],
        capture_output=True,
        check=False,
    )


def measure(documents: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="smimesh-bench-validate-") as tmp:
        directory = Path(tmp)
        count = write_manifests(directory, documents)
        one = Path(tmp) / "one.yaml.txt"  # outside the directory's manifests (suffix), read explicitly
        one.write_text(_group(1)[0] + "\n")
        result = load_paths([str(directory)])
        actions: dict[str, Callable[[], object]] = {
            "parse": lambda: parse_only(directory),
            "read": lambda: read_paths([str(directory)]),
            "load": lambda: load_paths([str(directory)]),
            "cli": lambda: run_cli(directory),
            "cli_one_document": lambda: run_cli(one),
            "python_bare": lambda: subprocess.run([sys.executable, "-c", "pass"], check=False),
        }
        figures: dict[str, float] = {}
        for name, action in actions.items():
            figures[f"{name}_s"], figures[f"{name}_cpu_s"] = timed(action, runs)
    return {
        "documents": count,
        "objects_valid": len(result.objects),
        "diagnostics": len(result.diagnostics),
        "errors": sum(d.is_error for d in result.diagnostics),
        **{k: round(v, 4) for k, v in figures.items()},
        "load_cpu_us_per_document": round(figures["load_cpu_s"] / count * 1e6, 1),
        "cli_cpu_us_per_document": round(figures["cli_cpu_s"] / count * 1e6, 1),
        "cli_startup_share": round(figures["cli_one_document_cpu_s"] / figures["cli_cpu_s"], 2),
        "read_over_parse_cpu": round(figures["read_cpu_s"] / figures["parse_cpu_s"], 2),
        "load_over_read_cpu": round(figures["load_cpu_s"] / figures["read_cpu_s"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 documents, 3 runs")
    envelope.add_results_dir(parser)
    args = parser.parse_args(argv)
    run = envelope.Run("validate", args.quick)
    documents, runs = (200, 3) if args.quick else (1_000, 7)
    figures = measure(documents, runs)
    met = figures["cli_cpu_s"] < TARGET_CLI_S
    report = {
        "runs": runs,
        **figures,
        "target_cli_cpu_s": TARGET_CLI_S,
        "meets_target": None if args.quick else met,
        "load_avg_at_end": os.getloadavg(),
    }
    what = f"smimesh validate, {figures['documents']} documents (process CPU s)"
    # The target is about 1,000 documents: a quick run (200) measures, but does not judge.
    target = envelope.target(
        what, f"< {TARGET_CLI_S} s for 1,000 documents", figures["cli_cpu_s"], None if args.quick else met
    )
    out = envelope.write(run, args.results_dir, report, [target])
    f = figures
    print(
        f"validate: {f['documents']} documents: `smimesh validate` {f['cli_cpu_s']:.3f} s CPU "
        f"({f['cli_s']:.3f} s wall) as a process, of which start-up {f['cli_one_document_cpu_s']:.3f} s; "
        f"in-process load {f['load_cpu_s']:.3f} s CPU ({f['load_cpu_us_per_document']:.0f} µs/doc), "
        f"read {f['read_cpu_s']:.3f} s, C-parser floor {f['parse_cpu_s']:.3f} s; "
        f"target < {TARGET_CLI_S} s CPU: {'met' if met else 'NOT met'} -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
