"""The one filter-state-to-view mechanism every dashboard is built on.

A dashboard is a set of filter widgets and a pure ``view(state) -> blocks`` function. On every
filter change :func:`dashboard` reads *all* filters into one state, calls ``view`` once and
assigns the blocks (cards, figures, tables, notes) to a single :class:`Panel` widget in one
trait assignment. The browser draws that one value, so a card and a figure computed from
different filters can never be on screen together once a draw has finished.

Why not plotly's ``FigureWidget``: it sends every change as a transient message (a trait set
and immediately reset to ``None``) that its browser model applies to a copy of the figure.
A message that arrives while that model is not listening (its 4.9 MB module still loading in a
slow or busy browser, or a page that connects late) is dropped for good, and the chart keeps
showing the old filter state while the cards, plain widgets, show the new one. The panel syncs
its whole content as state instead: whenever the browser model starts listening, it draws the
latest value.

Block builders: :func:`cards`, :func:`figure`, :func:`table`, :func:`note`. The page exposes
its progress: the panel element has ``data-state`` (the filter state drawn last, as JSON) and
``data-busy`` (``"1"`` while drawing).
"""

from __future__ import annotations

import html
import json
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import NamedTuple

import anywidget
import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go
import traitlets

__all__ = ["Card", "Panel", "cards", "dashboard", "figure", "note", "state_text", "table"]

_HERE = Path(__file__).parent

_CSS = """
.lc-panel { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr));
  gap: 14px; width: 100%; font-family: var(--jp-ui-font-family, sans-serif); }
.lc-width-full { grid-column: 1 / -1; }
.lc-cards { display: flex; flex-wrap: wrap; gap: 10px; }
.lc-card { min-width: 150px; padding: 8px 12px; border: 1px solid #ddd; border-radius: 6px; }
.lc-card-label { color: #555; font-size: 12px; }
.lc-card-value { font-size: 22px; font-weight: 600; }
.lc-card-note { color: #777; font-size: 11px; max-width: 220px; }
.lc-note { color: #333; font-size: 14px; line-height: 1.45; }
.lc-table table { border-collapse: collapse; font-size: 13px; width: 100%; }
.lc-table th { text-align: left; border-bottom: 2px solid #ccc; padding: 4px 8px; }
.lc-table td { border-bottom: 1px solid #eee; padding: 3px 8px; white-space: nowrap; }
.lc-table td.lc-num, .lc-table th.lc-num { text-align: right; }
.lc-table td.lc-wrap { white-space: normal; min-width: 320px; }
.lc-table caption { text-align: left; font-weight: 600; padding: 4px 0; }
.lc-error { color: #a00; font-weight: 600; }
"""


@cache
def _javascript() -> str:
    """The panel's JavaScript with plotly.js inlined: no request leaves the page's server."""
    plotly_js = Path(go.__file__).parents[1] / "package_data" / "plotly.min.js"
    source = (_HERE / "panel.js").read_text(encoding="utf-8")
    return source.replace("__PLOTLY_SOURCE__", json.dumps(plotly_js.read_text(encoding="utf-8")))


class Panel(anywidget.AnyWidget):
    """A widget that draws the blocks of one filter state (``content = {state, blocks}``)."""

    content = traitlets.Dict().tag(sync=True)
    _esm = ""  # set per instance from _javascript(), read once (no file read at import)
    _css = _CSS

    def __init__(self, **kwargs):
        super().__init__(_esm=_javascript(), **kwargs)


class Card(NamedTuple):
    """A headline number: its CSS name, label, exact value, formatted text and a note."""

    name: str
    label: str
    value: float
    text: str
    note: str = ""


def _block(kind: str, name: str, width: str, **fields) -> dict:
    if width not in ("full", "half"):
        raise ValueError(f"width must be 'full' or 'half', got {width!r}")
    return {"kind": kind, "name": name, "width": width, **fields}


def cards(items: Sequence[Card], *, name: str = "headline") -> dict:
    """A row of headline numbers. Each card keeps its exact value in ``data-value``.

    Examples
    --------
    >>> block = cards([Card("revenue", "Net revenue", 1234.5, "€1,235")])
    >>> 'data-value="1234.5"' in block["html"], "€1,235" in block["html"]
    (True, True)
    """
    body = "".join(
        f'<div class="lc-card lc-card-{html.escape(c.name)}" data-value="{float(c.value)!r}">'
        f'<div class="lc-card-label">{html.escape(c.label)}</div>'
        f'<div class="lc-card-value">{html.escape(c.text)}</div>'
        + (f'<div class="lc-card-note">{html.escape(c.note)}</div>' if c.note else "")
        + "</div>"
        for c in items)
    return _block("cards", name, "full", html=body)


