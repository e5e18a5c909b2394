"""Store lift: what contacting customers did to their purchases, against a held-out control.

A program (the welcome series) contacts most of its eligible customers and holds a random
control group out; the control customers are in the contact history too, in the control cell
(the demo's ``contact_history`` has cell ``control`` at the moment the treated customers get
their first message). For every customer of either group the window opens at the customer's
**first contact** of the campaign and lasts ``window_days``; in it are counted, per customer,
store and web revenue and purchase days (:mod:`lifecycle.purchases`; a day with purchases in
both channels counts once in each channel and once in ``purchases``). Customers without
purchases count with zeros: they are the denominator as much as the buyers.

The **lift** of a measure is the treated customers' mean minus the control customers' mean
(per contacted customer), with Welch's interval and test (see :mod:`.experiments` for why
Welch). Fewer than 30 customers in either group is refused; the skewness rule of
:mod:`.experiments` is not a refusal here but a flag: ``skewness`` is the estimated
skewness of the lift's sampling distribution and ``reliable`` says whether it is within 0.2
(Cochran's rule), where Welch's interval keeps its coverage. A 90/10 hold-out of revenue is
skewed by nature: the control group's few large orders make the difference of the means
skewed, and the interval then covers less often than it says (for revenue that is zero for
90 % of customers and lognormal otherwise, a 90/10 split covered 91.7 % with 400 control
customers, 93.3 % with 1,000 and 94.4 % with 2,000; a larger control group is the remedy).

The **total** is the lift times the number of treated customers, with the interval scaled
alike (the number contacted is fixed; the uncertainty is the per-customer lift's).
``share_of_revenue_lift`` says which part of the revenue increment happened in stores and
which in the web shop (the two shares sum to 1; a share above 1 beside a negative one means
the program also moved purchases out of the other channel). It is left empty when the revenue
lift itself is not significant, since a share of an increment indistinguishable from zero can
take any value: a program that moves purchases between channels without adding any, like the
demo's welcome series, has a store lift, an equal web loss, and no share to speak of.

**Which customers are compared.** The contacts of one campaign (``campaign``; contacts of
several campaigns without one named are an error: a control group belongs to one program).
Left out and counted in ``repairs``: customers whose window is not over by ``as_of`` (their
purchases are not all in yet) and, with ``on_overlap="drop"``, customers who are in both the
control cell and a contacted cell (a held-out customer who was contacted after all, or two
runs whose windows overlap); by default (``on_overlap="raise"``) such customers are a
:class:`~lifecycle.schema.DataError`. A treated customer contacted several times (the steps
of a series) is one customer, counted from the first contact.
"""

from __future__ import annotations

from typing import NamedTuple

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from lifecycle._frames import lazy, require
from lifecycle.kpis._stats import (
    MAX_SKEW,
    difference_skew,
    examples,
    mean_size_problem,
    moments,
    refuse,
    welch,
)
from lifecycle.purchases import purchase_days
from lifecycle.schema import DataError, Problem, end_of

__all__ = ["MEASURES", "Lift", "store_lift"]

MEASURES = ("store_revenue", "web_revenue", "revenue", "store_purchases", "web_purchases",
            "purchases")
"""The measures of :func:`store_lift`, in the order of its rows."""

_DAY_SECONDS = 86_400


class Lift(NamedTuple):
    """What :func:`store_lift` returns: the lift per measure and the counted exclusions
    (``table, column, repair, rows``, as in the workspace's quality report)."""

    table: pd.DataFrame
    repairs: pd.DataFrame


