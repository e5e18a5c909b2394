"""What is a valuable customer: a weighted multi-criteria score a workshop can argue about.

Eight criteria, each measured per customer from the workspace tables:

=================  ==========================================================  =========
criterion          measure                                                     direction
=================  ==========================================================  =========
frequency          purchase days per year as a customer                        higher
margin             gross margin per year as a customer                         higher
acquisition_cost   what acquiring the customer cost                            lower
service_contacts   service contacts and complaints per year as a customer      lower
ideas              ideas and survey answers given                              higher
tenure             years since the customer relationship began                 higher
predicted_clv      BG/NBD + Gamma-Gamma lifetime value over the horizon        higher
advocacy           latest NPS answer (promoter +1, passive 0, detractor -1)    higher
                   plus referrals made
=================  ==========================================================  =========

Each measure is normalised to a percentile in [0, 1] among all customers (ties share a
percentile; ``direction = -1`` flips it so that 1 is always good). The score is the weighted
mean of the percentiles times 100. Weights, directions and the missing-data policy are rows of
a criteria table (:data:`CRITERIA`), so a workshop edits data, not code.

**Missing data** is explicit, per criterion (``missing`` column): a customer with no
observation (no NPS answer nor referral, no acquisition cost on file, no CLV prediction, no
margin data) gets ``"neutral"`` (percentile 0.5, the default), ``"worst"`` (0), or ``"skip"``
(the criterion is left out of that customer's weighted mean). Counts that are genuinely zero
(no service contacts, no ideas) are zeros, not missing. Per-year rates divide by at least a
quarter of a year, so a customer of one week with one purchase does not count as buying 52
times a year.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from lifecycle._frames import lazy, require
from lifecycle.purchases import customer_purchases
from lifecycle.schema import end_of

__all__ = ["CRITERIA", "criteria", "percentiles", "rank_changes", "score", "top_n_change"]

CRITERIA = pd.DataFrame(
    [("frequency", "Buys often enough", 1.0, 1, "neutral"),
     ("margin", "Buys the right products", 1.0, 1, "neutral"),
     ("acquisition_cost", "Is not too expensive to acquire", 1.0, -1, "neutral"),
     ("service_contacts", "Does not load customer service", 1.0, -1, "neutral"),
     ("ideas", "Gives product-development ideas", 1.0, 1, "neutral"),
     ("tenure", "Is loyal", 1.0, 1, "neutral"),
     ("predicted_clv", "Will buy in the future too", 1.0, 1, "neutral"),
     ("advocacy", "Speaks well of us", 1.0, 1, "neutral")],
    columns=["criterion", "question", "weight", "direction", "missing"])
"""The eight criteria with equal weights; copy and edit the ``weight`` column."""

_MISSING = {"neutral": 0.5, "worst": 0.0}
_MIN_YEARS = 0.25  # per-year rates use at least a quarter year of tenure


def criteria(customers, transactions, feedback, *, as_of, clv=None,
             customer_col: str = "customer_id", clv_col: str = "clv") -> pd.DataFrame:
    """Measure the eight criteria per customer (NaN where a customer has no observation).

    Parameters
    ----------
    customers : DataFrame or ibis.Table
        ``customer_id``, ``created_at``; ``acquisition_cost`` if known.
    transactions : DataFrame or ibis.Table
        ``customer_id``, ``ts``, ``amount``; ``margin`` if known.
    feedback : DataFrame or ibis.Table
        ``customer_id``, ``ts``, ``kind``, ``score`` (the NPS answer for kind ``nps``).
    as_of : timestamp-like
        Reference date; rows after it are ignored.
    clv : DataFrame, optional
        ``customer_id`` and ``clv_col`` (e.g. :func:`lifecycle.clv.customer_value`'s 12-month
        value); without it ``predicted_clv`` is missing for everybody.

    Returns
    -------
    pandas.DataFrame: ``customer_id`` (a column, rows sorted by it) and one column per
    criterion.

    Examples
    --------
    >>> customers = pd.DataFrame({"customer_id": ["a", "b"],
    ...     "created_at": pd.to_datetime(["2023-01-01", "2024-01-01"]),
    ...     "acquisition_cost": [20.0, None]})
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b"], "ts": pd.to_datetime(
    ...     ["2023-01-01", "2023-06-01", "2024-01-01"]), "amount": [100., 50, 80],
    ...     "margin": [30., 10, 20]})
    >>> fb = pd.DataFrame({"customer_id": ["a", "b"], "ts": pd.to_datetime(
    ...     ["2024-02-01", "2024-03-01"]), "kind": ["nps", "service_contact"],
    ...     "score": [10.0, None]})
    >>> m = criteria(customers, tx, fb, as_of="2024-12-31")
    >>> m[["customer_id", "frequency", "margin", "service_contacts", "tenure",
    ...    "advocacy"]].round(2)
      customer_id  frequency  margin  service_contacts  tenure  advocacy
    0           a        1.0   19.99               0.0     2.0       1.0
    1           b        1.0   19.96               1.0     1.0       NaN
    """
    end = end_of(as_of)
    c, _ = lazy(customers)
    require(c, "customers", [customer_col, "created_at"])
    c = c.filter(c.created_at < end)
    base = c.select(customer_id=c[customer_col], created_at=c.created_at,
                    acquisition_cost=c.acquisition_cost if "acquisition_cost" in c.columns
                    else ibis.null("float64")).execute().set_index("customer_id")
    tenure = (end - base.created_at) / pd.Timedelta(days=365.25)
    years = tenure.clip(lower=_MIN_YEARS)
    out = pd.DataFrame(index=base.index)
    buys = _purchases(transactions, as_of, customer_col)
    out["frequency"] = buys.days.reindex(out.index).fillna(0) / years
    out["margin"] = buys.margin.reindex(out.index) / years
    out["acquisition_cost"] = base.acquisition_cost.astype(float)
    said = _feedback(feedback, end, customer_col).reindex(out.index)
    out["service_contacts"] = said.service.fillna(0) / years
    out["ideas"] = said.ideas.fillna(0)
    out["tenure"] = tenure
    out["predicted_clv"] = (np.nan if clv is None else
                            clv.set_index(customer_col)[clv_col].reindex(out.index))
    out["advocacy"] = said.advocacy
    return out.sort_index().reset_index()


def _purchases(transactions, as_of, customer_col) -> pd.DataFrame:
    """Purchase days (:mod:`lifecycle.purchases`) and net margin per customer."""
    t, _ = lazy(transactions)
    require(t, "transactions", [customer_col, "ts", "amount"])
    if "margin" not in t.columns:
        t = t.mutate(margin=ibis.null("float64"))
    per = customer_purchases(t, end=as_of, customer_col=customer_col, totals=("margin",))
    return (per.select("customer_id", days=per.purchase_days, margin=per.margin).execute()
            .set_index("customer_id"))


def _feedback(feedback, end, customer_col) -> pd.DataFrame:
    f, _ = lazy(feedback)
    require(f, "feedback", [customer_col, "ts", "kind"])
    f = f.filter(f.ts < end)
    latest_nps = (f.filter(f.kind == "nps").mutate(
        last=ibis.row_number().over(group_by=f[customer_col], order_by=ibis.desc(f.ts)))
        .filter(ibis._.last == 0))
    promoter = ibis.cases((latest_nps.score >= 9, 1), (latest_nps.score <= 6, -1), else_=0)
    nps = latest_nps.select(customer_id=latest_nps[customer_col], nps=promoter).execute()
    counts = f.group_by(customer_id=f[customer_col]).aggregate(
        service=f.kind.isin(["service_contact", "complaint"]).cast("int64").sum(),
        ideas=f.kind.isin(["idea", "survey"]).cast("int64").sum(),
        referrals=(f.kind == "referral").cast("int64").sum()).execute()
    out = counts.merge(nps, on="customer_id", how="outer").set_index("customer_id")
    spoke = out.nps.notna() | (out.referrals.fillna(0) > 0)
    out["advocacy"] = (out.nps.fillna(0) + out.referrals.fillna(0)).where(spoke)
    return out


def score(measures: pd.DataFrame, weights: pd.DataFrame = CRITERIA, *,
          pct: pd.DataFrame | None = None) -> pd.DataFrame:
    """Weighted value score per customer, its components and the rank.

    Parameters
    ----------
    measures : pandas.DataFrame
        One row per customer: ``customer_id`` and one column per criterion (see
        :func:`criteria`).
    weights : pandas.DataFrame
        ``criterion, weight, direction`` (+1 higher is better, -1 lower is better) and
        ``missing`` (``neutral``, ``worst`` or ``skip``). Criteria absent from it are ignored.
    pct : pandas.DataFrame, optional
        :func:`percentiles` of ``measures``: pass them when only the weights change (the
        workshop's sliders) to skip ranking every customer again.

    Returns
    -------
    pandas.DataFrame, one row per customer in the order of ``measures``: ``customer_id``,
    ``score`` (0-100), ``rank`` (1 = most valuable, ties broken by id), and one column per
    criterion with its contribution in score points (the contributions add up to the score).

    Examples
    --------
    >>> m = pd.DataFrame({"customer_id": ["a", "b", "c"], "frequency": [1.0, 3.0, 2.0],
    ...                   "acquisition_cost": [10, 50, None]})
    >>> w = CRITERIA[CRITERIA.criterion.isin(m.columns)].assign(weight=[3.0, 1.0])
    >>> score(m, w).round(1)
      customer_id  score  rank  frequency  acquisition_cost
    0           a   25.0     3        0.0              25.0
    1           b   75.0     1       75.0               0.0
    2           c   50.0     2       37.5              12.5
    """
    require(measures, "measures", ["customer_id"])
    measures = measures.set_index("customer_id")
    w = _checked_weights(weights, measures)
    if pct is None:
        pct = percentiles(measures[w.criterion.tolist()].reset_index())
    pct = _oriented(pct.set_index("customer_id").reindex(measures.index), w)
    active = pct.notna().astype(float) * w.weight.to_numpy()
    total = active.sum(axis=1).replace(0, np.nan)
    parts = pct.fillna(0) * active.to_numpy() / total.to_numpy()[:, None] * 100
    out = pd.DataFrame({"score": parts.sum(axis=1).fillna(0)}, index=measures.index)
    order = out.assign(_id=out.index).sort_values(["score", "_id"], ascending=[False, True])
    out["rank"] = pd.Series(np.arange(1, len(out) + 1), index=order.index).reindex(out.index)
    return pd.concat([out, parts], axis=1).reset_index()


def _checked_weights(weights: pd.DataFrame, measures: pd.DataFrame) -> pd.DataFrame:
    w = weights.copy()
    if "missing" not in w:
        w["missing"] = "neutral"
    unknown = sorted(set(w.criterion) - set(measures.columns))
    if unknown:
        raise ValueError(f"no measure for criteria {unknown}; measures: {list(measures)}")
    bad = w[~w.direction.isin([1, -1]) | ~w.missing.isin(["neutral", "worst", "skip"])
            | (w.weight < 0) | ~np.isfinite(w.weight.astype(float))]
    if len(bad):
        raise ValueError(f"invalid criteria rows (direction ±1, missing neutral/worst/skip, "
                         f"weight finite and >= 0):\n{bad.to_string(index=False)}")
    if w.weight.sum() <= 0:
        raise ValueError("at least one criterion needs a positive weight")
    return w.reset_index(drop=True)


def percentiles(measures: pd.DataFrame) -> pd.DataFrame:
    """Each customer's percentile on each measure among the customers who have one: 0 for
    the lowest, 1 for the highest, ties sharing their middle percentile, NaN where missing.

    Examples
    --------
    >>> percentiles(pd.DataFrame({"customer_id": list("abcd"),
    ...                           "frequency": [1.0, 3.0, 3.0, None]}))
      customer_id  frequency
    0           a       0.00
    1           b       0.75
    2           c       0.75
    3           d        NaN
    """
    require(measures, "measures", ["customer_id"])
    out = {"customer_id": measures.customer_id.to_numpy()}
    for name in measures.columns.drop("customer_id"):
        col = measures[name].astype(float)
        below = col.rank(method="min") - 1
        ties = col.rank(method="max") - below
        out[name] = ((below + (ties - 1) / 2) / max(col.notna().sum() - 1, 1)).to_numpy()
    return pd.DataFrame(out, index=measures.index)


def _oriented(pct: pd.DataFrame, w: pd.DataFrame) -> pd.DataFrame:
    """Percentiles with 1 = best (the criterion's direction) and the policy for the missing."""
    return pd.DataFrame({row.criterion: (pct[row.criterion] if row.direction == 1 else
                                         1 - pct[row.criterion]).fillna(
                                             _MISSING.get(row.missing, np.nan))
                         for row in w.itertuples()}, index=pct.index)


def rank_changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Each customer's rank under two weightings (:func:`score` outputs) and the move
    (positive = moved up): ``customer_id, rank_before, rank_after, move``."""
    moves = pd.merge(before[["customer_id", "rank"]], after[["customer_id", "rank"]],
                     on="customer_id", suffixes=("_before", "_after"), validate="one_to_one")
    return moves.assign(move=moves.rank_before - moves.rank_after)


def top_n_change(before: pd.DataFrame, after: pd.DataFrame, n: int = 100) -> pd.Series:
    """How much the top-N list changes between two weightings.

    Returns the number kept, entered and left, the share kept, and the Spearman correlation
    of all ranks.

    Examples
    --------
    >>> a = pd.DataFrame({"customer_id": list("wxyz"), "rank": [1, 2, 3, 4]})
    >>> b = pd.DataFrame({"customer_id": list("wxyz"), "rank": [2, 1, 4, 3]})
    >>> top_n_change(a, b, n=2).to_dict()
    {'n': 2.0, 'kept': 2.0, 'entered': 0.0, 'left': 0.0, 'share_kept': 1.0, 'spearman': 0.6}
    """
    top_a = set(before.customer_id[before["rank"] <= n])
    top_b = set(after.customer_id[after["rank"] <= n])
    r = rank_changes(before, after)
    spearman = r.rank_before.corr(r.rank_after, method="spearman")
    return pd.Series({"n": n, "kept": len(top_a & top_b), "entered": len(top_b - top_a),
                      "left": len(top_a - top_b), "share_kept": len(top_a & top_b) / max(n, 1),
                      "spearman": round(float(spearman), 6)}, dtype=float)
