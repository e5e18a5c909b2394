"""Attribution at scale: raw touchpoints to journeys and all seven models, and the Markov step
against ChannelAttribution's ``markov_model`` on the same distinct paths.

A seeded numpy generator writes ``touchpoints.parquet`` (``--rows`` rows, 10 million by default,
about a million journeys) and ``conversions.parquet`` to a temporary folder; DuckDB reads them
through ibis. Journeys: 1 + NegBin touches (mean about 10) on 8 channels, a touch repeating the
previous channel with probability 0.93 (so 10 million touches make about 140 thousand distinct
paths), spread over at most 25 days; a person's journeys are 60 days apart; a journey converts
with ``1 - 0.98 * prod(1 - effect)`` over its touches, a day or so after its last touch.

Timed: ``journeys(...).cache()`` (the whole per-row pipeline, materialised once), then
``attribute(journeys, model)`` for each of :data:`lifecycle.attribution.MODELS`. The target is
under 60 s for both together.

The Markov step: our numpy part (encode the distinct paths, build the chain, one exact linear
solve per channel) against ``ChannelAttribution.markov_model`` (order 1, its defaults: 1e5
simulations to start, convergence 5 %, one core) timed around the call only, both on the same
distinct paths. The peer runs in its own interpreter (a scratch venv: ChannelAttribution needs
numpy, pandas and matplotlib), given by ``--peer-python`` or ``LIFECYCLE_CA_PYTHON`` (default
``/tmp/ca/bin/python`` when it exists); when absent the comparison is skipped and says so.

Usage::

    python bench/bench_attribution.py                 # 10 M touchpoints
    python bench/bench_attribution.py --rows 1000000  # quick
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lifecycle import attribution

CHANNELS = ["paid_search", "email", "organic_search", "social", "direct", "display",
            "affiliate", "referral"]
POPULARITY = np.array([0.25, 0.18, 0.15, 0.12, 0.10, 0.08, 0.07, 0.05])
EFFECT = np.array([0.06, 0.04, 0.03, 0.01, 0.02, 0.005, 0.03, 0.02])
STAY, MEAN_LENGTH, JOURNEYS_PER_PERSON = 0.93, 10.0, 1.6
TARGET_SECONDS = 60.0
DEFAULT_PEER = "/tmp/ca/bin/python"

PEER = r"""
import json, sys, time
import pandas as pd
import ChannelAttribution as ca
data = pd.read_csv(sys.argv[1])
started = time.perf_counter()
out = ca.markov_model(data, "path", "conversions", var_value="value", var_null="nulls",
                      order=int(sys.argv[2]), out_more=True, verbose=False, flg_pro=False)
seconds = time.perf_counter() - started
credit, removal = out["result"], out["removal_effects"]
print(json.dumps({"seconds": seconds, "channel": credit.channel_name.tolist(),
                  "conversions": credit.total_conversions.tolist(),
                  "value": credit.total_conversion_value.tolist(),
                  "removal_effect": removal.removal_effects_conversion.tolist()}))
"""


def generate(folder: Path, rows: int, *, random_state: int = 0) -> dict:
    """Write ``touchpoints.parquet`` and ``conversions.parquet``; return their sizes."""
    rng = np.random.default_rng(random_state)
    n_j = int(rows / MEAN_LENGTH)
    length = 1 + rng.negative_binomial(1.2, 1.2 / (1.2 + MEAN_LENGTH - 1), n_j)
    length[-1] += max(rows - int(length.sum()), 0)  # exactly ``rows`` touches (or a few more)
    owner = np.repeat(np.arange(n_j), length)
    channel = _sticky_channels(rng, length)
    n_people = int(n_j / JOURNEYS_PER_PERSON)
    person = rng.integers(0, n_people, n_j)
    slot = _rank_within(person)                        # a person's journeys, 60 days apart
    begin = rng.uniform(0, 300, n_people)[person] + slot * 60.0
    span = np.minimum(rng.exponential(8.0, n_j), 25.0)
    offset = rng.random(len(owner)) * span[owner]
    ts = begin[owner] + offset[np.lexsort((offset, owner))]  # touches in generated order
    hits = np.bincount(owner * len(CHANNELS) + channel, minlength=n_j * len(CHANNELS))
    p = 1 - 0.98 * np.exp(hits.reshape(n_j, -1) @ np.log1p(-EFFECT))
    converts = rng.random(n_j) < p
    last = np.maximum.reduceat(ts, np.cumsum(length) - length)
    conv_ts = last[converts] + rng.uniform(0.01, 2.0, converts.sum())
    origin = np.datetime64("2024-01-01T00:00:00", "us")
    touches = pa.table({"ts": pa.array(origin + (ts * 86_400e6).astype("timedelta64[us]")),
                        "person_id": _ids(person[owner]),
                        "channel": pa.DictionaryArray.from_arrays(channel.astype(np.int32),
                                                                  CHANNELS)})
    convs = pa.table({"person_id": _ids(person[converts]),
                      "ts": pa.array(origin + (conv_ts * 86_400e6).astype("timedelta64[us]")),
                      "value": np.round(rng.lognormal(4.0, 0.8, converts.sum()), 2)})
    pq.write_table(touches, folder / "touchpoints.parquet")
    pq.write_table(convs, folder / "conversions.parquet")
    return {"touchpoints": touches.num_rows, "conversions": convs.num_rows,
            "generated_journeys": n_j}


def _sticky_channels(rng, length: np.ndarray) -> np.ndarray:
    """Channels per touch: the previous one with probability STAY, else a fresh draw."""
    n = int(length.sum())
    fresh = rng.choice(len(CHANNELS), n, p=POPULARITY)
    stay = rng.random(n) < STAY
    stay[np.cumsum(length) - length] = False
    return fresh[np.maximum.accumulate(np.where(stay, 0, np.arange(n)))]


def _rank_within(group: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each value of ``group`` (in input order)."""
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_group)) + 1]
    rank = np.arange(len(group)) - np.repeat(first, np.diff(np.r_[first, len(group)]))
    out = np.empty(len(group), np.int64)
    out[order] = rank
    return out


