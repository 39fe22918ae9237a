"""The envelope every benchmark's result JSON carries, and where that JSON is written.

    {"benchmark": "propagation", "mode": "quick" | "full", "started_at": "2026-...Z",
     "machine": {...bench.machine.describe() at the start...},
     "targets": [{"name": ..., "target": ..., "measured": ..., "met": true | false | null, ...}],
     "figures": {...everything else the benchmark measured, in its author's own shape...}}

`met` is null when the run did not measure what the target is about (a quick run at smaller sizes).
The report reads `targets` for its met / not met column and hands `figures` to the benchmark's
renderer. Every benchmark takes `--results-dir` (default bench/results/) so a smoke run can write
elsewhere and never overwrite the committed full-run results; quick runs write `<name>-quick.json`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import machine

RESULTS = Path(__file__).resolve().parent / "results"
# Keys the envelope itself states; a benchmark's own copies are dropped from its figures.
ENVELOPE_KEYS = ("benchmark", "mode", "quick", "when", "started_at", "machine")


def add_results_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS,
        help="where to write the JSON (default bench/results/; a smoke run passes a temporary one)",
    )


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@dataclass
class Run:
    """One benchmark run: what the envelope says about it, taken when it started."""

    benchmark: str
    quick: bool
    started_at: str = field(default_factory=now)
    machine: dict[str, object] = field(default_factory=machine.describe)

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def file_name(self) -> str:
        return f"{self.benchmark}-quick.json" if self.quick else f"{self.benchmark}.json"


def target(name: str, target: Any, measured: Any, met: bool | None, **extra: Any) -> dict[str, Any]:
    """One target as the envelope states it; `extra` (a note, a caveat, a reference) rides along."""
    return {"name": name, "target": target, "measured": measured, "met": met, **extra}


def envelope(run: Run, figures: dict[str, Any], targets: list[dict[str, Any]]) -> dict[str, Any]:
    own = {key: value for key, value in figures.items() if key not in ENVELOPE_KEYS}
    return {
        "benchmark": run.benchmark,
        "mode": run.mode,
        "started_at": run.started_at,
        "machine": run.machine,
        "targets": targets,
        "figures": own,
    }


def _finite(tree: Any) -> Any:
    """NaN and infinities as null: strict JSON has no spelling for them."""
    if isinstance(tree, dict):
        return {str(key): _finite(value) for key, value in tree.items()}
    if isinstance(tree, list | tuple):
        return [_finite(value) for value in tree]
    if isinstance(tree, float) and not math.isfinite(tree):
        return None
    return tree


def write(run: Run, results_dir: Path, figures: dict[str, Any], targets: list[dict[str, Any]]) -> Path:
    """Write `<results_dir>/<name>[-quick].json` with the envelope; returns its path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / run.file_name()
    data = _finite(envelope(run, figures, targets))
    path.write_text(json.dumps(data, indent=2, allow_nan=False, default=str) + "\n")
    return path
