"""Sales over time: revenue, returns, orders and customers per period, new customers.

Every function is written once as an ibis expression. A pandas DataFrame in gives a pandas
DataFrame out (the expression runs on an in-memory DuckDB); an ibis Table in gives an
unexecuted ibis expression out, so the work runs where the data lives.

Periods are the start of a calendar period: ``freq`` is one of ``"day"``, ``"week"`` (weeks
start on Monday), ``"month"``, ``"quarter"``, ``"year"`` (or the codes ``"D"``, ``"W"``,
``"M"``, ``"Q"``, ``"Y"``). Date ranges are half open: ``start <= ts < end``.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from lifecycle._frames import finish, lazy, require

__all__ = [
    "FREQUENCIES",
    "first_purchases_by_period",
    "new_customers_by_period",
    "restrict_to_customers",
    "revenue_by_period",
    "revenue_totals",
]

#: Period names accepted by ``freq`` and the ibis truncation unit each one maps to.
FREQUENCIES = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}

_METRICS = ("gross", "returns", "net", "orders", "customers")


def _unit(freq: str) -> str:
    """Return the ibis truncation unit for a period name or code."""
    unit = FREQUENCIES.get(freq, freq)
    if unit not in FREQUENCIES.values():
        choices = ", ".join(repr(f) for f in FREQUENCIES)
        raise ValueError(f"freq must be one of {choices} (or its code), got {freq!r}")
    return unit


def _as_list(by: str | Sequence[str] | None) -> list[str]:
    """Normalise a ``by`` argument (None, one name or several) to a list of names."""
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _in_range(t: ir.Table, ts_col: str, start, end) -> ir.Table:
    """Keep the rows with ``start <= ts < end`` (either bound may be None)."""
    if start is not None:
        t = t.filter(t[ts_col] >= pd.Timestamp(start))
    if end is not None:
        t = t.filter(t[ts_col] < pd.Timestamp(end))
    return t


def _sales_metrics(t: ir.Table, amount_col: str, customer_col: str, order_col: str) -> dict:
    """Aggregations shared by the per-period and the total views."""
    amount = t[amount_col]
    sale, refund = amount > 0, amount < 0
    orders = (
        t[order_col].nunique(where=sale)
        if order_col in t.columns
        else amount.count(where=sale)
    )
    return {
        "gross": amount.sum(where=sale).coalesce(0.0),
        "returns": (-amount).sum(where=refund).coalesce(0.0),
        "net": amount.sum().coalesce(0.0),
        "orders": orders,
        "customers": t[customer_col].nunique(where=sale),
    }


def revenue_by_period(
    transactions: pd.DataFrame | ir.Table,
    *,
    freq: str = "month",
    by: str | Sequence[str] | None = None,
    start=None,
    end=None,
    ts_col: str = "ts",
    amount_col: str = "amount",
    customer_col: str = "customer_id",
    order_col: str = "transaction_id",
) -> pd.DataFrame | ir.Table:
    """Gross sales, returns, net revenue, orders and buying customers per period.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        One row per order line or order. Required columns: ``customer_id``, ``ts``,
        ``amount`` (gross, returns negative); optional ``transaction_id`` and the ``by``
        columns (e.g. ``channel``).
    freq : str, default "month"
        Period length: ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``.
    by : str or list of str, optional
        Columns to split each period by (e.g. ``"channel"`` for web versus store).
    start, end : timestamp-like, optional
        Keep transactions with ``start <= ts < end``.
    ts_col, amount_col, customer_col, order_col : str
        Column names. When ``order_col`` is absent every sale row counts as one order.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        Columns ``period`` (period start), the ``by`` columns, ``gross`` (sum of positive
        amounts), ``returns`` (sum of negative amounts as a positive number), ``net``
        (``gross - returns``), ``orders`` (distinct orders with a sale) and ``customers``
        (distinct customers with a sale); sorted by period then group. Periods without
        transactions are absent.

    Examples
    --------
    >>> tx = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b", "b"],
    ...     "ts": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-01-21", "2024-02-03"]),
    ...     "amount": [10.0, -2.0, 4.0, 5.0],
    ...     "transaction_id": ["t1", "t2", "t3", "t4"],
    ... })
    >>> revenue_by_period(tx)
          period  gross  returns  net  orders  customers
    0 2024-01-01   14.0      2.0 12.0       2          2
    1 2024-02-01    5.0      0.0  5.0       1          1
    """
    t, eager = lazy(transactions)
    groups = _as_list(by)
    require(t, "transactions", [ts_col, amount_col, customer_col, *groups])
    t = _in_range(t, ts_col, start, end)
    t = t.mutate(period=t[ts_col].truncate(_unit(freq)))
    expr = (
        t.group_by(["period", *groups])
        .aggregate(**_sales_metrics(t, amount_col, customer_col, order_col))
        .order_by(["period", *groups])
    )
    return finish(expr, eager)


def revenue_totals(
    transactions: pd.DataFrame | ir.Table,
    *,
    by: str | Sequence[str] | None = None,
    start=None,
    end=None,
    ts_col: str = "ts",
    amount_col: str = "amount",
    customer_col: str = "customer_id",
    order_col: str = "transaction_id",
) -> pd.DataFrame | ir.Table:
    """Gross sales, returns, net revenue, orders and buying customers over a date range.

    The headline numbers of a period: the same measures as :func:`revenue_by_period`
    without the split into periods.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        Required columns: ``customer_id``, ``ts``, ``amount``; optional ``transaction_id``
        and the ``by`` columns.
    by : str or list of str, optional
        Columns to split the totals by.
    start, end : timestamp-like, optional
        Keep transactions with ``start <= ts < end``.
    ts_col, amount_col, customer_col, order_col : str
        Column names. When ``order_col`` is absent every sale row counts as one order.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        The ``by`` columns, then ``gross``, ``returns``, ``net``, ``orders``, ``customers``.
        Without ``by``, exactly one row (zeros when nothing is in range).

    Examples
    --------
    >>> tx = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b"],
    ...     "ts": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-02-03"]),
    ...     "amount": [10.0, -2.0, 5.0],
    ...     "channel": ["web", "web", "store"],
    ... })
    >>> revenue_totals(tx)
       gross  returns  net  orders  customers
    0   15.0      2.0 13.0       2          2
    >>> revenue_totals(tx, by="channel")
      channel  gross  returns  net  orders  customers
    0   store    5.0      0.0  5.0       1          1
    1     web   10.0      2.0  8.0       1          1
    """
    t, eager = lazy(transactions)
    groups = _as_list(by)
    require(t, "transactions", [ts_col, amount_col, customer_col, *groups])
    t = _in_range(t, ts_col, start, end)
    metrics = _sales_metrics(t, amount_col, customer_col, order_col)
    if groups:
        expr = t.group_by(groups).aggregate(**metrics).order_by(groups)
    else:
        expr = t.aggregate(**metrics)
    return finish(expr, eager)


def new_customers_by_period(
    customers: pd.DataFrame | ir.Table,
    *,
    freq: str = "month",
    by: str | Sequence[str] | None = None,
    start=None,
    end=None,
    created_col: str = "created_at",
    customer_col: str = "customer_id",
) -> pd.DataFrame | ir.Table:
    """New customers per period (from the customer's creation time) and the running total.

    Parameters
    ----------
    customers : pandas.DataFrame or ibis.Table
        One row per customer. Required columns: ``customer_id``, ``created_at``; optional
        the ``by`` columns (e.g. ``region`` or ``acquisition_channel``).
    freq : str, default "month"
        Period length: ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``.
    by : str or list of str, optional
        Columns to split each period by.
    start, end : timestamp-like, optional
        Keep customers created with ``start <= created_at < end``.
    created_col, customer_col : str
        Column names.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        Columns ``period``, the ``by`` columns, ``new_customers`` (distinct customers
        created in the period) and ``cumulative_customers`` (running total within the range
        and group); sorted by period then group.

    Examples
    --------
    >>> customers = pd.DataFrame({
    ...     "customer_id": ["a", "b", "c"],
    ...     "created_at": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-03-03"]),
    ... })
    >>> new_customers_by_period(customers)
          period  new_customers  cumulative_customers
    0 2024-01-01              2                     2
    1 2024-03-01              1                     3
    """
    t, eager = lazy(customers)
    groups = _as_list(by)
    require(t, "customers", [created_col, customer_col, *groups])
    t = _in_range(t, created_col, start, end)
    t = t.mutate(period=t[created_col].truncate(_unit(freq)))
    counts = t.group_by(["period", *groups]).aggregate(new_customers=t[customer_col].nunique())
    window = ibis.window(group_by=groups or None, order_by="period", preceding=None, following=0)
    expr = counts.mutate(
        cumulative_customers=counts.new_customers.sum().over(window)
    ).order_by(["period", *groups])
    return finish(expr, eager)


def first_purchases_by_period(
    transactions: pd.DataFrame | ir.Table,
    *,
    freq: str = "month",
    channel_col: str | None = None,
    start=None,
    end=None,
    ts_col: str = "ts",
    amount_col: str = "amount",
    customer_col: str = "customer_id",
) -> pd.DataFrame | ir.Table:
    """New buying customers: customers counted in the period of their first purchase ever.

    A purchase is a row with a positive amount. The first purchase is looked for in the whole
    history given, then ``start`` / ``end`` keep the customers whose first purchase lies in
    the range, so a customer is new once, in one period. With ``channel_col`` each new buyer
    counts under the channel of that first purchase (the earliest row; on a tie the channel
    first in alphabetical order), so the channels add up to the total.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        Required columns: ``customer_id``, ``ts``, ``amount``; ``channel_col`` when given.
    freq : str, default "month"
        Period length, as in :func:`revenue_by_period`.
    channel_col : str, optional
        Split by the channel of the first purchase (e.g. ``"channel"``: web versus store).
    start, end : timestamp-like, optional
        Keep customers whose first purchase has ``start <= ts < end``.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        Columns ``period``, ``channel_col`` when given, and ``new_customers``; sorted.

    Examples
    --------
    >>> tx = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b", "c"],
    ...     "ts": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-02-03", "2024-02-09"]),
    ...     "amount": [10.0, 5.0, 4.0, -3.0],
    ...     "channel": ["store", "web", "web", "web"],
    ... })
    >>> first_purchases_by_period(tx, channel_col="channel")
          period channel  new_customers
    0 2024-01-01   store              1
    1 2024-02-01     web              1
    >>> first_purchases_by_period(tx, start="2024-02-01")
          period  new_customers
    0 2024-02-01              1
    """
    t, eager = lazy(transactions)
    groups = _as_list(channel_col)
    require(t, "transactions", [ts_col, amount_col, customer_col, *groups])
    sale = t.filter(t[amount_col] > 0)
    first = sale.group_by(customer_col).aggregate(first=sale[ts_col].min())
    if groups:
        rows = sale.join(first, [customer_col]).filter(lambda r: r[ts_col] == r.first)
        first = rows.group_by([customer_col, "first"]).aggregate(
            **{channel_col: rows[channel_col].min()})
    first = _in_range(first, "first", start, end)
    first = first.mutate(period=first.first.truncate(_unit(freq)))
    expr = (first.group_by(["period", *groups])
            .aggregate(new_customers=first[customer_col].count())
            .order_by(["period", *groups]))
    return finish(expr, eager)


def restrict_to_customers(
    transactions: pd.DataFrame | ir.Table,
    customers: pd.DataFrame | ir.Table,
    *,
    customer_col: str = "customer_id",
) -> pd.DataFrame | ir.Table:
    """Keep the transactions of the given customers (a semi-join on the customer id).

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        Any table with a ``customer_id`` column.
    customers : pandas.DataFrame or ibis.Table
        The customers to keep (e.g. one region's customers); same kind as ``transactions``.
    customer_col : str, default "customer_id"
        The id column in both tables.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        The rows of ``transactions`` whose customer is in ``customers``, same columns (for
        pandas in the original order and index). Mixing pandas and ibis gives an ibis Table.

    Examples
    --------
    >>> tx = pd.DataFrame({"customer_id": ["a", "b", "a"], "amount": [1.0, 2.0, 3.0]})
    >>> north = pd.DataFrame({"customer_id": ["a"], "region": ["north"]})
    >>> restrict_to_customers(tx, north)
      customer_id  amount
    0           a     1.0
    2           a     3.0
    """
    if isinstance(transactions, pd.DataFrame) and isinstance(customers, pd.DataFrame):
        for name, frame in (("transactions", transactions), ("customers", customers)):
            require(frame, name, [customer_col])
        return transactions[transactions[customer_col].isin(customers[customer_col])]
    t, _ = lazy(transactions)
    c, _ = lazy(customers)
    require(t, "transactions", [customer_col])
    require(c, "customers", [customer_col])
    keep = c.select(customer_col).distinct()
    return t.semi_join(keep, t[customer_col] == keep[customer_col])