def _ids(numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise("P", pc.cast(pa.array(numbers), pa.string()), "")


def peer_python(cli_value: str | None) -> str | None:
    """The interpreter that has ChannelAttribution: CLI flag, env var, this one (the test
    extras install it), or a scratch venv."""
    path = cli_value or os.environ.get("LIFECYCLE_CA_PYTHON")
    if path is None and importlib.util.find_spec("ChannelAttribution") is not None:
        return sys.executable
    path = path or DEFAULT_PEER
    return path if Path(path).exists() else None


def run_peer(paths: pd.DataFrame, python: str, *, order: int = 1) -> dict:
    """ChannelAttribution's ``markov_model`` on distinct paths (``path`` a list of channels,
    ``conversions``, ``nulls``, ``value``); returns its credits and its call's seconds."""
    frame = paths.assign(path=[" > ".join(p) for p in paths.path])
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "paths.csv"
        frame[["path", "conversions", "nulls", "value"]].to_csv(csv, index=False)
        done = subprocess.run([python, "-c", PEER, str(csv), str(order)], capture_output=True,
                              text=True, check=True, timeout=1800)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _timed(label: str, fn, times: dict):
    started = time.perf_counter()
    out = fn()
    times[label] = time.perf_counter() - started
    print(f"  {label:<28} {times[label]:7.2f} s", flush=True)
    return out


def pipeline(folder: Path) -> tuple[dict, object]:
    """Journeys (cached) and every model; return the timings and the journeys table."""
    con = ibis.duckdb.connect()
    touches = con.read_parquet(folder / "touchpoints.parquet")
    convs = con.read_parquet(folder / "conversions.parquet")
    times: dict = {}
    print("pipeline (DuckDB through ibis):")
    j = _timed("journeys (cached)", lambda: attribution.journeys(touches, convs).cache(), times)
    for model in attribution.MODELS:
        _timed(f"attribute {model}", lambda m=model: attribution.attribute(j, m), times)
    return times, j


def markov_step(j, python: str | None) -> dict:
    """Our Markov numpy step and ChannelAttribution's on the same distinct paths."""
    arrow = attribution._path_counts(j).to_pyarrow()
    result: dict = {"distinct_paths": arrow.num_rows}
    best = []
    for _ in range(3):
        started = time.perf_counter()
        ours = attribution._removal_from(attribution._encode(arrow), 1)
        best.append(time.perf_counter() - started)
    result["ours_seconds"], result["ours_cold"], result["ours"] = min(best), best[0], ours
    if python is None:
        print("ChannelAttribution: no interpreter with it (set --peer-python or "
              "LIFECYCLE_CA_PYTHON); the peer comparison is SKIPPED")
        return result
    result["peer"] = run_peer(arrow.to_pandas(), python)
    return result


def report(sizes: dict, times: dict, step: dict, j) -> None:
    facts = j.aggregate(journeys=j.count(), converting=j.converted.cast("int64").sum(),
                        conversions_value=j.value.sum()).execute().iloc[0]
    total = sum(times.values())
    print(f"\nsizes: {sizes['touchpoints']:,} touchpoints, {sizes['conversions']:,} conversions "
          f"-> {int(facts.journeys):,} journeys ({int(facts.converting):,} converting), "
          f"{step['distinct_paths']:,} distinct paths, {len(CHANNELS)} channels")
    print(f"journeys + seven models: {total:.1f} s (target < {TARGET_SECONDS:.0f} s: "
          f"{'met' if total < TARGET_SECONDS else 'MISSED'})")
    print(f"Markov step on distinct paths, ours (exact): {step['ours_seconds']:.3f} s best of 3 "
          f"({step['ours_cold']:.3f} s first call)")
    if "peer" not in step:
        return
    peer = step["peer"]
    print(f"Markov step, ChannelAttribution markov_model (simulated): {peer['seconds']:.3f} s; "
          f"ratio peer / ours = {peer['seconds'] / step['ours_seconds']:.1f}x")
    ours = attribution._markov_credit_frame(step["ours"], float(facts.converting),
                                            float(facts.conversions_value))
    theirs = pd.DataFrame({k: peer[k] for k in ("channel", "conversions", "value",
                                                "removal_effect")})
    both = ours.merge(theirs, on="channel", suffixes=("", "_ca"))
    both["diff_%"] = 100 * (both.conversions / both.conversions_ca - 1)
    print(both.round(4).to_string(index=False))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer-python", default=None)
    args = parser.parse_args(argv)
    python = peer_python(args.peer_python)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        sizes = generate(folder, args.rows, random_state=args.seed)
        print(f"generated {sizes['touchpoints']:,} touchpoints in "
              f"{time.perf_counter() - started:.1f} s (not part of the target)")
        times, j = pipeline(folder)
        step = markov_step(j, python)
        report(sizes, times, step, j)


if __name__ == "__main__":
    sys.exit(main())
