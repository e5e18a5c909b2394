"""Recency, frequency, monetary: scores, named segment maps, migration, concentration.

Scores are 1-5 quantile scores with 5 best (recency reversed: the most recent buyers get 5).
**Tie rule**: a customer's score is ``1 + floor(5 * share of customers strictly worse)``, so
equal values always get equal scores and a large block of ties (say 60 % of customers bought
once) shares one score; the next score up then skips the levels the block spans. With distinct
values the scores are exact quintiles.

Segment maps are data (a frame of score ranges), not code: :data:`RF_SEGMENTS` is the common
ten-segment R×F map, :data:`RFM_SEGMENTS` a map that also uses M, and any user frame with the
same columns works. :func:`check_segment_map` rejects maps that leave a score cell uncovered or
cover it twice at the same priority.
"""

from __future__ import annotations

import itertools

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from lifecycle._frames import finish, lazy, require
from lifecycle.purchases import customer_purchases
from lifecycle.schema import end_of

__all__ = [
    "RFM_SEGMENTS",
    "RF_SEGMENTS",
    "check_segment_map",
    "concentration",
    "concentration_summary",
    "migration",
    "rfm",
    "score",
    "segment",
    "segment_cells",
    "segment_summary",
    "transition_matrix",
]

_SCORES = range(1, 6)

RF_SEGMENTS = pd.DataFrame(
    [("Champions", 5, 5, 4, 5), ("Loyal customers", 3, 4, 4, 5),
     ("Potential loyalists", 4, 5, 2, 3), ("New customers", 5, 5, 1, 1),
     ("Promising", 4, 4, 1, 1), ("Need attention", 3, 3, 3, 3),
     ("About to sleep", 3, 3, 1, 2), ("Can't lose them", 1, 2, 5, 5),
     ("At risk", 1, 2, 3, 4), ("Hibernating", 1, 2, 1, 2)],
    columns=["segment", "r_min", "r_max", "f_min", "f_max"])
"""The common R×F map: ten named segments covering each of the 25 R×F cells once."""

RFM_SEGMENTS = pd.DataFrame(
    [("Champions", 1, 4, 5, 4, 5, 4, 5), ("Big spenders slipping", 2, 1, 2, 1, 5, 4, 5),
     ("Loyal", 3, 3, 5, 3, 5, 1, 5), ("New and promising", 4, 4, 5, 1, 2, 1, 5),
     ("Lapsing", 5, 1, 2, 1, 5, 1, 3), ("Occasional", 6, 3, 3, 1, 2, 1, 5)],
    columns=["segment", "priority", "r_min", "r_max", "f_min", "f_max", "m_min", "m_max"])
"""A value-aware map on R, F and M; overlaps resolved by ``priority`` (1 wins)."""


def rfm(transactions, *, as_of, monetary: str = "total", customer_col: str = "customer_id",
        ts_col: str = "ts", amount_col: str = "amount"):
    """Recency, frequency and monetary value per customer.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        Columns ``customer_col``, ``ts_col``, ``amount_col``. Rows after ``as_of`` are ignored.
    as_of : timestamp-like
        The reference date; recency counts days from the last purchase day to it.
    monetary : {"total", "mean"}
        Total spend or mean spend per purchase day.

    Returns
    -------
    Same kind as the input, one row per buyer: ``customer_id, recency, frequency,
    monetary`` with recency in days since the last purchase day, frequency in purchase days
    and monetary the net spend (returns included, whenever booked), in total or per purchase
    day. Purchase days are those of :mod:`lifecycle.purchases`.

    Examples
    --------
    Customer a returns 5 of the 35 bought, ten days after the last purchase:

    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "a", "b"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-10",
    ...                                          "2024-01-20", "2024-01-05"]),
    ...                    "amount": [10.0, 5.0, 20.0, -5.0, 8.0]})
    >>> rfm(tx, as_of="2024-01-31")
      customer_id  recency  frequency  monetary
    0           a       21          2      30.0
    1           b       26          1       8.0
    """
    if monetary not in ("total", "mean"):
        raise ValueError(f"monetary must be 'total' or 'mean', not {monetary!r}")
    t, eager = lazy(transactions)
    require(t, "transactions", [customer_col, ts_col, amount_col])
    as_of = pd.Timestamp(as_of)
    per = customer_purchases(t, end=as_of, customer_col=customer_col, ts_col=ts_col,
                             amount_col=amount_col)
    per = per.filter(per.purchase_days > 0)
    out = per.select(
        customer_id=per.customer_id,
        recency=(ibis.literal(as_of.date()) - per.last_day).cast("int64"),
        frequency=per.purchase_days,
        monetary=per.net_spend if monetary == "total" else per.net_spend / per.purchase_days,
    ).order_by("customer_id")
    return finish(out, eager)


