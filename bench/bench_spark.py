"""The bench's analytic steps on local PySpark beside DuckDB, at 1 million customers.

Usage::

    python bench/bench_spark.py --folder /big/disk           # builds the 1 M demo if missing
    python bench/bench_spark.py --workspace demo-1000000.duckdb --steps rfm clv stages

The DuckDB demo workspace's tables are written once as Parquet files (a folder beside it),
loaded into a local Spark session (``local[2]``, this machine's 2 cores) through
``Workspace.connect(ibis.pyspark.connect(spark))`` and ``Workspace.load``, which validates
them in Spark, and every step of ``bench_scale.py`` but the append (a file workspace's run
records; Spark tables take ``insert``) runs on both. The printout gives the load time per
table, then per step both times, their ratio and whether the results are equal: the same
rows, sorted, numbers within a relative 1e-6.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path

import ibis
import pandas as pd

from lifecycle import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import STEPS

SPARK_STEPS = [s for s in STEPS if s != "append"]


def _parquet(ws, folder: Path) -> dict[str, Path]:
    """Each canonical table of the DuckDB workspace ``ws`` as one Parquet file in ``folder``
    (written once)."""
    folder.mkdir(exist_ok=True)
    files = {}
    for name in ws.tables():
        files[name] = target = folder / f"{name}.parquet"
        if not target.exists():
            part = target.with_suffix(".parquet.part")
            ws.table(name).to_parquet(part)
            part.rename(target)
    return files


def _spark(driver_memory: str, partitions: int, folder: Path):
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("lifecycle-bench")
               .config("spark.driver.memory", driver_memory)
               .config("spark.sql.shuffle.partitions", str(partitions))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.local.dir", str(folder / "spark-local"))
               .config("spark.sql.warehouse.dir", str(folder / "spark-warehouse"))
               .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={folder}")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session


def _keys(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if frame[c].dtype.kind not in "fc"]


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by every column that is not a float (as text), then by the floats;
    timestamps in nanoseconds."""
    frame = frame.reset_index(drop=True)
    stamps = frame.select_dtypes(["datetime", "datetimetz"]).columns
    frame = frame.astype(dict.fromkeys(stamps, "datetime64[ns]"))
    keys = _keys(frame)
    floats = [c for c in frame.columns if c not in keys]
    by = pd.concat([frame[keys].astype(str), frame[floats]], axis=1)
    return frame.loc[by.sort_values([*keys, *floats]).index].reset_index(drop=True)


def _compare(duck: pd.DataFrame | None, spark: pd.DataFrame | None) -> str:
    """"equal", or how the results differ: rows (by their columns that are not floats) found
    on one side only, else the first numbers that differ by more than a relative 1e-6."""
    if duck is None:
        return "-"
    a, b = _canonical(duck), _canonical(spark)
    if list(a.columns) != list(b.columns):
        return f"DIFFER: columns {list(a.columns)} against {list(b.columns)}"
    keys = _keys(a)
    if not keys and len(a) != len(b):
        return f"DIFFER: {len(a):,} rows against {len(b):,}"
    rows = (a[keys].astype(str).value_counts(dropna=False)
            .sub(b[keys].astype(str).value_counts(dropna=False), fill_value=0)
            if keys else pd.Series(dtype=float))
    if rows.any():
        def examples(side):
            return "; ".join(" ".join(map(str, k))[:160] for k in side.index[:2])
        return (f"DIFFER: {int(rows[rows > 0].sum()):,} of {len(a):,} rows only on DuckDB "
                f"(e.g. {examples(rows[rows > 0])}), {int(-rows[rows < 0].sum()):,} of "
                f"{len(b):,} only on Spark (e.g. {examples(rows[rows < 0])})")
    try:
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_categorical=False,
                                      check_exact=False, rtol=1e-6)
    except AssertionError as err:
        return "DIFFER: " + " ".join(str(err).split())[:300]
    return "equal"


def _timed(step, ws):
    gc.collect()
    start = time.perf_counter()
    what, result = STEPS[step](ws)
    return time.perf_counter() - start, what, result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", help="a demo workspace (default: build the 1 M demo)")
    parser.add_argument("--customers", type=int, default=1_000_000,
                        help="size of the demo to build when --workspace is not given")
    parser.add_argument("--folder", default=".", help="where to build the demo and its Parquet")
    parser.add_argument("--steps", nargs="+", choices=SPARK_STEPS, default=SPARK_STEPS)
    parser.add_argument("--driver-memory", default="10g", help="the Spark driver's JVM heap")
    parser.add_argument("--partitions", type=int, default=16,
                        help="spark.sql.shuffle.partitions")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    path = Path(args.workspace) if args.workspace else folder / f"demo-{args.customers}.duckdb"
    duck = Workspace.demo(path, n_customers=args.customers, random_state=0)
    files = _parquet(duck, path.with_name(path.name + ".parquet"))
    work = Path(tempfile.mkdtemp(prefix=".spark-", dir=path.parent))  # warehouse, spills
    try:
        _bench(args, duck, files, _spark(args.driver_memory, args.partitions, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench(args, duck, files: dict, session) -> None:
    spark = Workspace.connect(ibis.pyspark.connect(session))
    print(f"loading {duck.path.name} into local Spark (validated there):", flush=True)
    for name, file in files.items():
        start = time.perf_counter()
        spark.load(name, str(file), as_of=duck.as_of)
        rows = spark.table(name).count().execute()
        print(f"  {name:<18} {rows:>12,} rows {time.perf_counter() - start:8.1f} s", flush=True)

    print(f"\n{'step':<12} {'DuckDB s':>9} {'Spark s':>9} {'ratio':>7}  results", flush=True)
    totals = [0.0, 0.0]
    for step in args.steps:
        d_s, what, d_result = _timed(step, duck)
        try:
            s_s, _, s_result = _timed(step, spark)
            verdict = _compare(d_result, s_result)
        except Exception as err:  # a step Spark cannot run is reported, not hidden
            s_s, verdict = float("nan"), f"FAILED on Spark: {type(err).__name__}: " + \
                " ".join(str(err).split())[:200]
        totals[0] += d_s
        totals[1] += s_s
        print(f"{step:<12} {d_s:9.1f} {s_s:9.1f} {s_s / d_s:7.1f}  {verdict} ({what})",
              flush=True)
    print(f"{'all steps':<12} {totals[0]:9.1f} {totals[1]:9.1f} {totals[1] / totals[0]:7.1f}")
    session.stop()


if __name__ == "__main__":
    main()
