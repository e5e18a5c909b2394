"""Lifetime-value pipeline: lifecycle.clv against the same pipeline written with lifetimes.

Both pipelines go from a transactions Parquet file to a 12-month CLV for every customer:
summary -> BG/NBD fit -> Gamma-Gamma fit on the repeat buyers -> CLV. Each runs in its own
subprocess (fresh interpreter) so its peak RSS (``resource.getrusage``) is its own. Time is
the pipeline's wall time after the imports (reported separately; for lifecycle they include
ibis' DuckDB backend module, which ibis would otherwise import on the first query).

Peak memory is ``ru_maxrss`` of each child. Linux carries the parent's resident size at the
spawn into it, so the parent stays small: the transactions are generated in a child of their
own. (``VmHWM``, the peak of the child's own image, is printed alongside on Linux.)

The lifetimes pipeline is what its documentation shows: ``summary_data_from_transaction_data``
with ``freq="D"``, ``BetaGeoFitter`` and ``GammaGammaFitter`` on the per-customer rows, then
``customer_lifetime_value(time=12, discount_rate=0.01, freq="D")``. ``freq="D"`` is used because
``freq="W"`` is wrong under pandas 3 (week periods: recency can exceed T); with daily periods its
summary is correct. lifecycle runs at the same resolution (``time_unit="D"``) so the parameters
are comparable; its discount rate is lifetimes' monthly 1 % as an annual rate. The CLVs differ by
design (lifetimes' 30-day months against 365.25 / 12 days), so only the parameters must agree.

Transactions come from the BG/NBD + Gamma-Gamma generative model (vectorised, seeded):
first purchases spread over a year, observation to the end of the following June.

Usage::

    python bench/bench_clv.py                       # 4,000,000 customers (~11 M rows)
    python bench/bench_clv.py --customers 200000    # quick
    python bench/bench_clv.py --repeat 3             # lifecycle's pipeline 3 times (median)
    python bench/bench_clv.py --customers 1000000 --source frame   # from a pandas frame
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

AS_OF = "2024-06-30"
START = "2023-01-01"
TRUE = {"r": 0.5, "alpha": 60.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "v": 15.0}
PARAMS = ["r", "alpha", "a", "b", "p", "q", "v"]
TARGET_SPEEDUP, TARGET_MEMORY, TARGET_AGREEMENT = 15.0, 1 / 3, 1e-3


def generate(n_customers: int, *, random_state: int = 0, cohort_days: int = 365) -> pd.DataFrame:
    """Transactions of ``n_customers`` drawn from BG/NBD (daily rates) and Gamma-Gamma.

    Each customer's purchase rate is Gamma(r, alpha), their drop-out probability after each
    repeat purchase Beta(a, b), their mean spend parameter Gamma(q, v) and each amount
    Gamma(p, nu). Repeat purchases up to ``AS_OF`` are the first min(J, N) of N uniform times
    (N Poisson events over the customer's observed span, J the purchases before drop-out).
    """
    rng = np.random.default_rng(random_state)
    start = np.datetime64(START, "D")
    birth = rng.integers(0, cohort_days, n_customers)
    span = (np.datetime64(AS_OF, "D") - start).astype(int) - birth + 1.0
    rate = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n_customers)
    drop = rng.beta(TRUE["a"], TRUE["b"], n_customers)
    events = rng.poisson(rate * span)
    kept = np.minimum(rng.geometric(drop), events)
    nu = rng.gamma(TRUE["q"], 1 / TRUE["v"], n_customers)
    who = np.repeat(np.arange(n_customers), events)
    when = rng.random(who.size) * span[who]
    order = np.lexsort((when, who))
    who, when = who[order], when[order]
    rank = np.arange(who.size) - np.repeat(np.cumsum(events) - events, events)
    keep = rank < kept[who]
    who = np.concatenate([np.arange(n_customers), who[keep]])
    day = np.concatenate([birth, birth[who[n_customers:]] + np.floor(when[keep]).astype(int)])
    amount = np.maximum(np.round(rng.gamma(TRUE["p"], 1 / nu[who]), 2), 0.01)
    ids = np.char.add("c", np.char.zfill(who.astype(str), 9))
    return pd.DataFrame({"customer_id": pd.array(ids, dtype="str"),
                         "ts": (start + day.astype("timedelta64[D]")).astype("datetime64[us]"),
                         "amount": amount})


def _lifetimes_pipeline(path: str, source: str) -> dict:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes import BetaGeoFitter, GammaGammaFitter
        from lifetimes.utils import summary_data_from_transaction_data
    loaded = pd.read_parquet(path) if source == "frame" else None
    rss, started = _vm_rss_mb(), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tx = loaded if loaded is not None else pd.read_parquet(path)
        s = summary_data_from_transaction_data(tx, "customer_id", "ts", monetary_value_col="amount",
                                               observation_period_end=AS_OF, freq="D")
        bg = BetaGeoFitter(penalizer_coef=0.0).fit(s["frequency"], s["recency"], s["T"])
        repeat = s[s["frequency"] > 0]
        gg = GammaGammaFitter(penalizer_coef=0.0).fit(repeat["frequency"],
                                                      repeat["monetary_value"])
        clv = gg.customer_lifetime_value(bg, s["frequency"], s["recency"], s["T"],
                                         s["monetary_value"], time=12, discount_rate=0.01,
                                         freq="D")
    seconds = time.perf_counter() - started
    params = {**bg.params_.to_dict(), **gg.params_.to_dict()}
    return {"seconds": seconds, "params": params, "customers": len(clv),
            "clv_total": float(clv.sum()), "start_rss_mb": rss}


def _lifecycle_pipeline(path: str, source: str) -> dict:
    # ibis imports its DuckDB backend (and every SQL dialect of sqlglot) on the first query:
    # 0.4 s of imports, done here outside the clock like lifetimes' own imports
    import ibis
    import ibis.backends.duckdb

    from lifecycle.clv import customer_value

    loaded = pd.read_parquet(path) if source == "frame" else None
    rss, started = _vm_rss_mb(), time.perf_counter()
    tx = loaded if loaded is not None else ibis.duckdb.connect().read_parquet(path)
    out = customer_value(tx, as_of=AS_OF, horizons_months=12, discount_rate=1.01**12 - 1,
                         time_unit="D")
    seconds = time.perf_counter() - started
    params = {**out.attrs["bgnbd"], **out.attrs["gamma_gamma"]}
    return {"seconds": seconds, "params": params, "customers": len(out),
            "clv_total": float(out["clv_12m"].sum()), "start_rss_mb": rss}


def _vm_rss_mb() -> float | None:
    """Resident size of this process now (Linux), in MB."""
    try:
        with open("/proc/self/status") as status:
            return int(next(x for x in status if x.startswith("VmRSS:")).split()[1]) / 1024
    except (OSError, StopIteration):
        return None


def _vm_hwm_mb() -> float | None:
    """Peak resident size of this process image (Linux), in MB."""
    try:
        with open("/proc/self/status") as status:
            line = next(x for x in status if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return None


def _child(which: str, path: str, customers: int, seed: int, source: str) -> None:
    """Run one job in this (fresh) process and print its figures as JSON."""
    if which == "generate":
        tx = generate(customers, random_state=seed)
        tx.to_parquet(path, index=False)
        print(json.dumps({"rows": len(tx)}))
        return
    started = time.perf_counter()
    run = _lifetimes_pipeline if which == "lifetimes" else _lifecycle_pipeline
    result = run(path, source)
    result["import_seconds"] = time.perf_counter() - started - result["seconds"]
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["vm_hwm_mb"] = _vm_hwm_mb()
    print(json.dumps(result))


def _run(which: str, path: Path, customers: int = 0, seed: int = 0,
         source: str = "parquet") -> dict:
    done = subprocess.run([sys.executable, __file__, "--customers", str(customers), "--seed",
                           str(seed), "--source", source, "--child", which, str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{which} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median_run(runs: list[dict]) -> dict:
    """The run with the median time, with the largest peak memory of all runs."""
    result = dict(sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2])
    result["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    result["all_seconds"] = [round(r["seconds"], 2) for r in runs]
    return result


def _report(n_rows: int, n_customers: int, peer: dict, ours: dict) -> bool:
    agreement = {k: abs(ours["params"][k] / peer["params"][k] - 1) for k in PARAMS}
    speedup = peer["seconds"] / ours["seconds"]
    memory = ours["peak_rss_mb"] / peer["peak_rss_mb"]
    print(f"{n_customers:,} customers, {n_rows:,} transactions")
    print(f"{'':12}{'seconds':>10}{'imports s':>11}{'peak MB':>10}{'VmHWM MB':>10}"
          f"{'at start MB':>12}{'CLV total':>16}")
    for name, r in (("lifetimes", peer), ("lifecycle", ours)):
        print(f"{name:12}{r['seconds']:10.2f}{r['import_seconds']:11.2f}{r['peak_rss_mb']:10.0f}"
              f"{r['vm_hwm_mb'] or float('nan'):10.0f}{r['start_rss_mb'] or float('nan'):12.0f}"
              f"{r['clv_total']:16,.0f}")
    if len(ours.get("all_seconds", [])) > 1:
        print(f"lifecycle runs: {ours['all_seconds']} s (median shown, largest peak shown)")
    print(f"speed-up {speedup:.1f}x (target >= {TARGET_SPEEDUP:g}x), memory {memory:.2f} of "
          f"lifetimes' (target <= {TARGET_MEMORY:.2f})")
    print("parameters (lifetimes / lifecycle / relative difference / true):")
    for k in PARAMS:
        print(f"  {k:6}{peer['params'][k]:12.5f}{ours['params'][k]:12.5f}"
              f"{agreement[k]:12.2e}{TRUE[k]:10.3f}")
    ok = max(agreement.values()) <= TARGET_AGREEMENT and peer["customers"] == ours["customers"]
    print("parameters agree within 0.1 %" if ok else "PARAMETERS DISAGREE")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=4_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of lifecycle's pipeline (lifetimes' runs once)")
    parser.add_argument("--source", choices=["parquet", "frame"], default="parquet",
                        help="pipelines start from the Parquet file, or from a pandas frame "
                        "already in memory")
    parser.add_argument("--child", nargs=2, metavar=("JOB", "PARQUET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child, args.customers, args.seed, args.source)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "transactions.parquet"
        n_rows = _run("generate", path, args.customers, args.seed)["rows"]
        peer = _run("lifetimes", path, source=args.source)
        ours = _median_run([_run("lifecycle", path, source=args.source)
                            for _ in range(max(1, args.repeat))])
    return 0 if _report(n_rows, args.customers, peer, ours) else 1


if __name__ == "__main__":
    sys.exit(main())
