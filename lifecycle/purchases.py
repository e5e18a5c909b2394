"""What a purchase is: the one definition every module counts with.

Transactions are counted once per **customer-day**, as in the Fader-Hardie papers and
``lifetimes``: a day's *spend* is the net of all its rows (sales positive, returns negative).

- A **purchase day** is a customer-day whose net spend is positive, or zero without any return
  row on it (a free item is a purchase; a day whose purchases are fully refunded is not, and
  neither is a day that only returns goods).
- A customer's **net spend** is the sum of all their rows up to the cut, wherever the return is
  booked: sales of 15 and 20 and a return of 8 on a later day give 27.
- A customer is a **buyer** with at least one purchase day; customers with only returns or
  refunded days are not.

Who uses it: :mod:`lifecycle.rfm` (frequency = purchase days, monetary = net spend, recency
from the last purchase day), :mod:`lifecycle.clv` (repeat purchase days and their spend; a
return booked on a later day is not spread back over earlier days, the models describe what
was bought), :mod:`lifecycle.value` (purchases a year) and :mod:`lifecycle.audiences` (the
``purchase_days`` measure).

The cut is the library's: a date ``as_of`` is observed through its whole day
(``ts < schema.end_of(as_of)``), a timestamp up to that instant.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from lifecycle.schema import end_of

__all__ = ["customer_purchases", "observed", "purchase_days"]


def observed(ts: ir.Column, as_of) -> ir.BooleanColumn:
    """Rows of ``ts`` observed as of ``as_of`` (a date-typed column by its day), compared as
    the column's own type: no per-row cast."""
    if ts.type().is_date():
        return ts <= pd.Timestamp(as_of).date()
    return ts < ibis.literal(end_of(as_of)).cast(ts.type())


def _days(t: ir.Table, *, end, start, customer_col: str, ts_col: str, amount_col: str,
          totals: tuple[str, ...] = ()) -> ir.Table:
    keep = observed(t[ts_col], end)
    if start is not None:
        keep &= ~observed(t[ts_col], start)
    rows = t.filter(keep)
    ts = rows[ts_col]
    days = rows.group_by(customer_id=rows[customer_col],
                         day=ts if ts.type().is_date() else ts.date()).aggregate(
        spend=rows[amount_col].sum(), _lowest=rows[amount_col].min(),
        **{c: rows[c].sum() for c in totals})
    return days.mutate(
        purchase=(days.spend > 0) | ((days.spend == 0) & (days._lowest >= 0))).drop("_lowest")


def purchase_days(transactions: ir.Table, *, end, start=None,
                  customer_col: str = "customer_id", ts_col: str = "ts",
                  amount_col: str = "amount") -> ir.Table:
    """``customer_id, day, spend``: the purchase days observed as of ``end`` and not as of
    ``start`` (see the module docstring).

    Examples
    --------
    >>> tx = ibis.memtable({"customer_id": ["a", "a", "a", "a", "b", "b"],
    ...                     "ts": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02",
    ...                                           "2024-01-03", "2024-01-01", "2024-01-02"]),
    ...                     "amount": [15.0, 20.0, -8.0, 0.0, 10.0, -10.0]})
    >>> purchase_days(tx, end="2024-01-31").order_by(["customer_id", "day"]).execute()
      customer_id         day  spend
    0           a  2024-01-01   35.0
    1           a  2024-01-03    0.0
    2           b  2024-01-01   10.0
    """
    days = _days(transactions, end=end, start=start, customer_col=customer_col, ts_col=ts_col,
                 amount_col=amount_col)
    return days.filter(days.purchase).select("customer_id", "day", "spend")


def customer_purchases(transactions: ir.Table, *, end, customer_col: str = "customer_id",
                       ts_col: str = "ts", amount_col: str = "amount",
                       totals: tuple[str, ...] = ()) -> ir.Table:
    """Per customer with a transaction observed as of ``end``: ``purchase_days``,
    ``first_day`` and ``last_day`` (of the purchase days; null without any), ``net_spend``
    (all rows) and, for each column in ``totals``, its sum over all rows.

    Examples
    --------
    >>> tx = ibis.memtable({"customer_id": ["a", "a", "a", "b", "b"],
    ...                     "ts": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-09",
    ...                                           "2024-01-02", "2024-01-02"]),
    ...                     "amount": [15.0, 20.0, -8.0, 10.0, -10.0]})
    >>> customer_purchases(tx, end="2024-01-31").order_by("customer_id").execute()
      customer_id  purchase_days  first_day   last_day  net_spend
    0           a              2 2024-01-01 2024-01-05       27.0
    1           b              0        NaT        NaT        0.0
    """
    days = _days(transactions, end=end, start=None, customer_col=customer_col, ts_col=ts_col,
                 amount_col=amount_col, totals=totals)
    return days.group_by("customer_id").aggregate(
        purchase_days=days.count(where=days.purchase),
        first_day=days.day.min(where=days.purchase), last_day=days.day.max(where=days.purchase),
        net_spend=days.spend.sum(), **{c: days[c].sum() for c in totals})
