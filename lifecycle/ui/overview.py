"""The overview dashboard: headline numbers, revenue by month (web vs store), new customers.

A thin layout over :mod:`lifecycle.sales` and :mod:`lifecycle.plots`. Each widget comes from one
small function; :func:`build_overview_app` wires the filters to a refresh that recomputes the
aggregates in the workspace's backend and updates the ``FigureWidget`` objects in place (no
``Output.clear_output(wait=True)``, which can hang a Voila page at load).

Stable CSS classes for browser tests and styling: ``lifecycle-overview`` (the app),
``lifecycle-region-filter``, ``lifecycle-channel-filter``, ``lifecycle-period-filter``,
``lifecycle-headline`` (with one ``lifecycle-kpi-<name>`` element per number),
``lifecycle-revenue-figure``, ``lifecycle-new-customers-figure``.
"""

from __future__ import annotations

import html

import ibis.expr.types as ir
import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from lifecycle import plots, sales

__all__ = [
    "ALL",
    "build_overview_app",
    "channel_filter",
    "figure_widget",
    "headline_widget",
    "period_filter",
    "region_filter",
    "update_figure",
    "update_headline",
]

#: The option that switches a filter off.
ALL = "All"


def region_filter(regions: list[str]) -> widgets.Dropdown:
    """A dropdown of customer regions with an ``All`` option first."""
    dropdown = widgets.Dropdown(options=[ALL, *regions], value=ALL, description="Region")
    dropdown.add_class("lifecycle-region-filter")
    return dropdown


def channel_filter(channels: list[str]) -> widgets.ToggleButtons:
    """Toggle buttons for the sales channel (``All``, ``store``, ``web``, ...)."""
    toggle = widgets.ToggleButtons(
        options=[ALL, *channels], value=ALL, description="Channel",
        style={"button_width": "72px", "description_width": "initial"},
    )
    toggle.add_class("lifecycle-channel-filter")
    return toggle


def period_filter(months: list[pd.Timestamp]) -> widgets.SelectionRangeSlider:
    """A range slider over month starts; its value is the (first, last) month included."""
    options = [(m.strftime("%b %Y"), m) for m in months]
    slider = widgets.SelectionRangeSlider(
        options=options,
        index=(0, len(options) - 1),
        description="Months",
        continuous_update=False,
        layout=widgets.Layout(width="480px"),
    )
    slider.add_class("lifecycle-period-filter")
    return slider


def headline_widget() -> widgets.HTML:
    """An (empty) HTML widget that :func:`update_headline` fills with the headline numbers."""
    headline = widgets.HTML()
    headline.add_class("lifecycle-headline")
    return headline


def figure_widget(figure: go.Figure, css_class: str) -> go.FigureWidget:
    """Wrap ``figure`` in a ``FigureWidget`` carrying ``css_class``."""
    widget = go.FigureWidget(figure)
    widget.add_class(css_class)
    return widget


_KPI_STYLE = (
    "display:inline-block;min-width:150px;margin:0 12px 8px 0;padding:8px 12px;"
    "border:1px solid #ddd;border-radius:6px"
)


def _kpi(name: str, label: str, value: str) -> str:
    """One headline number as an HTML card."""
    return (
        f'<div class="lifecycle-kpi lifecycle-kpi-{name}" style="{_KPI_STYLE}">'
        f'<div style="color:#666;font-size:12px">{html.escape(label)}</div>'
        f'<div class="lifecycle-kpi-value" style="font-size:22px;font-weight:600">'
        f"{html.escape(value)}</div></div>"
    )


def update_headline(headline: widgets.HTML, totals: pd.Series, new_customers: int) -> None:
    """Show the totals of the selection (a row of ``sales.revenue_totals``) in ``headline``."""
    cards = [
        ("customers", "Buying customers", f"{int(totals['customers']):,}"),
        ("new-customers", "New customers", f"{int(new_customers):,}"),
        ("revenue", "Net revenue", f"{float(totals['net']):,.0f}"),
        ("orders", "Orders", f"{int(totals['orders']):,}"),
        ("returns", "Returns", f"{float(totals['returns']):,.0f}"),
    ]
    headline.value = "".join(_kpi(*card) for card in cards)


