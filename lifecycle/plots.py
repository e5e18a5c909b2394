"""Plotly figure builders: a tidy frame in, a ``plotly.graph_objects.Figure`` out.

No computation happens here: the frames come from the analytics modules (``lifecycle.sales``,
``lifecycle.rfm``, ...) already aggregated. Each builder is ``def ..._figure(frame, ...)``,
names its traces after the groups they show, and sets a title so a figure reads on its own.
Wrap a result in ``plotly.graph_objects.FigureWidget`` to update it in place in a dashboard.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative

from lifecycle.formats import money, money_d3

__all__ = [
    "GROUP_COLORS",
    "label",
    "period_axis",
    "allocation_figure",
    "attribution_figure",
    "concentration_figure",
    "distribution_figure",
    "markov_transitions_figure",
    "new_customers_figure",
    "path_lengths_figure",
    "revenue_figure",
    "segment_map_figure",
    "stage_rates_figure",
    "stage_sizes_figure",
    "style",
    "table_rows_figure",
    "time_to_conversion_figure",
    "transition_figure",
    "value_components_figure",
]

#: Fixed colours for groups that recur across views, so "web" is the same blue everywhere.
GROUP_COLORS = {"web": "#1f77b4", "store": "#ff7f0e", "all": "#2ca02c"}

def _white_template() -> go.layout.Template:
    """plotly's "plotly_white" look, cut to the 2-D charts drawn here: a fifth of its size.
    Every figure carries a copy of its template, and copying the whole one took 14 ms per
    figure (1.6 ms for this), a tenth of a dashboard's redraw."""
    white = pio.templates["plotly_white"]
    return go.layout.Template(
        layout={k: white.layout[k] for k in ("autotypenumbers", "colorway", "font", "title",
                                             "hoverlabel", "paper_bgcolor", "plot_bgcolor",
                                             "xaxis", "yaxis")},
        data={k: white.data[k] for k in ("bar", "box", "heatmap", "scatter")})


_LAYOUT = {
    "template": _white_template(),
    "height": 340,
    "margin": {"l": 60, "r": 20, "t": 60, "b": 40},
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
    "hovermode": "x unified",
}


def _color(name: str, position: int) -> str:
    """A stable colour for a group: the fixed one if known, else by position."""
    palette = qualitative.Plotly
    return GROUP_COLORS.get(str(name).lower(), palette[position % len(palette)])


def _groups(frame: pd.DataFrame, color: str | None) -> list[tuple[str, pd.DataFrame]]:
    """Split ``frame`` into (name, rows) per value of ``color`` (one group when None)."""
    if color is None:
        return [("", frame)]
    return [(str(key), rows) for key, rows in frame.groupby(color, sort=True, observed=True)]


#: Names whose reading is not their spelling with spaces.
_LABELS = {"email": "E-mail", "sms": "SMS", "cross_sell": "Cross-sell"}


def label(name) -> str:
    """A column or group name as people read it: ``new_customers`` -> ``New customers``.

    Examples
    --------
    >>> label("new_customers"), label("web"), label("Västra Götaland"), label("sms")
    ('New customers', 'Web', 'Västra Götaland', 'SMS')
    """
    if str(name) in _LABELS:
        return _LABELS[str(name)]
    text = str(name).replace("_", " ")
    return text[:1].upper() + text[1:]


def _number_format(currency: str | None, money: bool) -> tuple[str, str, str]:
    """(prefix, d3 format, suffix) of a measure: money in ``currency`` or a count."""
    return money_d3(currency) if money else ("", ",.0f", "")


def _bars(frame: pd.DataFrame, x: str, y: str, color: str | None, *,
          money: bool = False, currency: str | None = None) -> list[go.Bar]:
    """One bar trace per group, named after the group, with a formatted hover text."""
    prefix, fmt, suffix = _number_format(currency, money)
    return [
        go.Bar(
            x=rows[x].to_numpy(),
            y=rows[y].to_numpy(),
            name=label(name or y),
            marker_color=_color(name or y, i),
            showlegend=bool(name),
            hovertemplate=f"{label(name or y)}: {prefix}%{{y:{fmt}}}{suffix}<extra></extra>",
        )
        for i, (name, rows) in enumerate(_groups(frame, color))
    ]


