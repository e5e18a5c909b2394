"""The overview dashboard served by Voila and driven in headless Chromium."""

from __future__ import annotations

import dashboard_fixtures
import pytest
from dashboard_fixtures import (
    assert_no_cell_errors,
    wait_for_change,
    wait_for_figure,
    wait_for_text_change,
)

pytestmark = pytest.mark.browser

# The shared dashboard fixtures, made visible to this module by name.
voila_server = dashboard_fixtures.voila_server
browser = dashboard_fixtures.browser
open_dashboard = dashboard_fixtures.open_dashboard

REVENUE = ".lifecycle-revenue-figure"
NEW_CUSTOMERS = ".lifecycle-new-customers-figure"


def _kpi(page, name: str) -> str:
    return page.inner_text(f".lifecycle-kpi-{name} .lifecycle-kpi-value")


def _by_name(traces: list[dict]) -> dict[str, list[float]]:
    return {t["name"]: t["y"] for t in traces}


def _total(traces: list[dict]) -> float:
    return sum(sum(t["y"]) for t in traces)


def test_overview_shows_sales_and_follows_the_filters(open_dashboard, tmp_path):
    page = open_dashboard("overview.ipynb")
    before = wait_for_figure(page, REVENUE)
    assert set(_by_name(before)) == {"store", "web"}
    wait_for_figure(page, NEW_CUSTOMERS)
    revenue = _kpi(page, "revenue")
    assert revenue not in ("", "0")
    page.screenshot(path=tmp_path / "overview.png", full_page=True)

    page.locator(".lifecycle-channel-filter").get_by_role("button", name="web", exact=True).click()
    after = wait_for_change(page, REVENUE, before)
    assert _by_name(after) == {"web": _by_name(before)["web"]}
    wait_for_text_change(page, ".lifecycle-kpi-revenue .lifecycle-kpi-value", revenue)

    new_before = wait_for_figure(page, NEW_CUSTOMERS)
    region = page.locator(".lifecycle-region-filter select")
    region.select_option(index=1)  # the first region after "All"
    new_after = wait_for_change(page, NEW_CUSTOMERS, new_before)
    assert 0 < _total(new_after) < _total(new_before)
    assert 0 < _total(wait_for_figure(page, REVENUE)) < _total(after)
    assert_no_cell_errors(page)
