"""The prioritization dashboard in headless Chromium: "Optimize now" shows what the library
allocates for the same inputs, in both modes; the gain of optimizing; an infeasible
mandatory cell shows its log; the run is recorded and reopened; "Export selection" writes
the files and records the contacts.

Its panel follows the "Optimize now" presses (each one a recorded run), not filters, so it
has no filter scenario in ``test_dashboards.py``. The pages write, so they are served over a
copy of the demo workspace, by a server of this dashboard alone.
"""

from __future__ import annotations

import dashboard_fixtures
import pandas as pd
import pytest
from dashboard_fixtures import assert_no_cell_errors, screenshot, wait_for_drawn

from lifecycle import Workspace, prioritize

pytestmark = pytest.mark.browser

DASHBOARD = "prioritization.ipynb"
TIMEOUT_MS = 60_000


served, open_page = dashboard_fixtures.alone_fixtures(DASHBOARD, "prioritization")


def optimize_now(page) -> dict:
    """Press "Optimize now"; what the panel shows once it has drawn the new run."""
    before = wait_for_drawn(page)["state"]
    page.locator("button.lifecycle-optimize").click()
    return wait_for_drawn(page, unlike=before, timeout_ms=TIMEOUT_MS)


def _runs(workspace) -> pd.DataFrame:
    """The prioritization runs recorded in the workspace."""
    ws = Workspace.open(workspace)
    if "runs" not in ws.tables():
        return pd.DataFrame(columns=["run_id", "status"])
    runs = ws.table("runs")
    return runs.filter(runs.kind == "prioritize").execute()


def values(shown: dict) -> dict:
    return {name: card["value"] for name, card in shown["cards"].items()}


def test_optimize_now_shows_each_mode_the_gain_and_exports_the_selection(
        served, open_page, tmp_path):
    _, workspace, exports = served
    expected = prioritize.plan(Workspace.open(workspace), "lifecycle",
                               as_of=Workspace.open(workspace).as_of, mode="optimal",
                               record=False)
    before = set(_runs(workspace).run_id)
    page = open_page()
    first = values(optimize_now(page))  # the priority mode, the stored inputs
    baseline = expected.baseline
    assert first["selected"] == len(baseline.contacts)
    assert first["cost"] == pytest.approx(baseline.counts.cost.sum())
    assert first["expected_value"] == pytest.approx(baseline.objective)
    page.locator(".lifecycle-mode-filter").get_by_role("button", name="Optimizing").click()
    shown = optimize_now(page)
    best = values(shown)
    assert best["expected_value"] == pytest.approx(expected.allocation.objective)
    assert best["gain"] == pytest.approx(expected.gain) and best["gain"] > 0
    assert best["cost"] <= 12 * 2 + 1e-9  # the demo's budget: EUR 12 per thousand customers
    figure = next(f for f in shown["figures"] if f["agrees_with"] == "selected")
    assert figure["total"] == best["selected"]
    assert "Priority mode" in shown["text"] and "What each limit costs" in shown["text"]
    assert_no_cell_errors(page)
    screenshot(page, tmp_path / "prioritization.png")
    recorded = _runs(workspace)
    new = recorded[~recorded.run_id.isin(before)]
    assert len(new) == 2 and set(new.status) == {"dry-run"}

    page.locator("button.lifecycle-export").click()
    page.wait_for_selector(".lc-export[data-status='done'], .lc-export[data-status='failed']",
                           timeout=TIMEOUT_MS)
    result = page.locator(".lc-export")
    assert result.get_attribute("data-status") == "done", result.inner_text()
    assert int(result.get_attribute("data-rows")) == best["selected"]
    files = sorted(exports.glob("prioritize-lifecycle-*.csv"))
    assert len(files) == int(result.get_attribute("data-files"))
    assert sum(len(pd.read_csv(f)) for f in files) == best["selected"]
    history = Workspace.open(workspace).table("contact_history")
    sent = history.filter(history.run_id.startswith("prioritize-lifecycle-")).execute()
    control = sent.cell_id.str.endswith("_control") | (sent.cell_id == "control")
    assert (~control).sum() == best["selected"]  # and the held-out controls recorded too

    # yesterday's result, reopened: the priority-mode run as it was, its inputs shown
    option = page.locator(".lifecycle-reopen select option", has_text="priority")
    before = wait_for_drawn(page)["state"]
    page.locator(".lifecycle-reopen select").select_option(option.first.get_attribute("value"))
    again = values(wait_for_drawn(page, unlike=before))
    assert again["selected"] == first["selected"] and again["expected_value"] == pytest.approx(
        first["expected_value"])
    assert page.locator(".lifecycle-mode-filter button.mod-active").inner_text() == "Priority"


def test_an_infeasible_mandatory_cell_shows_its_log(open_page):
    page = open_page()
    page.locator(".lc-edit-reactivation_no_opens-mandatory input").check()
    limit = page.locator(".lc-limit-reactivation-max_count input")
    limit.fill("1")
    limit.press("Enter")
    shown = optimize_now(page)
    assert shown["cards"]["status"]["text"] == "Infeasible"
    assert "Why the run is infeasible" in shown["text"]
    assert "Reactivation no opens" in shown["text"] and "campaign reactivation" in shown["text"]
    assert page.locator("button.lifecycle-export").is_disabled()
