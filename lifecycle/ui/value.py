"""The workshop "what is a valuable customer": weights and directions live, the ranking moves.

Eight weight sliders and eight direction toggles (more is better / less is better) are the
filter state of a :func:`lifecycle.ui.panel.dashboard`; every change rescores all customers
with :func:`lifecycle.value.score` and redraws the ranking (with each customer's segment and
the measures behind the criteria), how many of the top N stayed against the starting weights,
the segments in the top N, and what the score of the top N is made of. "Reset weights"
restores the start in one redraw.
"""

from __future__ import annotations

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from lifecycle import plots
from lifecycle.formats import count, money
from lifecycle.ui.panel import Card, cards, dashboard, figure, table
from lifecycle.value import CRITERIA, percentiles, score, top_n_change

__all__ = ["build_value_app", "build_workshop_app", "direction_toggle", "weight_slider",
           "workshop_view"]

UP, DOWN = "more is better", "less is better"

#: How each criterion's measure reads in the ranking table.
_MEASURES = {
    "frequency": ("Purchases a year", lambda v, c: f"{v:.1f}"),
    "margin": ("Margin a year", lambda v, c: money(v, c)),
    "acquisition_cost": ("Acquisition cost", lambda v, c: money(v, c)),
    "service_contacts": ("Service contacts a year", lambda v, c: f"{v:.1f}"),
    "ideas": ("Ideas given", lambda v, c: count(v)),
    "tenure": ("Years a customer", lambda v, c: f"{v:.1f}"),
    "predicted_clv": ("12-month CLV", lambda v, c: money(v, c)),
    "advocacy": ("Advocacy", lambda v, c: f"{v:+.0f}"),
}


def weight_slider(row) -> widgets.FloatSlider:
    """A 0-5 weight slider for one criterion, labelled with its workshop question."""
    slider = widgets.FloatSlider(value=float(row.weight), min=0, max=5, step=0.5,
                                 description=row.question, continuous_update=False,
                                 readout_format=".1f",
                                 style={"description_width": "230px"},
                                 layout=widgets.Layout(width="470px"))
    slider.add_class(f"weight-{row.criterion}")
    return slider


def direction_toggle(row) -> widgets.ToggleButtons:
    """Whether more or less of the criterion's measure is better."""
    toggle = widgets.ToggleButtons(options=[UP, DOWN], value=UP if row.direction > 0 else DOWN,
                                   style={"button_width": "110px"})
    toggle.add_class(f"direction-{row.criterion}")
    return toggle


def _weights(start: pd.DataFrame, state: dict) -> pd.DataFrame:
    return start.assign(
        weight=[float(state[f"weight_{c}"]) for c in start.criterion],
        direction=[1 if state[f"direction_{c}"] == UP else -1 for c in start.criterion])


def _ranking(current, baseline, measures, segments, top, currency) -> pd.DataFrame:
    rows = current.nsmallest(top, "rank")
    before = baseline["rank"].reindex(rows.index)
    moves = [("new" if b > top else "–" if b == r else f"▲{b - r}" if b > r else f"▼{r - b}")
             for b, r in zip(before, rows["rank"], strict=True)]
    out = pd.DataFrame({
        "Rank": rows["rank"].astype(int).astype(str), "Move": moves,
        "Customer": rows.index.astype(str),
        "Segment": segments.reindex(rows.index).fillna("–").astype(str),
        "Score": [f"{s:.1f}" for s in rows.score]})
    for criterion, (title, fmt) in _MEASURES.items():
        if criterion in measures.columns:
            values = measures[criterion].reindex(rows.index)
            out[title] = ["–" if pd.isna(v) else fmt(v, currency) for v in values]
    return out


def _segments_figure(top_rows: pd.Series, top: int):
    counts = top_rows.fillna("Unknown").value_counts().sort_values()
    fig = go.Figure(go.Bar(
        x=counts.to_numpy(), y=counts.index.astype(str).to_numpy(), orientation="h",
        name="Customers", marker_color="#2a6fb0",
        hovertemplate="%{y}: %{x} of the top " + str(top) + "<extra></extra>"))
    plots.style(fig, title=f"Segments of the top {top}", height=340)
    return fig.update_xaxes(title_text=f"Customers in the top {top}")


