"""The library's cost curve: every analytic step a user runs, at 1, 3 and 10 million customers.

Usage::

    python bench/bench_scale.py --folder /big/disk             # builds the demos it lacks
    python bench/bench_scale.py --workspaces demo1m.duckdb demo3m.duckdb demo10m.duckdb
    python bench/bench_scale.py --steps rfm clv --sizes 1000000 3000000

Each step runs in a fresh Python process on a demo workspace (``Workspace.demo``, seed 0), so
its time and its peak resident memory (``ru_maxrss`` of that process, the interpreter and
libraries included) are its own; the time excludes starting Python and importing. The file is
read once before a size's steps, which then find it in the operating system's page cache:
the read's time is printed on its own, and the steps of one size run one after the other. The
printout gives both per size and the growth exponent of time against size (the slope of
log time on log customers, least squares): 1 means linear. Goal: every exponent at most 1.1,
the whole set at 10 M customers under 15 minutes and 16 GB on this machine (2 cores, 24 GB).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = [1_000_000, 3_000_000, 10_000_000]


def rfm(ws):
    from lifecycle import rfm

    scores = rfm.score(rfm.rfm(ws.table("transactions"), as_of=ws.as_of))
    segments = rfm.segment(scores).execute()
    what = f"{len(segments):,} customers in {segments.segment.nunique()} segments"
    return what, segments.sort_values("customer_id", ignore_index=True)


def clv(ws):
    from lifecycle import clv

    value = clv.customer_value(ws.table("transactions"), as_of=ws.as_of)
    return f"{len(value):,} customers valued", value.sort_values("customer_id", ignore_index=True)


def stages(ws):
    from lifecycle import audiences

    staged = audiences.stages(ws.table("events"), ws.table("transactions"), as_of=ws.as_of)
    counts = staged.group_by("stage").agg(n=staged.count()).execute().sort_values("stage")
    what = ", ".join(f"{s} {n:,}" for s, n in zip(counts.stage, counts.n, strict=True))
    return what, counts.reset_index(drop=True)


def attribution(ws):
    import pandas as pd

    from lifecycle import attribution

    paths = attribution.journeys(ws.table("touchpoints"),
                                 attribution.conversions(ws.table("transactions")),
                                 as_of=ws.as_of).cache()
    credits = pd.concat([attribution.attribute(paths, model).assign(model=model)
                         for model in attribution.MODELS], ignore_index=True)
    return f"{paths.count().execute():,} journeys, {credits.model.nunique()} models", credits


def kpis(ws):
    from lifecycle import kpis

    table = kpis.message_kpis(ws.table("messages"), transactions=ws.table("transactions"))
    return f"{len(table):,} KPI rows", table.reset_index(drop=True)


def programs(ws):
    import pandas as pd

    from lifecycle import programs

    day = ws.as_of.normalize()
    chosen = pd.concat([programs.evaluate(ws, name, as_of=day) for name in programs.PROGRAMS],
                       ignore_index=True)
    sizes = chosen.groupby("campaign_id", sort=True).size()
    return ", ".join(f"{k} {v:,}" for k, v in sizes.items()), chosen


def prioritize(ws):
    from lifecycle import prioritize

    done = prioritize.plan(ws, "lifecycle", as_of=ws.as_of.normalize(), record=False)
    contacts = done.allocation.contacts
    return f"{len(contacts):,} contacts, {done.allocation.status}", contacts


def append(ws):
    """Append a 100,000-row contact-history batch (a run's output) to the workspace."""
    import pandas as pd

    ids = ws.table("customers").select("customer_id").limit(100_000).execute().customer_id
    batch = pd.DataFrame({"run_id": f"bench-{time.time_ns()}", "campaign_id": "bench",
                          "cell_id": "bench", "customer_id": ids, "channel": "email",
                          "planned_at": ws.as_of, "cost": 0.002})
    start = time.perf_counter()
    ws.append("contact_history", batch)
    seconds = time.perf_counter() - start
    return f"{len(batch):,} rows in {seconds:.2f} s", None


#: Each step returns what it did, in words, and its result as a pandas frame (or None).
STEPS = {"rfm": rfm, "clv": clv, "stages": stages, "attribution": attribution,
         "kpis": kpis, "programs": programs, "prioritize": prioritize, "append": append}


def _child(step: str, path: str) -> None:
    from lifecycle import Workspace

    ws = Workspace.open(path)
    start = time.perf_counter()
    what, _ = STEPS[step](ws)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "what": what}))


def _run(step: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", step, "--path", str(path)],
                         capture_output=True, text=True)
    if out.returncode:
        return {"seconds": float("nan"), "peak_mb": float("nan"),
                "what": "FAILED: " + out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _workspace(n: int, args) -> Path:
    given = dict(zip(args.sizes, args.workspaces or [], strict=False))
    if n in given:
        return Path(given[n])
    path = Path(args.folder) / f"demo-{n}.duckdb"
    if not path.exists():
        from lifecycle import Workspace

        start = time.perf_counter()
        Workspace.demo(path, n_customers=n, random_state=0)
        print(f"built the demo of {n:,} customers in {time.perf_counter() - start:.0f} s",
              flush=True)
    return path


def _warm(path: Path) -> tuple[float, int]:
    """Read the workspace file once, so that its steps find it in the page cache as a file in
    daily use is; return the seconds and bytes. A cold read would time the disk instead."""
    start, size = time.perf_counter(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            size += len(chunk)
    return time.perf_counter() - start, size


def _exponent(sizes, seconds) -> float:
    ok = [(n, s) for n, s in zip(sizes, seconds, strict=True) if s == s and s > 0]
    if len(ok) < 2:
        return float("nan")
    x, y = np.log([n for n, _ in ok]), np.log([s for _, s in ok])
    return float(np.polyfit(x, y, 1)[0])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    parser.add_argument("--workspaces", nargs="+", help="demo workspaces, one per size")
    parser.add_argument("--folder", default=".", help="where to build missing demos")
    parser.add_argument("--steps", nargs="+", choices=list(STEPS), default=list(STEPS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.path)
        return
    paths = {n: _workspace(n, args) for n in args.sizes}
    results = {}
    for n in args.sizes:
        seconds, size = _warm(paths[n])
        print(f"read the {n:,}-customer workspace ({size / 1e9:.1f} GB) in {seconds:.0f} s "
              f"({size / 1e6 / seconds:,.0f} MB/s); its steps then read it from memory",
              flush=True)
        for step in args.steps:
            results[step, n] = r = _run(step, paths[n])
            print(f"{step:<12} {n:>11,} {r['seconds']:8.1f} s {r['peak_mb']:8.0f} MB  "
                  f"{r['what']}", flush=True)
    head = "".join(f"{n / 1e6:>9.0f}M s {'MB':>7}" for n in args.sizes)
    print(f"\n{'step':<12}{head}  exponent")
    for step in args.steps:
        row = [results[step, n] for n in args.sizes]
        cells = "".join(f"{r['seconds']:>11.1f} {r['peak_mb']:>7.0f}" for r in row)
        exponent = _exponent(args.sizes, [r["seconds"] for r in row])
        print(f"{step:<12}{cells}  {exponent:8.2f}")
    total = {n: sum(results[s, n]["seconds"] for s in args.steps) for n in args.sizes}
    peak = {n: max(results[s, n]["peak_mb"] for s in args.steps) for n in args.sizes}
    print(f"{'all steps':<12}" + "".join(f"{total[n]:>11.1f} {peak[n]:>7.0f}" for n in args.sizes)
          + f"  {_exponent(args.sizes, list(total.values())):8.2f}")


if __name__ == "__main__":
    main()
