"""Time the demo workspace build and measure its peak memory, one fresh process per size.

Usage::

    python bench/bench_synthetic.py                         # 50,000 and 1,000,000 customers
    python bench/bench_synthetic.py --sizes 1000000 10000000

Each size runs ``Workspace.demo`` (generation, validation and the DuckDB file) in its own
subprocess. A demo of more than ``synthetic.PART_SIZE`` customers is made by two worker
processes, so the peak memory reported is that of the whole process tree: the resident set
sizes of the build and its workers, added up, sampled every 0.2 s. The budgets: 30 s for
50,000 customers; 90 s and 4 GB for 1,000,000; 20 minutes and 12 GB for 10,000,000.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BUDGETS = {50_000: (30.0, None), 1_000_000: (90.0, 4096.0),
           10_000_000: (1200.0, 12288.0)}  # seconds, peak MB


def _child(n: int, seed: int, path: str) -> None:
    """Build one demo workspace and print its row counts as JSON on the last line."""
    from lifecycle import Workspace

    ws = Workspace.demo(path, n_customers=n, random_state=seed, overwrite=True)
    rows = {name: int(ws.table(name).count().execute()) for name in ws.tables()}
    print(json.dumps({"rows": rows, "file_mb": os.path.getsize(path) / 2**20}))


def _tree_rss(pid: int) -> int:
    """Bytes resident in process ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        stack += children.get(p, [])
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


def _run(n: int, seed: int, folder: str) -> dict:
    path = str(Path(folder) / f"demo-{n}.duckdb")
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--child", str(n), "--seed", str(seed),
                              "--path", path], stdout=subprocess.PIPE, text=True)
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(child.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, _ = child.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if child.returncode:
        raise SystemExit(f"the build of {n:,} customers failed (exit {child.returncode})")
    Path(path).unlink()
    return {"n": n, "seconds": seconds, "peak_mb": peak[0] / 2**20,
            **json.loads(out.strip().splitlines()[-1])}


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
    parser.add_argument("--folder", help="where to build (default: a temporary folder)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child, args.seed, args.path)
        return
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        results = [_run(n, args.seed, folder) for n in args.sizes]
    print(f"{'customers':>11} {'seconds':>8} {'peak MB':>8} {'file MB':>8}  budget")
    for r in results:
        print(f"{r['n']:>11,} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f} {r['file_mb']:>8.0f}  "
              f"{_verdict(r['n'], r['seconds'], r['peak_mb'])}")
    print("\nrows per table")
    print(f"{'table':>16} " + " ".join(f"{r['n']:>12,}" for r in results))
    for name in results[0]["rows"]:
        print(f"{name:>16} " + " ".join(f"{r['rows'].get(name, 0):>12,}" for r in results))


if __name__ == "__main__":
    main()
