"""The campaign-results dashboard: KPIs against the newsletter, open rate and open reach,
the A/B tests of program steps and the store lift of the held-out control group.

A thin layout over :mod:`lifecycle.kpis` and :mod:`lifecycle.plots`, drawn through
:func:`lifecycle.ui.panel.dashboard`: every card, figure and table follows one filter state
(months sent, program, channel). The counts behind it (:func:`cubes`: per program, channel
and month) and the store lift are computed once per workspace version and cached; a filter
change only sums rows of them and runs the tests' statistics.

Definitions (those of :mod:`lifecycle.kpis.messages`): counts are unique per recipient and
message; rates are over delivered messages; "open rate" on the cards leaves machine opens
out (a mail app that prefetches every message), the raw rate is in the card's note; revenue
is credited to the last click within 7 days among all messages (filtering a program out does
not hand its sales to another). An A/B test is a program step whose cells differ
only by variant (``welcome_thank_A`` / ``welcome_thank_B``), variant A its control; open tests
read the recipients whose opens are their own, click tests everyone.

CSS classes for browser tests: ``lifecycle-campaign-results`` (the app),
``lifecycle-period-filter``, ``lifecycle-program-filter``, ``lifecycle-message-channel-filter``;
the panel's cards ``lc-card-<name>`` and figures ``lc-figure-<name>``.
"""

from __future__ import annotations

import ibis.expr.types as ir
import pandas as pd

from lifecycle import kpis, plots
from lifecycle.formats import count, money, percent
from lifecycle.plots import label
from lifecycle.schema import DataError
from lifecycle.ui import controls
from lifecycle.ui.panel import Card, cards, dashboard, figure, note, table

__all__ = ["build_campaign_results_app", "campaign_results_view", "cubes"]

BASELINE = "newsletter"


def _selected(frame: pd.DataFrame, state: dict, *, when: str = "period") -> pd.DataFrame:
    """The rows of a per-month cube that one filter state shows."""
    first, last = state["months"]
    keep = (frame[when] >= first) & (frame[when] <= last)
    for column, key in (("campaign_id", "program"), ("channel", "channel")):
        if state.get(key, controls.ALL) != controls.ALL:
            keep &= frame[column] == state[key]
    return frame[keep]


def _ab_counts(messages: ir.Table) -> pd.DataFrame:
    """Per program, channel, month, A/B test and variant (:func:`lifecycle.kpis.
    ab_recipients`), in one query: delivered messages, opens among recipients whose opens are
    their own, clicks among all, first and last send."""
    r = kpis.ab_recipients(messages)
    return r.group_by("campaign_id", "channel", "test", "variant",
                      period=r.sent_at.truncate("M")).aggregate(
        n=r.count(), n_seen=r.own_opens.sum(), opened=(r.opened & r.own_opens).sum(),
        clicked=r.clicked.sum(), first_at=r.sent_at.min(), last_at=r.sent_at.max()).execute()


