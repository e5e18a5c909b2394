"""E-mail: the three-step welcome program (A/B variants, a held-out control group, its daily
runs in contact history), the biweekly newsletter, and every message's outcome (bounce, open,
click, unsubscribe, complaint)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from ._common import _MINUTE, World, _cat, _concat, _numbered, _rank, _str, _take, _ts, _width
from .consent import Consent
from .customers import _ISSUES, Emails

_WELCOME = [  # step, day, open rate A / B, click-to-open A / B, description A / B
    ("thank", 0, (0.45, 0.52), (0.15, 0.15),
     ("subject 'Welcome to the club'", "subject 'Your member benefits are here - thank you!'")),
    ("guide", 3, (0.40, 0.40), (0.20, 0.28),
     ("content: store list and FAQ links", "content: map of your nearest store and FAQ cards")),
    ("surprise", 7, (0.38, None), (0.18, None), ("content: surprise voucher and survey", None)),
]
_WELCOME_CELLS = ["welcome_thank_A", "welcome_thank_B", "welcome_guide_A", "welcome_guide_B",
                  "welcome_surprise"]
_CONTROL_SHARE = 0.10
_PREFETCH_SHARE = 0.30  # recipients whose mail app fetches every message on delivery
_NEWSLETTER = {"days": 180, "open": 0.24, "cto": 0.14, "unsub": 0.003, "complaint": 0.0006}


class Sends(NamedTuple):
    """Planned e-mails, one per message."""

    cust: np.ndarray
    sent: np.ndarray
    cell: np.ndarray  # codes into _WELCOME_CELLS, then one newsletter cell per send date
    var: np.ndarray  # 0 = A, 1 = B, -1 = no variant
    step: np.ndarray  # welcome step 0-2, 3 = newsletter


class _Message(NamedTuple):
    """A sent e-mail and its outcome (times in days, NaN = never)."""

    cust: np.ndarray
    sent: np.ndarray
    cell: np.ndarray
    var: np.ndarray
    step: np.ndarray
    hard: np.ndarray  # hard bounce
    bounce: np.ndarray  # 0 hard, 1 soft, -1 delivered
    opened: np.ndarray
    clicked: np.ndarray
    unsub: np.ndarray
    complaint: np.ndarray
    machine: np.ndarray  # the recorded open is a privacy-protection prefetch


def welcome_groups(world: World, created, email: Consent) -> np.ndarray:
    """Welcome eligibility (e-mail consent at acquisition) and the held-out control group:
    0 treated, 1 control, -1 not eligible."""
    eligible = email.granted == created
    control = eligible & (world.rng.random(world.n) < _CONTROL_SHARE)
    return np.where(control, 1, np.where(eligible, 0, -1))


def welcome_sends(world: World, groups, created, email: Consent) -> Sends:
    """The treated customers' three welcome steps, each in a random A/B variant, sent at
    08:00 UTC from the day after acquisition, until the e-mail consent is revoked."""
    treated = np.flatnonzero(groups == 0)
    variant = world.rng.integers(0, 2, (len(treated), 2))
    cust = np.repeat(treated, 3)
    step = np.tile(np.arange(3), len(treated))
    sent = np.floor(created[cust]) + 1 + np.array([s[1] for s in _WELCOME])[step] + 8 / 24
    var = np.c_[variant, np.full(len(treated), -1)].ravel()
    keep = (sent < world.days) & ~(sent >= email.revoked[cust])
    cell = np.where(var < 0, 4, step * 2 + var)  # thank_A, thank_B, guide_A, guide_B, surprise
    return Sends(cust=cust[keep].astype(np.int32), sent=sent[keep],
                 cell=cell[keep].astype(np.int16), var=var[keep].astype(np.int8),
                 step=step[keep].astype(np.int8))


def _newsletter_sends(world: World, groups, created, email: Consent):
    """Every other Thursday for 180 days, to the consented once their welcome is over.

    Returns the sends and the send dates (days).
    """
    back = (world.as_of.weekday() - 3) % 7 or 7                # the last Thursday before as_of
    last = world.days - back + 7 / 24
    dates = np.sort(np.arange(last, world.days - _NEWSLETTER["days"], -14.0))
    welcome_done = np.where(groups == 0, created + 9, created)
    lo = np.searchsorted(dates, np.fmax(email.granted, welcome_done))
    hi = np.searchsorted(dates, np.where(np.isnan(email.revoked), np.inf, email.revoked))
    lo = np.where(np.isnan(email.granted), len(dates), lo)
    count = np.maximum(hi - lo, 0)
    cust = np.repeat(np.arange(world.n), count)
    k = lo[cust] + _rank(cust)
    sends = Sends(cust=cust.astype(np.int32), sent=dates[k], cell=(5 + k).astype(np.int16),
                  var=np.full(len(k), -1, np.int8), step=np.full(len(k), 3, np.int8))
    return sends, dates


def email_messages(world: World, welcome: Sends, groups, created, email_consent: Consent,
                   email: Emails, engagement,
                   customer_ids: pa.Array) -> tuple[pd.DataFrame, np.ndarray]:
    """Welcome series (A/B variants, control held out) and the biweekly newsletter.

    Returns the messages table and each customer's unsubscribe or complaint (NaN = none).
    """
    newsletter, dates = _newsletter_sends(world, groups, created, email_consent)
    m = _concat(welcome, newsletter)
    prefetch = world.rng.random(world.n) < _PREFETCH_SHARE
    m = _outcomes(world.rng, _take(m, np.lexsort((m.sent, m.cust))), email, engagement,
                  prefetch)
    stop = m.hard | np.isfinite(m.unsub) | np.isfinite(m.complaint)
    before = np.cumsum(stop) - stop
    first = np.flatnonzero(np.r_[True, m.cust[1:] != m.cust[:-1]])
    before -= np.repeat(before[first], np.diff(np.r_[first, len(stop)]))
    m = _take(m, before == 0)  # nothing is sent after a hard bounce, unsubscribe or complaint
    for late in (m.opened, m.clicked, m.unsub, m.complaint):
        late[late >= world.days] = np.nan  # after as_of: not seen yet
    gone = np.fmin(m.unsub, m.complaint)
    stopped = np.isfinite(gone)
    unsubscribed = np.full(world.n, np.nan)
    unsubscribed[m.cust[stopped]] = gone[stopped]
    return _message_table(world, m, dates, customer_ids), unsubscribed


def _outcomes(rng, m: Sends, email: Emails, engagement, prefetch) -> _Message:
    """Bounces, opens, clicks, unsubscribes and complaints of each message.

    A recipient whose mail app prefetches (``prefetch``) records an open minutes after every
    delivery, flagged as a machine open; their own opens are then hidden behind it, only their
    clicks show (the open time is the earlier of the two).
    """
    size = len(m.cust)
    issue = email.issue[m.cust]
    bad = (issue == _ISSUES.index("invalid")) | ((issue == _ISSUES.index("disposable"))
                                                 & email.bounces[m.cust])
    hard = rng.random(size) < np.where(bad, 1.0, 0.0015)
    soft = ~hard & (rng.random(size) < 0.012)
    bounce = np.where(hard, 0, np.where(soft, 1, -1)).astype(np.int8)
    open_rate, cto = _rates(m.cell)
    delivered = bounce < 0
    opened = delivered & (rng.random(size) < open_rate * engagement[m.cust] / 0.5)
    opened_at = np.where(opened, m.sent + rng.lognormal(np.log(2 / 24), 1.2, size), np.nan)
    clicked = opened & (rng.random(size) < cto)
    clicked_at = np.where(clicked, opened_at + rng.exponential(3 * _MINUTE, size), np.nan)
    machine = delivered & prefetch[m.cust]
    fetched = m.sent + rng.uniform(1, 15, size) * _MINUTE
    opened_at = np.where(machine, np.fmin(fetched, opened_at), opened_at)
    news = m.step == 3
    role = issue == _ISSUES.index("role")
    unsub = delivered & (rng.random(size) < np.where(news, _NEWSLETTER["unsub"], 0.002))
    complaint = delivered & (rng.random(size) < _NEWSLETTER["complaint"] * (1 + 9 * role))
    later = rng.lognormal(np.log(0.25), 1.0, size)
    return _Message(*m, hard=hard, bounce=bounce, opened=opened_at, clicked=clicked_at,
                    unsub=np.where(unsub & ~complaint, m.sent + later, np.nan),
                    complaint=np.where(complaint, m.sent + later, np.nan), machine=machine)


def _rates(cell):
    """Open rate and click-to-open rate of each message's cell (welcome cells, newsletter)."""
    opens = np.array([x for s in _WELCOME for x in s[2] if x is not None] + [_NEWSLETTER["open"]])
    ctos = np.array([x for s in _WELCOME for x in s[3] if x is not None] + [_NEWSLETTER["cto"]])
    cell = np.minimum(cell, 5)
    return opens[cell], ctos[cell]


