"""Lifecycle programs, evaluated as of a day: who gets which step of which campaign, and why.

A program is data (a :class:`Program`: its campaign, channel, steps and parameters) plus one
selection function. :func:`evaluate` runs the function for one day and returns the selection:
one row per customer and step, with ``customer_id, campaign_id, cell_id, step, control,
reason`` and the personalisation fields. The selection is made of ibis expressions on the
workspace; only the day's selection is executed.

Every program obeys the same rules, applied by :func:`evaluate` after the program's own:

- **consent and address** at the moment of the send (``as_of`` plus the program's send hour):
  :func:`lifecycle.consent.contactable`;
- **idempotent**: a customer who already has the step in ``contact_history`` (sent, or held
  out as control) is not selected again, so evaluating a day twice selects nobody new the
  second time, and two consecutive days never send one step twice. A trigger that can fire
  again (a lapse after a new purchase) gives each due customer a ``_since`` instant: the step
  counts as had only if planned at or after it;
- **control group**: each campaign holds out ``control_share`` of the customers it would
  contact at an entry step, by hash (:func:`lifecycle.campaigns.in_control`: the same
  customers on every run). They are in the selection with ``control = True`` and the step's
  ``control_cell``; an export records them in the contact history and sends nothing;
- **contact policies** (the ``contact_policies`` table, where there is one): no customer is
  selected beyond a policy's contacts in its window (:func:`_within_policies`);
- **A/B variants**: a step with several cells gives each customer one, by hash of the step
  and the customer (even shares, independent of the other steps and of the control group),
  unless the program names the cell itself (retention's offer by churn band).

Programs here: :data:`WELCOME`, :data:`CROSS_SELL`, :data:`SURVEY`, :data:`REACTIVATION`, :data:`RETENTION`.
Each has its function in :data:`PROGRAMS`.

:func:`run` is the daily job (``lifecycle run``): it evaluates the programs for a day under a
run lock and exports each selection (:func:`lifecycle.export.write`: consent re-checked, the
file, its manifest, the contact history and the run), so that the next day's evaluation
knows who got what.
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from lifecycle import campaigns, consent, export, formats, purchases

__all__ = ["CROSS_SELL", "PROGRAMS", "REACTIVATION", "RETENTION", "SURVEY", "WELCOME", "Program",
           "RunInProgress", "Step", "evaluate", "recent_buyers", "run"]


@dataclass(frozen=True)
class Step:
    """One message of a program: its name, its cells (one per A/B variant), and the step it
    follows with the days between them (``after=None``: an entry step, where the program's
    control group is held out, in ``control_cell``)."""

    name: str
    cells: tuple[str, ...]
    after: str | None = None
    delay_days: int = 0
    offer_id: str | None = None
    control_cell: str = "control"


@dataclass(frozen=True)
class Program:
    """A lifecycle program as data. ``parameters`` are the program function's own.

    ``channel`` is the program's channel; with ``channels`` (``channel`` first) each customer
    gets the channel chosen by :func:`_choose_channels`."""

    name: str
    campaign_id: str
    steps: tuple[Step, ...]
    channel: str = "email"
    channels: tuple[str, ...] = ()
    purpose: str | None = None
    control_share: float = 0.0
    send_hour: int = 8
    fields: tuple[str, ...] = ()
    parameters: Mapping = field(default_factory=dict)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def cells_of(self, step: Step | str) -> list[str]:
        """The step's cells on every channel: a cell of the first channel is named as in
        the step, the same cell on another channel ``<cell>_<channel>``."""
        step = self.step(step) if isinstance(step, str) else step
        return [cell_id for cell_id, _, _ in self._channel_cells(step)]

    def _channel_cells(self, step: Step):
        """``(cell_id, the step's cell, channel)`` of each of the step's cells per channel."""
        for i, channel in enumerate(self.channels or (self.channel,)):
            for cell in step.cells:
                yield (f"{cell}_{channel}" if i else cell), cell, channel

    def cell_table(self) -> pd.DataFrame:
        """The program's cells as rows of the ``cells`` table: ``cell_id, campaign_id, step,
        channel, offer_id, control`` (the control cells of the entry steps included)."""
        offers = {cell: offer for _, cell, offer in self.parameters.get("bands", ())}
        rows = []
        for step in self.steps:
            rows += [(cell_id, step.name, channel, offers.get(cell, step.offer_id), False)
                     for cell_id, cell, channel in self._channel_cells(step)]
            if step.after is None and self.control_share > 0:
                rows.append((step.control_cell, step.name, self.channel, None, True))
        return pd.DataFrame(rows, columns=["cell_id", "step", "channel", "offer_id", "control"]
                            ).assign(campaign_id=self.campaign_id)[
            ["cell_id", "campaign_id", "step", "channel", "offer_id", "control"]]


WELCOME = Program(
    name="welcome", campaign_id="welcome", channel="email", control_share=0.10,
    steps=(Step("thank", ("welcome_thank_A", "welcome_thank_B"), offer_id="member_benefits"),
           Step("guide", ("welcome_guide_A", "welcome_guide_B"), after="thank", delay_days=3,
                offer_id="store_guide"),
           Step("surprise", ("welcome_surprise",), after="guide", delay_days=4,
                offer_id="surprise_voucher")),
    fields=("first_name", "home_store", "phone_model"),
    parameters={"joined_within_days": 1})
"""Welcome: customers who joined in the ``joined_within_days`` days before the day (1:
yesterday) and can be reached by e-mail; thank-you the next morning, the guide 3 days
later, the surprise 4 days after that, personalised with the first name, the nearest store
and the phone. After the surprise the customer is on the normal
register (the newsletter)."""


def _welcome(workspace, program: Program, day: pd.Timestamp, history: ir.Table
             ) -> dict[str, ir.Table]:
    """Per step: the customers due, with their reason."""
    people = workspace.table("customers")
    since = day - pd.Timedelta(days=int(program.parameters.get("joined_within_days", 1)))
    joined = people.filter(people.created_at >= since, people.created_at < day)
    window = (f"joined on {since:%Y-%m-%d}" if since + pd.Timedelta(days=1) == day else
              f"joined {since:%Y-%m-%d} to {day - pd.Timedelta(days=1):%Y-%m-%d}")
    due = {program.steps[0].name: joined.select("customer_id", reason=ibis.literal(window))}
    for step in program.steps[1:]:
        due[step.name] = _follows(history, program, step, day)
    return due


def _follows(history: ir.Table, program: Program, step: Step, day: pd.Timestamp) -> ir.Table:
    """Customers whose previous step was planned on the day ``delay_days`` before, or earlier
    (a missed run catches up): planned before the end of that day."""
    before = program.step(step.after)
    until = day - pd.Timedelta(days=step.delay_days - 1)
    h = history.filter(history.campaign_id == program.campaign_id,
                       history.cell_id.isin(program.cells_of(before)),
                       history.planned_at < until)
    last = h.group_by("customer_id").aggregate(_at=h.planned_at.max())
    return last.select("customer_id", reason=ibis.literal(f"{before.name} sent ") +
                       last._at.cast("date").cast("string"))


SURVEY = Program(
    name="survey", campaign_id="survey", channel="email",
    steps=(Step("survey", ("survey_3_months",)),),
    fields=("phone_model",), parameters={"months": 3, "catch_up_days": 7})
"""Survey: customers whose subscription started ``months`` calendar months before the day (a
contract started on 31 July is due on 31 October; one started on 30 November on 28 February,
the end of the shorter month), with e-mail permission and a valid address. A missed run is caught
up for ``catch_up_days``. The answers come back from the survey tool as ``feedback`` rows of
kind ``survey``."""


def _survey(workspace, program: Program, day: pd.Timestamp, history: ir.Table
            ) -> dict[str, ir.Table]:
    if "subscriptions" not in workspace.tables():
        return {}
    months = int(program.parameters.get("months", 3))
    catch_up = int(program.parameters.get("catch_up_days", 7))
    subs = workspace.table("subscriptions")
    # due on the day `months` calendar months after the start's day (pandas' month arithmetic
    # clips to the month's end), or up to catch_up days later
    latest = (day + pd.Timedelta(days=1)) - pd.DateOffset(months=months)
    earliest = (day - pd.Timedelta(days=catch_up)) - pd.DateOffset(months=months)
    due = subs.filter(subs.start_at >= earliest, subs.start_at < latest,
                      subs.end_at.isnull() | (subs.end_at > day))
    first = due.group_by("customer_id").aggregate(_start=due.start_at.min())
    return {"survey": first.select("customer_id", reason=ibis.literal(f"{months} months since ")
                                   + first._start.cast("date").cast("string"))}


REACTIVATION = Program(
    name="reactivation", campaign_id="reactivation", channel="email", control_share=0.10,
    steps=(Step("no_opens", ("reactivation_no_opens",),
                control_cell="reactivation_no_opens_control"),
           Step("no_purchase", ("reactivation_winback",), offer_id="winback_voucher",
                control_cell="reactivation_winback_control"),
           Step("resend", ("reactivation_resend",), control_cell="reactivation_resend_control")),
    fields=("home_store",),
    parameters={"newsletter": "newsletter", "no_open_months": 2, "min_newsletters": 2,
                "no_purchase_months": 4, "catch_up_days": 7, "resend_after_days": 3})
"""Reactivation triggers, each its own step:

- ``no_opens``: at least ``min_newsletters`` newsletters delivered in the last
  ``no_open_months`` months and none of them opened; once per lapse (again only after a new
  open);
- ``no_purchase``: the last purchase day is ``no_purchase_months`` calendar months back (up to
  ``catch_up_days`` more); once per lapse (again only after a new purchase);
- ``resend``: a newsletter delivered ``resend_after_days`` days before the day (up to
  ``catch_up_days`` more) and not opened gets a second contact, once per newsletter.
"""


def _reactivation(workspace, program: Program, day: pd.Timestamp, history: ir.Table
                  ) -> dict[str, ir.Table]:
    p = program.parameters
    tables, due = workspace.tables(), {}
    if "messages" in tables:
        m = workspace.table("messages")
        m = m.filter(m.channel == program.channel, m.sent_at < day)
        opened = m.opened_at.notnull() & (m.opened_at < day)
        letters = m.filter(m.campaign_id == p["newsletter"], m.delivered.fill_null(True))
        due["no_opens"] = _lapsed_readers(m, letters, opened, day, p)
        due["resend"] = _unopened(letters, day, p)
    if "transactions" in tables:
        due["no_purchase"] = _lapsed_buyers(workspace.table("transactions"), day, p)
    return due


def _lapsed_readers(m, letters, opened, day, p) -> ir.Table:
    since = day - pd.DateOffset(months=int(p["no_open_months"]))
    recent = letters.filter(letters.sent_at >= since)
    per = recent.group_by("customer_id").aggregate(
        _n=recent.count(), _opens=(recent.opened_at.notnull() & (recent.opened_at < day))
        .cast("int64").sum())
    quiet = per.filter(per._n >= int(p["min_newsletters"]), per._opens == 0)
    last_open = m.filter(opened).group_by(_c=m.customer_id).aggregate(_since=m.opened_at.max())
    j = quiet.left_join(last_open, quiet.customer_id == last_open._c)
    return j.select("customer_id", _since=j._since.fill_null(pd.Timestamp("1900-01-01")),
                    reason=ibis.literal("none of the ") + j._n.cast("string") +
                    ibis.literal(f" newsletters since {since:%Y-%m-%d} opened"))


def _unopened(letters, day, p) -> ir.Table:
    lag, catch_up = int(p["resend_after_days"]), int(p["catch_up_days"])
    window = letters.filter(letters.sent_at < day - pd.Timedelta(days=lag - 1),
                            letters.sent_at >= day - pd.Timedelta(days=lag + catch_up))
    quiet = window.filter(window.opened_at.isnull() | (window.opened_at >= day))
    last = quiet.group_by("customer_id").aggregate(_since=quiet.sent_at.max())
    return last.select("customer_id", "_since", reason=ibis.literal("did not open the "
                       "newsletter of ") + last._since.cast("date").cast("string"))


def _lapsed_buyers(transactions, day, p) -> ir.Table:
    months, catch_up = int(p["no_purchase_months"]), int(p["catch_up_days"])
    bought = purchases.customer_purchases(transactions, end=day - pd.Timedelta(days=1))
    latest = (day + pd.Timedelta(days=1)) - pd.DateOffset(months=months)
    earliest = (day - pd.Timedelta(days=catch_up)) - pd.DateOffset(months=months)
    lapsed = bought.filter(bought.last_day >= earliest.date(), bought.last_day < latest.date())
    return lapsed.select("customer_id", _since=lapsed.last_day.cast("timestamp"),
                         reason=ibis.literal("last purchase on ") +
                         lapsed.last_day.cast("string"))


CROSS_SELL = Program(
    name="cross_sell", campaign_id="cross_sell", channel="email", control_share=0.10,
    steps=(Step("offer", ("cross_sell_low", "cross_sell_medium", "cross_sell_high"),
                control_cell="cross_sell_control"),),
    fields=("phone_model", "add_on_product"),
    parameters={"category": "phones", "window_days": 14, "group_by": "phone_model",
                "add_on_category": "accessories", "add_on_days": 365,
                "max_offers": 3, "min_days_between": 90, "negative_feedback_days": 365,
                "horizon_days": 30, "windows": 6,
                "bands": ((0.2, "cross_sell_low", "add_on_discount_20"),
                          (0.4, "cross_sell_medium", "add_on_discount_10"),
                          (1.0, "cross_sell_high", "add_on_full_price"))})
"""Cross-sell: customers with a purchase day in ``category`` in the ``window_days`` before the
day (once per purchase: again only after a newer one), within a contact policy since the
start of the relationship (at most ``max_offers`` cross-sell offers since the customer
joined, ``min_days_between`` days apart), without negative feedback to customer service
(a complaint, or a service contact of negative sentiment) in the ``negative_feedback_days``
before. Each is scored by a purchase-propensity model trained on the customers the program
would have chosen at earlier cuts (bought in the category in the window before the cut;
label: a purchase in the ``horizon_days`` after it), and the score band picks the cell and
offer (``bands``: upper bound, cell, offer: the likelier to buy, the smaller the discount).
Customers are grouped by ``group_by`` (their phone model); each group's add-on
(``add_on_product``) is the product of ``add_on_category`` that earned the most margin from
that group's purchases in the ``add_on_days`` before the day (over all customers for a
group without any)."""


def _cross_sell(workspace, program: Program, day: pd.Timestamp, history: ir.Table
                ) -> dict[str, ir.Table]:
    if "transactions" not in workspace.tables():
        return {}
    from lifecycle import propensity

    p = program.parameters
    audience = {"category": p["category"], "window_days": p["window_days"]}
    due = recent_buyers(workspace, day, **audience).execute()
    due = due[due.customer_id.isin(_open_to_offers(workspace, program, day, history,
                                                   due.customer_id))]
    if due.empty:
        return {}
    model = propensity.fit(
        workspace, "purchase", as_of=day, horizon_days=int(p["horizon_days"]),
        windows=int(p["windows"]),
        population=lambda cut: recent_buyers(workspace, cut, **audience).customer_id.execute())
    scored = propensity.features(workspace, as_of=day, customers=due.customer_id).merge(
        due, on="customer_id")
    scored["score"] = model.predict(scored).score.to_numpy()
    cells, offers = _bands(scored.score, p["bands"])
    out = scored.assign(
        cell_id=cells, offer_id=offers, _since=scored.last_bought.astype("datetime64[us]"),
        reason=[f"bought {p['category']} on {b:%Y-%m-%d}; purchase propensity "
                f"{formats.percent(v, decimals=0)}"
                for b, v in zip(scored.last_bought, scored.score, strict=True)])
    out = out[["customer_id", "cell_id", "offer_id", "reason", "_since"]]
    if p.get("add_on_category"):
        out = out.merge(_add_ons(workspace, p, day, out.customer_id), on="customer_id",
                        how="left")
    return {"offer": ibis.memtable(out)}


def recent_buyers(workspace, as_of, *, category: str, window_days: int) -> ir.Table:
    """``customer_id, last_bought``: the customers with a purchase day in ``category`` in the
    ``window_days`` days before the day ``as_of``, and their last such day (cross-sell's
    audience, also the population its propensity model learns from)."""
    day = pd.Timestamp(as_of).normalize()
    tx = workspace.table("transactions")
    days = purchases.purchase_days(tx.filter(tx.category == category),
                                   end=day - pd.Timedelta(days=1),
                                   start=day - pd.Timedelta(days=int(window_days) + 1))
    return days.group_by("customer_id").aggregate(last_bought=days.day.max())


def _open_to_offers(workspace, program: Program, day: pd.Timestamp, history: ir.Table,
                    customers: pd.Series) -> pd.Series:
    """Of ``customers``, those within the cross-sell contact policy and without negative
    feedback to customer service."""
    p = program.parameters
    people = workspace.table("customers").select(_c="customer_id", _joined="created_at")
    h = history.filter(history.campaign_id == program.campaign_id, ~_is_control(history.cell_id),
                       history.planned_at < day + pd.Timedelta(days=1))
    h = h.inner_join(people, (h.customer_id == people._c) & (h.planned_at >= people._joined))
    offered = h.group_by("customer_id").aggregate(n=h.count(), last=h.planned_at.max())
    full = offered.filter((offered.n >= int(p["max_offers"])) | (
        offered.last >= day - pd.Timedelta(days=int(p["min_days_between"]) - 1)))
    closed = set(full.customer_id.execute())
    if "feedback" in workspace.tables():
        f = workspace.table("feedback")
        f = f.filter(f.ts < day, f.ts >= day - pd.Timedelta(days=int(p["negative_feedback_days"])),
                     (f.kind == "complaint") | ((f.kind == "service_contact") &
                                                (f.sentiment == "negative")))
        closed |= set(f.customer_id.execute())
    return customers[~customers.isin(closed)]


def _add_ons(workspace, p: Mapping, day: pd.Timestamp, customers: pd.Series) -> pd.DataFrame:
    """``customer_id, add_on_product``: the add-on of the customer's group."""
    group = p["group_by"]
    people = workspace.table("customers").select("customer_id", _group=group)
    tx = workspace.table("transactions")
    tx = tx.filter(tx.category == p["add_on_category"], tx.ts < day,
                   tx.ts >= day - pd.Timedelta(days=int(p["add_on_days"])))
    margin = tx.margin if "margin" in tx.columns else tx.amount
    j = tx.inner_join(people, "customer_id")
    by_group = j.group_by(["_group", "product_id"]).aggregate(_margin=margin.sum()).execute()
    best = by_group.sort_values(["_margin", "product_id"], ascending=[False, True]
                                ).drop_duplicates("_group")
    overall = (by_group.groupby("product_id")._margin.sum().sort_values(ascending=False)
               .index[:1].tolist() or [None])[0]
    chosen = people.filter(people.customer_id.isin(customers.tolist())).execute()
    choice = chosen._group.map(best.dropna(subset=["_group"]).set_index("_group").product_id)
    return pd.DataFrame({"customer_id": chosen.customer_id,
                         "add_on_product": choice.fillna(overall).astype("object")})


