"""The data-plane section of REPORT.md (tables, targets, plots) from dataplane.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

KEYS = ("p50", "p90", "p99")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def verdict(met: bool | None, not_measurable: str | None = None) -> str:
    if not_measurable:
        return "**not measurable in this run**"
    return "not run" if met is None else ("**met**" if met else "**NOT met**")


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]


def _ran(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: path for name, path in data["paths"].items() if "skipped" not in path}


def what_paths_had(data: dict[str, Any]) -> list[str]:
    rows = []
    for name, path in data["paths"].items():
        had = path.get("had", {})
        rows.append(
            [
                name,
                had.get("proxies"),
                had.get("mtls"),
                had.get("rbac"),
                had.get("split"),
                had.get("config", "") or path.get("skipped", ""),
            ]
        )
        if "skipped" in path:
            rows[-1][-1] = f"SKIPPED: {path['skipped'][:200]}"
    return table(["path", "proxies", "mTLS", "RBAC", "split", "config"], rows)


def latency_tables(data: dict[str, Any]) -> list[str]:
    added = data.get("added_over_direct_ms", {})
    lines: list[str] = []
    for rate in data["plan"]["rates"]:
        rows = []
        for name, path in _ran(data).items():
            result = path["rates"][str(rate)]
            plus = added.get(name, {}).get(str(rate), {})
            rows.append(
                [
                    name,
                    *(result["latency_ms"][k] for k in KEYS),
                    *(plus.get(k) for k in KEYS),
                    f"{result['completed']}/{result['sent']}",
                    result["errors"] + result["non_200"],
                    result.get("release_lag_ms", {}).get("p99"),
                    result.get("achieved_rps"),
                ]
            )
        header = [
            "path",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "+p50 ms",
            "+p90 ms",
            "+p99 ms",
            "completed",
            "errors",
            "generator lag p99 ms",
            "achieved req/s",
        ]
        title = f"**{rate} req/s** (constant rate; + = added over direct; generator lag = how late requests"
        lines += [title + " left the generator, not counted as latency)", "", *table(header, rows), ""]
    return lines


def cost_table(data: dict[str, Any]) -> list[str]:
    rows = []
    direct_max = _ran(data).get("direct", {}).get("max", {}).get("requests_per_s")
    for name, path in _ran(data).items():
        cpu = path["rates"][str(data["plan"]["rates"][-1])]["cpu_s_per_1000"]
        rps = path["max"].get("requests_per_s")
        ratio = rps / direct_max if rps and direct_max else None
        rows.append(
            [
                name,
                rps,
                ratio,
                path["max"].get("latency_ms", {}).get("p99"),
                cpu.get("client"),
                cpu.get("server"),
                path["max"].get("cpu_s_per_1000", {}).get("total"),
                ", ".join(f"{k} {v}" for k, v in path.get("rss_mb", {}).items()) or "–",
            ]
        )
    header = [
        "path",
        "max req/s",
        "of direct",
        "p99 at max ms",
        "CPU s/1k client",
        "CPU s/1k server",
        "CPU s/1k both (at max)",
        "sidecar RSS MB",
    ]
    rate = data["plan"]["rates"][-1]
    title = f"CPU seconds per 1,000 requests per sidecar at {rate} req/s (both at max); RSS after the load."
    return [title, "", *table(header, rows), ""]


def target_table(data: dict[str, Any]) -> list[str]:
    rows = []
    for t in data.get("targets", []):
        notes = [
            f"why: {t['not_measurable']}" if t.get("not_measurable") else "",
            f"{t['ratio_to_istio']}x Istio's +0.3 ms" if t.get("ratio_to_istio") is not None else "",
            f"**caveat: {t['caveat']}**" if t.get("caveat") else "",
        ]
        rows.append(
            [
                t["what"],
                t["value"],
                t["target"],
                verdict(t["met"], t.get("not_measurable")),
                "; ".join(n for n in notes if n),
            ]
        )
    cost = data.get("mtls_cost_at_1000", {})
    lines = table(["figure", "value", "target", "verdict", "note"], rows)
    if cost.get("cpu_ratio") is not None:
        lines += [
            "",
            f"mTLS itself (static pairs, 1,000 req/s): CPU x{cost['cpu_ratio']}, added p50 "
            f"{cost['added_p50_ms']}, max req/s x{cost.get('max_rps_ratio')} (mTLS over plain).",
        ]
    return lines


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def plot(data: dict[str, Any], plots: Path, stem: str) -> list[str]:
    """Two PNGs: added latency over direct per rate, and CPU/throughput per path."""
    plt = pyplot()
    if plt is None:
        return []
    plots.mkdir(parents=True, exist_ok=True)
    added = data.get("added_over_direct_ms", {})
    names = [n for n in _ran(data) if n != "direct"]
    if not names:
        return []
    rates = [str(r) for r in data["plan"]["rates"]]
    figure, axes = plt.subplots(1, len(rates), figsize=(5 * len(rates), 3.8), squeeze=False)
    for axis, rate in zip(axes[0], rates, strict=True):
        for offset, key in enumerate(KEYS):
            values = [added.get(n, {}).get(rate, {}).get(key, 0.0) for n in names]
            axis.bar([i + offset * 0.27 for i in range(len(names))], values, width=0.27, label=key)
        axis.set_xticks([i + 0.27 for i in range(len(names))], names, fontsize=8)
        axis.set_title(f"added latency over direct at {rate} req/s")
        axis.set_ylabel("ms")
        axis.legend()
    latency_png = plots / f"{stem}-latency.png"
    figure.tight_layout()
    figure.savefig(latency_png, dpi=90)
    plt.close(figure)
    return [latency_png.name, _plot_cost(plt, data, plots, stem)]


def _plot_cost(plt: Any, data: dict[str, Any], plots: Path, stem: str) -> str:
    ran = _ran(data)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.bar(list(ran), [p["max"].get("requests_per_s", 0) for p in ran.values()])
    left.set_title("max req/s (wrk)")
    proxied = {n: p for n, p in ran.items() if p.get("proxies")}
    rate = str(data["plan"]["rates"][-1])
    for offset, role in enumerate(("client", "server")):
        values = [p["rates"][rate]["cpu_s_per_1000"].get(role, 0.0) for p in proxied.values()]
        right.bar([i + offset * 0.4 for i in range(len(proxied))], values, width=0.4, label=f"{role} sidecar")
    right.set_xticks([i + 0.2 for i in range(len(proxied))], list(proxied), fontsize=8)
    right.set_title(f"CPU s per 1,000 requests at {rate} req/s")
    right.legend()
    for axis in (left, right):
        axis.tick_params(axis="x", labelsize=8)
    path = plots / f"{stem}-cost.png"
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path.name


def section(data: dict[str, Any], plots: Path, stem: str) -> list[str]:
    placement = data.get("placement", {})
    lines = [
        f"Load: {data.get('load_generator', '')}. Backend: {data.get('backend', '')}.",
        f"Placement: load generator on CPUs {placement.get('load_generator')}, backend on "
        f"{placement.get('backend')}, proxies on {placement.get('proxies')}: {placement.get('why', '')}.",
        f"Plan: {data['plan']['rounds']} round(s) of {data['plan']['duration_s']} s per rate per path,"
        f" interleaved; max rate {data['plan']['max_duration_s']} s per round.",
        "",
        "What each path actually had (read from the running proxies, not assumed):",
        "",
        *what_paths_had(data),
        "",
        "### Targets",
        "",
        *target_table(data),
        "",
        "### Latency",
        "",
        *latency_tables(data),
        "### Throughput, CPU and memory",
        "",
        *cost_table(data),
    ]
    pictures = plot(data, plots, stem)
    if not pictures:
        return [*lines, "(no plots: matplotlib is not installed, or no proxied path ran)", ""]
    return lines + [f"![{name}](plots/{name})" for name in pictures] + [""]
