"""Every dashboard served by Voila and driven in headless Chromium, as a manager would.

Each dashboard is opened and every filter changed (Region first, then the others, then back
to the start); after each change the test waits for the panel to draw the new filter state
(``data-state``, never a sleep) and checks that every figure adds up to the card it names and
that each card's text says its exact value. The open-and-filter cycle runs
:data:`CYCLES` times per dashboard. No request may leave the server.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from dashboard_fixtures import (
    DASHBOARDS,
    assert_no_cell_errors,
    choose_starting,
    panel,
    screenshot,
    wait_for_drawn,
)

pytestmark = pytest.mark.browser


CYCLES = 5


def select(css: str, label: str):
    """Choose ``label`` in the dropdown with class ``css``."""
    return lambda page: page.locator(f".{css} select").select_option(label=label)


def select_starting(css: str, prefix: str):
    """Choose the first option of the dropdown with class ``css`` that starts with ``prefix``."""
    return lambda page: choose_starting(page, css, prefix)


def toggle(css: str, label: str):
    """Press the toggle button ``label`` of the widget with class ``css``."""
    return lambda page: page.locator(f".{css}").get_by_role(
        "button", name=label, exact=True).click()


def nudge(css: str, key: str, times: int = 1, handle: int = 0):
    """Move a slider handle of the widget with class ``css`` with the keyboard."""
    def act(page):
        target = page.locator(f".{css} .noUi-handle").nth(handle)
        target.focus()
        for _ in range(times):
            target.press(key)
    return act


def click(css: str):
    """Press the button with class ``css``."""
    return lambda page: page.locator(f".{css} button, button.{css}").first.click()


#: Per dashboard: (filter in the state, action, expected value or None for "changed").
SCENARIOS = {
    "overview.ipynb": [
        ("region", select("lifecycle-region-filter", "Skåne"), "Skåne"),
        ("channel", toggle("lifecycle-channel-filter", "Web"), "web"),
        ("months", nudge("lifecycle-period-filter", "ArrowRight"), None),
        ("channel", toggle("lifecycle-channel-filter", "Store"), "store"),
        ("region", select("lifecycle-region-filter", "All"), "All"),
        ("channel", toggle("lifecycle-channel-filter", "All"), "All"),
        ("months", nudge("lifecycle-period-filter", "ArrowLeft"), None),
    ],
    "customer-value.ipynb": [
        ("region", select("lifecycle-region-filter", "Skåne"), "Skåne"),
        ("acquisition_channel", select("lifecycle-acquisition-filter", "Paid search"),
         "paid_search"),
        ("region", select("lifecycle-region-filter", "All"), "All"),
        ("acquisition_channel", select("lifecycle-acquisition-filter", "All"), "All"),
    ],
    "campaign-results.ipynb": [
        ("program", select("lifecycle-program-filter", "Welcome"), "welcome"),
        ("months", nudge("lifecycle-period-filter", "ArrowRight"), None),
        ("channel", toggle("lifecycle-message-channel-filter", "E-mail"), "email"),
        ("program", select("lifecycle-program-filter", "All"), "All"),
        ("channel", toggle("lifecycle-message-channel-filter", "All"), "All"),
        ("months", nudge("lifecycle-period-filter", "ArrowLeft"), None),
    ],
    "segments-and-exports.ipynb": [
        ("segment", select_starting("lifecycle-segment-filter", "Stage: Do"), "stage:do"),
        ("channel", toggle("lifecycle-export-channel-filter", "SMS"), "sms"),
        ("segment", select_starting("lifecycle-segment-filter", "Top customers"), "top"),
        ("top", select("lifecycle-top-filter", "100"), 100),
        ("format", toggle("lifecycle-format-filter", "Parquet"), "parquet"),
        ("top", select("lifecycle-top-filter", "500"), 500),
        ("segment", select_starting("lifecycle-segment-filter", "Program: Welcome"),
         "program:welcome"),
        ("channel", toggle("lifecycle-export-channel-filter", "E-mail"), "email"),
        ("segment", select_starting("lifecycle-segment-filter", "RFM: Hibernating"),
         "rfm:Hibernating"),
        ("format", toggle("lifecycle-format-filter", "CSV"), "csv"),
    ],
    "email-health.ipynb": [
        ("flag", select("lifecycle-flag-filter", "Role"), "role"),
        ("message", select("lifecycle-message-filter", "offer-with-issues.eml"),
         "offer-with-issues.eml"),
        ("flag", select("lifecycle-flag-filter", "Inactive"), "inactive"),
        ("flag", select("lifecycle-flag-filter", "All"), "All"),
        ("message", select("lifecycle-message-filter", "newsletter.eml"), "newsletter.eml"),
    ],
    "workshop.ipynb": [
        ("weight_margin", nudge("weight-margin", "ArrowRight"), 1.5),
        ("direction_tenure", toggle("direction-tenure", "less is better"), "less is better"),
        ("top", select("lifecycle-top-filter", "50"), 50),
        ("weight_margin", click("lifecycle-reset"), 1.0),
        ("top", select("lifecycle-top-filter", "20"), 20),
    ],
}


#: Per dashboard: relations between its cards that every filter state must keep.
INVARIANTS = {
    "customer-value.ipynb": [
        ("6-month value is part of 12-month value",
         lambda c: 0 < c["clv-6m"]["value"] < c["clv-12m"]["value"]),
        ("a share is a share", lambda c: 0.2 <= c["top20"]["value"] <= 1),
    ],
    "workshop.ipynb": [
        ("kept + new = top", lambda c: c["kept"]["value"] + c["entered"]["value"]
         == c["top"]["value"]),
    ],
    "campaign-results.ipynb": [
        ("delivered are sent", lambda c: 0 < c["delivered"]["value"] <= c["sent"]["value"]),
        ("rates are shares", lambda c: 0 <= c["ctr"]["value"] <= c["open-rate"]["value"] <= 1),
    ],
    "segments-and-exports.ipynb": [
        ("everyone in the segment is counted once",
         lambda c: c["reachable"]["value"] + c["removed"]["value"]
         + c.get("control", {"value": 0})["value"] == c["segment"]["value"]),
    ],
    "email-health.ipynb": [
        ("addresses to clean are addresses",
         lambda c: 0 <= c["to-clean"]["value"] <= c["addresses"]["value"]),
        ("scores are out of 100", lambda c: all(0 <= c[a]["value"] <= 100 for a in (
            "list-quality", "deliverability", "devices", "content"))),
    ],
    "overview.ipynb": [
        ("new customers are buying customers",
         lambda c: c["new-customers"]["value"] <= c["customers"]["value"]),
        ("returns are at most sales", lambda c: c["returns"]["value"] >= 0),
    ],
}


def _number(text: str) -> float:
    """The number a card's text shows ("€1,234", "58.3 %", "-€12")."""
    match = re.search(r"-?[\d,]+(\.\d+)?", text.replace("−", "-"))
    assert match, f"no number in {text!r}"
    return float(match.group(0).replace(",", ""))


