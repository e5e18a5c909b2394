"""Customer lifetime value: purchase summaries, BG/NBD, Gamma-Gamma and discounted CLV.

The only module that imports ``lifetimes``, and only inside functions (``lifetimes`` sets a global
warnings filter at import).

**Purchase days.** Transactions are counted once per customer-day, as in the Fader-Hardie papers
and ``lifetimes``: a day's spend is the net of all its rows (returns are negative rows and reduce
the spend of the day they are booked on). A day is a *purchase day* when its net spend is
positive, or zero without any return on it (a free item is a purchase; a day whose purchases are
fully refunded is not). Days that net negative (returns of earlier purchases) are not purchase
days and do not reduce the spend of earlier days. Customers without any purchase day are absent.

**Summary** (one row per customer, the lifetimes / Fader-Hardie sense), for an ``as_of`` day that
is the last observed day, inclusive (later transactions are ignored; a timestamp ``as_of`` cuts at
that instant like everywhere in the library, ``ts < schema.end_of(as_of)``):

- ``frequency``: purchase days after the first one (repeat purchases);
- ``recency``: first to last purchase day; ``T``: first purchase day to ``as_of``;
- ``monetary_value``: mean spend of the repeat purchase days (0 when frequency is 0).

Durations are in the *time unit* of the analysis: ``"D"`` (days) or ``"W"`` (weeks = days / 7).
A model fitted on a summary predicts in that unit; its ``time_unit`` must match.

**Fitting.** Both likelihoods depend on the data only through distinct (frequency, recency, T)
triples, and (frequency, monetary value) pairs for Gamma-Gamma: the fits run on the distinct ones
with counts as weights (Gamma-Gamma on a pandas summary takes the repeat buyers' rows as they
are: spend is continuous, nearly every pair is distinct). The objective is exactly ``lifetimes``'
(mean negative log-likelihood per customer plus ``penalizer * sum(params**2)``, BG/NBD durations
rescaled so that the largest T is 1). By default (``engine="numpy"``) it is minimised here with
analytic gradients, from ``lifetimes``' starting point with its optimiser settings;
``engine="lifetimes"`` runs ``lifetimes``' own fitters on the same weighted rows. Both reach the
same optimum (tests and ``bench/bench_clv.py`` check it); the numpy engine is the fast one
(``lifetimes`` also evaluates an autograd Hessian over all rows: seconds at millions of rows).

**CLV.** ``clv_<h>m = expected spend per purchase * sum over months k = 1..h of the expected
purchases in month k / (1 + discount_rate) ** (k / 12)``. ``discount_rate`` is an **annual**
rate (0.10 = 10 % a year), applied monthly at each month's end; ``lifetimes``' monthly 0.01 is an
annual 1.01**12 - 1 = 12.7 %. A month is 365.25 / 12 days (30.44), converted into the fit's time
unit (``lifetimes`` uses 30 days for daily data and 4.345 weeks for weekly data).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import optimize, special

from lifecycle._frames import lazy, require
from lifecycle.schema import DataError, Problem, end_of

__all__ = [
    "DAYS_PER_MONTH",
    "BetaGeoModel",
    "ConvergenceError",
    "GammaGammaModel",
    "NotFittedError",
    "calibration_holdout",
    "customer_value",
    "cumulative_repeat_purchases",
    "holdout_by_frequency",
    "lifetime_value",
    "p_alive_matrix",
    "summary",
]

DAYS_PER_MONTH = 365.25 / 12
"""Length of the CLV month in days."""

_UNIT_DAYS = {"D": 1.0, "W": 7.0}
_RETRY_PENALIZER = 1e-3


class ConvergenceError(RuntimeError):
    """A model fit did not converge, even after a retry with a small penalizer."""


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit``."""


# --------------------------------------------------------------------------------------------
# Summaries (ibis expressions, executed where the data lives)
# --------------------------------------------------------------------------------------------


def _unit_days(time_unit: str) -> float:
    if time_unit not in _UNIT_DAYS:
        raise ValueError(f"time_unit must be 'D' (days) or 'W' (weeks), not {time_unit!r}")
    return _UNIT_DAYS[time_unit]


def _day(value) -> _dt.date:
    """A date-like as a calendar day (a timestamp's time of day is dropped)."""
    return pd.Timestamp(value).date()


def _before(ts: ir.Column, as_of) -> ir.BooleanColumn:
    """``ts`` is observed as of ``as_of`` (the library's cut ``ts < end_of(as_of)``), compared
    as timestamps: no per-row date cast."""
    if ts.type().is_date():
        return ts <= _day(as_of)
    return ts < ibis.literal(end_of(as_of)).cast(ts.type())


def _purchase_days(t: ir.Table, *, end, start=None,
                   part: tuple[int, int] | None = None, customer_col: str, ts_col: str,
                   amount_col: str) -> ir.Table:
    """``customer_id, day, spend``: the purchase days observed as of ``end`` and not as of
    ``start`` (see the module doc).

    ``part=(i, k)`` keeps only the customers of hash bucket ``i`` of ``k``.
    """
    keep = _before(t[ts_col], end)
    if start is not None:
        keep &= ~_before(t[ts_col], start)
    if part is not None:
        keep &= _hash(t[customer_col].cast("string")) % part[1] == part[0]
    rows = t.filter(keep)
    ts = rows[ts_col]
    days = rows.group_by(customer_id=rows[customer_col].cast("string"),
                         day=ts if ts.type().is_date() else ts.date()).aggregate(
        spend=rows[amount_col].sum(), lowest=rows[amount_col].min())
    keep = (days.spend > 0) | ((days.spend == 0) & (days.lowest >= 0))
    return days.filter(keep).select("customer_id", "day", "spend")


@ibis.udf.scalar.builtin(name="hash")
def _hash(value: dt.string) -> dt.uint64:
    """The backend's own hash (ibis' ``hash()`` adds bit casts that cost DuckDB ~0.3 s per
    10 M rows)."""


@ibis.udf.agg.builtin(name="min_by")
def _min_by(arg: dt.float64, key: dt.date) -> dt.float64:
    """``arg`` of the row with the smallest ``key`` (DuckDB ``arg_min``, Spark ``min_by``).

    ibis' own ``argmin`` compiles to an ordered ``FIRST`` on DuckDB, which buffers and sorts every
    group: about twice the time and memory at millions of customers.
    """