def _bands(score: pd.Series, bands) -> tuple[list[str], list[str]]:
    """The cell and offer of each score's band (``bands``: upper bound, cell, offer)."""
    band = pd.cut(score, [0.0, *[b[0] for b in bands[:-1]], 1.0 + 1e-9], right=False,
                  labels=False)
    return [bands[b][1] for b in band], [bands[b][2] for b in band]


RETENTION = Program(
    name="retention", campaign_id="retention", channel="email", channels=("email", "sms"),
    control_share=0.10,
    steps=(Step("offer", ("retention_normal", "retention_discount", "retention_best"),
                control_cell="retention_control"),
           Step("last_chance", ("retention_best_plus",), after="offer", delay_days=30,
                offer_id="renewal_best_plus")),
    fields=("phone_model",),
    parameters={"window_days": 60, "horizon_days": 90,
                "bands": ((0.3, "retention_normal", "renewal_normal_price"),
                          (0.6, "retention_discount", "renewal_discount"),
                          (1.0, "retention_best", "renewal_best_offer"))})
"""Retention: contracts ending within ``window_days`` after the day and not yet renewed. Each
customer's churn score (:func:`lifecycle.propensity.fit`, trained on the latest complete
windows before the day) picks the offer: below 0.3 the normal renewal price, below 0.6 a
moderate discount, from 0.6 the best offer (``bands``: upper bound, cell, offer). A customer
who has not renewed ``delay_days`` (30) after the offer, with the contract still running,
gets the best offer with an extra benefit (``last_chance``). Once per contract. Each
customer hears by e-mail, or by SMS when e-mail cannot reach them or they ignored every
e-mail of the last year (at least three; :func:`_choose_channels`)."""