def _value_axis(fig: go.Figure, currency: str | None, money: bool, axis: str = "y") -> None:
    """Money axes read "€800k", count axes "3,000"."""
    prefix, _, suffix = _number_format(currency, money)
    fig.update_layout({f"{axis}axis": {"tickprefix": prefix, "ticksuffix": suffix,
                                        "tickformat": "~s" if money else ",d",
                                        "rangemode": "tozero"}})


def _month_step(n: int) -> int:
    """Months between labelled ticks for a monthly axis of n periods (about 12 labels)."""
    return next(step for step in (1, 2, 3, 6, 12, 24) if math.ceil(n / step) <= 12 or step == 24)


def period_axis(fig: go.Figure, periods) -> go.Figure:
    """Label a monthly x axis with the months shown, and nothing past the last one.

    Ticks sit on period starts (every month up to a year, then every 2, 3, 6 or 12 months),
    read "Oct 2024", and the axis ends half a month after the last period, so no tick lies
    beyond the data's reference date.

    Examples
    --------
    >>> months = pd.date_range("2024-09-01", "2024-10-01", freq="MS")
    >>> fig = period_axis(go.Figure(go.Bar(x=months, y=[1, 2])), months)
    >>> fig.layout.xaxis.ticktext
    ('Sep 2024', 'Oct 2024')
    """
    months = pd.DatetimeIndex(sorted(set(pd.to_datetime(list(periods)))))
    if months.empty:
        return fig
    ticks = months[:: _month_step(len(months))]
    fig.update_xaxes(tickvals=list(ticks), ticktext=[m.strftime("%b %Y") for m in ticks],
                     range=[months[0] - pd.Timedelta(days=16), months[-1] + pd.Timedelta(days=16)],
                     hoverformat="%b %Y", title_text="")
    return fig


def _finish(fig: go.Figure, frame: pd.DataFrame, title: str, y_title: str) -> go.Figure:
    """Apply the shared layout, titles and an empty-data note."""
    fig.update_layout(title={"text": title}, yaxis_title=y_title, **_LAYOUT)
    if frame.empty:
        fig.add_annotation(
            text="No data for this selection", showarrow=False, xref="paper", yref="paper"
        )
    return fig


def revenue_figure(
    frame: pd.DataFrame,
    *,
    x: str = "period",
    y: str = "net",
    color: str | None = None,
    title: str = "Net revenue by month",
    y_title: str = "Net revenue",
    currency: str | None = None,
) -> go.Figure:
    """Stacked bars of revenue per period, one trace per group (e.g. web versus store).

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy rows, e.g. the output of ``lifecycle.sales.revenue_by_period``. Required
        columns: ``x`` and ``y``, and ``color`` when given.
    x, y : str
        The period column and the measure to plot (``"net"``, ``"gross"``, ``"returns"``).
    color : str, optional
        Column whose values become separate, stacked traces (e.g. ``"channel"``).
    title, y_title : str
        Figure and y-axis titles.
    currency : str, optional
        Currency code of the amounts (``"EUR"``): axis and hover texts carry it.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``bar`` trace per group, named after the group, stacked.

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "period": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-02-01"]),
    ...     "channel": ["web", "store", "web"],
    ...     "net": [10.0, 4.0, 5.0],
    ... })
    >>> fig = revenue_figure(frame, color="channel")
    >>> [(t.name, t.y.tolist()) for t in fig.data]
    [('Store', [4.0]), ('Web', [10.0, 5.0])]
    >>> fig.layout.barmode
    'stack'
    """
    fig = go.Figure(data=_bars(frame, x, y, color, money=True, currency=currency))
    fig.update_layout(barmode="stack")
    _value_axis(fig, currency, money=True)
    return period_axis(_finish(fig, frame, title, y_title), frame[x])


def new_customers_figure(
    frame: pd.DataFrame,
    *,
    x: str = "period",
    y: str = "new_customers",
    color: str | None = None,
    title: str = "New customers by month",
    y_title: str = "New customers",
) -> go.Figure:
    """Bars of new customers per period, stacked by group when ``color`` is given.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy rows, e.g. the output of ``lifecycle.sales.new_customers_by_period``. Required
        columns: ``x`` and ``y``, and ``color`` when given.
    x, y : str
        The period column and the count to plot.
    color : str, optional
        Column whose values become separate, stacked traces (e.g. ``"region"``).
    title, y_title : str
        Figure and y-axis titles.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``bar`` trace per group.

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "period": pd.to_datetime(["2024-01-01", "2024-03-01"]),
    ...     "new_customers": [2, 1],
    ... })
    >>> fig = new_customers_figure(frame)
    >>> [(t.type, t.name, t.y.tolist()) for t in fig.data]
    [('bar', 'New customers', [2, 1])]
    """
    fig = go.Figure(data=_bars(frame, x, y, color))
    fig.update_layout(barmode="stack")
    _value_axis(fig, None, money=False)
    return period_axis(_finish(fig, frame, title, y_title), frame[x])


