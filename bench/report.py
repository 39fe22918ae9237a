"""The performance report: every bench/results/*.json -> bench/results/REPORT.md with PNG plots.

    .venv/bin/python -m bench.report [--results-dir DIR] [--out FILE] [--prefer quick|full]

One section per benchmark of issue 7, in a fixed order; a benchmark without results is listed as
"not run", never filled in. Each figure stands beside its target with met / NOT met, and every
section says the machine it ran on. `<name>.json` (full) and `<name>-quick.json` are both accepted;
`--prefer` picks which one wins when both exist (the runner passes its own mode). A JSON with the
envelope of bench/envelope.py gives the section its mode, start time, machine and the targets table
(met / NOT met / not run); its `figures` go to the benchmark's renderer. Benchmarks whose JSON has no
renderer of its own are shown generically: their targets, verdicts and numbers. Older JSON without
the envelope is still read as figures alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import machine
from bench.dataplane import figures, render

RESULTS = Path(__file__).parent / "results"
SECTIONS = {
    "dataplane": "B1 · Data plane: latency, CPU and memory per path",
    "propagation": "B2 · Propagation: change to all-ACKed",
    "scale": "B3 · Config build cost at scale",
    "proxy_memory": "B3 · Memory per connected proxy",
    "startup": "B4 · Start-up: `smimesh up` to first successful request",
    "metrics": "B5 · Metrics API and scrape cost",
    "validate": "Validation throughput",
    "identity": "Identity: issuing and rotating certificates",
    "canary": "Canary controller: interval end to weight live, CPU of 100 canaries",
    "dashboard": "B6 · Dashboard: graph update CPU at 1,000 edges, page frame time at 300 nodes",
    "request_log": "B6 · Request log (`smimesh tap`): CPU per request when nobody taps, and tapping",
    "pods": "B7 · Pods: meshed (capture, two sidecars, mTLS, RBAC) vs plain pods vs local mode",
    "kubernetes": "Kubernetes: informer initial sync and endpoint churn",
}
# Renderers that draw the same targets richer (reference, caveat, notes) from their figures.
OWN_TARGET_TABLES = {"dataplane"}
MAX_GENERIC_ROWS = 60
TARGET_PROXIES = 1000  # propagation's target: all 1,000 proxies ACKed
RUN_COLUMNS = 10


def load(results: Path, name: str, prefer: str) -> tuple[dict[str, Any] | None, str]:
    """(data, file name) of the preferred mode's JSON for `name`, else the other one, else (None, "")."""
    order = [f"{name}.json", f"{name}-quick.json"]
    if prefer == "quick":
        order.reverse()
    for file_name in order:
        path = results / file_name
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except ValueError as error:
                return {"unreadable": f"{file_name}: {error}"}, file_name
            if not isinstance(data, dict):
                return {"unreadable": f"{file_name}: a JSON {type(data).__name__}, not an object"}, file_name
            return data, file_name
    return None, ""


def _leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            label = value.get("name") or value.get("mode") if isinstance(value, dict) else None
            yield from _leaves(value, f"{prefix}[{label or index}]")
    elif isinstance(tree, int | float | bool) or (isinstance(tree, str) and len(tree) < 120):
        yield prefix, tree