def _retention(workspace, program: Program, day: pd.Timestamp, history: ir.Table
               ) -> dict[str, ir.Table]:
    if "subscriptions" not in workspace.tables():
        return {}
    from lifecycle import propensity

    p = program.parameters
    s = workspace.table("subscriptions")
    renewal = s.select(_c="customer_id", _start="start_at")
    ending = s.filter(s.start_at < day, s.end_at >= day,
                      s.end_at < day + pd.Timedelta(days=int(p["window_days"])))
    j = ending.left_join(renewal, (ending.customer_id == renewal._c) &
                         (renewal._start >= ending.end_at))
    open_ = j.filter(j._c.isnull()).select("customer_id", "start_at", "end_at").execute()
    if open_.empty:
        return {}
    model = propensity.fit(workspace, "churn", as_of=day, horizon_days=int(p["horizon_days"]))
    scored = propensity.features(workspace, as_of=day, customers=open_.customer_id).merge(
        open_, on="customer_id")
    scored["score"] = model.predict(scored).score.to_numpy()
    cells, offers = _bands(scored.score, p["bands"])
    due = scored.assign(
        cell_id=cells, offer_id=offers,
        reason=[f"contract ends {e:%Y-%m-%d}; churn score {formats.percent(v, decimals=0)}"
                for e, v in zip(scored.end_at, scored.score, strict=True)],
        _since=scored.start_at)[["customer_id", "cell_id", "offer_id", "reason", "_since"]]
    return {"offer": ibis.memtable(due),
            "last_chance": _not_renewed_after_offer(history, program, open_, day)}