def table_rows_figure(
    frame: pd.DataFrame,
    *,
    x: str = "rows",
    y: str = "table",
    title: str = "Rows per table",
) -> go.Figure:
    """Horizontal bars of a count per named item (e.g. rows per workspace table).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per item. Required columns: ``x`` (the count) and ``y`` (the item name).
    x, y : str
        The count column and the label column.
    title : str
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
        One horizontal ``bar`` trace, items in the frame's order from the top.

    Examples
    --------
    >>> frame = pd.DataFrame({"table": ["customers", "transactions"], "rows": [3, 10]})
    >>> fig = table_rows_figure(frame)
    >>> (fig.data[0].orientation, fig.data[0].y.tolist(), fig.data[0].x.tolist())
    ('h', ['customers', 'transactions'], [3, 10])
    """
    bar = go.Bar(x=frame[x].to_numpy(), y=frame[y].to_numpy(), orientation="h", name=x)
    fig = go.Figure(data=[bar])
    fig.update_yaxes(autorange="reversed")
    return _finish(fig, frame, title, "")


def value_components_figure(scores: pd.DataFrame, *, top: int = 20,
                            names: dict | None = None) -> go.Figure:
    """Stacked contributions of each criterion to the value score of the top customers.

    ``scores`` is :func:`lifecycle.value.score` output: ``customer_id``, ``score``, ``rank``
    and one column of score points per criterion; ``names`` maps a criterion to its
    legend name (default: the column name as people read it).
    """
    rows = scores.nsmallest(top, "rank").iloc[::-1]
    parts = [c for c in scores.columns if c not in ("customer_id", "score", "rank")]
    names = {c: (names or {}).get(c, label(c)) for c in parts}
    fig = go.Figure([go.Bar(x=rows[c].to_numpy(), y=rows.customer_id.astype(str).to_numpy(),
                            name=names[c], orientation="h",
                            marker_color=qualitative.Safe[i % len(qualitative.Safe)],
                            hovertemplate=f"{names[c]}: %{{x:.1f}} points<extra></extra>")
                     for i, c in enumerate(parts)])
    below = {"orientation": "h", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0}
    fig.update_layout(**{**_LAYOUT, "hovermode": "y unified", "legend": below,
                         "height": max(340, 22 * len(rows) + 160)}, barmode="stack",
                      title=f"What makes the top {top} valuable (score points per criterion)")
    fig.update_xaxes(title_text="Value score (0-100)", range=[0, 100])
    return fig


def segment_map_figure(cells: pd.DataFrame, *, currency: str | None = None) -> go.Figure:
    """The R×F segment map: a 5×5 grid coloured by segment, each cell showing its customers.

    ``cells`` has ``r``, ``f``, ``segment`` and ``customers`` (one row per R×F cell), as
    :func:`lifecycle.rfm.segment_cells` returns, and optionally ``revenue`` (shown in the cell
    in ``currency``). The customers per cell are the trace's ``customdata``.
    """
    names = sorted(cells.segment.unique())
    code = {name: i for i, name in enumerate(names)}
    grid = cells.pivot(index="f", columns="r", values="segment").sort_index()
    count = cells.pivot(index="f", columns="r", values="customers").reindex_like(grid)
    revenue = (cells.pivot(index="f", columns="r", values="revenue").reindex_like(grid)
               if "revenue" in cells.columns else None)

    def text(i, j):
        line = f"{grid.iat[i, j]}<br>{count.iat[i, j]:,.0f} customers"
        return line + (f"<br>{money(revenue.iat[i, j], currency)}" if revenue is not None
                       else "")
    labels = [[text(i, j) for j in range(grid.shape[1])] for i in range(grid.shape[0])]
    palette = qualitative.Pastel + qualitative.Set3
    scale = [(i / max(len(names) - 1, 1), palette[i % len(palette)]) for i in range(len(names))]
    fig = go.Figure(go.Heatmap(
        z=grid.map(code.get).to_numpy(), x=grid.columns.to_numpy(), y=grid.index.to_numpy(),
        customdata=count.to_numpy().tolist(), text=labels, texttemplate="%{text}", hoverinfo="text",
        colorscale=scale, showscale=False, xgap=2, ygap=2, zmin=0, zmax=max(len(names) - 1, 1)))
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest", "height": 520},
                      title="Segment map: recency score × frequency score")
    fig.update_xaxes(title_text="Recency score (5 = bought most recently)", dtick=1)
    fig.update_yaxes(title_text="Frequency score (5 = buys most often)", dtick=1)
    return fig


