"""Run every bench/bench_*.py script in turn and keep its printout under bench/results/.

Usage: ``make bench`` (or ``python bench/run_all.py [name ...]`` to run some of them).
Benchmarks are not tests: they time our code against the peer a user would otherwise pick
at stated sizes and print the ratios.
"""

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if any(n in s.stem for n in names)]
    failed = 0
    for script in scripts:
        start = time.perf_counter()
        print(f"== {script.name}", flush=True)
        run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        (out / f"{script.stem}.txt").write_text(run.stdout + run.stderr)
        print(run.stdout[-4000:], run.stderr[-2000:] if run.returncode else "", sep="")
        print(f"== {script.name}: exit {run.returncode} in {time.perf_counter() - start:.0f} s")
        failed += run.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
