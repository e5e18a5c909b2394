"""The segments-and-exports dashboard: choose a segment, a channel and a file format; see how
many of the segment may be contacted and why the others may not; export the file an e-mail or
SMS tool imports.

Segments (:func:`segment_base`, computed once per version of the tables they come from):

- the **RFM segments** of the buying customers (:mod:`lifecycle.rfm`, as on the
  customer-value dashboard);
- the **See / Think / Do / Care** stages of the known customers
  (:func:`lifecycle.audiences.stages`);
- the **top customers by value score** (the customer-value dashboard's ranking);
- each **lifecycle program's selection** for the workspace's day
  (:func:`lifecycle.programs.evaluate`), computed when first chosen and again after each
  export (an exported selection is in the contact history: nobody is selected twice).

Who may be contacted is decided at the send time, 08:00 of the workspace's day, by
:func:`lifecycle.consent.contactable` (a valid permission for the channel, a valid address,
no suppression); the page counts the segment before and after, by reason. "Export segment"
hands the segment to :func:`lifecycle.export.write`, which checks every row again, writes
the file and its manifest atomically and records the contacts and the run. The file goes to
the exports folder (``LIFECYCLE_EXPORTS``, default ``exports/`` beside the workspace file)
under a name of its own (segment, day, run id), so two pages exporting at the same time write
two files and record both.

CSS classes for browser tests: ``lifecycle-segments-exports`` (the app),
``lifecycle-segment-filter``, ``lifecycle-top-filter``, ``lifecycle-export-channel-filter``,
``lifecycle-format-filter``, ``lifecycle-export`` (the button) and
``lifecycle-export-result``, whose ``.lc-export`` element carries ``data-status``
(``idle``, ``running``, ``done``, ``failed``) and, once done, ``data-rows``, ``data-path``,
``data-sha256`` and ``data-run-id``.
"""

from __future__ import annotations

import html
import os
import re
import traceback
import uuid
from pathlib import Path

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from lifecycle import audiences, consent, export, plots, programs, rfm
from lifecycle.formats import count, percent
from lifecycle.plots import label
from lifecycle.ui.customer_value import cached_customer_base
from lifecycle.ui.panel import Card, cards, dashboard, figure, note, table

__all__ = ["build_segments_exports_app", "segment_base"]

SEND_HOUR = 8
CHANNELS = ("email", "sms")
_BY = {"email": "e-mail", "sms": "SMS"}  # the channel inside a sentence
TOPS = (100, 500, 1000, 5000)
_SEGMENT_TABLES = ("customers", "transactions", "events", "feedback")


def segment_base(workspace) -> pd.DataFrame:
    """One row per customer: ``customer_id``, the RFM ``segment`` (buyers), the ``stage``
    (customers seen on the web or buying) and the ``value_rank`` (buyers; 1 = most
    valuable), computed once per version of the tables they come from."""
    def compute() -> pd.DataFrame:
        as_of = workspace.as_of
        tx = workspace.table("transactions")
        people = workspace.table("customers").select("customer_id").execute()
        scores = rfm.segment(rfm.score(rfm.rfm(tx, as_of=as_of))).execute()
        out = people.merge(scores[["customer_id", "segment"]], how="left")
        if "events" in workspace.tables():
            staged = audiences.stages(workspace.table("events"), tx, as_of=as_of).execute()
            staged = staged[staged.customer_id.notna()][["customer_id", "stage"]]
            out = out.merge(staged.drop_duplicates("customer_id"), how="left")
        else:
            out["stage"] = pd.Series(None, index=out.index, dtype="object")
        ranks = cached_customer_base(workspace)["rank"].rename("value_rank").reset_index()
        return out.merge(ranks, how="left").astype({"segment": "object", "stage": "object"})
    return workspace.cached("segment_base", compute, tables=_SEGMENT_TABLES)


