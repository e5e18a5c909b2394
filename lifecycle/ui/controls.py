"""Filter widgets shared by the dashboards (one small function per widget).

Every filter shows human labels and keeps the raw value, so ``widget.value`` is what the
analytics filter on ("web"), and ``"All"`` (:data:`ALL`) switches a filter off.
"""

from __future__ import annotations

import ibis.expr.types as ir
import ipywidgets as widgets
import pandas as pd

from lifecycle.plots import label

__all__ = ["ALL", "distinct", "dropdown", "month_range", "months", "toggles"]

#: The option that switches a filter off.
ALL = "All"


def distinct(table: ir.Table | pd.DataFrame, column: str) -> list[str]:
    """Sorted distinct non-null values of ``column`` (empty when the column is absent)."""
    if column not in table.columns:
        return []
    if isinstance(table, pd.DataFrame):
        return sorted(str(v) for v in table[column].dropna().unique())
    values = table.filter(table[column].notnull()).select(column).distinct().execute()
    return sorted(str(v) for v in values[column])


def _options(values: list[str]) -> list[tuple[str, str]]:
    return [(ALL, ALL), *((label(v), v) for v in values)]


def dropdown(description: str, values: list[str], css_class: str) -> widgets.Dropdown:
    """A dropdown with ``All`` first, then ``values`` (shown with human labels)."""
    widget = widgets.Dropdown(options=_options(values), value=ALL, description=description,
                              style={"description_width": "initial"})
    widget.add_class(css_class)
    return widget


def toggles(description: str, values: list[str], css_class: str) -> widgets.ToggleButtons:
    """Toggle buttons with ``All`` first, then ``values`` (e.g. Store, Web)."""
    widget = widgets.ToggleButtons(
        options=_options(values), value=ALL, description=description,
        style={"button_width": "80px", "description_width": "initial"})
    widget.add_class(css_class)
    return widget


def months(transactions: ir.Table, *, as_of=None, ts_col: str = "ts") -> list[pd.Timestamp]:
    """Month starts from the first transaction to ``as_of`` (or the last transaction)."""
    bounds = transactions.aggregate(lo=transactions[ts_col].min(), hi=transactions[ts_col].max())
    lo, hi = bounds.execute().iloc[0]
    hi = as_of if as_of is not None else hi
    if pd.isna(lo) or pd.isna(hi):
        return [pd.Timestamp.now().to_period("M").start_time]
    return list(pd.period_range(lo, hi, freq="M").start_time)


def month_range(month_starts: list[pd.Timestamp], css_class: str
                ) -> widgets.SelectionRangeSlider:
    """A range slider over month starts; its value is the (first, last) month included."""
    options = [(m.strftime("%b %Y"), m) for m in month_starts]
    slider = widgets.SelectionRangeSlider(
        options=options, index=(0, len(options) - 1), description="Months",
        continuous_update=False, layout=widgets.Layout(width="480px"))
    slider.add_class(css_class)
    return slider