def _message_table(world: World, m: _Message, dates, customer_ids: pa.Array) -> pd.DataFrame:
    m = _take(m, np.lexsort((m.cust, m.sent)))
    days = pd.DatetimeIndex(_ts(world, dates)).strftime("%Y%m%d")
    cells = [*_WELCOME_CELLS, *("newsletter_" + days)]
    return pd.DataFrame({
        "message_id": _str(_numbered(world, "M", np.arange(1, len(m.cust) + 1),
                                      _width(len(m.cust), 9))),
        "customer_id": _str(customer_ids, m.cust),
        "channel": _cat(np.zeros(len(m.cust)), ["email"]), "sent_at": _ts(world, m.sent),
        "campaign_id": _cat(m.step == 3, ["welcome", "newsletter"]),
        "cell_id": _cat(m.cell, cells), "variant": _cat(m.var, ["A", "B"]),
        "delivered": m.bounce < 0, "bounce": _cat(m.bounce, ["hard", "soft"]),
        "opened_at": _ts(world, m.opened), "clicked_at": _ts(world, m.clicked),
        "unsubscribed_at": _ts(world, m.unsub), "complained_at": _ts(world, m.complaint),
        "machine_open": m.machine & np.isfinite(m.opened)})


def contact_history(world: World, welcome: Sends, groups, created,
                    customer_ids: pa.Array) -> pd.DataFrame:
    """The welcome program's daily runs: every treated step planned, and the control group."""
    control = np.flatnonzero(groups == 1)
    c_at = np.floor(created[control]) + 1 + 8 / 24
    control, c_at = control[c_at < world.days], c_at[c_at < world.days]
    cell = np.r_[welcome.cell, np.full(len(control), 5)]
    cust = np.r_[welcome.cust, control]
    at = np.r_[welcome.sent, c_at]
    step = np.r_[welcome.step, np.full(len(control), 3)]
    order = np.lexsort((cust, at))
    cell, cust, at, step = cell[order], cust[order], at[order], step[order]
    day = np.floor(at).astype(np.int64)
    first = int(day.min()) if len(day) else 0
    runs = "welcome-" + pd.date_range(world.start + pd.Timedelta(days=first),
                                      periods=int(world.days) - first + 1).strftime("%Y-%m-%d")
    offers = ["member_benefits", "store_guide", "surprise_voucher"]
    return pd.DataFrame({
        "run_id": _cat(day - first, runs), "campaign_id": _cat(np.zeros(len(cust)), ["welcome"]),
        "cell_id": _cat(cell, [*_WELCOME_CELLS, "control"]),
        "customer_id": _str(customer_ids, cust),
        "channel": _cat(np.zeros(len(cust)), ["email"]), "planned_at": _ts(world, at),
        "offer_id": _cat(np.where(step < 3, step, -1), offers),
        "cost": np.where(step < 3, 0.002, 0.0),
        "expected_value": np.array([1.2, 0.8, 1.5, 0.0])[step]})


def ab_tests() -> pd.DataFrame:
    """True open and click rates (per delivered message) of every welcome cell; ``winner``
    marks the variant whose true rate is strictly the highest of its step on that metric."""
    rows = []
    for step, _, opens, ctos, texts in _WELCOME:
        for v, text in enumerate(texts):
            if opens[v] is None:
                continue
            variant = "AB"[v] if opens[1] is not None else None
            cell = f"welcome_{step}" + (f"_{variant}" if variant else "")
            rows += [(step, cell, variant, "open_rate", opens[v], text),
                     (step, cell, variant, "click_rate", opens[v] * ctos[v], text)]
    out = pd.DataFrame(rows, columns=["step", "cell_id", "variant", "metric", "true_rate",
                                      "description"])
    rates = out.groupby(["step", "metric"]).true_rate
    best = rates.transform("max")
    unique = out.groupby(["step", "metric", "true_rate"]).true_rate.transform("size") == 1
    out.insert(5, "winner", (out.true_rate == best) & unique & (rates.transform("size") > 1))
    return out
