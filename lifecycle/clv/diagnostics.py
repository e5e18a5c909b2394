"""Model diagnostics as tidy frames for :mod:`lifecycle.plots`: holdout purchases by
frequency, the P(alive) grid, cumulative repeat purchases."""

from __future__ import annotations

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from lifecycle._frames import lazy, require
from lifecycle.clv._kernels import (
    _BG_COLUMNS,
    _alive_purchases,
    _check_unit,
    _eager,
    _fitted,
    _fitted_unit,
    _group,
    _p_alive,
    _unit_days,
    _validate,
)
from lifecycle.clv.bgnbd import BetaGeoModel
from lifecycle.clv.summaries import _day, _purchase_days

__all__ = ["cumulative_repeat_purchases", "holdout_by_frequency", "p_alive_matrix"]


def holdout_by_frequency(cal_holdout, *, model: BetaGeoModel,
                         max_frequency: int = 7) -> pd.DataFrame:
    """Mean holdout purchases per calibration frequency: actual against predicted.

    Parameters
    ----------
    cal_holdout : pandas.DataFrame or ibis.Table
        A :func:`calibration_holdout` frame (``frequency, recency, T, frequency_holdout,
        duration_holdout``) in the model's time unit.
    model : BetaGeoModel
        Fitted on the calibration columns of ``cal_holdout``.
    max_frequency : int
        Calibration frequencies from this one up are pooled (labelled ``"7+"``).

    Returns
    -------
    pandas.DataFrame
        One row per calibration frequency: ``frequency``, ``label``, ``customers``, ``actual``
        and ``predicted`` (mean purchase days in the holdout period).

    Examples
    --------
    >>> from lifecycle.clv import calibration_holdout
    >>> from lifecycle.datasets import load_cdnow
    >>> ch = calibration_holdout(load_cdnow(), calibration_end="1997-09-30",
    ...                          observation_end="1998-06-30")
    >>> holdout_by_frequency(ch, model=BetaGeoModel().fit(ch), max_frequency=3).round(2)
       frequency label  customers  actual  predicted
    0          0     0       1411    0.24       0.23
    1          1     1        439    0.70       0.52
    2          2     2        214    1.39       1.04
    3          3    3+        293    3.22       3.01
    """
    frame = _eager(cal_holdout)
    _check_unit(frame, _fitted_unit(model))
    require(frame, "cal_holdout", ["frequency_holdout", "duration_holdout"])
    params, v = _fitted(model), _validate(frame, _BG_COLUMNS)
    x, T = v["frequency"], v["T"]
    duration = frame["duration_holdout"].to_numpy(dtype="float64")
    key, first = _group(x, T, duration)
    alive = _alive_purchases(params, duration[first], x[first], T[first])[key]
    per = pd.DataFrame({"frequency": np.minimum(x, max_frequency).astype("int64"),
                        "actual": frame["frequency_holdout"].to_numpy(dtype="float64"),
                        "predicted": alive * _p_alive(params, x, v["recency"], T)})
    out = per.groupby("frequency", as_index=False).agg(
        customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean"))
    out.insert(1, "label", [f"{f}+" if f == max_frequency else str(f) for f in out["frequency"]])
    return out


def p_alive_matrix(model: BetaGeoModel, *, max_frequency: int | None = None,
                   max_recency: float | None = None) -> pd.DataFrame:
    """P(alive) on a grid of frequency and recency, for customers of age ``max_recency``.

    Parameters
    ----------
    model : BetaGeoModel
        Fitted.
    max_frequency : int, optional
        Largest frequency on the grid (default: the largest fitted one).
    max_recency : float, optional
        Largest recency, also the customers' age T (default: the largest fitted T); recency
        runs from 0 in steps of one time unit.

    Returns
    -------
    pandas.DataFrame
        ``frequency``, ``recency``, ``T``, ``p_alive``, one row per grid cell.

    Examples
    --------
    >>> from lifecycle.clv import calibration_holdout
    >>> from lifecycle.datasets import load_cdnow
    >>> ch = calibration_holdout(load_cdnow(), calibration_end="1997-09-30",
    ...                          observation_end="1998-06-30")
    >>> grid = p_alive_matrix(BetaGeoModel().fit(ch), max_frequency=3, max_recency=30)
    >>> matrix = grid.pivot(index="frequency", columns="recency", values="p_alive")
    >>> matrix[[0.0, 10.0, 30.0]].round(2)
    recency    0.0   10.0  30.0
    frequency
    0          1.00  1.00  1.00
    1          0.19  0.51  0.75
    2          0.04  0.38  0.81
    3          0.01  0.25  0.85
    """
    params = _fitted(model)
    f_max = model.max_frequency_ if max_frequency is None else int(max_frequency)
    age = float(model.max_T_ if max_recency is None else max_recency)
    freq, rec = np.meshgrid(np.arange(f_max + 1), np.append(np.arange(0, age, 1.0), age),
                            indexing="ij")
    freq, rec = freq.ravel(), rec.ravel()
    return pd.DataFrame({"frequency": freq, "recency": rec, "T": age,
                         "p_alive": _p_alive(params, freq, rec, age)})


def cumulative_repeat_purchases(transactions, *, model: BetaGeoModel, observation_end,
                                customer_col: str = "customer_id", ts_col: str = "ts",
                                amount_col: str = "amount") -> pd.DataFrame:
    """Cumulative repeat purchases of the customer base over time: actual against expected.

    Actual: repeat purchase days (all purchase days after each customer's first) up to each
    date. Expected: the sum over customers, by first-purchase day, of the model's expected
    repeat purchases of a new customer of that age. Read the curves after the calibration end.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        Columns ``customer_col``, ``ts_col``, ``amount_col``; counted in its backend per day.
    model : BetaGeoModel
        Fitted (usually on the calibration period).
    observation_end : date-like
        Last day shown, inclusive.

    Returns
    -------
    pandas.DataFrame
        One row per time unit from the first purchase on: ``date`` (end of the unit, inclusive),
        ``t`` (time units since the first purchase), ``actual`` and ``expected``.

    Examples
    --------
    >>> tx = pd.DataFrame({"customer_id": list("aaabbc"),
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-06",
    ...                                          "2024-01-02", "2024-01-04", "2024-01-03"]),
    ...                    "amount": 10.0})
    >>> from lifecycle.clv import summary
    >>> bg = BetaGeoModel(time_unit="D").fit(summary(tx, as_of="2024-01-06", time_unit="D"))
    >>> cumulative_repeat_purchases(tx, model=bg, observation_end="2024-01-06").round(
    ...     {"expected": 2})
            date    t  actual  expected
    0 2024-01-02  1.0     0.0      0.25
    1 2024-01-03  2.0     1.0      0.75
    2 2024-01-04  3.0     2.0      1.50
    3 2024-01-05  4.0     2.0      2.25
    4 2024-01-06  5.0     3.0      3.00
    """
    params = _fitted(model)
    unit = _unit_days(model.time_unit_)
    t, _ = lazy(transactions)
    require(t, "transactions", [customer_col, ts_col, amount_col])
    end = observation_end
    days = _purchase_days(t, end=end, customer_col=customer_col, ts_col=ts_col,
                          amount_col=amount_col)
    firsts = days.group_by("customer_id").aggregate(day=days.day.min())
    births = _per_day(firsts)
    purchases = _per_day(days)
    start = births.index.min()
    steps = np.arange(1, int((pd.Timestamp(_day(end)) - start).days // unit) + 1)
    dates = start + pd.to_timedelta(steps * unit, unit="D")
    ages = (dates.to_numpy()[:, None] - births.index.to_numpy()[None, :]) / pd.Timedelta(days=1)
    expected = np.einsum("ij,j->i", _alive_purchases(params, np.maximum(ages, 0) / unit, 0.0, 0.0),
                         births.to_numpy())
    repeats = (purchases.sub(births, fill_value=0)).cumsum()
    actual = repeats.reindex(repeats.index.union(dates)).ffill().fillna(0).loc[dates]
    return pd.DataFrame({"date": dates, "t": steps * 1.0, "actual": actual.to_numpy(),
                         "expected": expected})


def _per_day(table: ir.Table) -> pd.Series:
    """Rows per ``day`` of a table, as a float Series on a sorted DatetimeIndex."""
    counts = table.group_by("day").aggregate(n=table.count()).execute()
    index = pd.DatetimeIndex(pd.to_datetime(counts["day"]), name="day")
    return pd.Series(counts["n"].to_numpy(dtype="float64"), index=index).sort_index()
