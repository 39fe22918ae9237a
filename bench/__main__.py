"""Run every benchmark in bench/ (each `bench_*.py` as its own process), quick or full.

    .venv/bin/python -m bench [--quick] [--results-dir DIR] [NAME ...]

Each benchmark writes its JSON (the envelope of bench/envelope.py) under the results directory
(default bench/results/; quick runs write `<name>-quick.json`); this runner prints a one-line
summary per benchmark, then writes the report (RESULTS_DIR/REPORT.md with plots, from every JSON
there, this mode's files preferred) and exits non-zero if any benchmark crashed (timings are
reported, never asserted). A CI smoke run passes `--quick --results-dir <tmp>`, so it never
overwrites the committed full-run results.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench import envelope, report

BENCH_DIR = Path(__file__).resolve().parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: small sizes, finishes in minutes")
    envelope.add_results_dir(parser)
    parser.add_argument("names", nargs="*", help="only these benchmarks (e.g. validate propagation)")
    return parser


def _selected(parser: argparse.ArgumentParser, names: list[str]) -> list[str]:
    """The bench_* modules to run: all of them, or the named ones (an unknown name is a usage error)."""
    modules = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    unknown = [n for n in names if n not in modules and f"bench_{n}" not in modules]
    if unknown:
        known = ", ".join(m.removeprefix("bench_") for m in modules)
        parser.error(f"no benchmark named {', '.join(unknown)}; expected some of {known}")
    return [m for m in modules if not names or m.removeprefix("bench_") in names or m in names]


def _run(module: str, quick: bool, results_dir: Path) -> bool:
    """One benchmark in its own process; True when it exited cleanly."""
    cmd = [sys.executable, "-m", f"bench.{module}", "--results-dir", str(results_dir)]
    cmd += ["--quick"] if quick else []
    started = time.monotonic()
    print(f"== {module}: {' '.join(cmd[1:])}", flush=True)
    result = subprocess.run(cmd, cwd=BENCH_DIR.parent, check=False)
    print(f"== {module}: exit {result.returncode} in {time.monotonic() - started:.1f}s", flush=True)
    return result.returncode == 0


def main() -> int:
    parser = _parser()
    args = parser.parse_args()
    results_dir = args.results_dir.resolve()  # the benchmarks run from the repository's root
    results_dir.mkdir(parents=True, exist_ok=True)  # the report needs it even if every benchmark fails
    started = time.monotonic()
    modules = _selected(parser, args.names)
    failed = [module for module in modules if not _run(module, args.quick, results_dir)]
    print("== report", flush=True)
    report.main(["--results-dir", str(results_dir), "--prefer", "quick" if args.quick else "full"])
    print(f"== suite: {len(modules)} benchmark(s) and the report in {time.monotonic() - started:.1f}s")
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