def style(fig: go.Figure, *, title: str, y_title: str = "", money: bool = False,
          currency: str | None = None, height: int = 340) -> go.Figure:
    """The shared look: layout, title, and a value axis of counts ("3,000") or of money in
    ``currency`` ("€800k"); the value axis is x for horizontal bars, else y.

    Examples
    --------
    >>> fig = style(go.Figure(go.Bar(x=[1.0], y=["a"], orientation="h")), title="Value",
    ...             money=True, currency="EUR")
    >>> fig.layout.xaxis.tickprefix, fig.layout.title.text
    ('€', 'Value')
    """
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest", "height": height},
                      title={"text": title}, yaxis_title=y_title)
    horizontal = bool(fig.data) and getattr(fig.data[0], "orientation", None) == "h"
    _value_axis(fig, currency, money=money, axis="x" if horizontal else "y")
    return fig


def concentration_figure(curves: pd.DataFrame) -> go.Figure:
    """Cumulative share of value over the share of customers, largest first, per measure.

    ``curves`` has ``customer_share``, ``value_share`` and ``measure`` (e.g. revenue, margin).
    """
    fig = go.Figure([go.Scatter(x=rows.customer_share.to_numpy(),
                                y=rows.value_share.to_numpy(), name=name, mode="lines")
                     for name, rows in curves.groupby("measure", sort=False)])
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="everyone equal", mode="lines",
                             line={"dash": "dot", "color": "grey"}))
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest"},
                      title="Concentration: share of value from the top x % of customers")
    fig.update_xaxes(title_text="share of customers (largest first)", tickformat=".0%")
    fig.update_yaxes(title_text="share of value", tickformat=".0%")
    return fig


def transition_figure(matrix: pd.DataFrame, *, title: str = "Segment migration") -> go.Figure:
    """A heatmap of a from × to matrix (counts or row shares) with the values written in."""
    fmt = ".0%" if matrix.to_numpy().max() <= 1 else ",.0f"
    fig = go.Figure(go.Heatmap(z=matrix.to_numpy(), x=matrix.columns.astype(str).to_numpy(),
                               y=matrix.index.astype(str).to_numpy(), colorscale="Blues",
                               texttemplate=f"%{{z:{fmt}}}", showscale=False))
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest", "height": 560}, title=title)
    fig.update_xaxes(title_text=matrix.columns.name or "to", tickangle=-30)
    fig.update_yaxes(title_text=matrix.index.name or "from", autorange="reversed")
    return fig


#: Stage colours (See / Think / Do / Care), the same in every stage view.
_STAGE_COLORS = {"see": "#9ecae1", "think": "#4292c6", "do": "#08519c", "care": "#31a354"}


def stage_sizes_figure(sizes: pd.DataFrame, *, title: str = "People per stage") -> go.Figure:
    """Stacked bars of people per See / Think / Do / Care stage at each date.

    ``sizes`` has ``as_of``, ``stage`` and ``people`` (:func:`lifecycle.audiences.stage_sizes`);
    one trace per stage, in the frame's order of first appearance.

    Examples
    --------
    >>> sizes = pd.DataFrame({"as_of": pd.to_datetime(["2024-01-31", "2024-01-31"]),
    ...                       "stage": ["see", "do"], "people": [5, 2]})
    >>> [(t.name, t.y.tolist()) for t in stage_sizes_figure(sizes).data]
    [('see', [5]), ('do', [2])]
    """
    fig = go.Figure([go.Bar(x=rows.as_of.to_numpy(), y=rows.people.to_numpy(), name=name,
                            marker_color=_STAGE_COLORS.get(name, _color(name, i)))
                     for i, (name, rows) in enumerate(sizes.groupby("stage", sort=False))])
    fig.update_layout(barmode="stack")
    return _finish(fig, sizes, title, "People")