def _options(base: pd.DataFrame, day: pd.Timestamp) -> list[tuple[str, str]]:
    """The segment dropdown: RFM segments (largest first), stages, top-N, programs."""
    rfm_sizes = base.segment.value_counts()
    options = [(f"RFM: {name} ({count(n)})", f"rfm:{name}") for name, n in rfm_sizes.items()]
    stages = [s for s in audiences.STAGES if (base.stage == s).any()]
    options += [(f"Stage: {label(s)} ({count((base.stage == s).sum())})", f"stage:{s}")
                for s in stages]
    options.append(("Top customers by value", "top"))
    options += [(f"Program: {label(name)}, {day:%d %b %Y}", f"program:{name}")
                for name in programs.PROGRAMS]
    return options


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class _Segments:
    """What the page reads: the segment base, who may be contacted per channel, and the
    programs' selections (kept until an export changes them)."""

    def __init__(self, workspace):
        self.workspace = workspace
        self.day = workspace.as_of.normalize()
        self.send_at = self.day + pd.Timedelta(hours=SEND_HOUR)
        self.base = segment_base(workspace)
        self.reach = {c: consent.contactable_in(workspace, channel=c, at=self.send_at)
                      .execute().set_index("customer_id") for c in CHANNELS}
        self._selections: dict[str, pd.DataFrame] = {}

    def selection(self, name: str) -> pd.DataFrame:
        if name not in self._selections:
            self._selections[name] = programs.evaluate(self.workspace, name, as_of=self.day)
        return self._selections[name]

    def forget(self, name: str) -> None:
        self._selections.pop(name, None)

    def members(self, state: dict) -> tuple[pd.DataFrame, dict]:
        """The segment's rows (``customer_id`` and what the file carries) and how to export
        them (``fields``, ``kind``, ``name``, ``program``)."""
        kind, _, name = state["segment"].partition(":")
        base = self.base
        if kind == "rfm":
            rows = base.loc[base.segment == name, ["customer_id", "segment"]]
        elif kind == "stage":
            rows = base.loc[base.stage == name, ["customer_id", "stage"]]
            name = label(name)
        elif kind == "top":
            ranked = base[base.value_rank.notna()].sort_values("value_rank")
            rows = ranked.head(int(state["top"]))[["customer_id", "value_rank"]]
            rows = rows.astype({"value_rank": "int64"})
            name = f"top {state['top']} by value"
        else:
            program = programs.PROGRAMS[name][0]
            chosen = self.selection(name)
            rows = chosen[chosen.channel == state["channel"]]
            return rows.reset_index(drop=True), {
                "fields": program.fields, "kind": f"program:{name}", "name": label(name),
                "program": program}
        return rows.reset_index(drop=True), {"fields": tuple(rows.columns[1:]),
                                             "kind": "segment", "name": name, "program": None}


def _why(rows: pd.DataFrame, reach: pd.DataFrame) -> pd.Series:
    """Per row: the reason the customer may not be contacted (null: may be)."""
    return rows.customer_id.map(reach.reason).where(rows.customer_id.isin(reach.index),
                                                   "not a customer")


def _outcome_figure(reachable: int, removed: pd.Series, held: int, channel: str
                    ) -> go.Figure:
    """One bar per outcome: may be contacted, each reason not, held out as control."""
    outcomes = pd.Series({f"May be contacted by {_BY.get(channel, channel)}": reachable,
                          **{label(r): n for r, n in removed.items()},
                          **({"Held out as control group": held} if held else {})})
    colours = ["#55a868"] + ["#c44e52"] * len(removed) + ["#8c8c8c"] * bool(held)
    shown = outcomes[::-1]
    fig = go.Figure(go.Bar(x=shown.to_numpy(), y=shown.index.tolist(), orientation="h",
                           marker_color=colours[::-1], text=[count(v) for v in shown],
                           textposition="auto", hovertemplate="%{y}: %{x:,}<extra></extra>"))
    fig = plots.style(fig, title="Who in the segment can be contacted",
                      height=140 + 32 * len(shown))
    return fig.update_xaxes(title_text="Customers")