def _is_verdict(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return last.startswith(("meets", "met")) or "target" in last


def _run_lists(tree: Any, prefix: str = "") -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Every list of objects (a benchmark's runs), wherever it sits in the JSON."""
    if isinstance(tree, list) and tree and all(isinstance(item, dict) for item in tree):
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from _run_lists(value, f"{prefix}.{key}" if prefix else str(key))


def runs_table(rows: list[dict[str, Any]]) -> list[str]:
    """One row per run, one column per figure; wide runs are split into several tables."""
    flat = [dict(_leaves(row)) for row in rows]
    columns = list(dict.fromkeys(key for row in flat for key in row))
    lines: list[str] = []
    for start in range(0, len(columns), RUN_COLUMNS):
        chunk = columns[start : start + RUN_COLUMNS]
        cells = [[index, *(row.get(column) for column in chunk)] for index, row in enumerate(flat)]
        lines += [*render.table(["#", *chunk], cells), ""]
    return lines


def generic(data: dict[str, Any]) -> list[str]:
    """Targets and verdicts first (any key like meets_*/target*), then runs as tables, then the rest."""
    data = {k: v for k, v in data.items() if k not in ("benchmark", "when", "machine")}
    lines: list[str] = []
    if isinstance(data.get("targets"), list):
        rows = [
            [t.get("what", t.get("id")), t.get("value"), t.get("target"), render.verdict(t.get("met"))]
            for t in data.pop("targets")
            if isinstance(t, dict)
        ]
        lines += [*render.table(["figure", "value", "target", "verdict"], rows), ""]
    leaves = list(_leaves(data))
    verdicts = [[k, render.verdict(v) if isinstance(v, bool) else v] for k, v in leaves if _is_verdict(k)]
    if verdicts:
        lines += [
            "Targets and verdicts as the benchmark wrote them:",
            "",
            *render.table(["key", "value"], verdicts),
            "",
        ]
    tables = list(_run_lists(data))
    for name, runs in tables:
        lines += [f"`{name}`:", "", *runs_table(runs)]
    in_tables = tuple(f"{name}[" for name, _ in tables)
    numbers = [[k, v] for k, v in leaves if not _is_verdict(k) and not k.startswith(in_tables)]
    shown = numbers[:MAX_GENERIC_ROWS]
    if shown:
        lines += ["Other figures:", "", *render.table(["figure", "value"], shown)]
    if len(numbers) > len(shown):
        lines.append(f"\n({len(numbers) - len(shown)} more values in the JSON)")
    return [*lines, ""]


def _propagation_runs(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (mode, size): the medians when the benchmark wrote them, else every run."""
    source = data.get("median") or data.get("runs") or []
    if isinstance(source, dict):
        source = [r for value in source.values() for r in (value if isinstance(value, list) else [value])]
    return [r for r in source if isinstance(r, dict)]


def propagation(data: dict[str, Any], plots: Path, stem: str) -> list[str]:
    """Change -> all-ACKed per mode and size against the target, then the generic rest."""
    target = data.get("target_s")
    rows = []
    for run in _propagation_runs(data):
        acked = run.get("all_acked_s")
        met = None if target is None or acked is None else acked <= target
        size = [run.get("mode"), run.get("services"), run.get("proxies")]
        judged = run.get("proxies") in (None, TARGET_PROXIES)  # the target is about 1,000 proxies
        verdict = render.verdict(met, run.get("not_measurable")) if judged else "not judged (fewer proxies)"
        rows.append([*size, acked, target, verdict])
    lines = [
        "Change → all-ACKed (median of runs where recorded):",
        "",
        *render.table(["mode", "services", "proxies", "all ACKed s", "target s", "verdict"], rows),
        "",
    ]
    picture = figures.propagation_bars(
        _propagation_runs(data), target, data.get("stretch_s"), plots / f"{stem}.png"
    )
    lines += [f"![{picture}](plots/{picture})", ""] if picture else []
    return lines + generic(data)


def scale(data: dict[str, Any], plots: Path, stem: str) -> list[str]:
    """Per size: first build and each change (CPU, sidecars regenerated / expected); the fitted
    exponents; build CPU against proxies on a log-log plot. Older JSON (no `changes`): generic."""
    rows = data.get("results") or data.get("runs") or []
    picture = figures.scale_lines(rows, plots / f"{stem}.png") if isinstance(rows, list) else None
    lines = [f"![{picture}](plots/{picture})", ""] if picture else []
    changes = data.get("changes")
    if not isinstance(changes, dict):
        return lines + generic(data)
    header = ["S x P, policy", "sidecars", "first build CPU s", "peak RSS MB"]
    header += [f"{kind}: CPU s, regenerated / expected" for kind in changes]
    table = [_scale_row(row, list(changes)) for row in rows if isinstance(row, dict)]
    lines += [f"Path: {data.get('path', '?')}. Changes: " + "; ".join(changes.values()) + ".", ""]
    lines += [*render.table(header, table), "", "Fitted growth exponents of CPU:", ""]
    return [*lines, *render.table(["policy", "what", "vs services", "vs proxies"], _fit_rows(data)), ""]


def _scale_row(row: dict[str, Any], kinds: list[str]) -> list[Any]:
    size = f"{row.get('services')} x {row.get('proxies')}, {row.get('policy')}"
    if "changes" not in row:
        return [size, row.get("skipped") or "error", *[None] * (2 + len(kinds))]
    cells = [size, row.get("sidecars"), row["cpu"]["total_s"], row["rss_mb"]["peak"]]
    for kind in kinds:
        found = row["changes"][kind]
        cells.append(f"{found['cpu_s']:.3f}, {found['regenerated']} / {found['expected']}")
    return cells


def _fit_rows(data: dict[str, Any]) -> list[list[Any]]:
    def pairs(found: list[dict[str, Any]]) -> str:
        return ", ".join(f"{f['exponent']} ({_size(f['from'])} -> {_size(f['to'])})" for f in found)

    return [
        [policy, what, pairs(axes["vs_services"]), pairs(axes["vs_proxies"])]
        for policy, by_what in (data.get("fits") or {}).items()
        for what, axes in by_what.items()
    ]


def _size(pair: list[int]) -> str:
    return f"{pair[0]}x{pair[1]}"


def dataplane(data: dict[str, Any], plots: Path, stem: str) -> list[str]:
    return render.section(data, plots, stem)


RENDERERS: dict[str, Callable[[dict[str, Any], Path, str], list[str]]] = {
    "dataplane": dataplane,
    "propagation": propagation,
    "scale": scale,
}


def has_envelope(data: dict[str, Any]) -> bool:
    return isinstance(data.get("figures"), dict) and isinstance(data.get("targets"), list)


def _note(target: dict[str, Any]) -> str:
    """A target's extra keys (reference, caveat, ...) as one cell."""
    extra = {k: v for k, v in target.items() if k not in ("name", "target", "measured", "met") and v != ""}
    return "; ".join(f"{k}: {v}" for k, v in extra.items())


def _verdict(target: dict[str, Any], mode: str) -> str:
    """met / NOT met; measured but unjudged (a quick run's smaller sizes); or not run at all."""
    if target.get("not_measurable"):
        return render.verdict(None, target["not_measurable"])
    if target.get("met") is None and target.get("measured") is not None:
        return "not judged (quick run)" if mode == "quick" else "not judged"
    return render.verdict(target.get("met"))


def envelope_targets(data: dict[str, Any]) -> list[str]:
    """The envelope's targets: figure, measured, target, verdict (a quick run's unjudged ones: not run)."""
    rows = [
        [t.get("name"), t.get("measured"), t.get("target"), _verdict(t, data.get("mode", "")), _note(t)]
        for t in data["targets"]
        if isinstance(t, dict)
    ]
    if not rows:
        return ["(this benchmark states no target)", ""]
    return [*render.table(["target", "measured", "target value", "verdict", "note"], rows), ""]


def ran_on(data: dict[str, Any]) -> str:
    found = data.get("machine")
    if not isinstance(found, dict):
        return "machine not recorded by the benchmark (see the top of this report)"
    return ", ".join(f"{k} {v}" for k, v in found.items())


def section(name: str, title: str, results: Path, prefer: str, plots: Path) -> list[str]:
    data, file_name = load(results, name, prefer)
    head = [f"## {title}", ""]
    if data is None:
        return [*head, f"**not run**: no `{name}.json` or `{name}-quick.json` in {results.name}/.", ""]
    quick = data.get("quick", file_name.endswith("-quick.json"))
    mode = data.get("mode") or ("quick" if quick else "full")
    when = data.get("started_at") or data.get("when", "time not recorded")
    head += [f"From `{file_name}` ({mode}, {when}); ran on: {ran_on(data)}.", ""]
    if "unreadable" in data:
        return [*head, f"**unreadable**: {data['unreadable']}", ""]
    if has_envelope(data):
        head += [] if name in OWN_TARGET_TABLES else ["Targets:", "", *envelope_targets(data)]
        data = data["figures"]
    return head + body(name, data, plots)


def body(name: str, data: dict[str, Any], plots: Path) -> list[str]:
    """The benchmark's own renderer over its figures; generic when it has none or it fails."""
    renderer = RENDERERS.get(name)
    try:
        return renderer(data, plots, name) if renderer else generic(data)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        return [
            f"(its own renderer failed on this JSON: {type(error).__name__}: {error}; shown generically)",
            "",
            *generic(data),
        ]


def others(results: Path) -> list[str]:
    known = {f"{n}{s}.json" for n in SECTIONS for s in ("", "-quick")}
    return sorted(p.stem.removesuffix("-quick") for p in results.glob("*.json") if p.name not in known)


def build(results: Path, prefer: str, plots: Path | None = None) -> str:
    """The report's Markdown; plots go to `plots` (default RESULTS_DIR/plots), beside the report."""
    plots = plots or results / "plots"
    here = machine.describe()
    lines = [
        "# smimesh performance report",
        "",
        "Produced by `python -m bench.report` from the JSON beside this file; a benchmark without"
        " results is listed as not run. Ratios measured side by side in one run are what to compare:"
        " this machine is shared and noisy.",
        "",
        "Report generated on: " + ", ".join(f"{k} {v}" for k, v in here.items()) + ".",
        "",
    ]
    for name, title in SECTIONS.items():
        lines += section(name, title, results, prefer, plots)
    for name in dict.fromkeys(others(results)):
        lines += section(name, f"Other: {name}", results, prefer, plots)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS_DIR/REPORT.md")
    parser.add_argument("--prefer", choices=("quick", "full"), default="full")
    args = parser.parse_args(argv)
    if not args.results_dir.is_dir():
        parser.error(f"no results directory at {args.results_dir} (run `python -m bench` first)")
    out = args.out or args.results_dir / "REPORT.md"
    out.write_text(build(args.results_dir, args.prefer, out.parent / "plots"))  # linked as plots/<name>
    print(f"  wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