def store_lift(transactions, contacts, *, window_days: float = 90, control_cell="control",
               campaign=None, as_of=None, revenue: str = "net", alpha: float = 0.05,
               on_overlap: str = "raise", customer_col: str = "customer_id", ts_col: str = "ts",
               amount_col: str = "amount", channel_col: str = "channel",
               cell_col: str = "cell_id", contact_ts_col: str = "planned_at",
               campaign_col: str = "campaign_id") -> Lift:
    """Store and web purchases of contacted customers against the control group.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        The canonical transactions: ``customer_col``, ``ts_col``, ``amount_col`` and
        ``channel_col`` (``web`` or ``store``).
    contacts : pandas.DataFrame or ibis.Table
        The contact history: ``customer_col``, ``cell_col`` and ``contact_ts_col`` (and
        ``campaign_col`` to pick a campaign). Customers in ``control_cell`` are the held-out
        group, all others the contacted (treated) ones.
    window_days : float
        The window after each customer's first contact.
    control_cell : label
        The cell of the held-out customers.
    campaign : label, optional
        The campaign to read (required when ``contacts`` hold several).
    as_of : timestamp-like, optional
        The last observed moment (a date: its whole day); default the latest transaction.
        Customers whose window ends after it are left out.
    revenue : {"net", "sales"}
        Revenue as the sum of all rows in the window (returns subtract) or of sales rows only.
    alpha : float
        Significance level; intervals are ``1 - alpha``.
    on_overlap : {"raise", "drop"}
        What to do with customers in both the control cell and a contacted cell.

    Returns
    -------
    Lift
        ``(table, repairs)``. ``table`` has one row per measure of :data:`MEASURES`:
        ``measure, n_treated, n_control, treated_mean, control_mean, lift, ci_low, ci_high,
        p_value, significant, skewness, reliable, total_lift, total_ci_low, total_ci_high,
        share_of_revenue_lift, first_at, last_at`` (the first contacts of the customers
        compared) and ``window_days``. ``repairs`` counts the customers left out.

    Raises
    ------
    DataError
        Missing columns; contacts without a customer, cell or time; several campaigns and
        none named, or none of the one named; no control or no contacted customers; customers
        in both groups (``on_overlap="raise"``); transactions in a window whose channel is
        neither web nor store; fewer than 30 customers in a group.

    Examples
    --------
    Forty customers in each group. In the month after the first contact the contacted
    customers spend about 30 in a store and 25 on the web, the control customers about 20 and
    20:

    >>> ids = [f"c{i}" for i in range(80)]
    >>> contacts = pd.DataFrame({"customer_id": ids, "cell_id": ["mail"] * 40 + ["control"] * 40,
    ...                          "planned_at": pd.Timestamp("2024-01-01")})
    >>> spend = [30.0 + i % 5 for i in range(40)] + [20.0 + i % 3 for i in range(40)]
    >>> web = [25.0 - i % 4 for i in range(40)] + [20.0 - i % 2 for i in range(40)]
    >>> tx = pd.DataFrame({"customer_id": ids * 2, "ts": pd.Timestamp("2024-01-10"),
    ...                    "amount": spend + web, "channel": ["store"] * 80 + ["web"] * 80})
    >>> lift, repairs = store_lift(tx, contacts, window_days=30, as_of="2024-03-31")
    >>> lift.set_index("measure").loc[["store_revenue", "web_revenue", "revenue"],
    ...     ["lift", "ci_low", "ci_high", "total_lift", "share_of_revenue_lift"]].round(2)
                    lift  ci_low  ci_high  total_lift  share_of_revenue_lift
    measure
    store_revenue  11.02   10.50    11.55       441.0                   0.73
    web_revenue     4.00    3.61     4.39       160.0                   0.27
    revenue        15.02   14.37    15.68       601.0                    NaN
    >>> repairs[["repair", "rows"]].to_dict("records")
    [{'repair': 'window of 30 days after the first contact not over by as_of 2024-03-31 00:00:00: left out', 'rows': 0}]
    """
    if revenue not in ("net", "sales"):
        raise ValueError(f"revenue must be 'net' or 'sales', not {revenue!r}")
    if on_overlap not in ("raise", "drop"):
        raise ValueError(f"on_overlap must be 'raise' or 'drop', not {on_overlap!r}")
    if not (isinstance(window_days, int | float) and window_days > 0):
        raise ValueError(f"window_days must be a positive number of days, not {window_days!r}")
    tx, _ = lazy(transactions)
    ct, _ = lazy(contacts)
    require(tx, "transactions", [customer_col, ts_col, amount_col, channel_col])
    require(ct, "contact_history", [customer_col, cell_col, contact_ts_col,
                                    *([campaign_col] if campaign is not None else [])])
    ct = _campaign(ct, campaign, campaign_col, [customer_col, cell_col, contact_ts_col])
    if as_of is None:
        as_of = tx[ts_col].max().execute()
    end = end_of(as_of)
    groups, repairs = _groups(ct, customer_col, cell_col, contact_ts_col, control_cell,
                              window_days, end, on_overlap, as_of)
    per = _per_customer(tx, groups, as_of, revenue, customer_col, ts_col, amount_col,
                        channel_col)
    m = moments(per, ["control"], list(MEASURES))
    treated, control = (m[m.control == flag].iloc[0] for flag in (False, True))
    refuse(_size(treated, control))
    table = _table(treated, control, alpha, window_days)
    span = groups.aggregate(first_at=groups.first_at.min(), last_at=groups.first_at.max())
    span = span.execute().iloc[0]
    table.insert(len(table.columns) - 1, "first_at", span.first_at)
    table.insert(len(table.columns) - 1, "last_at", span.last_at)
    return Lift(table, pd.DataFrame(repairs, columns=["table", "column", "repair", "rows"]))


