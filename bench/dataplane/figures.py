"""Plots the report draws for other benchmarks' JSON (propagation, scale), next to their tables.

Lives with the data-plane renderer because both draw with the same matplotlib setup; each function
returns the PNG's file name, or None when there is nothing to draw or no matplotlib.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.dataplane.render import pyplot


def _save(plt: Any, figure: Any, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path.name


def propagation_bars(
    rows: list[dict[str, Any]], target_s: float | None, stretch_s: float | None, path: Path
) -> str | None:
    """Change -> all-ACKed per (mode, proxies), with the target and stretch lines."""
    points = [
        (f"{r.get('mode')}\n{r.get('proxies')} proxies", r["all_acked_s"])
        for r in rows
        if isinstance(r.get("all_acked_s"), int | float)
    ]
    plt = pyplot()
    if plt is None or not points:
        return None
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.bar([label for label, _ in points], [value for _, value in points])
    for value, style, label in ((target_s, "--", "target"), (stretch_s, ":", "stretch")):
        if isinstance(value, int | float):
            axis.axhline(value, linestyle=style, color="red", label=f"{label} {value} s")
    axis.set_ylabel("s")
    axis.set_title("change -> all proxies ACKed")
    axis.legend()
    return _save(plt, figure, path)


def scale_lines(rows: list[dict[str, Any]], path: Path) -> str | None:
    """Config build CPU against proxies, one line per (services, policy), log-log."""
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        total = (row.get("cpu") or {}).get("total_s") if isinstance(row.get("cpu"), dict) else None
        if isinstance(total, int | float) and isinstance(row.get("proxies"), int | float):
            series[f"{row.get('services')} services, {row.get('policy', '')}"].append((row["proxies"], total))
    plt = pyplot()
    if plt is None or not series:
        return None
    figure, axis = plt.subplots(figsize=(6, 3.8))
    for label, points in sorted(series.items()):
        points.sort()
        axis.plot([x for x, _ in points], [y for _, y in points], marker="o", label=label)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("proxies")
    axis.set_ylabel("CPU s (full build)")
    axis.set_title("config build cost")
    axis.legend(fontsize=8)
    return _save(plt, figure, path)