def _quantile_score(col: ir.Column, *, higher_is_better: bool, bins: int = 5) -> ir.Column:
    key = col if higher_is_better else col.desc()
    worse = ibis.rank().over(order_by=key)  # rows strictly worse (min rank, 0-based)
    n = col.count().over()
    return ibis.least(bins, (worse * bins / n).floor().cast("int64") + 1)


def score(table, *, recency_col: str = "recency", frequency_col: str = "frequency",
          monetary_col: str = "monetary"):
    """Add 1-5 scores ``r``, ``f``, ``m`` (5 best) to an :func:`rfm` table.

    Equal values get equal scores (see the module's tie rule).

    Examples
    --------
    >>> t = pd.DataFrame({"customer_id": list("abcde"), "recency": [1, 5, 5, 9, 30],
    ...                   "frequency": [4, 1, 1, 2, 1], "monetary": [90., 10, 20, 30, 40]})
    >>> score(t)[["customer_id", "r", "f", "m"]]
      customer_id  r  f  m
    0           a  5  5  5
    1           b  3  1  1
    2           c  3  1  2
    3           d  2  4  3
    4           e  1  1  4
    """
    t, eager = lazy(table)
    require(t, "rfm", [recency_col, frequency_col, monetary_col])
    out = t.mutate(r=_quantile_score(t[recency_col], higher_is_better=False),
                   f=_quantile_score(t[frequency_col], higher_is_better=True),
                   m=_quantile_score(t[monetary_col], higher_is_better=True))
    return finish(out.order_by(t.columns[0]), eager)


def check_segment_map(segment_map: pd.DataFrame) -> pd.DataFrame:
    """Validate a segment map and return it with a ``priority`` column.

    A map has ``segment`` and ``r_min, r_max, f_min, f_max`` (and optionally ``m_min, m_max``
    and ``priority``; lower priority wins where rules overlap). Every score cell must be
    covered, and no cell by two rules of the same priority.

    Examples
    --------
    >>> check_segment_map(RF_SEGMENTS).shape
    (10, 6)
    >>> check_segment_map(RF_SEGMENTS.iloc[1:])
    Traceback (most recent call last):
    ...
    ValueError: segment map leaves 2 score cells uncovered, e.g. (r=5, f=4), (r=5, f=5)
    """
    dims = ["r", "f", "m"] if {"m_min", "m_max"} <= set(segment_map.columns) else ["r", "f"]
    needed = ["segment", *[f"{d}_{e}" for d in dims for e in ("min", "max")]]
    missing = [c for c in needed if c not in segment_map.columns]
    if missing:
        raise ValueError(f"segment map lacks columns {missing}")
    rules = segment_map.assign(priority=segment_map.get("priority", 1)).reset_index(drop=True)
    uncovered, clashes = [], []
    for cell in itertools.product(_SCORES, repeat=len(dims)):
        inside = np.logical_and.reduce([(rules[f"{d}_min"] <= v) & (v <= rules[f"{d}_max"])
                                        for d, v in zip(dims, cell, strict=True)])
        hits = rules[inside]
        label = ", ".join(f"{d}={v}" for d, v in zip(dims, cell, strict=True))
        if hits.empty:
            uncovered.append(f"({label})")
        elif (hits.priority == hits.priority.min()).sum() > 1:
            top = hits[hits.priority == hits.priority.min()].segment
            clashes.append(f"({label}): {' / '.join(top)}")
    if uncovered:
        raise ValueError(f"segment map leaves {len(uncovered)} score cells uncovered, e.g. "
                         f"{', '.join(uncovered[:3])}")
    if clashes:
        raise ValueError(f"segment map is ambiguous in {len(clashes)} score cells, e.g. "
                         f"{'; '.join(clashes[:3])}; give the rules different priorities")
    return rules[[*needed, "priority"]]