def _campaign(ct: ir.Table, campaign, campaign_col, needed) -> ir.Table:
    """The contacts of one campaign; DataError for blank rows or an unnamed mix."""
    if campaign is not None:
        present = ct[campaign_col].cast("string").value_counts().execute()
        ct = ct.filter(ct[campaign_col] == ibis.literal(campaign).cast(ct[campaign_col].type()))
        if not ct.count().execute():
            names = ", ".join(repr(v) for v in present.iloc[:, 0].head(10))
            raise DataError([Problem("contact_history", campaign_col, f"no contacts of "
                                     f"campaign {campaign!r} (campaigns present: "
                                     f"{names or 'none'})", 0)])
    elif campaign_col in ct.columns:
        present = ct[campaign_col].value_counts().execute()
        if len(present) > 1:
            names = ", ".join(repr(v) for v in present.iloc[:, 0].head(10))
            raise DataError([Problem("contact_history", campaign_col, f"contacts of several "
                                     f"campaigns ({names}): name one with campaign=, a control "
                                     "group belongs to one program", int(ct.count().execute()),
                                     present.head(5))])
    problems = []
    for col in needed:
        blank = ct[col].isnull()
        rows = int(blank.cast("int64").sum().execute() or 0)
        if rows:
            problems.append(Problem("contact_history", col, "missing value", rows,
                                    examples(ct, blank, needed)))
    refuse(problems)
    return ct


def _groups(ct: ir.Table, customer_col, cell_col, contact_ts_col, control_cell, window_days,
            end, on_overlap, as_of):
    """Per customer: the first contact, the window's end, and the group (control or not)."""
    in_control = ct[cell_col] == ibis.literal(control_cell).cast(ct[cell_col].type())
    per = ct.group_by(_cust=ct[customer_col]).aggregate(
        first_at=ct[contact_ts_col].min(), control=in_control.any(), treated=(~in_control).any())
    counts = per.aggregate(control=per.control.cast("int64").sum(),
                           treated=per.treated.cast("int64").sum(),
                           both=(per.control & per.treated).cast("int64").sum()).execute().iloc[0]
    cells = ", ".join(repr(v) for v in ct[cell_col].value_counts().execute().iloc[:, 0].head(10))
    if counts.control == 0 or counts.treated == counts.both:
        who = "in the control cell" if counts.control == 0 else "contacted outside the control cell"
        raise DataError([Problem("contact_history", cell_col, f"no customers {who} "
                                 f"{control_cell!r} (cells present: {cells})", 0)])
    repairs = []
    if counts.both:
        rule = (f"customers both in the control cell {control_cell!r} and in a contacted cell "
                "(a held-out customer was contacted, or two runs' windows overlap)")
        if on_overlap == "raise":
            both = per.filter(per.control & per.treated).select("_cust").limit(3)
            shown = ct.inner_join(both, ct[customer_col] == both._cust)
            raise DataError([Problem(
                "contact_history", cell_col, rule + ": leave them out with on_overlap='drop'",
                int(counts.both), shown.select(customer_col, cell_col, contact_ts_col)
                .order_by([customer_col, contact_ts_col]).limit(10).execute())])
        repairs.append(("contact_history", cell_col, rule + ": left out", int(counts.both)))
    per = per.filter(~(per.control & per.treated))
    span = ibis.interval(seconds=round(window_days * _DAY_SECONDS))
    per = per.mutate(end_at=per.first_at + span)
    observed = per.end_at <= ibis.literal(end).cast(per.end_at.type())
    short = int(per.filter(~observed).count().execute())
    repairs.append(("contact_history", contact_ts_col, f"window of {window_days:g} days after "
                    f"the first contact not over by as_of {pd.Timestamp(as_of)}: left out",
                    short))
    return per.filter(observed).select("_cust", "first_at", "end_at", "control"), repairs