def _summarise(days: ir.Table, *, end, unit: float) -> ir.Table:
    """Purchase days to one summary row per customer."""
    per = days.group_by("customer_id").aggregate(
        n=days.count(), first=days.day.min(), last=days.day.max(),
        total=days.spend.sum(), first_spend=_min_by(days.spend, days.day))
    repeat = per.n - 1
    return per.select(
        "customer_id",
        frequency=repeat.cast("int64"),
        recency=per.last.delta(per.first, unit="day").cast("float64") / unit,
        T=ibis.literal(_day(end)).delta(per.first, unit="day").cast("float64") / unit,
        monetary_value=ibis.ifelse(
            repeat > 0, ibis.greatest((per.total - per.first_spend) / repeat, 0.0), 0.0),
    )


_ROWS_PER_PASS = 3_000_000


def _collect(t: ir.Table, build, time_unit: str) -> pd.DataFrame:
    """Execute ``build(part)`` in customer hash buckets of at most ~3 M transactions each.

    Aggregating millions of customers at once makes the backend hold every (customer, day)
    group in memory (about 1.2 GB in DuckDB for 11 M transactions); buckets executed one after
    the other need one bucket's share, for ~0.2 s more per bucket. Each bucket's result is
    copied out of the backend's buffers at once (numbers straight into arrays sized for the
    worst case, of which only the used part is ever touched), so the backend reuses its memory
    for the next bucket. Returns pandas indexed by ``customer_id`` (rows in no particular
    order), with the time unit in ``attrs``.
    """
    n_rows = int(t.count().to_pyarrow().as_py())  # customers <= transactions
    k = max(1, min(64, -(-n_rows // _ROWS_PER_PASS)))
    ids, numbers, n = [], {}, 0
    for i in range(k):
        part = build(None if k == 1 else (i, k)).to_pyarrow()
        ids.append(_own(part.column("customer_id")))
        for name in part.column_names[1:]:
            column = part.column(name)
            target = numbers.setdefault(name, np.empty(n_rows, column.type.to_pandas_dtype()))
            start = n
            for chunk in column.chunks:
                target[start:start + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
                start += len(chunk)
        n += part.num_rows
        del part, column
    index = pd.Index(pa.chunked_array(ids, type=pa.string()).to_pandas(), name="customer_id")
    out = pd.DataFrame({name: a[:n] for name, a in numbers.items()}, index=index, copy=False)
    out.attrs["time_unit"] = time_unit
    return out


def _own(column: pa.ChunkedArray) -> pa.Array:
    """A copy of an Arrow column in pyarrow's own memory."""
    return pa.concat_arrays([*column.chunks, pa.array([], type=column.type)])


def summary(transactions, *, as_of, time_unit: str = "W", customer_col: str = "customer_id",
            ts_col: str = "ts", amount_col: str = "amount"):
    """Frequency, recency, T and monetary value per customer (the BG/NBD input).

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        Columns ``customer_col``, ``ts_col`` and ``amount_col`` (returns negative). Purchases are
        counted once per customer-day; see the module docstring for returns and zero amounts.
    as_of : date-like
        The last observed day, inclusive; later transactions are ignored (a timestamp cuts at
        that instant, the library's ``ts < schema.end_of(as_of)``; T counts days to its date).
    time_unit : {"W", "D"}
        Unit of ``recency`` and ``T``: weeks (days / 7) or days.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        pandas in: a frame indexed by ``customer_id`` with ``frequency`` (int), ``recency``,
        ``T`` and ``monetary_value``, rows in no particular order (sorting millions of ids
        takes seconds); ``attrs["time_unit"]`` records the unit.
        ibis in: the unexecuted expression with ``customer_id`` as a column.

    Examples
    --------
    >>> tx = pd.DataFrame({
    ...     "customer_id": ["a", "a", "a", "a", "b", "b"],
    ...     "ts": pd.to_datetime(["2024-01-01", "2024-01-08 10:00", "2024-01-08 15:00",
    ...                           "2024-01-15", "2024-01-10", "2024-02-01"], format="ISO8601"),
    ...     "amount": [10.0, 20.0, 10.0, 40.0, 5.0, 99.0]})
    >>> summary(tx, as_of="2024-01-22", time_unit="D").sort_index()
                 frequency  recency     T  monetary_value
    customer_id
    a                    2     14.0  21.0            35.0
    b                    0      0.0  12.0             0.0
    """
    unit, end = _unit_days(time_unit), as_of
    t, eager = lazy(transactions)
    require(t, "transactions", [customer_col, ts_col, amount_col])
    cols = {"customer_col": customer_col, "ts_col": ts_col, "amount_col": amount_col}

    def build(part):
        return _summarise(_purchase_days(t, end=end, part=part, **cols), end=end, unit=unit)

    return _collect(t, build, time_unit) if eager else build(None)


def calibration_holdout(transactions, *, calibration_end, observation_end, time_unit: str = "W",
                        customer_col: str = "customer_id", ts_col: str = "ts",
                        amount_col: str = "amount"):
    """The calibration summary plus each customer's purchases in the holdout period.

    Like ``lifetimes.utils.calibration_and_holdout_data``, without the ``_cal`` suffixes so the
    frame goes straight into :meth:`BetaGeoModel.fit` and the prediction methods.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        Columns ``customer_col``, ``ts_col``, ``amount_col``.
    calibration_end : date-like
        Last day of the calibration period (inclusive): the ``as_of`` of the summary.
    observation_end : date-like
        Last day of the holdout period (inclusive), after ``calibration_end``.
    time_unit : {"W", "D"}
        Unit of ``recency``, ``T`` and ``duration_holdout``.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        The :func:`summary` columns for customers whose first purchase is in the calibration
        period, plus ``frequency_holdout`` (purchase days in the holdout period),
        ``monetary_value_holdout`` (their mean spend, 0 without any) and ``duration_holdout``.

    Examples
    --------
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "c"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-02-05",
    ...                                          "2024-01-10", "2024-02-02"]),
    ...                    "amount": [10.0, 20.0, 30.0, 5.0, 7.0]})
    >>> ch = calibration_holdout(tx, calibration_end="2024-01-28", observation_end="2024-02-25")
    >>> ch[["frequency", "T", "frequency_holdout", "duration_holdout"]].sort_index().round(2)
                 frequency     T  frequency_holdout  duration_holdout
    customer_id
    a                    1  3.86                  1               4.0
    b                    0  2.57                  0               4.0
    """
    unit = _unit_days(time_unit)
    cal_end, obs_end = calibration_end, observation_end
    if pd.Timestamp(obs_end) <= pd.Timestamp(cal_end):
        raise ValueError(f"observation_end ({obs_end}) must be after calibration_end ({cal_end})")
    t, eager = lazy(transactions)
    require(t, "transactions", [customer_col, ts_col, amount_col])
    cols = {"customer_col": customer_col, "ts_col": ts_col, "amount_col": amount_col}

    def build(part):
        cal = _summarise(_purchase_days(t, end=cal_end, part=part, **cols), end=cal_end,
                         unit=unit)
        hold = _purchase_days(t, start=cal_end, end=obs_end, part=part, **cols)
        hold = hold.group_by("customer_id").aggregate(n=hold.count(), spend=hold.spend.mean())
        j = cal.left_join(hold, "customer_id")
        return j.select(*cal.columns, frequency_holdout=j.n.fill_null(0).cast("int64"),
                        monetary_value_holdout=j.spend.fill_null(0.0),
                        duration_holdout=ibis.literal(
                            (_day(obs_end) - _day(cal_end)).days / unit))

    return _collect(t, build, time_unit) if eager else build(None)


# --------------------------------------------------------------------------------------------
# Summary frames as model input: validation and distinct rows
# --------------------------------------------------------------------------------------------

_BG_COLUMNS = ["frequency", "recency", "T"]
_GG_COLUMNS = ["frequency", "monetary_value"]
_ALL_COLUMNS = [*_BG_COLUMNS, "monetary_value"]


def _eager(summary) -> pd.DataFrame:
    """A summary as pandas (an ibis summary is executed, indexed by customer_id)."""
    if isinstance(summary, ir.Table):
        return summary.execute().set_index("customer_id")
    if isinstance(summary, pd.DataFrame):
        return summary
    raise TypeError(f"expected a pandas DataFrame or an ibis Table, got {type(summary).__name__}")


def _numbers(column: pd.Series) -> np.ndarray:
    """A numeric column as a numpy array, without a copy when it already is one."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iuf":
        return column.to_numpy()
    return column.to_numpy(dtype="float64", na_value=np.nan)


def _validate(frame: pd.DataFrame, columns: list[str]) -> dict[str, np.ndarray]:
    """The columns as numeric arrays; :class:`DataError` for anything a model cannot take."""
    require(frame, "summary", columns)
    if len(frame) == 0:
        raise DataError([Problem("summary", columns[0], "no customers", 0)])
    v = {c: _numbers(frame[c]) for c in columns}
    problems = []

    def check(column, bad, rule):
        if bad.any():
            examples = frame[bad].head(5).reset_index()
            problems.append(Problem("summary", column, rule, int(bad.sum()), examples))

    for c, a in v.items():
        check(c, ~(a >= 0) | (np.isinf(a) if a.dtype.kind == "f" else False),
              "must be a finite number >= 0")
    x = v["frequency"]
    if x.dtype.kind == "f":
        check("frequency", np.floor(x) != x, "must be a whole number")
    if "recency" in v:
        recency, T = v["recency"], v["T"]
        late = recency > T
        if late.any():  # tolerate rounding noise
            late &= recency > T * (1 + 1e-9) + 1e-12
        check("recency", late, "must not exceed T")
        check("recency", (x == 0) & (recency != 0), "must be 0 when frequency is 0")
    if problems:
        raise DataError(problems)
    return v


_CHUNK = 1 << 20
_BLOCK = 1 << 18


def _group(*arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the distinct rows of ``arrays`` (0 .. k-1) and one row position per code.

    Works in place on one int64 key: a few million customers cost two arrays of temporaries.
    """
    n = len(arrays[0])
    key, size = np.zeros(n, dtype=np.int64), 1
    for a in arrays:
        codes, uniques = pd.factorize(a, use_na_sentinel=False)
        if size * len(uniques) >= 2**62:
            key = pd.factorize(key)[0]
            size = int(key.max()) + 1
        key *= len(uniques)
        key += codes
        size *= len(uniques)
        del codes
    if size <= min(n, 2**22):  # few combinations: dense codes without hashing
        dense = np.cumsum(np.bincount(key, minlength=size) > 0) - 1
        np.take(dense, key, out=key)
    else:
        key = pd.factorize(key)[0]
    rows = np.empty(int(key.max()) + 1 if n else 0, dtype=np.int64)
    for start in range(0, n, _CHUNK):  # any row of a group represents it
        stop = min(start + _CHUNK, n)
        rows[key[start:stop]] = np.arange(start, stop)
    return key, rows


def _distinct(summary, columns: list[str], *, repeat_only: bool = False):
    """Distinct rows of ``columns`` (validated arrays) and how many customers share each.

    An ibis summary is reduced in its backend; only the distinct rows come into Python. For
    the repeat buyers' (frequency, monetary value) of a pandas summary, the rows themselves
    with weight 1.
    """
    if isinstance(summary, ir.Table):
        s = summary.filter((summary.frequency > 0) & (summary.monetary_value > 0)) \
            if repeat_only else summary
        rows = s.group_by(columns).aggregate(_weight=s.count()).execute()
        v = {c: a.astype("float64", copy=False) for c, a in _validate(rows, columns).items()}
        return v, rows["_weight"].to_numpy(dtype="float64")
    v = _validate(_eager(summary), columns)
    if repeat_only:  # spend is continuous: nearly every pair is distinct, and hashing millions
        keep = (v["frequency"] > 0) & (v["monetary_value"] > 0)  # of floats costs ~100 MB
        return {c: a[keep].astype("float64") for c, a in v.items()}, np.ones(keep.sum())
    key, first = _group(*v.values())
    weights = np.bincount(key).astype("float64")
    return {c: a[first].astype("float64") for c, a in v.items()}, weights


def _check_unit(summary, time_unit: str) -> None:
    _unit_days(time_unit)
    attrs = summary.attrs if isinstance(summary, pd.DataFrame) else {}
    unit = attrs.get("time_unit", time_unit)
    if unit != time_unit:
        raise ValueError(f"the summary's durations are in {unit!r} but the model's time_unit is "
                         f"{time_unit!r}: build the summary with time_unit={time_unit!r} or set "
                         f"the model's time_unit={unit!r}")


# --------------------------------------------------------------------------------------------
# Likelihoods (exactly lifetimes' objectives) and their minimisation
# --------------------------------------------------------------------------------------------


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product without BLAS (whose threads spin for ms per call on a busy machine)."""
    return float(np.einsum("i,i->", a, b))


class _BgData(NamedTuple):
    x: np.ndarray
    tx: np.ndarray
    T: np.ndarray
    w: np.ndarray
    ux: np.ndarray  # distinct frequencies
    wx: np.ndarray  # total weight of each distinct frequency
    positive: np.ndarray


def _bg_data(x, tx, T, w) -> _BgData:
    ix, ux = pd.factorize(x)
    return _BgData(x, tx, T, w, ux, np.bincount(ix, weights=w, minlength=len(ux)), x > 0)


def _bg_nll(theta: np.ndarray, d: _BgData, penalizer: float) -> tuple[float, np.ndarray]:
    """BG/NBD weighted negative log-likelihood (FHL 2005 eq. 6) and its gradient in log-params."""
    params = np.exp(theta)
    r, alpha, a, b = params
    ux, gl, psi = d.ux, special.gammaln, special.digamma
    per_x = (gl(r + ux) - gl(r) + r * np.log(alpha) + gl(a + b) + gl(b + ux) - gl(b)
             - gl(a + b + ux))
    d_per_x = np.array([psi(r + ux) - psi(r) + np.log(alpha), np.full_like(ux, r / alpha),
                        psi(a + b) - psi(a + b + ux),
                        psi(a + b) + psi(b + ux) - psi(b) - psi(a + b + ux)])
    d_per_x = np.einsum("ij,j->i", d_per_x, d.wx)
    rx = r + d.x
    log_t, log_tx = np.log(alpha + d.T), np.log(alpha + d.tx)
    a3 = -rx * log_t
    a4 = np.where(d.positive, np.log(a) - np.log(b + np.maximum(d.x, 1) - 1) - rx * log_tx,
                  -np.inf)
    # log(exp(a3) + exp(a4)) and the share of the a4 term, without logaddexp (6x slower) and
    # without subnormal numbers (|a4 - a3| capped at 500: exp(-500) is below double precision)
    diff = np.clip(a4 - a3, -500.0, 500.0)
    lse = np.maximum(a3, a4) + np.log1p(np.exp(-np.abs(diff)))
    share4 = special.expit(diff) * d.positive
    w3, w4 = d.w * (1 - share4), d.w * share4
    grad = d_per_x + np.array([
        -_dot(w3, log_t) - _dot(w4, log_tx),
        -_dot(w3, rx / (alpha + d.T)) - _dot(w4, rx / (alpha + d.tx)),
        w4.sum() / a,
        -_dot(w4, 1 / (b + np.maximum(d.x, 1) - 1)),
    ])
    value = -(_dot(d.wx, per_x) + _dot(d.w, lse)) + penalizer * _dot(params, params)
    return value, -grad * params + 2 * penalizer * params**2


class _GgData(NamedTuple):
    x: np.ndarray
    xm: np.ndarray  # x * m
    w: np.ndarray
    ux: np.ndarray
    wx: np.ndarray
    s1: float  # sum of w * x * log(m)
    s0: float  # sum of w * log(m)


def _gg_data(x, m, w) -> _GgData:
    ix, ux = pd.factorize(x)
    log_m = np.log(m)
    wx = np.bincount(ix, weights=w, minlength=len(ux))
    return _GgData(x, x * m, w, ux, wx, _dot(w, x * log_m), _dot(w, log_m))


def _gg_nll(theta: np.ndarray, d: _GgData, penalizer: float) -> tuple[float, np.ndarray]:
    """Gamma-Gamma weighted negative log-likelihood (Fader-Hardie note 025) and its gradient."""
    params = np.exp(theta)
    p, q, v = params
    ux, gl, psi = d.ux, special.gammaln, special.digamma
    px = p * ux
    per_x = gl(px + q) - gl(px) - gl(q) + q * np.log(v) + px * np.log(ux)
    xmv = d.xm + v
    log_xmv = np.log(xmv)
    pxq = d.x * p
    pxq += q
    inv_xmv = np.reciprocal(xmv, out=xmv)
    grad = np.array([
        _dot(d.wx, ux * (psi(px + q) - psi(px) + np.log(ux))) + d.s1
        - np.einsum("i,i,i->", d.w, d.x, log_xmv),
        _dot(d.wx, psi(px + q) - psi(q) + np.log(v)) - _dot(d.w, log_xmv),
        q / v * d.wx.sum() - np.einsum("i,i,i->", d.w, pxq, inv_xmv),
    ])
    value = (-(_dot(d.wx, per_x) + p * d.s1 - d.s0 - np.einsum("i,i,i->", d.w, pxq, log_xmv))
             + penalizer * _dot(params, params))
    return value, -grad * params + 2 * penalizer * params**2


_WARM_ROWS = 50_000


def _minimise(nll, data_for, n: int, penalizer: float, size: int) -> np.ndarray | None:
    """lifetimes' optimisation: BFGS on the log-parameters to tol 1e-7 from log-parameters 0.1.
    The parameters, or None if it fails.

    ``data_for(rows)`` builds the objective's data for a selection of the ``n`` rows. On more
    than 100,000 rows BFGS first runs on an evenly spaced sample of about 50,000 of them, and
    the full fit starts there with that run's inverse-Hessian estimate: a handful of
    evaluations on all rows instead of ~25, to the same optimum (if that fails, from
    lifetimes' start).
    """
    starts, cold = [], np.full(size, 0.1)
    if n > 2 * _WARM_ROWS:
        warm = _bfgs(nll, cold, data_for(slice(None, None, n // _WARM_ROWS)), penalizer, 1e-5)
        if warm is not None:
            h = (warm.hess_inv + warm.hess_inv.T) / 2
            starts.append((warm.x, {"hess_inv0": h} if np.linalg.eigvalsh(h).min() > 0 else {}))
    data = data_for(slice(None))
    for x0, options in [*starts, (cold, {})]:
        res = _bfgs(nll, x0, data, penalizer, 1e-7, options)
        if res is not None:
            return np.exp(res.x)
    return None


def _bfgs(nll, x0, data, penalizer: float, tol: float, options: dict | None = None):
    """One BFGS run; the result if it converged to finite values, else None."""
    with np.errstate(all="ignore"):
        res = optimize.minimize(nll, x0, args=(data, penalizer), jac=True, method="BFGS",
                                tol=tol, options=options or {})
    converged = res.success or (res.status == 2 and np.max(np.abs(res.jac)) < 1e-5)
    return res if converged and np.all(np.isfinite(res.x)) else None


def _lifetimes_fit(fitter: str, penalizer: float, *arrays, weights) -> np.ndarray | None:
    """``lifetimes``' own fitter on weighted distinct rows; None if it does not converge."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        import lifetimes
        from lifetimes.utils import ConvergenceError as LifetimesConvergenceError

        try:
            model = getattr(lifetimes, fitter)(penalizer_coef=penalizer)
            return model.fit(*arrays, weights=weights).params_.to_numpy()
        except LifetimesConvergenceError:
            return None


def _fit_with_retry(fit_once, penalizer: float, name: str, advice: str):
    """Fit; on failure refit once with a small penalizer; then raise with what to try."""
    params = fit_once(penalizer)
    if params is not None:
        return params, penalizer
    retry = max(_RETRY_PENALIZER, 10 * penalizer)
    params = fit_once(retry)
    if params is None:
        raise ConvergenceError(f"the {name} fit did not converge, neither with penalizer="
                               f"{penalizer} nor with {retry}. Try {advice}")
    warnings.warn(f"the {name} fit did not converge with penalizer={penalizer}; refitted with "
                  f"penalizer={retry} (parameters shrink slightly towards 0)",
                  RuntimeWarning, stacklevel=3)
    return params, retry


def _check_engine(engine: str) -> None:
    if engine not in ("numpy", "lifetimes"):
        raise ValueError(f"engine must be 'numpy' or 'lifetimes', not {engine!r}")


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


def _alive_purchases(params, t, x, T) -> np.ndarray:
    """Expected purchases in ``(T, T + t]`` of a customer alive at ``T`` with ``x`` repeats.

    The BG/NBD conditional expectation (FHL 2005 eq. 10) is this times P(alive); with x = 0 and
    T = 0 it is the expectation for a new customer (eq. 9). It depends on (x, T), not recency.
    Where the Gauss hypergeometric function overflows (large x), Euler's transformation
    2F1(A, B; C; z) = (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z) is used instead.
    """
    r, alpha, a, b = params
    if abs(a - 1) < 1e-6:  # removable singularities (a = 1; a + b = 1 at x = 0): evaluate
        a = 1 + np.copysign(1e-6, a - 1)  # next to them
    if abs(a + b - 1) < 1e-6:
        b = 1 - a + np.copysign(1e-6, a + b - 1)
    big_a, big_b, c = r + x, b + x, a + b + x - 1
    z = t / (alpha + T + t)
    log_1mz = -np.log1p(t / (alpha + T))
    with np.errstate(all="ignore"):
        bracket = _one_minus(big_a * log_1mz, special.hyp2f1(big_a, big_b, c, z))
        bad = ~np.isfinite(bracket)
        if np.any(bad):
            alt = _one_minus((a - 1) * log_1mz, special.hyp2f1(c - big_a, c - big_b, c, z))
            bracket = np.where(bad, alt, bracket)
        out = c / (a - 1) * bracket
        bad = ~np.isfinite(out)
        if np.any(bad):  # scipy's hyp2f1 fails for some large arguments: integrate instead
            out = np.where(bad, 0.0, out)
            shape = np.broadcast(t, x, T).shape
            out[bad] = _alive_purchases_quadrature(
                (r, alpha, a, b), *(np.broadcast_to(v, shape)[bad] for v in (t, x, T)))
    return np.maximum(out, 0.0)


_NODES = 96


def _alive_purchases_quadrature(params, t, x, T) -> np.ndarray:
    """The same expectation as an integral over the drop-out probability: for a customer alive
    at T, p ~ Beta(a, b + x) and lambda ~ Gamma(r + x, alpha + T) independently, and the
    expected purchases in the next t are E[(1 - ((alpha + T) / (alpha + T + p t))^(r + x)) / p].
    Gauss-Jacobi quadrature; slower than the closed form, used only where it fails."""
    r, alpha, a, b = params
    out = np.empty(len(t))
    for xv in np.unique(x):
        rows = x == xv
        p, w = _beta_nodes(a, b + xv)
        scale = (t[rows] / (alpha + T[rows]))[:, None]
        g = -np.expm1(-(r + xv) * np.log1p(p[None, :] * scale)) / p[None, :]
        out[rows] = np.einsum("ij,j->i", g, w)
    return out


def _beta_nodes(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and probability weights of a Gauss quadrature for p ~ Beta(a, b)."""
    with np.errstate(all="ignore"):  # the normalising constant overflows for large b
        u, w = special.roots_jacobi(_NODES, b - 1, a - 1)
        w = w / w.sum()
    if np.all(np.isfinite(w)):
        return (1 + u) / 2, w
    g, w = special.roots_genlaguerre(_NODES, a - 1)  # b in the thousands: p ~ Gamma(a) / b
    return np.minimum(g / b, 1.0), w / w.sum()


def _one_minus(log_scale, h):
    """``1 - exp(log_scale) * h``, accurate when the product is close to 1 (``h`` > 0); the
    hypergeometric factor ``h`` is negative when a + b + x - 1 < 0."""
    positive = h > 0
    logged = -np.expm1(log_scale + np.log(np.where(positive, h, 1.0)))
    return np.where(positive, logged, 1 - np.exp(log_scale) * h)


def _p_alive(params, x, tx, T) -> np.ndarray:
    """P(alive at T | x, t_x, T) (Fader, Hardie and Lee 2008, note 021); 1 when x = 0."""
    r, alpha, a, b = params
    x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype="float64") for v in (x, tx, T)))
    odds = np.log(alpha + tx)  # in place from here: this runs on millions of customers
    np.subtract(np.log(alpha + T), odds, out=odds)
    odds *= r + x
    odds += np.log(a) - np.log(b + np.maximum(x, 1) - 1)
    odds = special.expit(np.negative(odds, out=odds), out=odds)
    odds[x == 0] = 1.0
    return odds


def _fitted(model) -> np.ndarray:
    if not hasattr(model, "params_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted yet: call "
                             f"fit(summary) before predicting")
    return model.params_.to_numpy()


class BetaGeoModel:
    """BG/NBD model of repeat purchases and drop-out (Fader, Hardie and Lee 2005).

    Parameters
    ----------
    penalizer : float
        L2 penalty on the parameters, as ``lifetimes``' ``penalizer_coef`` (0: plain maximum
        likelihood). A fit that does not converge is retried once with 0.001 (or ten times the
        given penalty) with a warning; ``penalizer_`` records the one used.
    time_unit : {"W", "D"}
        Unit of the summaries' durations, of ``alpha`` and of prediction horizons.
    engine : {"numpy", "lifetimes"}
        Who minimises the (identical) objective: analytic gradients here, or ``lifetimes``'
        ``BetaGeoFitter`` on the same weighted distinct rows (slower, the reference).

    Attributes
    ----------
    params_ : pandas.Series
        ``r``, ``alpha`` (in ``time_unit``), ``a``, ``b``.
    log_likelihood_ : float
        Total log-likelihood of the summary at ``params_`` (penalty excluded), durations in
        ``time_unit``. ``lifetimes`` reports instead the mean negative log-likelihood per
        customer on durations rescaled so that the largest T is 1, plus the penalty.
    penalizer_ : float
    n_customers_, max_frequency_, max_T_ : the fitted summary's size and ranges.

    Examples
    --------
    The published CDNOW fit (Fader, Hardie and Lee 2005: r 0.243, alpha 4.414, a 0.793,
    b 2.426, log-likelihood -9582.4; customer 1 expects 1.226 purchases in the next 39 weeks):

    >>> from lifecycle.datasets import load_cdnow
    >>> ch = calibration_holdout(load_cdnow(), calibration_end="1997-09-30",
    ...                          observation_end="1998-06-30")
    >>> bg = BetaGeoModel().fit(ch)
    >>> bg.params_.round(3)
    r        0.243
    alpha    4.414
    a        0.793
    b        2.426
    Name: BG/NBD, dtype: float64
    >>> round(bg.log_likelihood_, 1)
    -9582.4
    >>> bg.predict(ch, horizon=39).loc[["1", "2", "3"]].round(3)
                 p_alive  expected_purchases
    customer_id
    1              0.727               1.226
    2              0.212               0.203
    3              1.000               0.195
    """

    def __init__(self, penalizer: float = 0.0, *, time_unit: str = "W", engine: str = "numpy"):
        self.penalizer = penalizer
        self.time_unit = time_unit
        self.engine = engine

    def fit(self, summary) -> BetaGeoModel:
        """Fit on a :func:`summary` (pandas or ibis) with ``frequency, recency, T``."""
        _check_engine(self.engine)
        _check_unit(summary, self.time_unit)
        v, w = _distinct(summary, _BG_COLUMNS)
        x, tx, T = v["frequency"], v["recency"], v["T"]
        if T.max() <= 0:
            raise DataError([Problem("summary", "T", "must be positive for some customer", 0)])
        scale = 1.0 / T.max()  # as lifetimes: durations rescaled so the largest T is 1

        def data_for(rows):
            return _bg_data(x[rows], tx[rows] * scale, T[rows] * scale, w[rows] / w[rows].sum())

        def once(penalizer):
            if self.engine == "lifetimes":
                return _lifetimes_fit("BetaGeoFitter", penalizer, x, tx, T, weights=w)
            p = _minimise(_bg_nll, data_for, len(x), penalizer, 4)
            return None if p is None else p / np.array([1, scale, 1, 1])

        params, self.penalizer_ = _fit_with_retry(
            once, self.penalizer, "BG/NBD",
            "a larger penalizer (0.01 to 0.1), removing accounts with extreme purchase counts "
            "(bots, resellers), or a longer calibration period")
        self.params_ = pd.Series(params, index=["r", "alpha", "a", "b"], name="BG/NBD")
        self.log_likelihood_ = float(-_bg_nll(np.log(params), _bg_data(x, tx, T, w), 0.0)[0])
        self.n_customers_, self.max_frequency_, self.max_T_ = int(w.sum()), int(x.max()), T.max()
        return self

    def p_alive(self, summary) -> pd.Series:
        """Probability that each customer is still active at T (1 without repeat purchases)."""
        params = _fitted(self)
        frame = _eager(summary)
        _check_unit(frame, self.time_unit)
        v = _validate(frame, _BG_COLUMNS)
        out = _p_alive(params, v["frequency"], v["recency"], v["T"])
        return pd.Series(out, index=frame.index, name="p_alive")

    def expected_purchases(self, summary, *, horizon: float) -> pd.Series:
        """Expected purchases of each customer in the next ``horizon`` time units."""
        params = _fitted(self)
        frame = _eager(summary)
        _check_unit(frame, self.time_unit)
        v = _validate(frame, _BG_COLUMNS)
        x, T = v["frequency"], v["T"]
        key, first = _group(x, T)
        alive = _alive_purchases(params, float(horizon), x[first], T[first])[key]
        out = alive * _p_alive(params, x, v["recency"], T)
        return pd.Series(out, index=frame.index, name="expected_purchases")

    def predict(self, summary, *, horizon: float) -> pd.DataFrame:
        """``p_alive`` and ``expected_purchases`` over ``horizon`` time units, per customer."""
        return pd.concat([self.p_alive(summary),
                          self.expected_purchases(summary, horizon=horizon)], axis=1)

    def population_purchases(self, t) -> np.ndarray:
        """Expected repeat purchases of a new customer in their first ``t`` time units."""
        t = np.asarray(t, dtype="float64")
        return _alive_purchases(_fitted(self), t, 0.0, 0.0)


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------


def _gg_spend(params, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Conditional expected spend per purchase (note 025 eq. 5): ``m - d * (m - mean)`` with
    the population weight ``d = (q - 1) / (p x + q - 1)``, in place (millions of rows)."""
    p, q, v = params
    mean = p * v / (q - 1)
    d = x * p
    d += q - 1
    np.divide(q - 1, d, out=d)
    out = m - mean
    out *= d
    return np.subtract(m, out, out=out)


class GammaGammaModel:
    """Gamma-Gamma model of spend per purchase (Fader, Hardie and Lee 2005; Fader-Hardie 025).

    Fitted on the repeat buyers (frequency > 0 and monetary value > 0). Predictions shrink each
    customer's mean repeat spend towards the population mean; a customer without repeat
    purchases gets the population mean ``mean_spend_ = p * v / (q - 1)``.

    Parameters
    ----------
    penalizer : float
        L2 penalty on ``p, q, v`` as in ``lifetimes`` (retry rule as for :class:`BetaGeoModel`).
    engine : {"numpy", "lifetimes"}
        As for :class:`BetaGeoModel` (``lifetimes``' ``GammaGammaFitter``).

    Attributes
    ----------
    params_ : pandas.Series
        ``p``, ``q``, ``v``.
    log_likelihood_ : float
        Total log-likelihood of the repeat buyers at ``params_`` (penalty excluded).
    mean_spend_ : float
        Population mean spend per purchase.
    penalizer_, n_customers_ : float, int

    Examples
    --------
    The published CDNOW fit on the 946 repeat buyers (p 6.25, q 3.74, v 15.44); customer 3
    never repeated and gets the population mean:

    >>> from lifecycle.datasets import load_cdnow
    >>> ch = calibration_holdout(load_cdnow(), calibration_end="1997-09-30",
    ...                          observation_end="1998-06-30")
    >>> gg = GammaGammaModel().fit(ch)
    >>> gg.params_.round(2)
    p     6.25
    q     3.74
    v    15.44
    Name: Gamma-Gamma, dtype: float64
    >>> gg.expected_spend(ch).loc[["1", "2", "3"]].round(2)
    customer_id
    1    24.65
    2    18.91
    3    35.17
    Name: expected_spend, dtype: float64
    """

    def __init__(self, penalizer: float = 0.0, *, engine: str = "numpy"):
        self.penalizer = penalizer
        self.engine = engine

    def fit(self, summary) -> GammaGammaModel:
        """Fit on a :func:`summary` (pandas or ibis) with ``frequency, monetary_value``."""
        _check_engine(self.engine)
        v, w = _distinct(summary, _GG_COLUMNS, repeat_only=True)
        x, m = v["frequency"], v["monetary_value"]
        if len(x) == 0:
            raise DataError([Problem("summary", "frequency", "Gamma-Gamma needs customers with "
                                     "repeat purchases of positive value", 0)])

        def data_for(rows):
            return _gg_data(x[rows], m[rows], w[rows] / w[rows].sum())

        def once(penalizer):
            if self.engine == "lifetimes":
                return _lifetimes_fit("GammaGammaFitter", penalizer, x, m, weights=w)
            return _minimise(_gg_nll, data_for, len(x), penalizer, 3)

        advice = ("a penalizer (0.01 to 0.1) or capping extreme monetary values")
        params, self.penalizer_ = _fit_with_retry(once, self.penalizer, "Gamma-Gamma", advice)
        p, q, v_ = params
        if q <= 1:
            raise ConvergenceError(f"the Gamma-Gamma fit gives q = {q:.3g} <= 1: the population "
                                   f"mean spend is infinite. Try {advice}")
        self.params_ = pd.Series(params, index=["p", "q", "v"], name="Gamma-Gamma")
        self.log_likelihood_ = float(-_gg_nll(np.log(params), _gg_data(x, m, w), 0.0)[0])
        self.mean_spend_ = float(p * v_ / (q - 1))
        self.n_customers_ = int(w.sum())
        return self

    def expected_spend(self, summary) -> pd.Series:
        """Expected spend per future purchase of each customer."""
        params = _fitted(self)
        frame = _eager(summary)
        v = _validate(frame, _GG_COLUMNS)
        out = _gg_spend(params, v["frequency"], v["monetary_value"])
        return pd.Series(out, index=frame.index, name="expected_spend")

    def predict(self, summary) -> pd.DataFrame:
        """``expected_spend`` per customer, as a frame."""
        return self.expected_spend(summary).to_frame()


# --------------------------------------------------------------------------------------------
# Lifetime value
# --------------------------------------------------------------------------------------------


def _horizons(horizons_months) -> list[int]:
    hs = [horizons_months] if np.isscalar(horizons_months) else list(horizons_months)
    if not hs or any(int(h) != h or h < 1 for h in hs):
        raise ValueError(f"horizons_months must be whole numbers of months >= 1, not "
                         f"{horizons_months!r}")
    return sorted({int(h) for h in hs})


def _discounted_purchases(params, x, T, *, months: int, month: float, monthly_factor: float):
    """Per customer alive at T: cumulative expected purchases after 1..months months, and the
    same with month k's purchases discounted by ``monthly_factor ** k``. Two (n, months) arrays.
    """
    k = np.arange(1, months + 1)
    alive = _alive_purchases(params, k[None, :] * month, x[:, None], T[:, None])
    increments = np.maximum(np.diff(alive, axis=1, prepend=0.0), 0.0)
    return alive, np.cumsum(increments * monthly_factor ** k, axis=1)


def lifetime_value(summary, *, purchases: BetaGeoModel, spend: GammaGammaModel,
                   horizons_months: int | Sequence[int] = (6, 12),
                   discount_rate: float = 0.10) -> pd.DataFrame:
    """Discounted customer lifetime value over horizons in months, per customer.

    Parameters
    ----------
    summary : pandas.DataFrame or ibis.Table
        A :func:`summary`: ``frequency, recency, T, monetary_value``, in the time unit of
        ``purchases``.
    purchases : BetaGeoModel
        Fitted; predicts the purchases.
    spend : GammaGammaModel
        Fitted; predicts the spend per purchase.
    horizons_months : int or sequence of int
        Horizons in months of 365.25 / 12 days.
    discount_rate : float
        **Annual** discount rate (0.10 = 10 % a year); month k is discounted by
        ``(1 + discount_rate) ** (k / 12)``.

    Returns
    -------
    pandas.DataFrame
        On the summary's index: ``p_alive``, ``expected_spend`` and, for each horizon h,
        ``expected_purchases_<h>m`` and ``clv_<h>m``.

    Examples
    --------
    >>> from lifecycle.datasets import load_cdnow
    >>> ch = calibration_holdout(load_cdnow(), calibration_end="1997-09-30",
    ...                          observation_end="1998-06-30")
    >>> bg, gg = BetaGeoModel().fit(ch), GammaGammaModel().fit(ch)
    >>> lv = lifetime_value(ch, purchases=bg, spend=gg, horizons_months=12, discount_rate=0.1)
    >>> lv.loc[["1", "2", "3"]].round(2)
                 p_alive  expected_spend  expected_purchases_12m  clv_12m
    customer_id
    1               0.73           24.65                    1.56    36.73
    2               0.21           18.91                    0.26     4.70
    3               1.00           35.17                    0.25     8.45
    """
    if not discount_rate > -1:
        raise ValueError(f"discount_rate is an annual rate > -1, not {discount_rate!r}")
    frame = _eager(summary)
    _check_unit(frame, purchases.time_unit)
    hs, v = _horizons(horizons_months), _validate(frame, _ALL_COLUMNS)
    bg_params, gg_params = _fitted(purchases), _fitted(spend)
    # the hypergeometric part depends on (frequency, T) only: once per distinct pair
    pair, first = _group(v["frequency"], v["T"])
    alive, discounted = _discounted_purchases(
        bg_params, v["frequency"][first], v["T"][first], months=hs[-1],
        month=DAYS_PER_MONTH / _unit_days(purchases.time_unit),
        monthly_factor=(1 + discount_rate) ** (-1 / 12))
    out = {name: np.empty(len(frame)) for name in
           ["p_alive", "expected_spend", *[f"{kind}_{h}m" for h in hs
                                            for kind in ("expected_purchases", "clv")]]}
    for start in range(0, len(frame), _BLOCK):  # in blocks: small temporaries at any size
        rows = slice(start, start + _BLOCK)
        x = v["frequency"][rows]
        p_alive = out["p_alive"][rows] = _p_alive(bg_params, x, v["recency"][rows], v["T"][rows])
        spend = out["expected_spend"][rows] = _gg_spend(gg_params, x, v["monetary_value"][rows])
        for h in hs:
            out[f"expected_purchases_{h}m"][rows] = p_alive * alive[pair[rows], h - 1]
            out[f"clv_{h}m"][rows] = spend * p_alive * discounted[pair[rows], h - 1]
    return pd.DataFrame(out, index=frame.index, copy=False)


def customer_value(transactions, *, as_of, horizons_months: int | Sequence[int] = (6, 12),
                   discount_rate: float = 0.10, time_unit: str = "W", penalizer: float = 0.0,
                   customer_col: str = "customer_id", ts_col: str = "ts",
                   amount_col: str = "amount") -> pd.DataFrame:
    """Transactions to predicted value per customer: summary, BG/NBD, Gamma-Gamma and CLV.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        Columns ``customer_col``, ``ts_col``, ``amount_col`` (see :func:`summary`).
    as_of : date-like
        Last observed day, inclusive (as in :func:`summary`).
    horizons_months, discount_rate
        As in :func:`lifetime_value` (``discount_rate`` is annual).
    time_unit : {"W", "D"}
        Time unit of the fit.
    penalizer : float
        Passed to both models.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``: the :func:`summary` columns and the :func:`lifetime_value`
        columns. ``attrs`` holds the fitted parameters (``"bgnbd"``, ``"gamma_gamma"``) and the
        time unit. An ibis input is summarised in its backend and executed once.

    Examples
    --------
    CDNOW, as of the end of the published calibration period, in weeks:

    >>> from lifecycle.datasets import load_cdnow
    >>> cv = customer_value(load_cdnow(), as_of="1997-09-30")
    >>> cv.loc[["1", "2", "3"], ["frequency", "p_alive", "expected_spend", "clv_6m",
    ...                          "clv_12m"]].round(2)
                 frequency  p_alive  expected_spend  clv_6m  clv_12m
    customer_id
    1                    2     0.73           24.65   20.74    36.73
    2                    1     0.21           18.91    2.62     4.70
    3                    0     1.00           35.17    4.62     8.45
    """
    unit, end = _unit_days(time_unit), as_of
    t, _ = lazy(transactions)
    require(t, "transactions", [customer_col, ts_col, amount_col])
    cols = {"customer_col": customer_col, "ts_col": ts_col, "amount_col": amount_col}
    s = _collect(t, lambda part: _summarise(_purchase_days(t, end=end, part=part, **cols),
                                            end=end, unit=unit), time_unit)
    bg = BetaGeoModel(penalizer, time_unit=time_unit).fit(s)
    gg = GammaGammaModel(penalizer).fit(s)
    out = pd.concat([s, lifetime_value(s, purchases=bg, spend=gg, horizons_months=horizons_months,
                                       discount_rate=discount_rate)], axis=1)
    out.attrs.update(time_unit=time_unit, bgnbd=bg.params_.to_dict(),
                     gamma_gamma=gg.params_.to_dict())
    return out


# --------------------------------------------------------------------------------------------
# Diagnostics: tidy frames for lifecycle.plots
# --------------------------------------------------------------------------------------------


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
    _check_unit(frame, model.time_unit)
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
    unit, params = _unit_days(model.time_unit), _fitted(model)
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