def figure(name: str, fig: go.Figure, *, agrees_with: str | None = None,
           measure: str = "y", width: str = "half") -> dict:
    """A plotly figure. ``agrees_with`` names the card whose value the figure adds up to.

    ``measure`` says what adds up: ``"y"`` (the sum of every visible trace's y values) or
    ``"x"`` (horizontal bars). Browser tests check the sum against the card after each change.
    """
    return _block("figure", name, width, figure=json.loads(fig.to_json()),
                  agrees_with=agrees_with, measure=measure)


def table(name: str, frame: pd.DataFrame, *, caption: str = "",
          numeric: Sequence[str] = (), wrap: Sequence[str] = (), width: str = "half") -> dict:
    """A small table of already formatted text (``frame`` of strings); ``numeric`` columns
    are right-aligned, ``wrap`` columns (sentences) wrap, the others stay on one line. The
    column names are the headers, so name them for people."""
    def cell(tag, column, value):
        cls = ' class="lc-num"' if column in numeric else (
            ' class="lc-wrap"' if column in wrap else "")
        return f"<{tag}{cls}>{html.escape(str(value))}</{tag}>"
    head = "".join(cell("th", c, c) for c in frame.columns)
    rows = "".join("<tr>" + "".join(cell("td", c, v) for c, v in zip(frame.columns, row,
                                                                        strict=True)) + "</tr>"
                   for row in frame.itertuples(index=False))
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return _block("table", name, width,
                  html=f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def note(name: str, text: str, *, width: str = "full") -> dict:
    """A sentence or two of plain text (escaped; ``**bold**`` becomes bold)."""
    parts = html.escape(text).split("**")
    body = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
    return _block("note", name, width, html=f"<p>{body}</p>")


def state_text(state: Mapping) -> str:
    """The filter state as the JSON the panel shows in ``data-state``.

    Examples
    --------
    >>> state_text({"region": "Skåne", "months": (pd.Timestamp("2024-01-01"),) * 2})
    '{"months": ["2024-01-01", "2024-01-01"], "region": "Skåne"}'
    """
    def plain(value):
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, pd.Timestamp):
            return value.strftime("%Y-%m-%d")
        return value
    return json.dumps({k: plain(v) for k, v in state.items()}, sort_keys=True,
                      ensure_ascii=False)


def _error_blocks(error: Exception) -> list[dict]:
    traceback.print_exception(error, file=sys.stderr)  # lands in the Voila server log
    return [note("error", f"This view could not be computed: {type(error).__name__}: {error}")]


def dashboard(title: str, filters: Mapping[str, widgets.ValueWidget],
              view: Callable[[dict], list[dict]], *, subtitle: str = "",
              controls: Sequence[widgets.Widget] = (), layout: Callable | None = None,
              css_class: str = "lifecycle-dashboard") -> widgets.VBox:
    """Wire ``filters`` to ``view`` through one :class:`Panel`.

    Parameters
    ----------
    title, subtitle : str
        The page heading and a line under it.
    filters : mapping of name to widget
        Every widget's ``value`` goes into the state under its name.
    view : callable
        ``view(state) -> list of blocks``; pure, it reads nothing but the state (and what it
        closed over). An exception shows as a note on the page and in the server log.

    controls : list of widgets, optional
        Further widgets for the bar (e.g. a reset button), not part of the state.

    Returns
    -------
    ipywidgets.VBox
        Heading, filter bar and panel; ``app.panel`` is the panel, ``app.refresh()`` redraws,
        and ``with app.batch(): ...`` sets several filters with one redraw at the end.

    Examples
    --------
    >>> n = widgets.IntSlider(value=2, description="n")
    >>> app = dashboard("Squares", {"n": n},
    ...                 lambda s: [cards([Card("sq", "Square", s["n"] ** 2, str(s["n"] ** 2))])])
    >>> n.value = 3
    >>> app.panel.content["state"], 'data-value="9.0"' in app.panel.content["blocks"][0]["html"]
    ('{"n": 3}', True)
    """
    panel, held = Panel(), []

    def refresh(_change=None) -> None:
        if held:
            return
        state = {name: widget.value for name, widget in filters.items()}
        try:
            blocks = view(state)
        except Exception as error:  # shown on the page instead of a half-updated view
            blocks = _error_blocks(error)
        panel.content = {"state": state_text(state), "blocks": blocks}

    for widget in filters.values():
        widget.observe(refresh, names="value")
    refresh()
    heading = f"<h2 style='margin:4px 0'>{html.escape(title)}</h2>"
    if subtitle:
        heading += f"<div style='color:#555;margin-bottom:6px'>{html.escape(subtitle)}</div>"
    @contextmanager
    def batch():
        held.append(True)
        try:
            yield
        finally:
            held.pop()
            refresh()

    items = [*filters.values(), *controls]
    bar = (layout(items) if layout else
           widgets.HBox(items, layout=widgets.Layout(flex_flow="row wrap", align_items="center")))
    app = widgets.VBox([widgets.HTML(heading), bar, panel])
    app.add_class(css_class)
    app.panel, app.refresh, app.batch = panel, refresh, batch
    return app
