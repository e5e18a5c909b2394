"""Workshop widget: weight sliders for the eight value criteria, a live top-N ranking.

The room moves the sliders; the ranking, the stacked contributions of the top customers and the
comparison with the starting weights update at once. All computation is
:func:`lifecycle.value.score`; this module only lays out widgets.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from lifecycle import plots
from lifecycle.value import CRITERIA, score, top_n_change

__all__ = ["build_value_app", "weight_slider"]


def weight_slider(row) -> widgets.FloatSlider:
    """A 0-5 weight slider for one criterion, labelled with its workshop question."""
    arrow = "↑" if row.direction == 1 else "↓"
    slider = widgets.FloatSlider(value=float(row.weight), min=0, max=5, step=0.5,
                                 description=f"{row.question} {arrow}", continuous_update=False,
                                 style={"description_width": "260px"},
                                 layout=widgets.Layout(width="520px"))
    slider.add_class(f"weight-{row.criterion}")
    return slider


def _ranking_html(current: pd.DataFrame, moves: pd.Series, top: int) -> str:
    rows = current.nsmallest(top, "rank")
    body = "".join(
        f"<tr><td>{int(r['rank'])}</td><td>{html.escape(str(idx))}</td>"
        f"<td>{r.score:.1f}</td><td>{_move(moves.get(idx))}</td></tr>"
        for idx, r in rows.iterrows())
    return ("<table class='value-ranking'><tr><th>rank</th><th>customer</th><th>score</th>"
            f"<th>move</th></tr>{body}</table>")


def _move(move) -> str:
    if move is None or pd.isna(move):
        return "new"
    return "–" if move == 0 else (f"▲{int(move)}" if move > 0 else f"▼{int(-move)}")


def _summary_html(change: pd.Series) -> str:
    return (f"<p class='value-summary'>Top {int(change.n)} against the starting weights: "
            f"<b>{int(change.kept)}</b> kept, <b>{int(change.entered)}</b> new; "
            f"rank correlation (Spearman) over all customers <b>{change.spearman:.2f}</b></p>")


def build_value_app(measures: pd.DataFrame, weights: pd.DataFrame = CRITERIA, *,
                    top: int = 20) -> widgets.VBox:
    """The workshop app: sliders, a summary line, the top-N contributions chart and table.

    ``measures`` comes from :func:`lifecycle.value.criteria`; ``weights`` sets the starting
    point that the summary compares against.
    """
    start = weights.reset_index(drop=True)
    baseline = score(measures, start)
    sliders = [weight_slider(row) for row in start.itertuples()]
    summary, table = widgets.HTML(), widgets.HTML()
    figure = go.FigureWidget(plots.value_components_figure(baseline, top=top))
    figure.add_class("value-components")

    def refresh(_change=None) -> None:
        current = score(measures, start.assign(weight=[s.value for s in sliders]))
        moves = (baseline["rank"] - current["rank"]).where(baseline["rank"] <= top)
        summary.value = _summary_html(top_n_change(baseline, current, n=top))
        table.value = _ranking_html(current, moves, top)
        new = plots.value_components_figure(current, top=top)
        with figure.batch_update():
            for old_trace, new_trace in zip(figure.data, new.data, strict=True):
                old_trace.x, old_trace.y = new_trace.x, new_trace.y

    reset = widgets.Button(description="Reset weights", icon="undo")
    reset.on_click(lambda _: [setattr(s, "value", float(w))
                              for s, w in zip(sliders, start.weight, strict=True)])
    for slider in sliders:
        slider.observe(refresh, names="value")
    refresh()
    controls = widgets.VBox([widgets.HTML("<b>Weights</b> (↑ more is better, ↓ less is "
                                          "better)"), *sliders, reset])
    return widgets.VBox([widgets.HBox([controls, table]), summary, figure])