def _not_renewed_after_offer(history: ir.Table, program: Program, open_: pd.DataFrame,
                             day: pd.Timestamp) -> ir.Table:
    """Customers offered a renewal of their running contract at least ``delay_days`` ago."""
    step = program.step("last_chance")
    offers = history.filter(history.campaign_id == program.campaign_id,
                            history.cell_id.isin(program.cells_of(step.after)),
                            history.planned_at < day - pd.Timedelta(days=step.delay_days - 1))
    running = ibis.memtable(open_.rename(columns={"customer_id": "_open"}))
    j = offers.inner_join(running, (offers.customer_id == running._open) &
                          (offers.planned_at >= running.start_at))
    j = j.group_by("customer_id").aggregate(_since=j.start_at.max(), _end=j.end_at.max(),
                                            _offered=j.planned_at.max())
    return j.select("customer_id", "_since", reason=ibis.literal("offered ") +
                    j._offered.cast("date").cast("string") +
                    ibis.literal(", not renewed; contract ends ") +
                    j._end.cast("date").cast("string"))


#: Each program's selection function: ``f(workspace, program, day, history) -> {step: table
#: of customer_id, reason}``, the table optionally with ``_since`` (a trigger that fires
#: again), ``cell_id`` and ``offer_id`` (the program's own choice of cell).
PROGRAMS: dict[str, tuple[Program, Callable]] = {
    "welcome": (WELCOME, _welcome), "cross_sell": (CROSS_SELL, _cross_sell),
    "survey": (SURVEY, _survey), "retention": (RETENTION, _retention),
    "reactivation": (REACTIVATION, _reactivation)}