def stage_rates_figure(rates: pd.DataFrame, *, days: int = 7) -> go.Figure:
    """Bars of the share of each stage's people who bought in the following ``days`` days.

    ``rates`` has ``stage``, ``rate``, ``people`` and ``buyers``
    (:func:`lifecycle.audiences.purchase_rates`), stages in funnel order.

    Examples
    --------
    >>> rates = pd.DataFrame({"stage": ["see", "do"], "people": [100, 10], "buyers": [1, 2],
    ...                       "rate": [0.01, 0.2]})
    >>> stage_rates_figure(rates).data[0].y.tolist()
    [0.01, 0.2]
    """
    bar = go.Bar(x=rates.stage.to_numpy(), y=rates.rate.to_numpy(), name="purchase rate",
                 marker_color=[_STAGE_COLORS.get(s, "#888888") for s in rates.stage],
                 text=[f"{b:,} of {n:,}" for b, n in zip(rates.buyers, rates.people,
                                                        strict=True)],
                 textposition="outside")
    fig = _finish(go.Figure([bar]), rates,
                  f"Bought within {days} days, by stage at the start", "Share who bought")
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(tickformat=".1%")
    return fig


def attribution_figure(credit: pd.DataFrame, *, title: str = "Credited conversions by model",
                       y_title: str = "Credited conversions") -> go.Figure:
    """Grouped bars of credit per channel, one trace per attribution model.

    ``credit`` has ``channel`` and one column per model, as
    :func:`lifecycle.attribution.compare` returns (channels in the frame's order).

    Examples
    --------
    >>> credit = pd.DataFrame({"channel": ["a", "b"], "last": [2.0, 2.0], "markov": [2.4, 1.6]})
    >>> [(t.name, t.y.tolist()) for t in attribution_figure(credit).data]
    [('last', [2.0, 2.0]), ('markov', [2.4, 1.6])]
    """
    models = [c for c in credit.columns if c != "channel"]
    fig = go.Figure([go.Bar(x=credit.channel.to_numpy(), y=credit[m].to_numpy(), name=m,
                            marker_color=qualitative.Safe[i % len(qualitative.Safe)])
                     for i, m in enumerate(models)])
    fig.update_layout(barmode="group")
    return _finish(fig, credit, title, y_title)


def markov_transitions_figure(transitions: pd.DataFrame, *,
                              title: str = "Markov chain: where each step goes next") -> go.Figure:
    """Heatmap of transition probabilities, ``(start)`` first and the absorbing states last.

    ``transitions`` has ``from``, ``to`` and ``probability``, as
    :func:`lifecycle.attribution.markov_transitions` returns.

    Examples
    --------
    >>> steps = pd.DataFrame({"from": ["(start)", "a", "a"], "to": ["a", "(conversion)", "a"],
    ...                       "probability": [1.0, 0.25, 0.75]})
    >>> fig = markov_transitions_figure(steps)
    >>> list(fig.data[0].y), list(fig.data[0].x)
    (['(start)', 'a'], ['a', '(conversion)'])
    """
    def rank(name):
        return (name != "(start)", name in ("(conversion)", "(null)"), name)

    rows = sorted(set(transitions["from"]), key=rank)
    cols = sorted(set(transitions["to"]), key=rank)
    matrix = transitions.pivot(index="from", columns="to", values="probability")
    matrix = matrix.reindex(index=rows, columns=cols, fill_value=0.0).fillna(0.0)
    return transition_figure(matrix.rename_axis(index="from", columns="to"), title=title)


def path_lengths_figure(lengths: pd.DataFrame, *,
                        title: str = "Journeys and conversions by number of touches") -> go.Figure:
    """Bars of journeys and conversions per path length, with the conversion rate as a line.

    ``lengths`` has ``n_touches``, ``journeys``, ``conversions`` and ``conversion_rate``, as
    :func:`lifecycle.attribution.path_lengths` returns.

    Examples
    --------
    >>> lengths = pd.DataFrame({"n_touches": [1, 2], "journeys": [4, 2], "conversions": [1, 1],
    ...                         "conversion_rate": [0.25, 0.5]})
    >>> [t.name for t in path_lengths_figure(lengths).data]
    ['journeys', 'conversions', 'conversion rate']
    """
    x = lengths.n_touches.to_numpy()
    fig = go.Figure([go.Bar(x=x, y=lengths.journeys.to_numpy(), name="journeys"),
                     go.Bar(x=x, y=lengths.conversions.to_numpy(), name="conversions"),
                     go.Scatter(x=x, y=lengths.conversion_rate.to_numpy(), yaxis="y2",
                                name="conversion rate", mode="lines+markers")])
    fig = _finish(fig, lengths, title, "Journeys")
    fig.update_layout(barmode="overlay", yaxis2={"overlaying": "y", "side": "right",
                                                 "tickformat": ".0%", "rangemode": "tozero"})
    fig.update_xaxes(title_text="touches on the path", dtick=1)
    return fig