def _per_customer(tx: ir.Table, groups: ir.Table, as_of, revenue, customer_col, ts_col,
                  amount_col, channel_col) -> ir.Table:
    """One row per compared customer: the measures of :data:`MEASURES` in the window."""
    cust = tx[customer_col]
    if cust.type() != groups._cust.type():
        tx = tx.mutate(**{customer_col: cust.cast("string")})
        groups = groups.mutate(_cust=groups._cust.cast("string"))
    j = tx.inner_join(groups, tx[customer_col] == groups._cust)
    start, stop = (j[c].cast(j[ts_col].type()) for c in ("first_at", "end_at"))
    rows = j.filter((j[ts_col] >= start) & (j[ts_col] < stop))
    channel = rows[channel_col].cast("string").lower()
    unknown = rows.filter(channel.isnull() | ~channel.isin(["web", "store"]))
    bad = int(unknown.count().execute())
    if bad:
        raise DataError([Problem("transactions", channel_col, "channel must be web or store "
                                 "for the store / web split (in a compared customer's window)",
                                 bad, unknown.select(customer_col, ts_col, amount_col,
                                                     channel_col).limit(5).execute())])
    rows = rows.mutate(_store=channel == "store", _amount=rows[amount_col].cast("float64"))
    money = rows._amount if revenue == "net" else ibis.greatest(rows._amount, 0.0)
    rows = rows.mutate(_money=money)
    spend = rows.group_by("_cust").aggregate(store_revenue=rows._money.sum(where=rows._store),
                                             web_revenue=rows._money.sum(where=~rows._store))
    out = groups.left_join(spend, "_cust").select(groups._cust, groups.control,
                                                  "store_revenue", "web_revenue")
    for name, part in (("store_purchases", rows.filter(rows._store)),
                       ("web_purchases", rows.filter(~rows._store)), ("purchases", rows)):
        days = purchase_days(part.select("_cust", ts_col, "_amount"), end=as_of,
                             customer_col="_cust", ts_col=ts_col, amount_col="_amount")
        counted = days.group_by(_c=days.customer_id).aggregate(**{name: days.count()})
        out = out.left_join(counted, out._cust == counted._c).drop("_c")
    out = out.mutate(**{c: out[c].cast("float64").fill_null(0.0) for c in MEASURES
                        if c != "revenue"})
    return out.mutate(revenue=out.store_revenue + out.web_revenue)


def _size(treated, control) -> list[Problem]:
    """At least :data:`~lifecycle.kpis._stats.MIN_N` customers per group (skewness is flagged
    per measure in the table, not refused: a 90/10 hold-out of revenue is skewed by nature)."""
    shown = pd.DataFrame({"group": ["treated", "control"],
                          "customers": [int(treated.n), int(control.n)]})
    problem = mean_size_problem("contact_history", "customer_id", "customers", int(treated.n),
                                int(control.n), np.nan, shown,
                                ("the contacted group", "the control group"))
    return [] if problem is None else [problem]

def _table(treated, control, alpha, window_days) -> pd.DataFrame:
    rows = []
    for name in MEASURES:
        t_mean, c_mean = treated[f"{name}_mean"], control[f"{name}_mean"]
        effect, low, high, p = (float(v) for v in welch(
            t_mean, treated[f"{name}_sd"], treated.n, c_mean, control[f"{name}_sd"],
            control.n, alpha))
        skew = float(difference_skew(treated[f"{name}_sd"], treated[f"{name}_skew"], treated.n,
                                     control[f"{name}_sd"], control[f"{name}_skew"],
                                     control.n))
        rows.append((name, int(treated.n), int(control.n), t_mean, c_mean, effect, low, high, p,
                     skew))
    out = pd.DataFrame(rows, columns=["measure", "n_treated", "n_control", "treated_mean",
                                      "control_mean", "lift", "ci_low", "ci_high", "p_value",
                                      "skewness"])
    out["significant"] = out.p_value < alpha
    out["reliable"] = np.isfinite(out.ci_low) & (out.skewness.abs() <= MAX_SKEW)
    for col, src in (("total_lift", "lift"), ("total_ci_low", "ci_low"),
                     ("total_ci_high", "ci_high")):
        out[col] = out[src] * out.n_treated
    total = out.set_index("measure").loc["revenue"]
    share = np.full(len(out), np.nan)
    if total.significant and total.lift != 0:
        channel = out.measure.isin(["store_revenue", "web_revenue"]).to_numpy()
        share[channel] = out.lift[channel] / total.lift
    out["share_of_revenue_lift"] = share
    out["window_days"] = window_days
    return out[["measure", "n_treated", "n_control", "treated_mean", "control_mean", "lift",
                "ci_low", "ci_high", "p_value", "significant", "skewness", "reliable",
                "total_lift", "total_ci_low", "total_ci_high", "share_of_revenue_lift",
                "window_days"]]
