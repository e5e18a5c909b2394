"""lifecycle.plots: figures carry the expected traces and data, and compute nothing."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from lifecycle import plots


@pytest.fixture
def monthly() -> pd.DataFrame:
    return pd.DataFrame({
        "period": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-02-01", "2024-02-01"]),
        "channel": ["web", "store", "web", "store"],
        "net": [11.0, 20.0, 2.5, 7.5],
        "gross": [15.0, 20.0, 2.5, 7.5],
    })


def _trace_data(fig: go.Figure) -> dict[str, tuple[list, list]]:
    return {t.name: (list(pd.to_datetime(t.x)), t.y.tolist()) for t in fig.data}


def test_revenue_figure_has_one_stacked_trace_per_channel(monthly):
    fig = plots.revenue_figure(monthly, color="channel")
    jan, feb = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")
    assert _trace_data(fig) == {"Store": ([jan, feb], [20.0, 7.5]), "Web": ([jan, feb], [11.0, 2.5])}
    assert {t.type for t in fig.data} == {"bar"}
    assert fig.layout.barmode == "stack"
    assert fig.layout.title.text == "Net revenue by month"


def test_channel_colours_are_fixed(monthly):
    both = plots.revenue_figure(monthly, color="channel")
    web_only = plots.revenue_figure(monthly[monthly["channel"] == "web"], color="channel")
    colours = {t.name: t.marker.color for t in both.data}
    assert colours == {"Web": plots.GROUP_COLORS["web"], "Store": plots.GROUP_COLORS["store"]}
    assert web_only.data[0].marker.color == colours["Web"]


def test_revenue_figure_plots_the_chosen_measure(monthly):
    fig = plots.revenue_figure(monthly, y="gross", title="Gross", y_title="EUR")
    assert len(fig.data) == 1
    assert fig.data[0].y.tolist() == monthly["gross"].tolist()  # no aggregation here
    assert (fig.layout.title.text, fig.layout.yaxis.title.text) == ("Gross", "EUR")
    assert fig.data[0].showlegend is False


def test_new_customers_figure():
    frame = pd.DataFrame({
        "period": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01"]),
        "region": ["north", "north", "south"],
        "new_customers": [3, 1, 2],
    })
    fig = plots.new_customers_figure(frame, color="region")
    assert [(t.name, t.y.tolist()) for t in fig.data] == [("North", [3, 1]), ("South", [2])]
    assert fig.layout.yaxis.title.text == "New customers"


def test_table_rows_figure():
    frame = pd.DataFrame({"table": ["customers", "transactions"], "rows": [3, 10]})
    fig = plots.table_rows_figure(frame)
    bar = fig.data[0]
    assert (bar.orientation, bar.y.tolist(), bar.x.tolist()) == ("h", ["customers", "transactions"],
                                                                 [3, 10])


@pytest.mark.parametrize("builder", [plots.revenue_figure, plots.new_customers_figure])
def test_empty_frame_gives_a_note_not_an_error(builder):
    frame = pd.DataFrame({"period": pd.to_datetime([]), "net": [], "new_customers": []})
    fig = builder(frame)
    assert sum(len(t.y) for t in fig.data) == 0
    assert "No data" in fig.layout.annotations[0].text


def test_figures_do_not_mutate_the_frame(monthly):
    before = monthly.copy()
    plots.revenue_figure(monthly, color="channel")
    pd.testing.assert_frame_equal(monthly, before)