def time_to_conversion_figure(days: pd.DataFrame, *,
                              title: str = "Days from first touch to conversion") -> go.Figure:
    """Bars of conversions per whole day from first touch, with the cumulative share as a line.

    ``days`` has ``days``, ``conversions`` and ``cumulative_share``, as
    :func:`lifecycle.attribution.time_to_conversion` returns.

    Examples
    --------
    >>> days = pd.DataFrame({"days": [0, 3], "conversions": [1, 2],
    ...                      "cumulative_share": [1 / 3, 1.0]})
    >>> [t.type for t in time_to_conversion_figure(days).data]
    ['bar', 'scatter']
    """
    x = days["days"].to_numpy()
    fig = go.Figure([go.Bar(x=x, y=days.conversions.to_numpy(), name="conversions"),
                     go.Scatter(x=x, y=days.cumulative_share.to_numpy(), yaxis="y2",
                                name="cumulative share", mode="lines")])
    fig = _finish(fig, days, title, "Conversions")
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%",
                              "range": [0, 1.02]})
    fig.update_xaxes(title_text="days")
    return fig


# Lifetime-value diagnostics: frames from lifecycle.clv --------------------------------------

__all__ += ["cumulative_purchases_figure", "holdout_purchases_figure", "p_alive_figure"]


def holdout_purchases_figure(frame: pd.DataFrame, *,
                             title: str = "Holdout purchases by calibration frequency"
                             ) -> go.Figure:
    """Mean purchases in the holdout period per calibration frequency: actual and predicted.

    ``frame`` has ``label``, ``customers``, ``actual`` and ``predicted``, as
    :func:`lifecycle.clv.holdout_by_frequency` returns.

    Examples
    --------
    >>> frame = pd.DataFrame({"frequency": [0, 1], "label": ["0", "1+"], "customers": [5, 3],
    ...                       "actual": [0.2, 1.1], "predicted": [0.25, 1.0]})
    >>> [t.name for t in holdout_purchases_figure(frame).data]
    ['actual', 'predicted']
    """
    x = frame["label"].to_numpy()
    fig = go.Figure([
        go.Scatter(x=x, y=frame[name].to_numpy(), name=name, mode="lines+markers",
                   line={"dash": dash}, customdata=frame["customers"].to_numpy(),
                   hovertemplate="%{y:.2f} (%{customdata} customers)")
        for name, dash in (("actual", "solid"), ("predicted", "dash"))])
    fig = _finish(fig, frame, title, "Mean purchases in the holdout")
    fig.update_xaxes(title_text="purchases in the calibration period", type="category")
    return fig