def segment(scores, segment_map: pd.DataFrame = RF_SEGMENTS, *, segment_col: str = "segment"):
    """Name each customer's segment from its ``r``, ``f`` (and ``m``) scores.

    Examples
    --------
    >>> s = pd.DataFrame({"customer_id": ["a", "b", "c"], "r": [5, 1, 3], "f": [5, 1, 3]})
    >>> segment(s).segment.tolist()
    ['Champions', 'Hibernating', 'Need attention']
    """
    rules = check_segment_map(segment_map).sort_values("priority", kind="stable")
    t, eager = lazy(scores)
    dims = [d for d in ("r", "f", "m") if f"{d}_min" in rules.columns]
    require(t, "scores", dims)
    cases = ibis.cases(*[
        (ibis.and_(*[t[d].between(int(rule[f"{d}_min"]), int(rule[f"{d}_max"])) for d in dims]),
         rule["segment"]) for _, rule in rules.iterrows()])
    return finish(t.mutate(**{segment_col: cases}), eager)


def segment_summary(segments: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers, their share, mean recency / frequency / monetary, value share.

    Examples
    --------
    >>> s = pd.DataFrame({"segment": ["A", "A", "B"], "recency": [1, 3, 90],
    ...                   "frequency": [4, 2, 1], "monetary": [300.0, 100, 100]})
    >>> segment_summary(s)
             customers  share  recency  frequency  monetary  value_share
    segment
    A                2   0.67      2.0        3.0     200.0          0.8
    B                1   0.33     90.0        1.0     100.0          0.2
    """
    out = segments.groupby("segment").agg(
        customers=("segment", "size"), recency=("recency", "mean"),
        frequency=("frequency", "mean"), monetary=("monetary", "mean"),
        total=("monetary", "sum"))
    out[["recency", "frequency", "monetary"]] = out[["recency", "frequency", "monetary"]].round(1)
    out.insert(1, "share", (out.customers / out.customers.sum()).round(2))
    out["value_share"] = (out.pop("total") / segments.monetary.sum()).round(2)
    return out.sort_values("customers", ascending=False)


def segment_cells(scores, segment_map: pd.DataFrame = RF_SEGMENTS) -> pd.DataFrame:
    """Customers per R×F cell with the cell's segment name: the data of the segment map.

    Examples
    --------
    >>> s = pd.DataFrame({"r": [5, 5, 1], "f": [5, 5, 1]})
    >>> cells = segment_cells(s)
    >>> len(cells), int(cells.customers.sum())
    (25, 3)
    >>> cells.query("r == 5 and f == 5")[["segment", "customers"]].values.tolist()
    [['Champions', 2]]
    """
    if "m_min" in segment_map.columns:
        raise ValueError("a segment map on R, F and M has no R×F picture; pass an R×F map")
    t, _ = lazy(scores)
    counts = t.group_by(["r", "f"]).aggregate(customers=t.count()).execute()
    grid = pd.DataFrame(list(itertools.product(_SCORES, _SCORES)), columns=["r", "f"])
    named = segment(grid, segment_map)
    return (named.merge(counts, on=["r", "f"], how="left")
            .fillna({"customers": 0}).astype({"customers": "int64"}))


def migration(transactions, *, start, end, segment_map: pd.DataFrame = RF_SEGMENTS,
              customer_col: str = "customer_id", ts_col: str = "ts",
              amount_col: str = "amount") -> pd.DataFrame:
    """Each customer's segment at two dates (``"(not yet a customer)"`` before the first buy).

    Returns a pandas frame ``customer_id, segment_start, segment_end``; scores at each date
    rank customers among those who had bought by then.
    """
    cols = dict(customer_col=customer_col, ts_col=ts_col, amount_col=amount_col)
    frames = []
    for when, name in ((start, "segment_start"), (end, "segment_end")):
        seg = segment(score(rfm(transactions, as_of=when, **cols)), segment_map)
        seg = seg.execute() if isinstance(seg, ir.Table) else seg
        frames.append(seg.set_index("customer_id")["segment"].rename(name))
    out = pd.concat(frames, axis=1).fillna("(not yet a customer)")
    return out.rename_axis("customer_id").reset_index()


def transition_matrix(moves: pd.DataFrame, *, normalize: bool = False) -> pd.DataFrame:
    """Counts (or row shares) of customers moving from ``segment_start`` to ``segment_end``.

    Examples
    --------
    >>> m = pd.DataFrame({"segment_start": ["A", "A", "B"], "segment_end": ["A", "B", "B"]})
    >>> transition_matrix(m)
    segment_end    A  B
    segment_start
    A              1  1
    B              0  1
    """
    return pd.crosstab(moves.segment_start, moves.segment_end,
                       normalize="index" if normalize else False)


def concentration(transactions, *, as_of=None, value_col: str = "amount",
                  customer_col: str = "customer_id", ts_col: str = "ts") -> pd.DataFrame:
    """The concentration ("Lorenz") curve of a value over customers, largest first.

    Net value per customer (revenue with ``value_col="amount"``, margin with ``"margin"``);
    customers whose net is negative count as zero. Returns ``customer_id, value,
    customer_share, value_share`` (cumulative shares, from the top customer down).

    Examples
    --------
    >>> tx = pd.DataFrame({"customer_id": list("abcd"), "ts": pd.Timestamp("2024-01-01"),
    ...                    "amount": [80.0, 10.0, 10.0, 0.0]})
    >>> concentration(tx)[["customer_share", "value_share"]].values.tolist()
    [[0.25, 0.8], [0.5, 0.9], [0.75, 1.0], [1.0, 1.0]]
    """
    t, _ = lazy(transactions)
    require(t, "transactions", [customer_col, ts_col, value_col])
    if as_of is not None:
        t = t.filter(t[ts_col] < end_of(as_of))
    per = t.group_by(customer_id=t[customer_col]).aggregate(value=t[value_col].sum())
    df = per.execute().assign(value=lambda d: d.value.clip(lower=0))
    df = df.sort_values(["value", "customer_id"], ascending=[False, True], ignore_index=True)
    total = df.value.sum()
    return df.assign(customer_share=np.arange(1, len(df) + 1) / len(df),
                     value_share=df.value.cumsum() / total if total > 0 else 0.0)


def concentration_summary(curve: pd.DataFrame, *, tops=(0.01, 0.05, 0.1, 0.2, 0.5)
                          ) -> pd.Series:
    """Share of value from the top x % of customers, and the Gini coefficient.

    Examples
    --------
    >>> curve = pd.DataFrame({"value": [80.0, 10, 10, 0]}).assign(
    ...     customer_share=[.25, .5, .75, 1], value_share=[.8, .9, 1, 1])
    >>> concentration_summary(curve, tops=(0.25,)).round(3).to_dict()
    {'top 25%': 0.8, 'gini': 0.6}
    """
    out = {}
    for top in tops:
        k = max(1, int(np.ceil(top * len(curve))))
        out[f"top {top:.0%}"] = float(curve.value_share.iloc[k - 1])
    out["gini"] = gini(curve.value.to_numpy())
    return pd.Series(out)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 equal, towards 1 concentrated).

    Examples
    --------
    >>> gini(np.array([1.0, 1.0, 1.0])), round(gini(np.array([0, 0, 0, 1.0])), 2)
    (0.0, 0.75)
    """
    x = np.sort(np.asarray(values, dtype=float))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * (ranks * x).sum()) / (n * total) - (n + 1) / n)