def _ab_tests(cube: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Every A/B test in the selection on opens and clicks, and the tests that could not be
    read (too small, one variant only) with the reason."""
    counts = cube.groupby(["test", "variant"], as_index=False).agg(
        n=("n", "sum"), n_seen=("n_seen", "sum"), opened=("opened", "sum"),
        clicked=("clicked", "sum"), first_at=("first_at", "min"), last_at=("last_at", "max"))
    if counts.empty:
        return pd.DataFrame(), []
    window = counts.groupby("test").agg(first_at=("first_at", "min"), last_at=("last_at", "max"))
    days = ((window.last_at.dt.normalize() - window.first_at.dt.normalize()).dt.days + 1)
    rows, skipped = [], []
    for metric, (n, successes) in {"opens": ("n_seen", "opened"),
                                   "clicks": ("n", "clicked")}.items():
        stats = counts.assign(n=counts[n], successes=counts[successes])
        try:  # all tests at once; one by one only to tell which cannot be read
            parts = [kpis.ab_test_from_stats(stats[["test", "variant", "n", "successes"]],
                                             by="test")]
        except DataError:
            parts = []
            for test, one in stats.groupby("test", sort=True):
                try:
                    parts.append(kpis.ab_test_from_stats(
                        one[["test", "variant", "n", "successes"]], by="test"))
                except DataError as error:
                    skipped.append(f"{label(test)} ({metric}): {error.rule}")
        rows += [part.assign(metric=metric, days=part.test.map(days)) for part in parts]
    return (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()), skipped


_VERSUS = ("open rate", "CTR", "revenue per recipient")


def _versus(by_campaign: pd.DataFrame) -> pd.DataFrame:
    """The programs against the newsletter, when both are in the selection; a measure with
    too few messages to compare is left out (shown as a dash)."""
    if BASELINE not in set(by_campaign.campaign_id) or len(by_campaign) < 2:
        return pd.DataFrame()
    parts = []
    for measure in _VERSUS:
        try:
            parts.append(kpis.against_baseline(by_campaign, baseline=BASELINE,
                                               measures=(measure,)))
        except DataError:
            continue
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _kpi_table(by_campaign: pd.DataFrame, versus: pd.DataFrame, currency) -> pd.DataFrame:
    def diff(campaign, measure):
        if campaign == BASELINE:
            return "baseline"
        rows = versus[(versus.campaign_id == campaign) & (versus.measure == measure)] \
            if len(versus) else versus
        if not len(rows):
            return "–"
        row = rows.iloc[0]
        if measure == "revenue per recipient":
            def signed(v):
                return ("+" if v >= 0 else "") + money(v, currency, decimals=2)
            return f"{signed(row.effect)} ({signed(row.ci_low)} to {signed(row.ci_high)})"
        return (f"{row.effect * 100:+.1f} pts ({row.ci_low * 100:+.1f} to "
                f"{row.ci_high * 100:+.1f})")
    programs = by_campaign.campaign_id
    return pd.DataFrame({
        "Program": [label(c) for c in programs],
        "Delivered": [count(v) for v in by_campaign.delivered],
        "Open rate": [percent(v) for v in by_campaign.human_open_rate],
        "vs newsletter": [diff(c, "open rate") for c in programs],
        "CTR": [percent(v) for v in by_campaign.ctr],
        "CTR vs newsletter": [diff(c, "CTR") for c in programs],
        "Revenue per recipient": [money(v, currency, decimals=2)
                                  for v in by_campaign.revenue_per_recipient],
        "Revenue vs newsletter": [diff(c, "revenue per recipient") for c in programs],
    })


def _lift_blocks(lift: pd.DataFrame | None, reason: str, currency) -> list[dict]:
    if lift is None:
        return [note("store-lift", f"Store lift: {reason}")]
    store = lift.set_index("measure").loc["store_revenue"]
    text = (f"Welcome program against its held-out control group, {count(store.n_treated)} "
            f"contacted and {count(store.n_control)} held out, {store.window_days:.0f} days "
            f"after the first contact: store revenue **{money(store.lift, currency, decimals=2)}"
            f"** per contacted customer (95 % CI {money(store.ci_low, currency, decimals=2)} to "
            f"{money(store.ci_high, currency, decimals=2)}; "
            f"{'significant' if store.significant else 'not significant'}), "
            f"{money(store.total_lift, currency)} in total.")
    shown = lift[lift.measure.isin(["store_revenue", "web_revenue", "revenue"])]
    names = {"store_revenue": "Store revenue", "web_revenue": "Web revenue",
             "revenue": "All revenue"}
    fig = plots.forest_figure(shown.assign(test=shown.measure.map(names),
                                           effect=shown.lift), scale=1.0,
                              title="Revenue per contacted customer against the control group",
                              x_title=f"Lift per customer ({currency or 'money'})")
    return [note("store-lift", text), figure("store-lift", fig)]


def campaign_results_view(cubes: dict[str, pd.DataFrame], lift: pd.DataFrame | None,
                          lift_reason: str = "", *, currency: str | None = None):
    """``view(state) -> blocks`` of the campaign-results dashboard over :func:`cubes` (the
    store lift reads all of the program's contacts: it is drawn once)."""
    lift_blocks = _lift_blocks(lift, lift_reason, currency)

    def view(state: dict) -> list[dict]:
        monthly = kpis.rollup(_selected(cubes["kpis"], state), ["campaign_id", "period"])
        if monthly.empty:
            return [note("empty", "No messages were sent in this selection.")]
        total = kpis.rollup(monthly).iloc[0]
        by_campaign = kpis.rollup(monthly, "campaign_id")
        first, last = state["months"]
        r = cubes["reach"]
        reach = r[(r.campaign_id == state.get("program", controls.ALL))
                  & (r.channel == state.get("channel", controls.ALL))
                  & (r.period_start >= first) & (r.period_start <= last)]
        rates = kpis.rollup(monthly, "period")[["period", "human_open_rate"]]
        reach = reach.merge(rates, left_on="period_start", right_on="period", how="left")
        tests, skipped = _ab_tests(_selected(cubes["ab"], state))
        headline = [
            Card("sent", "Sent", total.sent, count(total.sent)),
            Card("delivered", "Delivered", total.delivered, count(total.delivered),
                 f"{percent(total.delivery_rate)} of sent"),
            Card("open-rate", "Open rate", total.human_open_rate,
                 percent(total.human_open_rate),
                 f"machine opens left out; {percent(total.open_rate)} with them"),
            Card("ctr", "Click rate (CTR)", total.ctr, percent(total.ctr),
                 f"{percent(total.click_to_open)} of openers clicked"),
            Card("complaints", "Complaint rate", total.complaint_rate,
                 percent(total.complaint_rate, decimals=2), str(total.complaint_level)),
            Card("revenue", "Credited revenue", total.revenue, money(total.revenue, currency),
                 f"{money(total.revenue_per_recipient, currency, decimals=2)} per delivered"),
        ]
        blocks = [cards(headline),
                  figure("delivered", plots.new_customers_figure(
                      monthly, y="delivered", color="campaign_id",
                      title="Delivered messages by month", y_title="Delivered messages"),
                      agrees_with="delivered"),
                  figure("open-reach", plots.open_reach_figure(reach)),
                  table("programs", _kpi_table(by_campaign, _versus(by_campaign), currency),
                        caption="Programs against the newsletter (95 % intervals)",
                        numeric=("Delivered", "Open rate", "CTR", "Revenue per recipient"),
                        width="full")]
        if len(tests):
            shown = tests.assign(test=[f"{label(t)}: {w}, {v} vs A" for t, w, v in
                                       zip(tests.test, tests.metric, tests.variant,
                                           strict=True)])
            blocks.append(figure("ab-tests", plots.forest_figure(shown)))
            verdicts = pd.DataFrame({
                "Test": shown.test,
                "Verdict": [kpis.verdict(row, metric=row.metric) for _, row in tests.iterrows()],
                "Recipients": [count(n + c) for n, c in zip(tests.n, tests.control_n,
                                                              strict=True)],
                "Days": [f"{d:.0f}" for d in tests.days]})
            blocks.append(table("verdicts", verdicts, caption="What each test says",
                                numeric=("Recipients", "Days"), wrap=("Verdict",),
                                width="full"))
        if skipped:
            blocks.append(note("skipped", "Not enough data to read: " + "; ".join(skipped)))
        return blocks + lift_blocks
    return view


def _store_lift(workspace) -> tuple[pd.DataFrame | None, str]:
    """The store lift of the program that holds out a control group, over all its contacts
    (or why there is none), computed once per workspace version."""
    def compute() -> pd.DataFrame:
        contacts = workspace.table("contact_history")
        control = contacts.filter(contacts.cell_id == "control").select("campaign_id")
        campaigns = sorted(control.distinct().execute().campaign_id.astype(str))
        if not campaigns:
            return pd.DataFrame({"reason": ["no program in this workspace holds out a "
                                            "control group."]})
        try:
            return kpis.store_lift(workspace.table("transactions"), contacts,
                                   campaign=campaigns[0], as_of=workspace.as_of).table
        except DataError as error:
            return pd.DataFrame({"reason": [f"cannot be estimated here: {error.rule}."]})
    lift = workspace.cached("campaign_store_lift", compute,
                            tables=("transactions", "contact_history"))
    return (None, lift.reason.iloc[0]) if "reason" in lift else (lift, "")


def cubes(workspace) -> dict[str, pd.DataFrame]:
    """What every filter state is read from, computed once per workspace version: message
    counts per program, channel and month (sales credited over all messages), A/B counts per
    program, channel, month, test and variant, and open reach per month for every program and
    channel choice (openers are distinct customers: not additive over programs)."""
    def compute_kpis():
        m = workspace.table("messages")
        credited = kpis.credited_sales(m, workspace.table("transactions"))
        return kpis.message_kpis(m, by=["campaign_id", "channel", "period"], credited=credited)

    def compute_reach():
        m, consents = workspace.table("messages"), workspace.table("consents")
        bounds = m.aggregate(lo=m.sent_at.min()).execute().iloc[0]
        start = pd.Timestamp(bounds.lo).to_period("M").start_time
        last = pd.Timestamp(workspace.as_of) if workspace.as_of is not None else pd.Timestamp.now()
        end = (last.to_period("M") + 1).start_time
        parts = []
        for program in [controls.ALL, *controls.distinct(m, "campaign_id")]:
            for channel in [controls.ALL, *controls.distinct(m, "channel")]:
                chosen = m if program == controls.ALL else m.filter(m.campaign_id == program)
                reach = kpis.open_reach(chosen, consents, start=start, end=end,
                                        channel="email" if channel == controls.ALL else channel)
                parts.append(reach.assign(campaign_id=program, channel=channel))
        return pd.concat(parts, ignore_index=True)

    return {"kpis": workspace.cached("campaign_kpis", compute_kpis,
                                     tables=("messages", "transactions")),
            "ab": workspace.cached("campaign_ab", lambda: _ab_counts(workspace.table("messages")),
                                   tables=("messages",)),
            "reach": workspace.cached("campaign_reach", compute_reach,
                                      tables=("messages", "consents"))}


def build_campaign_results_app(workspace):
    """The campaign-results dashboard for a workspace (see the module docstring).

    Parameters
    ----------
    workspace : lifecycle.Workspace
        Gives ``messages``, ``consents``, ``transactions`` and ``contact_history``, its
        ``currency`` and ``as_of``.

    Returns
    -------
    ipywidgets.VBox
        Filters (months sent, program, channel) and the panel.
    """
    messages = workspace.table("messages")
    filters = {"months": controls.month_range(
        controls.months(messages, as_of=workspace.as_of, ts_col="sent_at"),
        "lifecycle-period-filter")}
    if programs := controls.distinct(messages, "campaign_id"):
        filters["program"] = controls.dropdown("Program", programs, "lifecycle-program-filter")
    if channels := controls.distinct(messages, "channel"):
        filters["channel"] = controls.toggles("Channel", channels,
                                              "lifecycle-message-channel-filter")
    lift, reason = _store_lift(workspace)
    view = campaign_results_view(cubes(workspace), lift, reason, currency=workspace.currency)
    subtitle = (f"Messages sent to {workspace.as_of:%d %b %Y}" if workspace.as_of else "")
    return dashboard("Campaign results", filters, view, subtitle=subtitle,
                     css_class="lifecycle-campaign-results")
