"""The prioritization dashboard: a campaign group's cells with their priority, mandatory
flag, limits and exclusions editable in the page; "Optimize now" allocates the day's
candidates with the chosen mode and shows the eligible against the allocated counts per
cell, cost and value, the gain of optimizing and the log; "Export selection" writes the
files and records the contacts (:mod:`lifecycle.prioritize`).

The panel shows the result for the mode and objective chosen and the inputs last applied
with "Optimize now" (each such press is recorded as a run, which "Reopen" brings back with
its inputs). The candidates are the day's selections of the group's programs, drawn once
and again after each export.

CSS classes for browser tests: ``lifecycle-prioritization`` (the app),
``lifecycle-mode-filter``, ``lifecycle-objective-filter``, ``lifecycle-optimize`` and
``lifecycle-export`` (the buttons), ``lifecycle-reopen`` (the dropdown of recorded runs),
``lifecycle-export-result`` (``.lc-export`` with ``data-status`` and ``data-files``), and
per cell ``lc-edit-<cell id>-<field>`` (``priority``, ``mandatory``, ``max_count``,
``max_cost``, ``exclude_constraints``, ``exclude_policies``) and per group or campaign
``lc-limit-<id>-<max_count|max_cost>``.
"""

from __future__ import annotations

import html
import math
import traceback

import ipywidgets as widgets
import pandas as pd

from lifecycle import plots, prioritize
from lifecycle.formats import count, money, percent
from lifecycle.plots import label
from lifecycle.ui.panel import Card, cards, dashboard, figure, note, table
from lifecycle.ui.segments_exports import _result_html, exports_folder

__all__ = ["build_prioritization_app"]

GROUP = "lifecycle"
_FLAGS = ("mandatory", "exclude_constraints", "exclude_policies")
_NUMBERS = ("max_count", "max_cost")
_MODE_WORDS = {"priority": "priority", "optimal": "optimizing"}


def _number(text: str) -> float | None:
    """A limit typed in the page: empty for none, else a number of at least 0."""
    text = str(text).replace(",", "").strip()
    if not text:
        return None
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a limit must be a number of at least 0, not {text!r}")
    return value


def _shown(value) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):g}"


