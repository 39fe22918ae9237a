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


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: small sizes, finishes in minutes")
    envelope.add_results_dir(parser)
    parser.add_argument("names", nargs="*", help="only these benchmarks (e.g. validate propagation)")
    args = parser.parse_args()
    args.results_dir = args.results_dir.resolve()  # the benchmarks run from the repository's root
    suite_started = time.monotonic()
    modules = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    unknown = [n for n in args.names if n not in modules and f"bench_{n}" not in modules]
    if unknown:
        known = ", ".join(m.removeprefix("bench_") for m in modules)
        parser.error(f"no benchmark named {', '.join(unknown)}; expected some of {known}")
    if args.names:
        modules = [m for m in modules if m.removeprefix("bench_") in args.names or m in args.names]
    failed = []
    for module in modules:
        cmd = [sys.executable, "-m", f"bench.{module}", "--results-dir", str(args.results_dir)]
        cmd += ["--quick"] if args.quick else []
        started = time.monotonic()
        print(f"== {module}: {' '.join(cmd[1:])}", flush=True)
        result = subprocess.run(cmd, cwd=BENCH_DIR.parent, check=False)
        print(f"== {module}: exit {result.returncode} in {time.monotonic() - started:.1f}s", flush=True)
        if result.returncode != 0:
            failed.append(module)
    print("== report", flush=True)
    report.main(["--results-dir", str(args.results_dir), "--prefer", "quick" if args.quick else "full"])
    print(f"== suite: {len(modules)} benchmarks and the report in {time.monotonic() - suite_started:.1f}s")
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