def evaluate(workspace, program: str | Program, *, as_of) -> pd.DataFrame:
    """The program's selection for the day ``as_of`` (see the module docstring).

    Parameters
    ----------
    workspace : lifecycle.Workspace
        Needs ``customers`` and ``consents``; ``contact_history`` and ``messages`` are used
        when present.
    program : str or Program
        A name of :data:`PROGRAMS` or a :class:`Program` with the parameters changed (its
        ``name`` picks the function).
    as_of : date-like
        The day of the run: data up to its midnight counts, sends go out at ``send_hour``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, campaign_id, cell_id, step, channel, offer_id, control, reason`` and
        the program's ``fields``, sorted by step and customer.
    """
    program, select = _resolve(program)
    day = pd.Timestamp(as_of).normalize()
    send_at = day + pd.Timedelta(hours=program.send_hour)
    history = _history(workspace)
    due = select(workspace, program, day, history)
    done = history.filter(history.campaign_id == program.campaign_id)
    reach = _reachable(workspace, program, send_at, day, due)
    people = workspace.table("customers")
    extra = [f for f in program.fields if f in people.columns]
    carried = [f for f in program.fields if f not in people.columns]  # the program's own
    parts = []
    for step in program.steps:
        if step.name in due:
            rows = _not_had(due[step.name], done, program, step)
            rows = rows.inner_join(reach, rows.customer_id == reach._reached).drop("_reached")
            parts.append(_cells(rows, program, step, first=step.after is None,
                                carried=carried))
    if not parts:
        return _empty(program)
    selection = ibis.union(*parts) if len(parts) > 1 else parts[0]
    if extra:
        people = people.select(*extra, _customer="customer_id")
        selection = selection.left_join(people, selection.customer_id == people._customer
                                        ).drop("_customer")
    order = {s.name: i for i, s in enumerate(program.steps)}
    out = selection.execute().sort_values(
        ["step", "customer_id"], key=lambda c: c.map(order) if c.name == "step" else c,
        kind="stable").reset_index(drop=True)
    return _within_policies(out, workspace, program, day, history)