def update_figure(widget: go.FigureWidget, figure: go.Figure) -> None:
    """Show ``figure`` in ``widget`` in place, matching traces by name.

    Kept traces are restyled, missing ones dropped, new ones added, then the order is made the
    figure's. Without unique trace names every trace is replaced.

    Examples
    --------
    >>> def bars(**ys):
    ...     return go.Figure([go.Bar(x=[1, 2], y=y, name=name) for name, y in ys.items()])
    >>> widget = go.FigureWidget(bars(store=[1, 2], web=[3, 4]))
    >>> update_figure(widget, bars(web=[5, 6]))
    >>> [(t.name, t.y) for t in widget.data]
    [('web', (5, 6))]
    >>> update_figure(widget, bars(store=[7, 8], web=[9, 9]))
    >>> [(t.name, t.y) for t in widget.data]
    [('store', (7, 8)), ('web', (9, 9))]
    """
    names = [t.name for t in figure.data]
    if len(set(names)) < len(names):
        widget.data = []
        widget.add_traces(list(figure.data))
        return
    new = dict(zip(names, figure.data, strict=True))
    kept = [t for t in widget.data if t.name in new]
    if len(kept) < len(widget.data):
        widget.data = kept
    with widget.batch_update():
        for trace in widget.data:
            trace.x, trace.y = new[trace.name].x, new[trace.name].y
        widget.layout.annotations = figure.layout.annotations
    shown = {t.name for t in widget.data}
    widget.add_traces([t for t in figure.data if t.name not in shown])
    if [t.name for t in widget.data] != names:
        widget.data = sorted(widget.data, key=lambda t: names.index(t.name))


def _distinct(table: ir.Table, column: str) -> list[str]:
    """Sorted distinct non-null values of ``column`` (empty when the column is absent)."""
    if column not in table.columns:
        return []
    values = table.filter(table[column].notnull()).select(column).distinct().execute()
    return sorted(str(v) for v in values[column])


def _months(transactions: ir.Table, ts_col: str = "ts") -> list[pd.Timestamp]:
    """Month starts from the first to the last transaction."""
    bounds = transactions.aggregate(lo=transactions[ts_col].min(), hi=transactions[ts_col].max())
    lo, hi = bounds.execute().iloc[0]
    if pd.isna(lo):
        return [pd.Timestamp.now().to_period("M").start_time]
    return list(pd.period_range(lo, hi, freq="M").start_time)


def _selected(choice: str, table: ir.Table, column: str) -> ir.Table:
    """Rows of ``table`` whose ``column`` equals ``choice`` (all rows for ``ALL``)."""
    return table if choice == ALL else table.filter(table[column] == choice)


def _overview_frames(customers, transactions, *, region, channel, months) -> dict:
    """The aggregates one state of the filters shows, as pandas frames."""
    start, end = months[0], months[1] + pd.offsets.MonthBegin(1)
    people = _selected(region, customers, "region")
    tx = _selected(channel, transactions, "channel")
    if region != ALL:
        tx = sales.restrict_to_customers(tx, people)
    by = "channel" if "channel" in transactions.columns else None
    return {
        "revenue": sales.revenue_by_period(tx, by=by, start=start, end=end).execute(),
        "totals": sales.revenue_totals(tx, start=start, end=end).execute().iloc[0],
        "new": sales.new_customers_by_period(people, start=start, end=end).execute(),
    }


def _current_frames(parts: dict, customers: ir.Table, transactions: ir.Table) -> dict:
    """The aggregates for the current values of the filter widgets."""
    region = parts["region"].value if parts["region"] is not None else ALL
    channel = parts["channel"].value if parts["channel"] is not None else ALL
    return _overview_frames(
        customers, transactions, region=region, channel=channel, months=parts["period"].value
    )