def p_alive_figure(frame: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Heatmap of the probability of being alive by frequency and recency.

    ``frame`` has ``frequency``, ``recency``, ``T`` and ``p_alive``, as
    :func:`lifecycle.clv.p_alive_matrix` returns (one customer age ``T``).

    Examples
    --------
    >>> frame = pd.DataFrame({"frequency": [0, 0, 1, 1], "recency": [0.0, 1.0, 0.0, 1.0],
    ...                       "T": 1.0, "p_alive": [1.0, 1.0, 0.4, 0.9]})
    >>> p_alive_figure(frame).data[0].type
    'heatmap'
    """
    matrix = frame.pivot(index="frequency", columns="recency", values="p_alive")
    age = frame["T"].iloc[0] if len(frame) else float("nan")
    fig = go.Figure(go.Heatmap(z=matrix.to_numpy(), x=matrix.columns.to_numpy(),
                               y=matrix.index.to_numpy(), zmin=0, zmax=1, colorscale="Viridis",
                               colorbar={"title": "P(alive)"}))
    fig = _finish(fig, frame, title or f"Probability alive, customers of age {age:g}",
                  "frequency (repeat purchases)")
    fig.update_xaxes(title_text="recency (age at the last purchase)")
    fig.update_layout(hovermode="closest")
    return fig


def cumulative_purchases_figure(frame: pd.DataFrame, *, calibration_end=None,
                                title: str = "Cumulative repeat purchases: actual and expected"
                                ) -> go.Figure:
    """Cumulative repeat purchases of the customer base over time, actual and expected.

    ``frame`` has ``date``, ``actual`` and ``expected``, as
    :func:`lifecycle.clv.cumulative_repeat_purchases` returns; ``calibration_end`` draws the end
    of the period the model was fitted on.

    Examples
    --------
    >>> frame = pd.DataFrame({"date": pd.to_datetime(["2024-01-08", "2024-01-15"]),
    ...                       "actual": [3.0, 7.0], "expected": [3.5, 6.5]})
    >>> [t.name for t in cumulative_purchases_figure(frame, calibration_end="2024-01-10").data]
    ['actual', 'expected']
    """
    x = frame["date"].to_numpy()
    fig = go.Figure([go.Scatter(x=x, y=frame[name].to_numpy(), name=name, mode="lines",
                                line={"dash": dash})
                     for name, dash in (("actual", "solid"), ("expected", "dash"))])
    fig = _finish(fig, frame, title, "Repeat purchases")
    if calibration_end is not None:
        end = pd.Timestamp(calibration_end)
        fig.add_vline(x=end, line_dash="dot", line_color="grey")
        fig.add_annotation(x=end, y=1, yref="paper", text="calibration end", showarrow=False,
                           xanchor="left", yanchor="top")
    return fig


def distribution_figure(frame: pd.DataFrame, *, value: str, group: str,
                        title: str | None = None) -> go.Figure:
    """Box plots of a per-customer value (e.g. 12-month CLV) for each group (e.g. segment).

    ``frame`` has one row per customer with the ``value`` and ``group`` columns; groups are
    ordered by their median, largest first.

    Examples
    --------
    >>> frame = pd.DataFrame({"clv": [1.0, 2, 10, 12], "segment": ["a", "a", "b", "b"]})
    >>> [t.name for t in distribution_figure(frame, value="clv", group="segment").data]
    ['b', 'a']
    """
    order = frame.groupby(group, observed=True)[value].median().sort_values(ascending=False)
    fig = go.Figure([go.Box(y=frame.loc[frame[group] == name, value].to_numpy(), name=str(name),
                            boxpoints=False, marker_color=_color(str(name), i))
                     for i, name in enumerate(order.index)])
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest"}, showlegend=False,
                      title=title or f"{value.replace('_', ' ')} by {group.replace('_', ' ')}")
    fig.update_yaxes(title_text=value.replace("_", " "))
    return fig


def open_reach_figure(reach: pd.DataFrame, *,
                      title: str = "Open rate and open reach by month") -> go.Figure:
    """Lines of open rate (per delivered message) and open reach (share of the list that
    opened anything) per period, with the machine-open-free variants dashed.

    ``reach`` has ``period_start`` and ``open_rate``, ``human_open_rate`` (optional),
    ``open_reach`` and ``human_open_reach``, as :func:`lifecycle.kpis.open_reach` returns
    (``human_open_rate`` from :func:`lifecycle.kpis.message_kpis` by period, if joined).

    Examples
    --------
    >>> reach = pd.DataFrame({"period_start": pd.to_datetime(["2024-01-01", "2024-02-01"]),
    ...                       "open_rate": [0.4, 0.42], "open_reach": [0.3, 0.28],
    ...                       "human_open_reach": [0.2, 0.19]})
    >>> [t.name for t in open_reach_figure(reach).data]
    ['open rate', 'open reach', 'open reach, no machine opens']
    """
    lines = [("open_rate", "open rate", "#1f77b4", "solid"),
             ("human_open_rate", "open rate, no machine opens", "#1f77b4", "dash"),
             ("open_reach", "open reach", "#d62728", "solid"),
             ("human_open_reach", "open reach, no machine opens", "#d62728", "dash")]
    fig = go.Figure([go.Scatter(x=reach.period_start.to_numpy(), y=reach[col].to_numpy(),
                                name=name, mode="lines+markers",
                                line={"color": color, "dash": dash},
                                hovertemplate="%{y:.1%}")
                     for col, name, color, dash in lines if col in reach.columns])
    fig = _finish(fig, reach, title, "Share")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_layout(height=380, margin={**_LAYOUT["margin"], "b": 90},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0})
    return period_axis(fig, reach.period_start)


def forest_figure(tests: pd.DataFrame, *, label_col: str = "test",
                  title: str = "A/B tests: effect of each variant against its control",
                  x_title: str = "Effect (points)", scale: float = 100.0) -> go.Figure:
    """A forest plot: each test's effect as a point with its confidence interval, zero marked.

    ``tests`` has ``label_col`` (one line per row, top to bottom in the frame's order),
    ``effect``, ``ci_low``, ``ci_high`` and ``significant``, as :func:`lifecycle.kpis.ab_test`
    returns with a label added. ``scale`` turns proportions into percentage points (use 1 for
    means).

    Examples
    --------
    >>> tests = pd.DataFrame({"test": ["opens, thank B", "clicks, guide B"],
    ...                       "effect": [0.07, 0.01], "ci_low": [0.04, -0.01],
    ...                       "ci_high": [0.10, 0.03], "significant": [True, False]})
    >>> fig = forest_figure(tests)
    >>> fig.data[0].x.tolist(), list(fig.data[0].y)
    ([7.0, 1.0], ['opens, thank B', 'clicks, guide B'])
    """
    effect, low, high = (tests[c].to_numpy(dtype=float) * scale
                         for c in ("effect", "ci_low", "ci_high"))
    colors = np.where(tests.significant.to_numpy(dtype=bool), "#1f77b4", "#999999")
    point = go.Scatter(
        x=effect, y=tests[label_col].astype(str).to_numpy(), mode="markers", name="effect",
        marker={"color": colors, "size": 10},
        error_x={"type": "data", "symmetric": False, "array": high - effect,
                 "arrayminus": effect - low, "color": "#555555"},
        customdata=np.c_[low, high],
        hovertemplate="%{y}: %{x:.2f} (%{customdata[0]:.2f} to %{customdata[1]:.2f})"
                      "<extra></extra>")
    fig = go.Figure([point])
    fig.add_vline(x=0, line={"color": "#333333", "width": 1})
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest", "showlegend": False,
                         "height": max(240, 60 + 44 * len(tests))}, title=title)
    fig.update_xaxes(title_text=x_title, zeroline=False)
    fig.update_yaxes(autorange="reversed")
    return fig


def allocation_figure(frame: pd.DataFrame, *, value: str = "contacts",
                      title: str = "Contacts per cell", money: bool = False,
                      currency: str | None = None) -> go.Figure:
    """Horizontal grouped bars of a prioritization's cells: one trace per ``scenario``
    (eligible, the priority mode, the optimizing mode), cells in the frame's order.

    ``frame`` has ``cell_id``, ``scenario`` and the ``value`` column.

    Examples
    --------
    >>> frame = pd.DataFrame({"cell_id": ["a", "a"], "scenario": ["Eligible", "Priority mode"],
    ...                       "contacts": [10, 4]})
    >>> [(t.name, t.x.tolist()) for t in allocation_figure(frame).data]
    [('Eligible', [10]), ('Priority mode', [4])]
    """
    prefix, fmt, suffix = _number_format(currency, money)
    order = list(dict.fromkeys(frame.cell_id))
    fig = go.Figure([
        go.Bar(y=[label(c) for c in rows.cell_id], x=rows[value].to_numpy(), name=name,
               orientation="h", marker_color=_color(name, i),
               hovertemplate=f"%{{y}}, {name}: {prefix}%{{x:{fmt}}}{suffix}<extra></extra>")
        for i, (name, rows) in enumerate(frame.groupby("scenario", sort=False))])
    fig.update_layout(barmode="group", yaxis={"autorange": "reversed",
                                              "categoryorder": "array",
                                              "categoryarray": [label(c) for c in order]})
    return style(fig, title=title, money=money, currency=currency,
                 height=max(340, 100 + 18 * len(order) * max(len(fig.data), 1)))


_ACTION_COLORS = {"keep": "#2e7d32", "fix": "#f9a825", "suppress": "#c62828"}


def list_health_figure(counts: pd.DataFrame, *, title: str = "What to do with each address"
                       ) -> go.Figure:
    """Bars of the addresses to keep, fix and suppress (:func:`lifecycle.health.counts`).

    Examples
    --------
    >>> counts = pd.DataFrame({"count": [5, 2, 1]}, index=["keep", "fix", "suppress"])
    >>> [t.y.tolist() for t in list_health_figure(counts).data]
    [[5, 2, 1]]
    """
    actions = counts.loc[list(_ACTION_COLORS)]
    fig = go.Figure(go.Bar(x=[a.capitalize() for a in actions.index],
                           y=actions["count"].to_numpy(),
                           marker_color=list(_ACTION_COLORS.values()),
                           hovertemplate="%{x}: %{y:,} addresses<extra></extra>"))
    return style(fig, title=title, y_title="Addresses")