def _reachable(workspace, program: Program, send_at: pd.Timestamp, day: pd.Timestamp,
               due: Mapping[str, ir.Table]) -> ir.Table:
    """``_reached, channel``: the customers contactable at the send time, each with the
    channel to use."""
    # the channel choice reads a year of messages: only for the customers due (the due
    # tables are computed twice then, which one channel does not repay)
    ids = (ibis.union(*(t.select("customer_id") for t in due.values())).distinct()
           if due and program.channels else None)

    def on(channel):
        reach = consent.contactable_in(workspace, channel=channel, at=send_at,
                                       purpose=program.purpose, among=ids)
        return reach.filter(reach.reason.isnull()).select(_reached="customer_id")

    if not program.channels:
        return on(program.channel).mutate(channel=ibis.literal(program.channel))
    return _choose_channels(workspace, {c: on(c) for c in program.channels}, day)


def _choose_channels(workspace, reached: Mapping[str, ir.Table], day: pd.Timestamp, *,
                     ignored_after: int = 3) -> ir.Table:
    """Per customer reachable on any of the channels (given in order of preference): the
    first one the customer has not ignored, else the first one reachable. A channel is
    ignored when the customer had at least ``ignored_after`` messages on it in the year before
    ``day`` and responded to none: no open (a mail app's prefetch is not one) and no click
    for e-mail, no click for the others."""
    every = ibis.union(*(t.select("_reached", _channel=ibis.literal(c), _order=i)
                         for i, (c, t) in enumerate(reached.items())))
    ignored = ibis.literal(False)
    if "messages" in workspace.tables():
        m = workspace.table("messages")
        m = m.filter(m.sent_at < day, m.sent_at >= day - pd.Timedelta(days=365),
                     m.channel.isin(list(reached)), m.delivered.fill_null(True),
                     m.bounce.isnull())
        m = m.semi_join(every, m.customer_id == every._reached)
        opened = m.opened_at.notnull() & (m.opened_at < day)
        if "machine_open" in m.columns:
            opened &= ~m.machine_open.fill_null(False)
        response = (m.clicked_at.notnull() & (m.clicked_at < day)) | (
            (m.channel == "email") & opened)
        rates = m.group_by(_c=m.customer_id, _ch=m.channel).aggregate(
            _n=m.count(), _r=response.cast("int64").sum())
        every = every.left_join(rates, (every._reached == rates._c) &
                                (every._channel == rates._ch))
        ignored = (every._n >= ignored_after) & (every._r == 0)
    ranked = every.select("_reached", "_channel", "_order",
                          _ignored=ignored.fill_null(False).cast("int64"))
    best = ranked.mutate(_rank=ibis.row_number().over(
        group_by="_reached", order_by=["_ignored", "_order"]))
    return best.filter(best._rank == 0).select("_reached", channel="_channel")


