"""The daily run on a large demo: every lifecycle program evaluated for one day, and a
500,000-row consent-checked export against a plain pandas ``to_csv`` of the same rows.

The demo workspace is built first (not timed). ``programs.evaluate`` is timed per program
for the workspace's as-of day. The export is ``export.write`` of the first 500,000 customers
to CSV (every row checked for consent, address and suppression at the send time, the file
and its manifest written atomically, the contact history recorded); the peer is what an
analyst would otherwise do: read the customers with their e-mail and write them with pandas,
no checks and no record. Goals: all programs under 30 s, the export under 10 s on the
1,000,000-customer demo.

Usage::

    python bench/bench_programs.py                       # 1,000,000 customers
    python bench/bench_programs.py --customers 100000    # quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from lifecycle import Workspace, export, programs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=500_000, help="rows of the export")
    parser.add_argument("--workspace", type=Path, help="an existing demo workspace to use")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-programs-"))
    if args.workspace:
        ws = Workspace.open(args.workspace)
    else:
        start = time.perf_counter()
        ws = Workspace.demo(folder / "demo.duckdb", n_customers=args.customers, random_state=0)
        print(f"demo of {args.customers:,} customers built in {time.perf_counter() - start:.0f} s"
              " (not counted)")
    day = ws.as_of.normalize()
    total = 0.0
    for name in programs.PROGRAMS:
        start = time.perf_counter()
        selection = programs.evaluate(ws, name, as_of=day)
        seconds = time.perf_counter() - start
        total += seconds
        print(f"evaluate {name:<13} {seconds:6.2f} s  {len(selection):>9,} selected")
    print(f"all programs        {total:6.2f} s  (goal: under 30 s)")

    people = ws.table("customers").select("customer_id", "home_store").order_by("customer_id")
    selection = people.limit(args.rows).execute()
    start = time.perf_counter()
    manifest = export.write(selection, folder / "export.csv", workspace=ws, channel="email",
                            as_of=day + pd.Timedelta(hours=8),
                            fields=["home_store"])
    ours = time.perf_counter() - start
    start = time.perf_counter()
    plain = ws.table("customers").select("customer_id", "email", "home_store").order_by(
        "customer_id").limit(args.rows).execute()
    plain.to_csv(folder / "plain.csv", index=False)
    peer = time.perf_counter() - start
    print(f"export {args.rows:,} rows: lifecycle {ours:.2f} s ({manifest['rows']:,} written, "
          f"{sum(manifest['removed'].values()):,} removed, history recorded); pandas to_csv "
          f"without checks {peer:.2f} s; ratio {ours / peer:.1f}x (goal: under 10 s)")


if __name__ == "__main__":
    main()
