"""The customer-value dashboard: CLV over 6 and 12 months, RFM segments, concentration,
P(alive) and the most valuable customers, by region and acquisition channel.

The per-customer table behind it (:func:`customer_base`: BG/NBD + Gamma-Gamma fit, RFM
segment, value score) is computed once per workspace version and cached
(:meth:`lifecycle.Workspace.cached`); a filter change only selects rows of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lifecycle import clv, plots, rfm, sales, value
from lifecycle.formats import count, money, money_affixes, percent
from lifecycle.schema import end_of
from lifecycle.ui import controls
from lifecycle.ui.panel import Card, cards, dashboard, figure, note, table

__all__ = ["build_customer_value_app", "cached_customer_base", "customer_base",
           "customer_value_view"]

#: P(alive) bands shown on the page, as (lower bound, label).
ALIVE_BANDS = [(0.0, "under 25 %"), (0.25, "25-50 %"), (0.5, "50-75 %"), (0.75, "75 % or more")]


def customer_base(workspace, *, as_of=None) -> pd.DataFrame:
    """One row per buying customer: region, acquisition channel, net revenue to date (sales
    minus returns, as on the overview), RFM scores and segment, P(alive), 6- and 12-month CLV,
    the eight value criteria's measures (:func:`lifecycle.value.criteria`) and the value score
    and rank among buying customers at the default weights.

    The workshop dashboard ranks the same customers on the same measures, so its starting
    ranking is the one shown here.
    """
    as_of = pd.Timestamp(as_of) if as_of is not None else workspace.as_of
    tx = workspace.table("transactions")
    future = clv.customer_value(tx, as_of=as_of, horizons_months=(6, 12))
    scores = rfm.segment(rfm.score(rfm.rfm(tx, as_of=as_of))).execute().set_index("customer_id")
    people = workspace.table("customers").execute().set_index("customer_id")
    measures = value.criteria(workspace.table("customers"), tx, workspace.table("feedback"),
                              as_of=as_of, clv=future, clv_col="clv_12m")
    net = sales.revenue_totals(tx, by="customer_id", end=end_of(as_of)).execute()
    base = scores[["r", "f", "segment"]].join(net.set_index("customer_id").net.rename("revenue"))
    base = base.join(future.set_index("customer_id")[["p_alive", "clv_6m", "clv_12m"]],
                     how="inner")
    base = base.join(people.reindex(columns=["region", "acquisition_channel"]), how="left")
    criteria = measures.columns.drop("customer_id")
    base = base.join(measures.set_index("customer_id"), how="left").sort_index()
    ranked = value.score(base[criteria].reset_index()).set_index("customer_id")
    return base.join(ranked[["score", "rank"]])


def cached_customer_base(workspace) -> pd.DataFrame:
    """:func:`customer_base` of the workspace, computed once per workspace version."""
    return workspace.cached("customer_value", lambda: customer_base(workspace),
                            tables=("customers", "transactions", "feedback"))


def _selected(base: pd.DataFrame, state: dict) -> pd.DataFrame:
    for column in ("region", "acquisition_channel"):
        choice = state.get(column, controls.ALL)
        if choice != controls.ALL:
            base = base[base[column] == choice]
    return base


def _by_segment_figure(rows: pd.DataFrame, currency) -> go.Figure:
    per = rows.groupby("segment", observed=True).clv_12m.sum().sort_values()
    prefix, suffix = money_affixes(currency)
    fig = go.Figure(go.Bar(x=per.to_numpy(), y=per.index.to_numpy(), orientation="h",
                           name="12-month CLV", marker_color="#2a6fb0",
                           hovertemplate=f"%{{y}}: {prefix}%{{x:,.0f}}{suffix}<extra></extra>"))
    plots.style(fig, title="Predicted value of the next 12 months by segment", money=True,
                currency=currency, height=380)
    return fig


def _distribution_figure(rows: pd.DataFrame, currency) -> go.Figure:
    inner = (np.unique(np.round(np.quantile(rows.clv_12m, np.linspace(0.1, 0.9, 9)), 0))
             if len(rows) else np.array([]))
    bins = pd.cut(rows.clv_12m, bins=np.r_[-np.inf, inner, np.inf], right=False)
    counts = bins.value_counts(sort=False)
    fmt = lambda v: money(v, currency)  # noqa: E731
    labels = [("every value" if i.left == -np.inf and i.right == np.inf else
               f"under {fmt(i.right)}" if i.left == -np.inf else
               f"{fmt(i.left)} or more" if i.right == np.inf else
               f"{fmt(i.left)}-{fmt(i.right)}") for i in counts.index]
    fig = go.Figure(go.Bar(x=labels, y=counts.to_numpy(), name="Customers",
                           marker_color="#6a9fd4",
                           hovertemplate="%{x}: %{y:,} customers<extra></extra>"))
    plots.style(fig, title="How 12-month CLV is spread over customers (deciles)",
                y_title="Customers", height=380)
    return fig


def _alive_figure(rows: pd.DataFrame) -> go.Figure:
    bounds = [b for b, _ in ALIVE_BANDS] + [1.000001]
    band = pd.cut(rows.p_alive, bins=bounds, right=False, labels=[n for _, n in ALIVE_BANDS])
    counts = band.value_counts(sort=False)
    fig = go.Figure(go.Bar(x=counts.index.astype(str).to_numpy(), y=counts.to_numpy(),
                           name="Customers", marker_color="#7fb77e",
                           hovertemplate="P(alive) %{x}: %{y:,} customers<extra></extra>"))
    plots.style(fig, title="Customers by probability of still being active (P(alive))",
                y_title="Customers", height=380)
    return fig


def _top_table(rows: pd.DataFrame, currency, n: int = 15) -> pd.DataFrame:
    top = rows.sort_values("rank").head(n)
    return pd.DataFrame({
        "Rank": [count(r) for r in top["rank"]],
        "Customer": top.index.astype(str),
        "Segment": top.segment.astype(str),
        "Region": top.region.fillna("–").astype(str),
        "Value score": [f"{s:.1f}" for s in top.score],
        "12-month CLV": [money(v, currency) for v in top.clv_12m],
        "P(alive)": [percent(p, decimals=0) for p in top.p_alive],
    })


def customer_value_view(base: pd.DataFrame, *, currency: str | None = None):
    """``view(state) -> blocks`` of the customer-value dashboard over :func:`customer_base`."""
    grid = rfm.segment_cells(base.reset_index())[["r", "f", "segment"]]  # names of the 25 cells

    def view(state: dict) -> list[dict]:
        rows = _selected(base, state)
        curve = rfm.concentration(rows.reset_index().assign(ts=pd.Timestamp(0)),
                                  value_col="revenue")
        top20 = rfm.concentration_summary(curve, tops=(0.2,))["top 20%"] if len(rows) else 0.0
        headline = [
            Card("customers", "Customers", len(rows), count(len(rows)), "bought at least once"),
            Card("clv-6m", "Value of the next 6 months", rows.clv_6m.sum(),
                 money(rows.clv_6m.sum(), currency), "predicted, discounted (CLV)"),
            Card("clv-12m", "Value of the next 12 months", rows.clv_12m.sum(),
                 money(rows.clv_12m.sum(), currency), "predicted, discounted (CLV)"),
            Card("revenue", "Net revenue to date", rows.revenue.sum(),
                 money(rows.revenue.sum(), currency), "sales minus returns"),
            Card("top20", "Revenue from the top 20 %", top20, percent(top20, decimals=0)),
        ]
        per_cell = rows.groupby(["r", "f"]).revenue.agg(customers="size", revenue="sum")
        cells = grid.merge(per_cell.reset_index(), on=["r", "f"], how="left").fillna(
            {"customers": 0, "revenue": 0.0}).astype({"customers": "int64"})
        return [
            cards(headline),
            note("concentration", f"The top 20 % of customers bring **{percent(top20, decimals=0)}"
                 f"** of revenue to date; the top 20 % by predicted 12-month value hold "
                 f"**{percent(_top_share(rows.clv_12m), decimals=0)}** of it."),
            figure("clv-by-segment", _by_segment_figure(rows, currency), agrees_with="clv-12m",
                   measure="x"),
            figure("clv-distribution", _distribution_figure(rows, currency),
                   agrees_with="customers"),
            figure("segment-map", plots.segment_map_figure(cells, currency=currency),
                   agrees_with="customers", measure="customdata", width="full"),
            figure("p-alive", _alive_figure(rows), agrees_with="customers"),
            table("top-customers", _top_table(rows, currency),
                  caption="Most valuable customers by value score (all eight criteria)",
                  numeric=("Rank", "Value score", "12-month CLV", "P(alive)")),
        ]
    return view


def _top_share(values: pd.Series, top: float = 0.2) -> float:
    """Share of the total held by the largest ``top`` share of values."""
    if values.sum() <= 0:
        return 0.0
    k = max(1, int(np.ceil(top * len(values))))
    return float(values.nlargest(k).sum() / values.sum())


def build_customer_value_app(workspace):
    """The customer-value dashboard for a workspace (see the module docstring).

    The per-customer fit is cached per workspace version; filters: region and acquisition
    channel of the customer.
    """
    base = cached_customer_base(workspace)
    filters = {
        "region": controls.dropdown("Region", controls.distinct(base, "region"),
                                    "lifecycle-region-filter"),
        "acquisition_channel": controls.dropdown(
            "Acquired via", controls.distinct(base, "acquisition_channel"),
            "lifecycle-acquisition-filter"),
    }
    subtitle = (f"Data as of {workspace.as_of:%d %b %Y}; lifetime value from a BG/NBD and "
                "Gamma-Gamma fit, discounted at 10 % a year")
    return dashboard("Customer value", filters,
                     customer_value_view(base, currency=workspace.currency),
                     subtitle=subtitle, css_class="lifecycle-customer-value")