def segments_view(segments: _Segments):
    """``view(state) -> blocks``: the segment before and after the consent check."""
    def view(state: dict) -> list[dict]:
        rows, how = segments.members(state)
        channel = state["channel"]
        held = rows.control if "control" in rows else pd.Series(False, index=rows.index)
        why = _why(rows, segments.reach[channel])
        ok = why.isna() & ~held
        removed = why[~held].dropna().value_counts().reindex(
            [r for r in (*consent.REASONS, "not a customer") if r in set(why.dropna())])
        n = len(rows)
        items = [Card("segment", "In the segment", n, count(n)),
                 Card("reachable", f"May be contacted by {_BY.get(channel, channel)}", int(ok.sum()),
                      count(int(ok.sum())), note=percent(ok.sum() / n) + " of the segment"
                      if n else ""),
                 Card("removed", "Cannot be contacted", int(removed.sum()),
                      count(int(removed.sum())))]
        if held.any():
            items.append(Card("control", "Held out as control group", int(held.sum()),
                              count(int(held.sum())), note="recorded, not sent"))
        blocks = [cards(items),
                  figure("outcomes", _outcome_figure(int(ok.sum()), removed, int(held.sum()),
                                                     channel),
                         agrees_with="segment", measure="x")]
        address = consent.ADDRESSES.get(channel)
        preview = rows[ok].head(10).assign(**{address: lambda r: r.customer_id.map(
            segments.reach[channel].address)})
        columns = ["customer_id", address, *how["fields"]]
        shown = preview[[c for c in columns if c in preview]].astype(str).replace(
            {"nan": "", "None": "", "<NA>": ""})
        blocks.append(table("preview", shown.rename(columns=label),
                            caption=f"The first rows of the file ({count(int(ok.sum()))} rows)"))
        when = f"{segments.send_at:%A %d %B %Y, %H:%M}"
        text = (f"Checked for sending on **{when}**: a permission for {_BY.get(channel, channel)}"
                f" valid then, an address that looks like one, and no suppression (the suppression "
                f"list, a hard bounce, a spam complaint or an unsubscribe). The export checks "
                f"every row again when it writes the file.")
        if how["program"] is not None and channel not in (how["program"].channels or
                                                          (how["program"].channel,)):
            text = (f"{how['name']} sends by {_BY[how['program'].channel]} only: choose "
                    f"that channel to export its selection. " + text)
        blocks.append(note("checked", text))
        return blocks
    return view


def exports_folder(workspace) -> Path:
    """Where the page writes: ``LIFECYCLE_EXPORTS`` or ``exports/`` beside the workspace."""
    given = os.environ.get("LIFECYCLE_EXPORTS")
    return Path(given) if given else Path(workspace.path).parent / "exports"


def _result_html(status: str, body: str = "", **data) -> str:
    attrs = "".join(f' data-{k.replace("_", "-")}="{html.escape(str(v))}"'
                    for k, v in data.items())
    return f'<div class="lc-export" data-status="{status}"{attrs}>{body}</div>'


def _manifest_html(manifest: dict, head: pd.DataFrame) -> str:
    removed = ", ".join(f"{label(k)} {count(v)}" for k, v in manifest["removed"].items())
    facts = [("File", manifest["path"]), ("Rows", count(manifest["rows"])),
             ("Columns", ", ".join(manifest["columns"])),
             ("Size", f"{manifest['bytes'] / 1024:,.1f} kB"), ("SHA-256", manifest["sha256"]),
             ("Checked for", f"{label(manifest['channel'])}, "
                             f"{pd.Timestamp(manifest['as_of']):%d %b %Y %H:%M}"),
             ("Removed", removed or "none"),
             ("Held out as control", count(manifest["control"])),
             ("Run", manifest["run_id"]), ("Manifest", manifest["manifest"])]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in facts)
    file_rows = head.astype(str).to_html(index=False, border=0)
    return (f"<div class='lc-table'><table><caption>Exported {count(manifest['rows'])} rows"
            f"</caption>{rows}</table></div><div class='lc-table'><p><b>The file's first "
            f"rows</b></p>{file_rows}</div>")