class _Editors:
    """The editable inputs: one row of widgets per cell, one per campaign and the group."""

    def __init__(self, cells: pd.DataFrame, constraints: pd.DataFrame, group: str):
        cells = cells.reset_index(drop=True)
        own = constraints[constraints.level == "cell"].set_index("id")
        for limit in _NUMBERS:  # a cell's limit in the constraints table is edited here
            stored = cells.cell_id.map(own[limit]) if limit in own else None
            if stored is not None:
                cells[limit] = pd.concat([pd.to_numeric(cells.get(limit)), stored],
                                         axis=1).min(axis=1)
        self.cells, self.group = cells, group
        self.per_cell: dict[tuple[str, str], widgets.Widget] = {}
        for row in self.cells.itertuples():
            self._add(row.cell_id, "priority", widgets.BoundedIntText(
                value=int(row.priority), min=1, max=99, layout=widgets.Layout(width="64px")))
            for flag in _FLAGS:
                self._add(row.cell_id, flag, widgets.Checkbox(
                    value=bool(getattr(row, flag)) if pd.notna(getattr(row, flag)) else False,
                    indent=False, layout=widgets.Layout(width="40px")))
            for limit in _NUMBERS:
                self._add(row.cell_id, limit, widgets.Text(
                    value=_shown(getattr(row, limit)), placeholder="none",
                    layout=widgets.Layout(width="90px")))
        self.levels = [("group", group), *(("campaign", c) for c in
                                            dict.fromkeys(self.cells.campaign_id))]
        self.per_limit: dict[tuple[str, str, str], widgets.Text] = {}
        stored = constraints.set_index(["level", "id"]) if len(constraints) else None
        for level, ident in self.levels:
            for limit in _NUMBERS:
                value = (stored.loc[(level, ident), limit]
                         if stored is not None and (level, ident) in stored.index else None)
                box = widgets.Text(value=_shown(value), placeholder="none",
                                   layout=widgets.Layout(width="100px"))
                box.add_class(f"lc-limit-{ident}-{limit}")
                self.per_limit[(level, ident, limit)] = box

    def _add(self, cell_id: str, field: str, widget: widgets.Widget) -> None:
        widget.add_class(f"lc-edit-{cell_id}-{field}")
        self.per_cell[(cell_id, field)] = widget

    def inputs(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The cells and the constraints as edited."""
        cells = self.cells.copy()
        for (cell_id, field), widget in self.per_cell.items():
            value = _number(widget.value) if field in _NUMBERS else widget.value
            cells.loc[cells.cell_id == cell_id, field] = value
        cells["priority"] = cells.priority.astype(float)
        rows = [(level, ident, _number(self.per_limit[(level, ident, "max_count")].value),
                 _number(self.per_limit[(level, ident, "max_cost")].value))
                for level, ident in self.levels]
        constraints = pd.DataFrame(rows, columns=["level", "id", "max_count", "max_cost"])
        return cells, constraints.dropna(subset=list(_NUMBERS), how="all").reset_index(
            drop=True)

    def load(self, cells: pd.DataFrame, constraints: pd.DataFrame) -> None:
        """Show a reopened run's inputs."""
        by_cell = cells.set_index("cell_id")
        for (cell_id, field), widget in self.per_cell.items():
            if cell_id in by_cell.index:
                value = by_cell.loc[cell_id, field] if field in by_cell else None
                widget.value = (_shown(value) if field in _NUMBERS else
                                int(value) if field == "priority" else bool(value))
        stored = constraints.set_index(["level", "id"]) if len(constraints) else None
        for (level, ident, limit), box in self.per_limit.items():
            box.value = _shown(stored.loc[(level, ident), limit] if stored is not None and
                               (level, ident) in stored.index else None)

    def grid(self) -> widgets.Widget:
        head = ["Cell", "Campaign", "Priority", "Mandatory", "Max contacts", "Max cost",
                "No limits", "No policies"]
        items = [widgets.HTML(f"<b>{h}</b>") for h in head]
        for row in self.cells.itertuples():
            items += [widgets.HTML(html.escape(label(row.cell_id))),
                      widgets.HTML(html.escape(label(row.campaign_id))),
                      *(self.per_cell[(row.cell_id, f)] for f in (
                          "priority", "mandatory", "max_count", "max_cost",
                          "exclude_constraints", "exclude_policies"))]
        cells = widgets.GridBox(items, layout=widgets.Layout(
            grid_template_columns="220px 130px 80px 80px 100px 100px 80px 80px",
            grid_gap="2px 8px"))
        limits = [widgets.HTML("<b>Limit of</b>"), widgets.HTML("<b>Max contacts</b>"),
                  widgets.HTML("<b>Max cost</b>")]
        for level, ident in self.levels:
            limits += [widgets.HTML(html.escape(f"{label(level)} {label(ident)}")),
                       self.per_limit[(level, ident, "max_count")],
                       self.per_limit[(level, ident, "max_cost")]]
        limits = widgets.GridBox(limits, layout=widgets.Layout(
            grid_template_columns="220px 110px 110px", grid_gap="2px 8px"))
        return widgets.Accordion(children=[widgets.VBox([cells, widgets.HTML("<br>"),
                                                         limits])],
                                 titles=("Cells and limits (edit, then Optimize now)",),
                                 selected_index=0)


def _view(results: dict, currency: str | None):
    def view(state: dict) -> list[dict]:
        shown = results.get(state["run"])
        if shown is None:
            return [note("start", "Edit the cells and limits if you like, choose the mode, and "
                                  "press **Optimize now**.")]
        mode = _MODE_WORDS[shown["mode"]]
        if shown["status"] == "infeasible":
            log = shown["log"]
            return [cards([Card("status", "Result", 0, "Infeasible",
                                note="nothing is allocated")]),
                    table("log", pd.DataFrame({
                        "Cell": log.cell_id.map(label), "Limit or policy": log.constraint,
                        "Needed": log.needed.map(count), "Limit": log.limit.map(
                            lambda v: f"{v:,.2f}" if v % 1 else count(v)),
                        "Why": log.message}), caption="Why the run is infeasible",
                          numeric=("Needed", "Limit"), wrap=("Why",), width="full")]
        counts = shown["counts"]
        selected, value = int(counts.selected.sum()), float(counts.expected_value.sum())
        items = [Card("selected", "Contacts", selected, count(selected),
                      note=f"of {count(int(counts.eligible.sum()))} eligible"),
                 Card("cost", "Cost", float(counts.cost.sum()),
                      money(counts.cost.sum(), currency, decimals=2)),
                 Card("expected_value", "Expected value", value,
                      money(value, currency, decimals=2),
                      note=f"{mode} mode, {shown['status']}")]
        if shown.get("gain") is not None:
            items.append(Card("gain", "Gain over the priority mode", shown["gain"],
                              percent(shown["gain"]), note="same limits and policies"))
        allocated = counts.loc[counts.eligible > 0, ["cell_id", "selected"]].rename(
            columns={"selected": "contacts"})
        fig = plots.allocation_figure(allocated.assign(scenario=f"{label(mode)} mode"),
                                      title="Allocated contacts per cell")
        per_cell = {"Cell": counts.cell_id.map(label), "Eligible": counts.eligible.map(count)}
        if shown.get("baseline") is not None:
            per_cell["Priority mode"] = shown["baseline"].selected.map(count)
        per_cell |= {f"{label(mode)} mode": counts.selected.map(count),
                     "Cost": counts.cost.map(lambda v: money(v, currency, decimals=2)),
                     "Expected value": counts.expected_value.map(
                         lambda v: money(v, currency, decimals=2))}
        blocks = [cards(items), figure("selected", fig, agrees_with="selected", measure="x"),
                  table("cells", pd.DataFrame(per_cell), caption="Per cell: eligible and "
                        "allocated", numeric=tuple(per_cell)[1:])]
        limits = shown["limits"]
        if len(limits):
            blocks.append(table("limits", pd.DataFrame({
                "Limit": limits.constraint, "Maximum": limits["limit"].map(
                    lambda v: f"{v:,.2f}"), "Used": limits.used.map(lambda v: f"{v:,.2f}"),
                "One more unit adds": limits.value_per_unit.map(
                    lambda v: "–" if pd.isna(v) else money(v, currency, decimals=2))}),
                caption="What each limit costs (optimizing mode: from the relaxation's duals)",
                numeric=("Maximum", "Used", "One more unit adds"), width="full"))
        bound = shown.get("bound")
        if shown["mode"] == "optimal" and bound is not None:
            blocks.append(note("bound", f"The best possible value is at most "
                                        f"**{money(bound, currency, decimals=2)}** "
                                        f"(the bound); this allocation reaches "
                                        f"{money(value, currency, decimals=2)}."))
        if shown.get("run_id"):
            blocks.append(note("run", f"Recorded as run {shown['run_id']} "
                                      f"({pd.Timestamp(shown['as_of']):%d %b %Y})."))
        return blocks
    return view


def _runs(workspace, group: str) -> list[tuple[str, str]]:
    """The reopen dropdown: the group's recorded runs, newest first."""
    return [("Reopen a run…", "")] + [
        (f"{row.started_at:%d %b %Y %H:%M}, {_MODE_WORDS[row.mode]}, {row.status} "
         f"({row.run_id[-8:]})", row.run_id)
        for row in prioritize.recorded(workspace, group).itertuples()]


def build_prioritization_app(workspace, group: str = GROUP):
    """The prioritization dashboard for a campaign group (see the module docstring)."""
    day = workspace.as_of.normalize()
    stored = prioritize.group_tables(workspace, group)
    editors = _Editors(stored["cells"], stored["constraints"], group)
    mode = widgets.ToggleButtons(options=[("Priority", "priority"), ("Optimizing", "optimal")],
                                 description="Mode", style={"button_width": "90px",
                                                            "description_width": "initial"})
    objective = widgets.ToggleButtons(options=[("Value", "value"), ("Profit", "profit")],
                                      description="Maximise", style={
                                          "button_width": "70px",
                                          "description_width": "initial"})
    run = widgets.IntText(value=0, layout=widgets.Layout(display="none"))
    mode.add_class("lifecycle-mode-filter")
    objective.add_class("lifecycle-objective-filter")
    optimize = widgets.Button(description="Optimize now", button_style="primary",
                              icon="play")
    optimize.add_class("lifecycle-optimize")
    send = widgets.Button(description="Export selection", icon="download", disabled=True)
    send.add_class("lifecycle-export")
    reopen = widgets.Dropdown(options=_runs(workspace, group),
                              layout=widgets.Layout(width="330px"))
    reopen.add_class("lifecycle-reopen")
    result = widgets.HTML(_result_html("idle"))
    result.add_class("lifecycle-export-result")
    results: dict[int, dict] = {}
    held = {"rows": None, "plan": None}

    def show(summary: dict) -> None:
        results[run.value + 1] = summary
        run.value += 1

    def on_optimize(_button=None) -> None:
        optimize.disabled, optimize.description = True, "Optimizing…"
        try:
            cells, constraints = editors.inputs()
            if held["rows"] is None:
                held["rows"] = prioritize.day_rows(workspace, cells.campaign_id, as_of=day)
            plan = prioritize.plan(workspace, group, as_of=day, mode=mode.value,
                                   objective=objective.value, cells=cells,
                                   constraints=constraints, rows=held["rows"])
            held["plan"] = plan
            send.disabled = plan.allocation.status == "infeasible"
            show(prioritize.summary(plan))
            reopen.options = _runs(workspace, group)
        except Exception as error:
            traceback.print_exc()
            result.value = _result_html("failed", f"<p class='lc-error'>{html.escape(str(error))}"
                                                  f"</p>")
        finally:
            optimize.disabled, optimize.description = False, "Optimize now"

    def on_export(_button=None) -> None:
        plan = held["plan"]
        send.disabled = True
        result.value = _result_html("running", "<p>Writing the files…</p>")
        try:
            files = prioritize.export(workspace, plan, exports_folder(workspace))
            held["rows"], held["plan"] = None, None  # the contacts are in the history now
            body = table("files", pd.DataFrame({
                "Campaign": files.campaign_id.map(label), "Channel": files.channel.map(label),
                "Exported": files.exported.map(count),
                "Held out as control": files.control.map(count), "File": files.file}))
            result.value = _result_html("done", body["html"], files=len(files),
                                        rows=int(files.exported.sum()))
        except Exception as error:
            traceback.print_exc()
            result.value = _result_html("failed", f"<p class='lc-error'>The export failed: "
                                                  f"{html.escape(str(error))}</p>")
            send.disabled = False

    def on_reopen(change) -> None:
        if not change["new"]:
            return
        found = prioritize.reopen(workspace, change["new"])
        editors.load(found["cells"], found["constraints"])
        mode.value, objective.value = found["mode"], found["objective"]
        held["plan"], send.disabled = None, True
        show(found)

    optimize.on_click(on_optimize)
    send.on_click(on_export)
    reopen.observe(on_reopen, names="value")
    subtitle = (f"Campaign group {group}, candidates of {day:%d %b %Y}; files go to "
                f"{exports_folder(workspace)}")
    app = dashboard("Prioritization", {"run": run}, _view(results, workspace.currency),
                    subtitle=subtitle, controls=[mode, objective, optimize, send, reopen],
                    css_class="lifecycle-prioritization")
    app.children = (app.children[0], editors.grid(), *app.children[1:], result)
    return app