def _figures(frames: dict) -> dict[str, go.Figure]:
    """The revenue and new-customer figures of one state of the filters."""
    color = "channel" if "channel" in frames["revenue"].columns else None
    return {
        "revenue": plots.revenue_figure(frames["revenue"], color=color),
        "new": plots.new_customers_figure(frames["new"]),
    }


def _refresh(parts: dict, customers: ir.Table, transactions: ir.Table) -> None:
    """Recompute the aggregates for the current filter values and update the widgets."""
    frames = _current_frames(parts, customers, transactions)
    for key, figure in _figures(frames).items():
        update_figure(parts[key], figure)
    update_headline(parts["headline"], frames["totals"], frames["new"]["new_customers"].sum())


def _layout(parts: dict) -> widgets.VBox:
    """Arrange filters, headline and figures; tag the whole app with its CSS class."""
    filters = [parts[k] for k in ("region", "channel", "period") if parts[k] is not None]
    title = widgets.HTML("<h2 style='margin:4px 0'>Customer and sales overview</h2>")
    cell = widgets.Layout(flex="1 1 560px", min_width="420px")
    figures = widgets.HBox(
        [widgets.Box([parts[k]], layout=cell) for k in ("revenue", "new")],
        layout=widgets.Layout(flex_flow="row wrap", width="100%"),
    )
    bar = widgets.HBox(filters, layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
    app = widgets.VBox([title, bar, parts["headline"], figures])
    app.add_class("lifecycle-overview")
    return app


def build_overview_app(workspace) -> widgets.VBox:
    """Build the overview dashboard for a workspace.

    Parameters
    ----------
    workspace : lifecycle.Workspace
        Anything with ``table(name) -> ibis.Table`` giving the canonical ``customers``
        (``customer_id``, ``created_at``, optional ``region``) and ``transactions``
        (``customer_id``, ``ts``, ``amount``, optional ``transaction_id``, ``channel``).

    Returns
    -------
    ipywidgets.VBox
        Filters (region, channel, months), headline numbers for the selection, net revenue by
        month split web / store, and new customers by month. Changing a filter recomputes the
        aggregates in the workspace backend and updates the figures in place.

    Examples
    --------
    >>> import ibis
    >>> class Demo:
    ...     def table(self, name):
    ...         return ibis.memtable({
    ...             "customers": pd.DataFrame({
    ...                 "customer_id": ["a", "b"], "region": ["north", "south"],
    ...                 "created_at": pd.to_datetime(["2024-01-03", "2024-02-10"])}),
    ...             "transactions": pd.DataFrame({
    ...                 "customer_id": ["a", "b"], "amount": [10.0, 5.0],
    ...                 "channel": ["web", "store"],
    ...                 "ts": pd.to_datetime(["2024-01-05", "2024-02-11"])}),
    ...         }[name])
    >>> app = build_overview_app(Demo())
    >>> "lifecycle-overview" in app._dom_classes
    True
    """
    customers, transactions = workspace.table("customers"), workspace.table("transactions")
    regions, channels = _distinct(customers, "region"), _distinct(transactions, "channel")
    parts = {
        "region": region_filter(regions) if regions else None,
        "channel": channel_filter(channels) if channels else None,
        "period": period_filter(_months(transactions)),
        "headline": headline_widget(),
    }
    # A FigureWidget inside a box sends its state once, when the page first renders it: build
    # the widgets from the first figures; later changes go as in-place updates.
    frames = _current_frames(parts, customers, transactions)
    figures = _figures(frames)
    parts["revenue"] = figure_widget(figures["revenue"], "lifecycle-revenue-figure")
    parts["new"] = figure_widget(figures["new"], "lifecycle-new-customers-figure")
    update_headline(parts["headline"], frames["totals"], frames["new"]["new_customers"].sum())
    for key in ("region", "channel", "period"):
        if parts[key] is not None:
            parts[key].observe(lambda _change: _refresh(parts, customers, transactions), "value")
    return _layout(parts)