def _is_control(cell_id: ir.StringValue) -> ir.BooleanValue:
    """Control cells (held out, not contacted): ``control`` and ``<name>_control``."""
    return (cell_id == "control") | cell_id.endswith("_control")


def _within_policies(out: pd.DataFrame, workspace, program: Program, day: pd.Timestamp,
                     history: ir.Table) -> pd.DataFrame:
    """The selection without the contacts that would take a customer over a contact policy.

    A policy allows ``max_contacts`` contacts on its ``channel`` (null: any) in the
    ``window_days`` before the day and on the day itself (null: on the day only, earlier
    programs of the same run included); the contact history and this selection count, held-out
    control rows do not. A customer over the limit keeps the earliest steps up to it. Cells
    with ``exclude_policies`` in the ``cells`` table are exempt.
    """
    present = workspace.tables()
    if "contact_policies" not in present or out.empty:
        return out
    exempt = set()
    if "cells" in present:
        cells = workspace.table("cells")
        exempt = set(cells.filter(cells.exclude_policies.fill_null(False)).cell_id.execute())
    keep = pd.Series(True, index=out.index)
    for policy in workspace.table("contact_policies").execute().itertuples():
        counted = ~out.control & ~out.cell_id.isin(exempt)
        if isinstance(policy.channel, str):
            counted &= out.channel == policy.channel
        days = 0 if pd.isna(policy.window_days) else int(policy.window_days)
        h = history.filter(history.planned_at >= day - pd.Timedelta(days=days),
                           history.planned_at < day + pd.Timedelta(days=1),
                           ~_is_control(history.cell_id))
        if isinstance(policy.channel, str):
            h = h.filter(h.channel == policy.channel)
        prior = h.group_by("customer_id").aggregate(n=h.count()).execute().set_index(
            "customer_id").n
        room = int(policy.max_contacts) - out.customer_id.map(prior).fillna(0)
        order = out[counted].groupby("customer_id").cumcount()
        keep &= ~counted | (order.reindex(out.index) < room)
    return out[keep].reset_index(drop=True)


def _not_had(rows: ir.Table, done: ir.Table, program: Program, step: Step) -> ir.Table:
    """The due rows whose customer has not had the step (since ``_since``, where given)."""
    had = done.filter(done.cell_id.isin([*program.cells_of(step), *(
        [step.control_cell] if step.after is None else [])]))
    if "_since" not in rows.columns:
        return rows.anti_join(had, "customer_id")
    last = had.group_by(_had_customer=had.customer_id).aggregate(_last=had.planned_at.max())
    j = rows.left_join(last, rows.customer_id == last._had_customer)
    return j.filter(j._last.isnull() | (j._last < j._since)).select(
        *(c for c in rows.columns if c != "_since"))


def _empty(program: Program) -> pd.DataFrame:
    columns = ["customer_id", "campaign_id", "cell_id", "step", "channel", "offer_id",
               "control", "reason", *program.fields]
    return pd.DataFrame({c: pd.Series([], dtype="bool" if c == "control" else "str")
                         for c in columns})


def _resolve(program) -> tuple[Program, Callable]:
    name = program.name if isinstance(program, Program) else program
    if name not in PROGRAMS:
        raise ValueError(f"unknown program {name!r}; programs: {', '.join(PROGRAMS)}")
    return (program if isinstance(program, Program) else PROGRAMS[name][0]), PROGRAMS[name][1]


def _history(workspace) -> ir.Table:
    if "contact_history" in workspace.tables():
        return workspace.table("contact_history")
    return ibis.memtable(pd.DataFrame({
        "run_id": pd.Series([], dtype="string"), "campaign_id": pd.Series([], dtype="string"),
        "cell_id": pd.Series([], dtype="string"), "customer_id": pd.Series([], dtype="string"),
        "channel": pd.Series([], dtype="string"),
        "planned_at": pd.Series([], dtype="datetime64[us]")}))


def _cells(rows: ir.Table, program: Program, step: Step, *, first: bool,
           carried: Iterable[str] = ()) -> ir.Table:
    """The step's cell per customer (the program's choice where its rows name one, else A/B
    by hash), or the control cell at an entry step; with the ``carried`` fields of the
    program's rows (null where a step's rows have none)."""
    cell = (rows.cell_id if "cell_id" in rows.columns else
            _variant(rows.customer_id, f"{program.campaign_id}:{step.name}", step.cells))
    if program.channels:  # the same package on another channel is a cell of its own
        cell = (rows.channel == program.channel).ifelse(cell, cell + "_" + rows.channel)
    offer = (rows.offer_id if "offer_id" in rows.columns else
             ibis.literal(step.offer_id, "string"))
    held = (campaigns.in_control(rows.customer_id, program.campaign_id,
                                 campaigns.control_threshold(program.control_share))
            if first and program.control_share > 0 else ibis.literal(False))
    return rows.select(
        "customer_id", campaign_id=ibis.literal(program.campaign_id),
        cell_id=held.ifelse(ibis.literal(step.control_cell), cell), step=ibis.literal(step.name),
        channel=rows.channel,
        offer_id=held.ifelse(ibis.null("string"), offer),
        control=held, reason=rows.reason,
        **{f: rows[f].cast("string") if f in rows.columns else ibis.null("string")
           for f in carried})


