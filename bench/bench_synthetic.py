"""Time the demo generator and measure its peak memory, one fresh process per size.

Usage::

    python bench/bench_synthetic.py                    # 50,000 and 1,000,000 customers
    python bench/bench_synthetic.py --sizes 50000 200000

Each size runs ``lifecycle.synthetic.generate`` in its own subprocess, so the peak resident set
size (``ru_maxrss`` of that process, including the interpreter and imported libraries) belongs
to that run alone. The budgets come from the issue: 30 s for the default 50,000 customers,
5 minutes and 8 GB for 1,000,000.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

BUDGETS = {50_000: (30.0, None), 1_000_000: (300.0, 8192.0)}  # seconds, peak MB


def _child(n: int, seed: int) -> None:
    """Run one generation and print its measurements as JSON on the last line."""
    from lifecycle import synthetic

    start = time.perf_counter()
    demo = synthetic.generate(n, random_state=seed)
    seconds = time.perf_counter() - start
    rows = {name: len(df) for name, df in demo.tables.items()}
    table_mb = sum(df.memory_usage(deep=True).sum() for df in demo.tables.values()) / 2**20
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    print(json.dumps({"n": n, "seconds": seconds, "peak_mb": peak_mb, "table_mb": table_mb,
                      "rows": rows}))


def _run(n: int, seed: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(n), "--seed", str(seed)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _verdict(n: int, seconds: float, peak_mb: float) -> str:
    limit_s, limit_mb = BUDGETS.get(n, (None, None))
    if limit_s is None:
        return "-"
    ok = seconds <= limit_s and (limit_mb is None or peak_mb <= limit_mb)
    budget = f"<= {limit_s:.0f} s" + (f", <= {limit_mb / 1024:.0f} GB" if limit_mb else "")
    return ("ok " if ok else "OVER ") + budget


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child, args.seed)
        return
    results = [_run(n, args.seed) for n in args.sizes]
    print(f"{'customers':>10} {'seconds':>8} {'peak MB':>8} {'tables MB':>9}  budget")
    for r in results:
        print(f"{r['n']:>10,} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f} {r['table_mb']:>9.0f}  "
              f"{_verdict(r['n'], r['seconds'], r['peak_mb'])}")
    print("\nrows per table")
    names = list(results[0]["rows"])
    print(f"{'table':>16} " + " ".join(f"{r['n']:>12,}" for r in results))
    for name in names:
        print(f"{name:>16} " + " ".join(f"{r['rows'][name]:>12,}" for r in results))


if __name__ == "__main__":
    main()