def _check_agreement(shown: dict, where: str) -> None:
    """Every figure adds up to its card; every card's text says its value."""
    for name, card in shown["cards"].items():
        text = _number(card["text"])
        scale = 100 if card["text"].strip().endswith("%") else 1
        assert abs(text - card["value"] * scale) <= 0.51 * 10 ** -_decimals(card["text"]), (
            f"{where}: card {name} reads {card['text']!r} but holds {card['value']}")
    for rule, holds in INVARIANTS.get(where.split()[0], []):
        assert holds(shown["cards"]), f"{where}: {rule}: {shown['cards']}"
    agreeing = [f for f in shown["figures"] if f["agrees_with"]]
    assert agreeing, f"{where}: no figure is tied to a card"
    for fig in agreeing:
        card = shown["cards"][fig["agrees_with"]]["value"]
        assert fig["total"] == pytest.approx(card, rel=1e-9, abs=1e-6), (
            f"{where}: figure {fig['name']} adds up to {fig['total']}, "
            f"card {fig['agrees_with']} says {card}")


def _decimals(text: str) -> int:
    match = re.search(r"\.(\d+)", text)
    return len(match.group(1)) if match else 0


def _drive(page, scenario, cycle: int, notebook: str) -> None:
    shown = wait_for_drawn(page)
    _check_agreement(shown, f"{notebook} cycle {cycle} at load")
    start = json.loads(shown["state"])
    for key, action, expected in scenario:
        before = shown["state"]
        action(page)
        shown = wait_for_drawn(page, unlike=before)
        state = json.loads(shown["state"])
        where = f"{notebook} cycle {cycle} after setting {key}"
        if expected is not None:
            assert state[key] == expected, where
        _check_agreement(shown, where)
    assert json.loads(shown["state"]) == start, "the scenario ends where it started"


@pytest.mark.parametrize("notebook", sorted(SCENARIOS))
def test_dashboard_follows_every_filter(notebook, open_dashboard, tmp_path):
    for cycle in range(CYCLES):
        page = open_dashboard(notebook)
        _drive(page, SCENARIOS[notebook], cycle, notebook)
        assert_no_cell_errors(page)
        if cycle == 0:
            screenshot(page, tmp_path / f"{notebook.removesuffix('.ipynb')}.png")


#: Dashboards whose panel follows button presses, not filters, with a browser test of their own
OWN_TESTS = {"prioritization.ipynb": "test_prioritization_dashboard.py"}


def test_every_dashboard_has_a_scenario():
    assert {p.name for p in DASHBOARDS.glob("*.ipynb")} == set(SCENARIOS) | set(OWN_TESTS)
    here = Path(__file__).parent
    assert all((here / module).is_file() for module in OWN_TESTS.values())


def test_start_page_lists_every_dashboard_with_a_description(voila_server, browser):
    page = browser.new_page()
    outside = []
    page.on("request", lambda r: r.url.startswith((voila_server.url, "data:"))
            or outside.append(r.url))
    page.goto(voila_server.url, wait_until="load")
    items = page.locator(".lc-dashboards li")
    links = [items.nth(i).locator("a").get_attribute("href") for i in range(items.count())]
    assert sorted(link.rsplit("/", 1)[-1] for link in links) == sorted(
        p.name for p in DASHBOARDS.glob("*.ipynb"))
    for i in range(items.count()):
        assert items.nth(i).locator(".lc-title").inner_text().strip()
        assert len(items.nth(i).locator(".lc-description").inner_text().strip()) > 20
    assert not outside, outside
    page.close()


def test_panel_numbers_are_read_from_the_page(open_dashboard):
    page = open_dashboard("overview.ipynb")
    shown = wait_for_drawn(page)
    assert shown == panel(page)
    assert shown["cards"]["revenue"]["text"].startswith("€")
    assert {f["name"] for f in shown["figures"]} >= {"revenue", "new-customers"}