def _variant(customer_id: ir.Value, salt: str, cells: tuple[str, ...]) -> ir.StringValue:
    """One of ``cells`` per customer in even shares: the last whose lower bound the hash
    passes."""
    cell = ibis.literal(cells[0])
    for i in range(1, len(cells)):
        below = campaigns.in_control(customer_id, salt,
                                     campaigns.control_threshold(i / len(cells)))
        cell = below.ifelse(cell, ibis.literal(cells[i]))
    return cell


class RunInProgress(RuntimeError):
    """Another run holds the workspace's run lock."""


def run(workspace, names: Iterable[str] | None = None, *, as_of, out="exports",
        dry_run: bool = False, format: str = "csv", progress: bool = False) -> pd.DataFrame:
    """Evaluate programs for the day ``as_of`` and export their selections (the daily job).

    Parameters
    ----------
    workspace : lifecycle.Workspace
        A workspace file (the run lock is a file beside it).
    names : iterable of str or Program, optional
        Programs to run (names of :data:`PROGRAMS`, or programs with changed parameters);
        default all.
    as_of : date-like
        The day of the run.
    out : str or Path
        Folder of the export files, made if missing: one file per program,
        ``<program>-<day>-<run id>.<format>``, with its manifest (per program and channel,
        ``...-<channel>.<format>``, for a program with ``channels``).
    dry_run : bool
        Evaluate and count only: no file, no contact history, no run row.
    format : {"csv", "parquet"}
    progress : bool
        A progress bar over the programs.

    Returns
    -------
    pandas.DataFrame
        One row per program and channel: ``program, channel, run_id, selected, control,
        exported, removed, file``.

    Raises
    ------
    RunInProgress
        When another run of this workspace is under way.
    ValueError
        For a day after the workspace's data ends (its ``as_of``): yesterday's new customers
        would not be there yet.
    """
    from tqdm.auto import tqdm

    chosen = [_resolve(name)[0] for name in (names or PROGRAMS)]
    day = pd.Timestamp(as_of).normalize()
    if workspace.as_of is not None and day > workspace.as_of:
        raise ValueError(f"the workspace's data ends {workspace.as_of:%Y-%m-%d}: load the data "
                         f"up to {day:%Y-%m-%d} before running that day")
    folder = Path(out)
    rows = []
    with _run_lock(workspace):
        for program in tqdm(chosen, desc="programs", disable=not progress):
            name = program.name
            selection = evaluate(workspace, program, as_of=day)
            if dry_run:
                rows += [{"program": name, "channel": channel, "run_id": None,
                          "selected": int((selection.channel == channel).sum()),
                          "control": int(selection.control[selection.channel == channel].sum()),
                          "exported": None, "removed": None, "file": None}
                         for channel in program.channels or (program.channel,)]
                continue
            folder.mkdir(parents=True, exist_ok=True)
            run_id = f"{name}-{day:%Y-%m-%d}-{uuid.uuid4().hex[:8]}"
            for channel in program.channels or (program.channel,):
                part = run_id if not program.channels else f"{run_id}-{channel}"
                manifest = export.write(
                    selection[selection.channel == channel], folder / f"{part}.{format}",
                    workspace=workspace, channel=channel, purpose=program.purpose,
                    as_of=day + pd.Timedelta(hours=program.send_hour), fields=program.fields,
                    run_id=part, kind=f"program:{name}")
                rows.append({"program": name, "channel": channel, "run_id": part,
                             "selected": manifest["selected"], "control": manifest["control"],
                             "exported": manifest["rows"],
                             "removed": sum(manifest["removed"].values()),
                             "file": manifest["path"]})
    return pd.DataFrame(rows, columns=["program", "channel", "run_id", "selected", "control",
                                       "exported", "removed", "file"])


@contextmanager
def _run_lock(workspace):
    """The workspace's run lock, taken without waiting: a second run fails at once."""
    if workspace.path is None:
        raise ValueError("programs run on a workspace file (the run lock is a file beside it)")
    lock = Path(workspace.path).with_name(Path(workspace.path).name + ".run.lock")
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgress(f"another run of {workspace.path} is in progress (it holds "
                                f"{lock}); try again when it has finished") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
