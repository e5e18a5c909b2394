"""The e-mail health dashboard: the customers' addresses to keep, fix or suppress, and a
sample message's authentication, unsubscribe headers, rendering on devices and content, as
the scores and findings of :func:`lifecycle.health.report`.

The list is the workspace's ``customers`` with their ``messages`` (hard bounces and
complaints suppress; three or more messages without an open or click in the last year make
an address inactive), checked once per workspace version. The sample messages are the
``.eml`` files in a ``messages`` folder beside the workspace file (save one from a mailbox
that received it, so its authentication results are in it), or else two examples that come
with the workbench. Nothing is looked up on the network.

CSS classes for browser tests: ``lifecycle-email-health`` (the app),
``lifecycle-flag-filter``, ``lifecycle-message-filter``; the panel's cards
``lc-card-<name>`` and figures ``lc-figure-<name>``.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets
import pandas as pd

from lifecycle import health, plots
from lifecycle.formats import count
from lifecycle.health.report import AREA_TITLES, AREAS, label, reasons, score_text
from lifecycle.ui import controls
from lifecycle.ui.panel import Card, cards, dashboard, figure, note, table

__all__ = ["build_email_health_app", "email_health_view", "sample_messages"]

EXAMPLES = Path(health.__file__).parent / "examples"
SHOWN_ADDRESSES = 50


def sample_messages(workspace) -> dict[str, bytes]:
    """``{file name: raw message}``: the ``messages/*.eml`` beside the workspace file, else
    the examples that come with the workbench."""
    folder = Path(workspace.path).parent / "messages"
    files = sorted(folder.glob("*.eml")) or sorted(EXAMPLES.glob("*.eml"))
    return {f.name: f.read_bytes() for f in files}


def checked_list(workspace) -> pd.DataFrame:
    """:func:`lifecycle.health.check_list` of the customers, with their messages."""
    def compute():
        customers = workspace.table("customers").select("customer_id", "email").execute()
        tables = workspace.tables()
        messages = workspace.table("messages").execute() if "messages" in tables else None
        return health.check_list(customers, messages=messages, as_of=workspace.as_of)
    return workspace.cached("email_health_list", compute, tables=("customers", "messages"))


def email_health_view(checked: pd.DataFrame, messages: dict[str, pd.DataFrame]):
    """``view(state) -> blocks`` for :func:`lifecycle.ui.panel.dashboard`: state ``flag``
    (which addresses to list) and ``message`` (which sample's findings to show)."""
    totals = health.counts(checked)

    def view(state: dict) -> list[dict]:
        name = state.get("message")
        found = {name: messages[name]} if name in messages else {}
        result = health.report(checked, messages=found)
        scores = result.scores.set_index("area")
        headline = [Card(area.replace(" ", "-"), AREA_TITLES[area],
                         -1.0 if pd.isna(scores.score[area]) else scores.score[area],
                         score_text(scores.score[area]), _notes(scores, area))
                    for area in AREAS]
        to_clean = int(totals.loc[["fix", "suppress"], "count"].sum())
        headline += [Card("addresses", "Addresses", len(checked), count(len(checked)),
                          "customers' e-mail fields, missing ones included"),
                     Card("to-clean", "To fix or suppress", to_clean, count(to_clean))]
        flag = state.get("flag", controls.ALL)
        rows = result.addresses if flag == controls.ALL else result.addresses[
            result.addresses[flag]]
        shown = pd.DataFrame({
            "Customer": rows.get("customer_id", pd.Series("", index=rows.index)),
            "E-mail": rows.email.fillna("(none)"), "Action": rows.action,
            "Why": [reasons(r) for _, r in rows.iterrows()],
            "Suggestion": rows.suggestion.fillna("")}).head(SHOWN_ADDRESSES)
        flags = pd.DataFrame({"Flag": [label(f) for f in health.FLAGS],
                              "Addresses": [count(totals["count"][f]) for f in health.FLAGS],
                              "Share": [f"{totals['share'][f]:.1%}" for f in health.FLAGS]})
        findings = result.findings
        listing = pd.DataFrame({
            "Area": findings.area.map(AREA_TITLES), "Check": findings.check.map(label),
            "Result": findings.passed.map({True: "passed", False: "failed"}).fillna(
                "not checked"), "Evidence": findings.evidence})
        caption = (f"{'All addresses' if flag == controls.ALL else label(flag)} to fix or "
                   f"suppress: {count(len(rows))}"
                   + (f" (the first {SHOWN_ADDRESSES})" if len(rows) > SHOWN_ADDRESSES else ""))
        return [cards(headline),
                figure("actions", plots.list_health_figure(totals), agrees_with="addresses"),
                table("flags", flags, caption="Addresses per flag", numeric=("Addresses",
                                                                              "Share")),
                table("findings", listing, caption=f"Sample message: {name or 'none'}",
                      wrap=("Evidence",), width="full"),
                table("addresses", shown, caption=caption, width="full"),
                note("rules", "List quality scores the addresses present: kept ones count "
                     "fully, ones to fix half. Deliverability, devices and content score the "
                     "sample message's checks that could be made; a message saved before it "
                     "was sent has no authentication results, so those are not checked. "
                     "The sending domain's SPF and DMARC records and block lists are checked "
                     "with the command lifecycle health --domain.")]
    return view


def _notes(scores: pd.DataFrame, area: str) -> str:
    row = scores.loc[area]
    if area == "list quality":
        return f"of {count(row.checked)} addresses present"
    return f"{count(row.passed)} of {count(row.checked)} checks passed"


def build_email_health_app(workspace):
    """The e-mail health dashboard for a workspace (see the module docstring).

    Parameters
    ----------
    workspace : lifecycle.Workspace
        Gives ``customers`` (``customer_id``, ``email``) and, optionally, ``messages``.

    Returns
    -------
    ipywidgets.VBox
        Filters (flag, sample message), the scores, the counts and the addresses to clean.
    """
    checked = checked_list(workspace)
    raw = sample_messages(workspace)
    messages = {name: health.check_message(body) for name, body in raw.items()}
    filters = {"flag": controls.dropdown("Flag", list(health.FLAGS), "lifecycle-flag-filter")}
    if messages:
        filters["message"] = widgets.Dropdown(options=list(messages), description="Sample message",
                                              style={"description_width": "initial"})
        filters["message"].add_class("lifecycle-message-filter")
    subtitle = (f"Customers as of {workspace.as_of:%d %b %Y}" if workspace.as_of else "")
    return dashboard("E-mail health", filters, email_health_view(checked, messages),
                     subtitle=subtitle, css_class="lifecycle-email-health")
