"""The segments-and-exports dashboard in headless Chromium: a segment exported from the page
is the file, the manifest and the contact history it claims; two pages exporting at once
lose nothing and overwrite nothing; a program's selection, once exported, is not offered
again.

The pages write, so they are served over a copy of the demo workspace of their own, with
the exports in a folder of their own (``LIFECYCLE_EXPORTS``), by a server of this dashboard
alone (one preheated kernel, not one per dashboard, beside the other tests' server).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from pathlib import Path

import dashboard_fixtures
import pandas as pd
import pytest
from dashboard_fixtures import assert_no_cell_errors, choose_starting, screenshot, wait_for_drawn

from lifecycle import Workspace

pytestmark = pytest.mark.browser

DASHBOARD = "segments-and-exports.ipynb"
EXPORT_TIMEOUT_MS = 60_000


served, open_page = dashboard_fixtures.alone_fixtures(DASHBOARD, "segments")


def choose_segment(page, prefix: str) -> str:
    """Pick the segment whose label starts with ``prefix``; return the label."""
    before = wait_for_drawn(page)["state"]
    chosen = choose_starting(page, "lifecycle-segment-filter", prefix)
    wait_for_drawn(page, unlike=before)
    return chosen


def press(page, css: str, name: str) -> None:
    before = wait_for_drawn(page)["state"]
    page.locator(f".{css}").get_by_role("button", name=name, exact=True).click()
    wait_for_drawn(page, unlike=before)


def exported(page) -> dict:
    """Wait for the export to finish; its result's data attributes."""
    page.wait_for_selector(".lc-export[data-status='done'], .lc-export[data-status='failed']",
                           timeout=EXPORT_TIMEOUT_MS)
    result = page.locator(".lc-export")
    assert result.get_attribute("data-status") == "done", result.inner_text()
    return {k: result.get_attribute(f"data-{k}") for k in ("rows", "path", "sha256", "run-id")}


def _recorded(workspace: Path, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    ws = Workspace.open(workspace)
    history, runs = ws.table("contact_history"), ws.table("runs")
    return (history.filter(history.run_id == run_id).execute(),
            runs.filter(runs.run_id == run_id).execute())


def _check_file(result: dict, workspace: Path, reachable: int) -> pd.DataFrame:
    path = Path(result["path"])
    manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    assert int(result["rows"]) == manifest["rows"] == reachable
    assert result["sha256"] == manifest["sha256"] == hashlib.sha256(path.read_bytes()
                                                                    ).hexdigest()
    rows = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    assert len(rows) == reachable
    history, runs = _recorded(workspace, result["run-id"])
    assert len(history) == reachable and set(history.customer_id) == set(rows.customer_id)
    assert runs.status.tolist() == ["done"]
    assert json.loads(runs.parameters.iloc[0])["path"] == result["path"]
    return rows


def test_an_exported_segment_is_the_file_manifest_and_history_it_shows(open_page, served,
                                                                      tmp_path):
    _, workspace, exports = served
    page = open_page()
    chosen = choose_segment(page, "RFM: Champions")
    press(page, "lifecycle-format-filter", "Parquet")
    shown = wait_for_drawn(page)
    reachable, segment = (shown["cards"][k]["value"] for k in ("reachable", "segment"))
    assert 0 < reachable < segment
    assert shown["cards"]["reachable"]["value"] + shown["cards"]["removed"]["value"] == segment
    page.locator(".lifecycle-export button, button.lifecycle-export").first.click()
    result = exported(page)
    rows = _check_file(result, workspace, int(reachable))
    assert list(rows.columns) == ["customer_id", "email", "segment"]
    assert set(rows.segment) == {chosen.removeprefix("RFM: ").rsplit(" (", 1)[0]}
    assert Path(result["path"]).parent == exports
    assert "SHA-256" in page.locator(".lc-export").inner_text()
    assert_no_cell_errors(page)
    screenshot(page, tmp_path / "segments-and-exports.png")


def test_two_pages_exporting_at_once_lose_nothing_and_overwrite_nothing(open_page, served):
    _, workspace, exports = served
    pages = [open_page(), open_page()]
    for page in pages:
        choose_segment(page, "Stage: Do")
    reachable = {int(wait_for_drawn(p)["cards"]["reachable"]["value"]) for p in pages}
    assert len(reachable) == 1 and reachable.pop() > 0
    with open(workspace.with_name(workspace.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the workspace's writer lock: no export can commit
        for page in pages:
            page.locator("button.lifecycle-export").click()
        for page in pages:  # both exports under way at once
            page.wait_for_selector(".lc-export[data-status='running']")
        assert not list(exports.glob("do-*.csv"))  # no file before its contacts are recorded
    results = [exported(page) for page in pages]
    assert results[0]["path"] != results[1]["path"]
    assert results[0]["run-id"] != results[1]["run-id"]
    n = int(wait_for_drawn(pages[0])["cards"]["reachable"]["value"])
    for result in results:
        _check_file(result, workspace, n)


def test_a_program_selection_once_exported_is_not_offered_again(open_page, served):
    _, workspace, _ = served
    page = open_page()
    choose_segment(page, "Program: Welcome")
    shown = wait_for_drawn(page)
    control = shown["cards"].get("control", {"value": 0})["value"]
    reachable = int(shown["cards"]["reachable"]["value"])
    assert reachable > 0
    state = shown["state"]
    page.locator("button.lifecycle-export").click()
    result = exported(page)
    after = wait_for_drawn(page)
    page.wait_for_function(
        "() => Number(document.querySelector('.lc-card-segment').dataset.value) === 0")
    assert after["state"] == state  # the same choice, drawn again from the contact history
    history, runs = _recorded(workspace, result["run-id"])
    assert int(result["rows"]) == reachable
    assert len(history) == reachable + control  # the control group is recorded too
    assert set(history.campaign_id) == {"welcome"} and runs.kind.tolist() == ["program:welcome"]