def workshop_view(measures: pd.DataFrame, segments: pd.Series, start: pd.DataFrame, *,
                  currency: str | None = None):
    """``view(state) -> blocks`` of the workshop over :func:`lifecycle.value.criteria`."""
    pct = percentiles(measures)  # the weights change, the customers' percentiles do not
    first = score(measures, start, pct=pct)
    baseline = first.set_index("customer_id")
    names = dict(zip(start.criterion, start.question, strict=True))
    by_id = measures.set_index("customer_id")

    def view(state: dict) -> list[dict]:
        top = int(state["top"])
        scored = score(measures, _weights(start, state), pct=pct)
        change = top_n_change(first, scored, n=top)
        current = scored.set_index("customer_id")
        headline = [
            Card("customers", "Customers ranked", len(current), count(len(current))),
            Card("top", "Top list", top, count(top), "customers shown"),
            Card("kept", f"Still in the top {top}", change.kept, count(change.kept),
                 "against the starting weights"),
            Card("entered", f"New in the top {top}", change.entered, count(change.entered)),
            Card("spearman", "Rank correlation", change.spearman, f"{change.spearman:.2f}",
                 "Spearman, all customers; 1 = same order"),
        ]
        top_ids = current.nsmallest(top, "rank").index
        return [
            cards(headline),
            figure("segments", _segments_figure(segments.reindex(top_ids), top),
                   agrees_with="top", measure="x"),
            figure("components", plots.value_components_figure(scored, top=top,
                                                                names=names)),
            table("ranking", _ranking(current, baseline, by_id, segments, top, currency),
                  caption=f"The top {top} with the measures behind the criteria",
                  numeric=("Rank", "Score", *(t for t, _ in _MEASURES.values())),
                  width="full"),
        ]
    return view


def _controls(start: pd.DataFrame, top: int) -> dict:
    filters = {}
    for row in start.itertuples():
        filters[f"weight_{row.criterion}"] = weight_slider(row)
        filters[f"direction_{row.criterion}"] = direction_toggle(row)
    filters["top"] = widgets.Dropdown(options=[10, 20, 50, 100], value=top,
                                      description="Top list")
    filters["top"].add_class("lifecycle-top-filter")
    return filters


def _layout(items: list) -> widgets.Widget:
    """Sliders with their direction toggles, two criteria a row; then top N and reset."""
    *pairs, top, reset = items
    rows = [widgets.HBox(pairs[i:i + 2]) for i in range(0, len(pairs), 2)]
    return widgets.VBox([widgets.GridBox(rows, layout=widgets.Layout(
        grid_template_columns="repeat(2, auto)")), widgets.HBox([top, reset])])


def build_value_app(measures: pd.DataFrame, weights: pd.DataFrame = CRITERIA, *,
                    segments: pd.Series | None = None, top: int = 20,
                    currency: str | None = None) -> widgets.VBox:
    """The workshop app on a :func:`lifecycle.value.criteria` frame (a notebook or a page).

    ``measures`` has ``customer_id`` and one column per criterion; ``weights`` is the starting
    point the comparison counts against and "Reset" restores; ``segments`` (a Series indexed
    by customer id) names each customer's segment.
    """
    start = weights.reset_index(drop=True)
    segments = segments if segments is not None else pd.Series(dtype=object)
    filters = _controls(start, top)
    reset = widgets.Button(description="Reset weights")
    reset.add_class("lifecycle-reset")
    app = dashboard("What is a valuable customer?", filters,
                    workshop_view(measures, segments, start, currency=currency),
                    subtitle="Set how much each criterion counts and which way; the ranking "
                    "of all customers follows.", controls=[reset], layout=_layout,
                    css_class="lifecycle-workshop")

    def restore(_button) -> None:
        with app.batch():
            for row in start.itertuples():
                filters[f"weight_{row.criterion}"].value = float(row.weight)
                filters[f"direction_{row.criterion}"].value = UP if row.direction > 0 else DOWN
    reset.on_click(restore)
    return app


def build_workshop_app(workspace, *, top: int = 20) -> widgets.VBox:
    """The workshop dashboard for a workspace: the buying customers of
    :func:`lifecycle.ui.customer_value.customer_base` (cached per workspace version)."""
    from lifecycle.ui.customer_value import cached_customer_base

    base = cached_customer_base(workspace)
    measures = base[[c for c in CRITERIA.criterion if c in base.columns]].reset_index()
    return build_value_app(measures, segments=base.segment, top=top,
                           currency=workspace.currency)
