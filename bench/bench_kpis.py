"""Message KPIs on 10 M messages: lifecycle.kpis on DuckDB against the same counts in pandas.

The messages (and consents, for open reach) are generated with numpy and written to Parquet;
lifecycle reads them as DuckDB tables (the per-row work stays in the database, only one row per
group comes back), pandas reads the Parquet into memory first (its read time is counted: a
workspace's messages are on disk either way). The pandas version is what an analyst would write
for the same columns: flags per row, then ``groupby().sum()``.

Usage::

    python bench/bench_kpis.py                      # 10,000,000 messages
    python bench/bench_kpis.py --messages 1000000   # quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2025-01-01")


def generate(n: int, *, customers: int | None = None, random_state: int = 0) -> tuple[
        pd.DataFrame, pd.DataFrame]:
    """``n`` e-mail messages over a year (newsletters and a welcome series) and the consents."""
    rng = np.random.default_rng(random_state)
    customers = customers or max(1, n // 20)
    cust = rng.integers(0, customers, n)
    sent = START + pd.to_timedelta(rng.integers(0, 365 * 24, n), unit="h")
    bounce = np.where(rng.random(n) < 0.02, np.where(rng.random(n) < 0.5, "hard", "soft"), None)
    ok = bounce == None  # noqa: E711 (element-wise)
    opened = ok & (rng.random(n) < 0.3)
    clicked = opened & (rng.random(n) < 0.15)
    later = pd.to_timedelta(rng.exponential(3.0, n), unit="h")
    campaign = rng.choice(["newsletter", "welcome", "winback", "cross_sell"], n,
                          p=[0.7, 0.1, 0.1, 0.1])
    messages = pd.DataFrame({
        "message_id": np.char.add("m", np.arange(n).astype(str)),
        "customer_id": np.char.add("c", cust.astype(str)),
        "sent_at": sent, "campaign_id": campaign,
        "cell_id": np.char.add(campaign, np.where(rng.random(n) < 0.5, "_A", "_B")),
        "delivered": ok, "bounce": bounce,
        "opened_at": pd.Series(sent + later).where(opened),
        "clicked_at": pd.Series(sent + later * 1.5).where(clicked),
        "unsubscribed_at": pd.Series(sent + later).where(ok & (rng.random(n) < 0.002)),
        "complained_at": pd.Series(sent + later).where(ok & (rng.random(n) < 0.0005)),
        "machine_open": opened & (rng.random(n) < 0.35)})
    granted = START - pd.to_timedelta(rng.integers(0, 700, customers), unit="D")
    revoked = pd.Series(START + pd.to_timedelta(rng.integers(0, 365, customers), unit="D"))
    consents = pd.DataFrame({"customer_id": np.char.add("c", np.arange(customers).astype(str)),
                             "channel": "email", "granted_at": granted,
                             "revoked_at": revoked.where(rng.random(customers) < 0.15)})
    return messages, consents


def ours(folder: Path) -> tuple[float, float, pd.DataFrame]:
    import ibis

    from lifecycle.kpis import message_kpis, open_reach

    con = ibis.duckdb.connect()
    m = con.read_parquet(folder / "messages.parquet")
    c = con.read_parquet(folder / "consents.parquet")
    started = time.perf_counter()
    kpis = message_kpis(m, by=["campaign_id", "cell_id", "period"])
    middle = time.perf_counter()
    open_reach(m, c, start=START, end=START + pd.DateOffset(years=1))
    return middle - started, time.perf_counter() - middle, kpis


def peer(folder: Path) -> tuple[float, pd.DataFrame]:
    started = time.perf_counter()
    m = pd.read_parquet(folder / "messages.parquet")
    delivered = m.delivered.fillna(m.bounce.isna())
    clicked = delivered & m.clicked_at.notna()
    opened = delivered & (m.opened_at.notna() | clicked)
    flags = pd.DataFrame({
        "campaign_id": m.campaign_id, "cell_id": m.cell_id,
        "period": m.sent_at.dt.to_period("M").dt.start_time, "sent": 1,
        "delivered": delivered, "hard_bounces": m.bounce == "hard",
        "soft_bounces": m.bounce == "soft", "opens": opened,
        "machine_opens": opened & ~clicked & m.machine_open.fillna(False).astype(bool),
        "clicks": clicked, "unsubscribes": delivered & m.unsubscribed_at.notna(),
        "complaints": delivered & m.complained_at.notna()})
    out = flags.groupby(["campaign_id", "cell_id", "period"], as_index=False).sum()
    out = out.assign(open_rate=out.opens / out.delivered, ctr=out.clicks / out.delivered)
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        made = time.perf_counter()
        messages, consents = generate(args.messages)
        messages.to_parquet(folder / "messages.parquet", index=False)
        consents.to_parquet(folder / "consents.parquet", index=False)
        del messages
        print(f"{args.messages:,} messages, {len(consents):,} consents "
              f"(generated in {time.perf_counter() - made:.0f} s)")
        kpi_s, reach_s, kpis = ours(folder)
        peer_s, theirs = peer(folder)
    same = np.array_equal(kpis.opens.to_numpy(), theirs.opens.to_numpy()) and \
        np.array_equal(kpis.clicks.to_numpy(), theirs.clicks.to_numpy())
    print(f"lifecycle message_kpis (campaign x cell x month): {kpi_s:6.2f} s")
    print(f"lifecycle open_reach (12 months):                 {reach_s:6.2f} s")
    print(f"pandas, read + flags + groupby:                   {peer_s:6.2f} s "
          f"({peer_s / kpi_s:.1f}x lifecycle's message_kpis)")
    print("the two agree on opens and clicks per group" if same else "COUNTS DISAGREE")


if __name__ == "__main__":
    main()
