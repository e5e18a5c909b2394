"""Purchase summaries: transactions to one row per customer (frequency, recency, T, monetary
value), the BG/NBD and Gamma-Gamma input, computed where the data lives."""

from __future__ import annotations

import datetime as _dt

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from lifecycle._frames import lazy, require
from lifecycle.clv._kernels import _unit_days
from lifecycle.purchases import purchase_days

__all__ = ["calibration_holdout", "summary"]


def _day(value) -> _dt.date:
    """A date-like as a calendar day (a timestamp's time of day is dropped)."""
    return pd.Timestamp(value).date()


def _purchase_days(t: ir.Table, *, end, start=None, part: tuple[int, int] | None = None,
                   customer_col: str, ts_col: str, amount_col: str) -> ir.Table:
    """:func:`lifecycle.purchases.purchase_days` with string ids; ``part=(i, k)`` keeps only
    the customers of hash bucket ``i`` of ``k``."""
    if part is not None:
        bucket = _hash(t[customer_col].cast("string")) % part[1]  # Spark's hash is signed:
        t = t.filter((bucket + part[1]) % part[1] == part[0])  # its remainders too
    days = purchase_days(t, end=end, start=start, customer_col=customer_col, ts_col=ts_col,
                         amount_col=amount_col)
    return days.mutate(customer_id=days.customer_id.cast("string"))


@ibis.udf.scalar.builtin(name="hash")
def _hash(value: dt.string) -> dt.int64:
    """The backend's own ``hash`` (DuckDB: unsigned 64 bits; Spark: signed 32 bits); ibis'
    ``hash()`` adds bit casts that cost DuckDB ~0.3 s per 10 M rows."""


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


_ROWS_PER_PASS = 6_000_000


def _collect(t: ir.Table, build, time_unit: str) -> pd.DataFrame:
    """Execute ``build(part)`` in customer hash buckets of at most ~6 M transactions each.

    Aggregating millions of customers at once makes the backend hold every (customer, day)
    group in memory (about 1.2 GB in DuckDB for 11 M transactions); buckets executed one after
    the other need one bucket's share, for a scan of every transaction more per bucket (at
    11 M transactions: 4 buckets 5.1 s, 2 buckets 4.2 s, one 3.9 s). Each bucket's result is
    copied out of the backend's buffers at once (numbers straight into arrays sized for the
    worst case, of which only the used part is ever touched), so the backend reuses its memory
    for the next bucket. Returns pandas with ``customer_id`` first and ``time_unit`` last, in
    a defined order: sorted by ``customer_id`` within each bucket (the backend sorts), the
    buckets in turn; one bucket (up to ~6 M transactions) is one sorted run. Sorting several
    buckets' ids together would cost seconds and a copy of every column at millions.
    """
    n_rows = int(t.count().to_pyarrow().as_py())  # customers <= transactions
    k = max(1, min(64, -(-n_rows // _ROWS_PER_PASS)))
    ids, numbers, n = [], {}, 0
    for i in range(k):
        part = build(None if k == 1 else (i, k)).order_by("customer_id").to_pyarrow()
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
    out = {"customer_id": pa.chunked_array(ids, type=pa.string()).to_pandas()}
    out.update({name: a[:n] for name, a in numbers.items()})
    out["time_unit"] = pd.Categorical.from_codes(np.zeros(n, dtype="int8"), [time_unit])
    return pd.DataFrame(out, copy=False)


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
        One row per buyer: ``customer_id``, ``frequency`` (int), ``recency``, ``T``,
        ``monetary_value`` and ``time_unit`` (the unit, which the models take from it), sorted
        by ``customer_id`` (above ~6 M transactions within each of the hash buckets it is
        computed in: the same order on every run). pandas in, pandas out; ibis in, the
        unexecuted ibis expression out.

    Examples
    --------
    >>> tx = pd.DataFrame({
    ...     "customer_id": ["a", "a", "a", "a", "b", "b"],
    ...     "ts": pd.to_datetime(["2024-01-01", "2024-01-08 10:00", "2024-01-08 15:00",
    ...                           "2024-01-15", "2024-01-10", "2024-02-01"], format="ISO8601"),
    ...     "amount": [10.0, 20.0, 10.0, 40.0, 5.0, 99.0]})
    >>> summary(tx, as_of="2024-01-22", time_unit="D")
      customer_id  frequency  recency     T  monetary_value time_unit
    0           a          2     14.0  21.0            35.0         D
    1           b          0      0.0  12.0             0.0         D
    """
    t, eager = lazy(transactions)
    require(t, "transactions", [customer_col, ts_col, amount_col])
    build = _summary_builder(t, as_of=as_of, time_unit=time_unit, customer_col=customer_col,
                             ts_col=ts_col, amount_col=amount_col)
    return _collect(t, build, time_unit) if eager else _stated(build(None), time_unit)


def _summary_builder(t: ir.Table, *, as_of, time_unit: str, **cols):
    """``build(part)``: the summary expression of hash bucket ``part`` (None: all)."""
    unit = _unit_days(time_unit)

    def build(part):
        return _summarise(_purchase_days(t, end=as_of, part=part, **cols), end=as_of, unit=unit)
    return build


def _stated(expr: ir.Table, time_unit: str) -> ir.Table:
    """An ibis summary sorted by customer and stating its time unit, as the pandas one."""
    return expr.mutate(time_unit=ibis.literal(time_unit)).order_by("customer_id")


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
    >>> ch[["customer_id", "frequency", "T", "frequency_holdout", "duration_holdout"]].round(2)
      customer_id  frequency     T  frequency_holdout  duration_holdout
    0           a          1  3.86                  1               4.0
    1           b          0  2.57                  0               4.0
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

    return _collect(t, build, time_unit) if eager else _stated(build(None), time_unit)
