"""The overview dashboard: headline numbers, net revenue by month (web vs store), new buyers.

A thin layout over :mod:`lifecycle.sales` and :mod:`lifecycle.plots`, drawn through
:func:`lifecycle.ui.panel.dashboard`: every card and figure comes from one filter state.

Definitions, all following every filter (region of the customer, sales channel, months):
buying customers bought in the months shown; new customers made their first purchase ever in
the months shown (with a channel filter: their first purchase was in that channel); net
revenue is sales minus returns.

CSS classes for browser tests and styling: ``lifecycle-overview`` (the app),
``lifecycle-region-filter``, ``lifecycle-channel-filter``, ``lifecycle-period-filter``; the
panel's cards ``lc-card-<name>`` and figures ``lc-figure-<name>``.
"""

from __future__ import annotations

import ibis.expr.types as ir
import pandas as pd

from lifecycle import plots, sales
from lifecycle.formats import count, money
from lifecycle.ui import controls
from lifecycle.ui.panel import Card, cards, dashboard, figure, note

__all__ = ["build_overview_app", "overview_view"]


def _frames(customers: ir.Table, transactions: ir.Table, state: dict) -> dict:
    """The aggregates one filter state shows, as pandas frames."""
    first_month, last_month = state["months"]
    start, end = first_month, last_month + pd.offsets.MonthBegin(1)
    tx = transactions
    if state.get("region", controls.ALL) != controls.ALL:
        people = customers.filter(customers.region == state["region"])
        tx = sales.restrict_to_customers(tx, people)
    split = "channel" if "channel" in transactions.columns else None
    new = sales.first_purchases_by_period(tx, channel_col=split, start=start, end=end).execute()
    channel = state.get("channel", controls.ALL)
    if channel != controls.ALL:
        tx = tx.filter(tx.channel == channel)
        new = new[new.channel == channel]
    return {
        "revenue": sales.revenue_by_period(tx, by=split, start=start, end=end).execute(),
        "totals": sales.revenue_totals(tx, start=start, end=end).execute().iloc[0],
        "new": new,
    }


def overview_view(customers: ir.Table, transactions: ir.Table, *,
                  currency: str | None = None):
    """``view(state) -> blocks`` of the overview for :func:`lifecycle.ui.panel.dashboard`."""
    split = "channel" if "channel" in transactions.columns else None

    def view(state: dict) -> list[dict]:
        f = _frames(customers, transactions, state)
        totals, new_total = f["totals"], int(f["new"]["new_customers"].sum())
        headline = [
            Card("customers", "Buying customers", totals["customers"],
                 count(totals["customers"])),
            Card("new-customers", "New customers", new_total, count(new_total),
                 "first purchase ever in these months"),
            Card("revenue", "Net revenue", totals["net"], money(totals["net"], currency),
                 "sales minus returns"),
            Card("orders", "Orders", totals["orders"], count(totals["orders"])),
            Card("returns", "Returns (refunded)", totals["returns"],
                 money(totals["returns"], currency)),
        ]
        revenue = plots.revenue_figure(f["revenue"], color=split, currency=currency)
        new = plots.new_customers_figure(f["new"], color=split,
                                         title="New customers by month (first purchase)")
        return [cards(headline),
                figure("revenue", revenue, agrees_with="revenue"),
                figure("new-customers", new, agrees_with="new-customers"),
                note("definitions", "Every number follows every filter. Region is the "
                     "customer's home region; new customers are counted in the month of their "
                     "first purchase ever, under the channel of that purchase.")]
    return view


def build_overview_app(workspace):
    """Build the overview dashboard for a workspace.

    Parameters
    ----------
    workspace : lifecycle.Workspace
        Gives the canonical ``customers`` (``customer_id``, ``created_at``, optional
        ``region``) and ``transactions`` (``customer_id``, ``ts``, ``amount``, optional
        ``transaction_id``, ``channel``), its ``currency`` and ``as_of``.

    Returns
    -------
    ipywidgets.VBox
        Filters (region, channel, months), headline numbers for the selection, net revenue
        by month split web / store, and new customers by month.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from lifecycle import Workspace
    >>> ws = Workspace.open(Path(tempfile.mkdtemp()) / "shop.duckdb", create=True,
    ...                     as_of="2024-02-29", currency="EUR")
    >>> _ = ws.load("customers", pd.DataFrame({
    ...     "customer_id": ["a", "b"], "region": ["north", "south"],
    ...     "created_at": pd.to_datetime(["2024-01-03", "2024-02-10"])}))
    >>> _ = ws.load("transactions", pd.DataFrame({
    ...     "customer_id": ["a", "b"], "amount": [10.0, 5.0], "channel": ["web", "store"],
    ...     "ts": pd.to_datetime(["2024-01-05", "2024-02-11"])}))
    >>> app = build_overview_app(ws)
    >>> "€15" in app.panel.content["blocks"][0]["html"]
    True
    """
    customers, transactions = workspace.table("customers"), workspace.table("transactions")
    filters = {}
    if regions := controls.distinct(customers, "region"):
        filters["region"] = controls.dropdown("Region", regions, "lifecycle-region-filter")
    if channels := controls.distinct(transactions, "channel"):
        filters["channel"] = controls.toggles("Channel", channels, "lifecycle-channel-filter")
    months = controls.months(transactions, as_of=workspace.as_of)
    filters["months"] = controls.month_range(months, "lifecycle-period-filter")
    return dashboard("Customer and sales overview", filters,
                     overview_view(customers, transactions, currency=workspace.currency),
                     subtitle=f"Data as of {workspace.as_of:%d %b %Y}" if workspace.as_of
                     else "", css_class="lifecycle-overview")