def build_segments_exports_app(workspace):
    """The segments-and-exports dashboard for a workspace file (see the module docstring).

    Returns
    -------
    ipywidgets.VBox
        Filters (segment, top N, channel, format), the export button, the panel and the
        export's result.
    """
    segments = _Segments(workspace)
    filters = {
        "segment": widgets.Dropdown(options=_options(segments.base, segments.day),
                                    description="Segment",
                                    style={"description_width": "initial"},
                                    layout=widgets.Layout(width="380px")),
        "top": widgets.Dropdown(options=[(count(n), n) for n in TOPS], value=TOPS[1],
                                description="Top", style={"description_width": "initial"},
                                layout=widgets.Layout(width="140px")),
        "channel": widgets.ToggleButtons(options=[(label(c), c) for c in CHANNELS],
                                         description="Channel",
                                         style={"button_width": "70px",
                                                "description_width": "initial"}),
        "format": widgets.ToggleButtons(options=[("CSV", "csv"), ("Parquet", "parquet")],
                                        description="Format",
                                        style={"button_width": "70px",
                                               "description_width": "initial"})}
    for name, css in (("segment", "lifecycle-segment-filter"), ("top", "lifecycle-top-filter"),
                      ("channel", "lifecycle-export-channel-filter"),
                      ("format", "lifecycle-format-filter")):
        filters[name].add_class(css)
    button = widgets.Button(description="Export segment", button_style="primary",
                            icon="download")
    button.add_class("lifecycle-export")
    result = widgets.HTML(_result_html("idle"))
    result.add_class("lifecycle-export-result")

    app = None

    def on_export(_button) -> None:
        state = {name: w.value for name, w in filters.items()}
        button.disabled, button.description = True, "Exporting…"
        result.value = _result_html("running", "<p>Writing the file…</p>")
        try:
            rows, how = segments.members(state)
            run_id = f"{_slug(how['name'])}-{segments.day:%Y-%m-%d}-{uuid.uuid4().hex[:8]}"
            folder = exports_folder(workspace)
            folder.mkdir(parents=True, exist_ok=True)
            manifest = export.write(
                rows, folder / f"{run_id}.{state['format']}", workspace=workspace,
                channel=state["channel"], as_of=segments.send_at, fields=how["fields"],
                campaign_id="segment-export", cell_id=_slug(how["name"]), run_id=run_id,
                kind=how["kind"])
            path = Path(manifest["path"])
            head = (pd.read_csv(path, nrows=5, dtype=str) if state["format"] == "csv" else
                    pd.read_parquet(path).head(5))
            if how["program"] is not None:  # its selection is in the contact history now
                segments.forget(how["program"].name)
                app.refresh()
            result.value = _result_html(
                "done", _manifest_html(manifest, head), rows=manifest["rows"],
                path=manifest["path"], sha256=manifest["sha256"], run_id=manifest["run_id"])
        except Exception as error:  # shown, not swallowed: the server log has the traceback
            traceback.print_exc()
            result.value = _result_html(
                "failed", f"<p class='lc-error'>The export failed: {html.escape(str(error))}"
                          f"</p>")
        finally:
            button.disabled, button.description = False, "Export segment"

    def show_top(_change=None) -> None:  # the number applies to the value ranking only
        filters["top"].layout.display = None if filters["segment"].value == "top" else "none"

    filters["segment"].observe(show_top, names="value")
    show_top()
    button.on_click(on_export)
    subtitle = (f"Customers as of {segments.day:%d %b %Y}; files go to "
                f"{exports_folder(workspace)}")
    app = dashboard("Segments and exports", filters, segments_view(segments),
                    subtitle=subtitle, controls=[button],
                    css_class="lifecycle-segments-exports")
    app.children = (*app.children, result)
    return app
