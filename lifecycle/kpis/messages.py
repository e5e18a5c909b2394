"""Message and campaign KPIs, and open reach, computed where the messages live.

**What is counted.** One row of ``messages`` is one message to one recipient (``message_id`` is
the key), so every count below is *unique per recipient and message*: a message opened five
times is one open. A click without a recorded open counts as an open (the image that records an
open was blocked, the click proves the message was read). Only delivered messages can be opened,
clicked or converted; ``delivered`` that is null means "no bounce recorded".

**Rates and their denominators** (every rate is a fraction, 0.25 = 25 %):

==========================  ===========================================  ===================
column                      numerator                                     denominator
==========================  ===========================================  ===================
``delivery_rate``           delivered                                     sent
``bounce_rate``             hard + soft bounces                           sent
``open_rate``               unique opens (machine opens included)         delivered
``human_open_rate``         unique opens that are not machine-only opens  delivered
``ctr``                     unique clicks                                 delivered
``click_to_open``           unique clicks                                 unique opens
``unsubscribe_rate``        unsubscribes                                  delivered
``complaint_rate``          spam complaints                               delivered
``conversion_rate``         messages credited with a conversion           delivered
``revenue_per_recipient``   credited revenue                              delivered
==========================  ===========================================  ===================

**Machine opens.** Mail privacy protection fetches every image of a message on delivery, which
records an "open" nobody made. Where the data says so (a boolean ``machine_open`` column: the
open was recorded by such a prefetch), an open that is machine-only and has no click is counted
in ``opens`` and ``machine_opens`` but not in ``human_opens``; both rates are reported. Without
the column no open is flagged and the two rates agree.

**Complaints** are judged against the mailbox providers' bulk-sender thresholds: below 0.1 % of
delivered is ``ok``, from 0.1 % to below 0.3 % ``warning``, 0.3 % and above ``over 0.3 %``
(the providers then filter or refuse the sender's mail).

**Open reach** is the share of the list that opened anything: of the customers with a valid
e-mail consent at some time in the period (:func:`lifecycle.consent.valid_during`), those who
opened at least one message sent in the period. Open rate says how each send did; open reach
says how much of the audience the program still touches (a rising open rate over a shrinking
engaged core shows as falling reach).

**Conversions** (with ``transactions``, or ``credited`` from :func:`credited_sales`) are the
purchases of :func:`lifecycle.attribution.
conversions` within ``window_days`` after a click on the message; a purchase after clicks on
several messages is credited to the last click before it, so no purchase is counted twice.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from lifecycle._frames import finish, lazy, require
from lifecycle.attribution import conversions
from lifecycle.consent import valid_in_periods
from lifecycle.kpis.experiments import ab_test_from_stats

__all__ = ["against_baseline", "credited_sales", "message_kpis", "open_reach",
           "responder_value", "rollup", "ab_recipients"]

_REQUIRED = ["message_id", "customer_id", "sent_at"]
_COMPLAINT_WARNING, _COMPLAINT_LIMIT = 0.001, 0.003
_PERIOD = "period"
_UNITS = {"D": "D", "W": "W", "MS": "M", "QS": "Q", "YS": "Y"}


def _present(t: ir.Table, name: str) -> ir.BooleanValue:
    return t[name].notnull() if name in t.columns else ibis.literal(False)


def _flags(t: ir.Table) -> ir.Table:
    """One row per message: what happened to it, as 0/1 integers."""
    no = ibis.literal(False)
    hard, soft = (((t.bounce == "hard").fill_null(False), (t.bounce == "soft").fill_null(False))
                  if "bounce" in t.columns else (no, no))
    unbounced = ~(hard | soft)
    delivered = t.delivered.fill_null(unbounced) if "delivered" in t.columns else unbounced
    clicked = delivered & _present(t, "clicked_at")
    opened = delivered & (_present(t, "opened_at") | clicked)
    machine = (opened & ~clicked & t.machine_open.fill_null(False)
               if "machine_open" in t.columns else no)
    one = {
        "delivered": delivered, "hard_bounces": hard, "soft_bounces": soft,
        "opens": opened, "machine_opens": machine, "clicks": clicked,
        "unsubscribes": delivered & _present(t, "unsubscribed_at"),
        "complaints": delivered & _present(t, "complained_at")}
    return t.mutate(**{k: v.fill_null(False).cast("int64") for k, v in one.items()})


def credited_sales(messages, transactions, *, window_days: float = 7.0):
    """``message_id, conversions, revenue`` of every message credited with a purchase: each
    purchase of :func:`lifecycle.attribution.conversions` goes to the last click on a message
    of its customer within ``window_days`` before it (ties: the larger ``message_id``).

    Credit once over *all* messages and pass the result to :func:`message_kpis` as
    ``credited=`` when reading a subset: a purchase then keeps the message that earned it,
    whatever is filtered out. pandas in, pandas out; ibis in, the unexecuted expression out.

    Examples
    --------
    >>> m = pd.DataFrame({"message_id": ["m1", "m2"], "customer_id": ["a", "a"],
    ...     "sent_at": pd.to_datetime(["2024-01-02", "2024-01-03"]),
    ...     "clicked_at": pd.to_datetime(["2024-01-02 09:00", "2024-01-03 09:00"])})
    >>> tx = pd.DataFrame({"customer_id": ["a"], "ts": pd.to_datetime(["2024-01-04"]),
    ...                    "amount": [40.0]})
    >>> credited_sales(m, tx)
      message_id  conversions  revenue
    0         m2            1     40.0
    """
    t, eager = lazy(messages)
    require(t, "messages", _REQUIRED)
    m = _flags(t)
    conv = conversions(transactions)
    conv = conv if isinstance(conv, ir.Table) else ibis.memtable(conv)
    clicks = m.filter(m.clicks == 1).select("message_id", "customer_id", "clicked_at")
    window = ibis.interval(seconds=int(round(window_days * 86_400)))
    pairs = conv.join(clicks, [conv.person_id == clicks.customer_id,
                               clicks.clicked_at <= conv.ts,
                               conv.ts < clicks.clicked_at + window])
    last = ibis.row_number().over(group_by=[pairs.person_id, pairs.ts],
                                  order_by=[ibis.desc(pairs.clicked_at),
                                            ibis.desc(pairs.message_id)])
    won = pairs.mutate(_rank=last).filter(lambda p: p._rank == 0)
    out = won.group_by("message_id").aggregate(conversions=won.count(),
                                               revenue=won.value.sum()).order_by("message_id")
    return finish(out, eager)


def _by(t: ir.Table, by, freq: str) -> tuple[ir.Table, list[str]]:
    keys = [by] if isinstance(by, str) else list(by or [])
    if _PERIOD in keys:
        if freq not in _UNITS:
            raise ValueError(f"freq must be one of {', '.join(_UNITS)}; got {freq!r}")
        t = t.mutate(**{_PERIOD: t.sent_at.truncate(_UNITS[freq])})
    require(t, "messages", keys)
    return t, keys


def message_kpis(messages, *, by="campaign_id", freq: str = "MS", transactions=None,
                 window_days: float = 7.0, credited=None) -> pd.DataFrame:
    """Sends, deliveries, opens, clicks, opt-outs, complaints and credited sales per group.

    Parameters
    ----------
    messages : pandas.DataFrame or ibis.Table
        Columns ``message_id``, ``customer_id``, ``sent_at``; optional ``delivered``,
        ``bounce`` (``hard`` / ``soft``), ``opened_at``, ``clicked_at``, ``unsubscribed_at``,
        ``complained_at``, ``machine_open``, and the ``by`` columns.
    by : str or list of str
        Group by these columns (e.g. ``"campaign_id"``, ``["campaign_id", "cell_id"]``,
        ``"variant"``, ``"message_id"`` for each send); ``"period"`` is the month (or
        ``freq``) of ``sent_at``. Empty: one row for everything.
    freq : {"D", "W", "MS", "QS", "YS"}
        Length of a ``"period"``: day, week, month, quarter, year.
    transactions : pandas.DataFrame or ibis.Table, optional
        ``customer_id, ts, amount``: adds ``conversions``, ``revenue``, ``revenue_sq`` (the
        sum of each message's credited revenue squared, for intervals), ``conversion_rate``
        and ``revenue_per_recipient`` (see the module docstring).
    window_days : float
        Attribution window after a click.
    credited : pandas.DataFrame or ibis.Table, optional
        Instead of ``transactions``: the credits of :func:`credited_sales`, computed over all
        messages (needed when ``messages`` is a subset, and faster when read repeatedly).

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, then ``sent, delivered, hard_bounces, soft_bounces, opens,
        machine_opens, human_opens, clicks, unsubscribes, complaints`` and the rates of the
        module docstring, ``complaint_level``, sorted by the ``by`` columns. Counts are
        computed in the backend; only one row per group comes back.

    Examples
    --------
    >>> m = pd.DataFrame({"message_id": ["m1", "m2", "m3", "m4"],
    ...     "customer_id": ["a", "b", "c", "d"], "campaign_id": "news",
    ...     "sent_at": pd.to_datetime(["2024-01-02"] * 4),
    ...     "bounce": [None, None, None, "hard"],
    ...     "opened_at": pd.to_datetime(["2024-01-02 09:00", None, None, None]),
    ...     "clicked_at": pd.to_datetime(["2024-01-02 09:01", "2024-01-02 10:00", None, None])})
    >>> k = message_kpis(m)
    >>> k[["sent", "delivered", "opens", "clicks", "open_rate", "ctr", "click_to_open"]]
       sent  delivered  opens  clicks  open_rate       ctr  click_to_open
    0     4          3      2       2   0.666667  0.666667            1.0
    """
    raw, _ = lazy(messages)
    require(raw, "messages", _REQUIRED)
    t, keys = _by(_flags(raw), by, freq)
    counts = ["delivered", "hard_bounces", "soft_bounces", "opens", "machine_opens", "clicks",
              "unsubscribes", "complaints"]
    if transactions is not None and credited is None:
        credited = credited_sales(raw, transactions, window_days=window_days)
    if credited is not None:
        credits = lazy(credited)[0].select("message_id", "conversions", "revenue")
        t = t.left_join(credits, "message_id").drop("message_id_right")
        t = t.mutate(conversions=t.conversions.fill_null(0), revenue=t.revenue.fill_null(0.0))
        t = t.mutate(revenue_sq=t.revenue * t.revenue)
        counts += ["conversions", "revenue", "revenue_sq"]
    sums = {c: t[c].sum() for c in counts}
    grouped = t.group_by(keys).aggregate(sent=t.count(), **sums) if keys else \
        t.aggregate(sent=t.count(), **sums)
    out = grouped.execute()
    return _rates(out).sort_values(keys, ignore_index=True) if keys else _rates(out)


_COUNTS = ["sent", "delivered", "hard_bounces", "soft_bounces", "opens", "machine_opens",
           "clicks", "unsubscribes", "complaints", "conversions", "revenue", "revenue_sq"]


def rollup(kpis: pd.DataFrame, by=()) -> pd.DataFrame:
    """Coarser groups from a finer :func:`message_kpis` frame: the counts summed, the rates
    recomputed (exactly what :func:`message_kpis` gives for the coarser ``by``).

    Examples
    --------
    >>> m = pd.DataFrame({"message_id": ["m1", "m2", "m3"], "customer_id": ["a", "b", "c"],
    ...                   "cell_id": ["x", "y", "y"], "campaign_id": "news",
    ...                   "sent_at": pd.to_datetime(["2024-01-02"] * 3),
    ...                   "opened_at": pd.to_datetime(["2024-01-02 09:00", None, None])})
    >>> fine = message_kpis(m, by=["campaign_id", "cell_id"])
    >>> rollup(fine, "campaign_id")[["campaign_id", "sent", "opens", "open_rate"]]
      campaign_id  sent  opens  open_rate
    0        news     3      1   0.333333
    """
    keys = [by] if isinstance(by, str) else list(by)
    counts = [c for c in _COUNTS if c in kpis.columns]
    if keys:
        summed = kpis.groupby(keys, as_index=False, observed=True, sort=True)[counts].sum()
    else:
        summed = kpis[counts].sum().to_frame().T
    return _rates(summed)


def _rates(k: pd.DataFrame) -> pd.DataFrame:
    """The rates of the module docstring from the counts (NaN where a denominator is 0)."""
    k = k.astype({c: "int64" for c in k.columns if c in (
        "sent", "delivered", "hard_bounces", "soft_bounces", "opens", "machine_opens", "clicks",
        "unsubscribes", "complaints", "conversions")})
    human = k.opens - k.machine_opens
    delivered = k.delivered.where(k.delivered > 0)
    opens = k.opens.where(k.opens > 0)
    rates = {
        "human_opens": human,
        "delivery_rate": k.delivered / k.sent, "bounce_rate": (k.hard_bounces + k.soft_bounces)
        / k.sent, "open_rate": k.opens / delivered, "human_open_rate": human / delivered,
        "ctr": k.clicks / delivered, "click_to_open": k.clicks / opens,
        "unsubscribe_rate": k.unsubscribes / delivered,
        "complaint_rate": k.complaints / delivered}
    if "conversions" in k:
        rates |= {"conversion_rate": k.conversions / delivered,
                  "revenue_per_recipient": k.revenue / delivered}
    out = k.assign(**rates)
    level = pd.cut(out.complaint_rate, [-1, _COMPLAINT_WARNING, _COMPLAINT_LIMIT, 2],
                   right=False, labels=["ok", "warning", "over 0.3 %"])
    return out.assign(complaint_level=level)


def open_reach(messages, consents, *, start, end, freq: str = "MS", channel: str = "email",
               purpose: str | None = None) -> pd.DataFrame:
    """Open rate and open reach per period (see the module docstring).

    Parameters
    ----------
    messages : pandas.DataFrame or ibis.Table
        As for :func:`message_kpis` (``channel`` is used when present).
    consents : pandas.DataFrame or ibis.Table
        ``customer_id, channel, granted_at`` and optional ``expires_at``, ``revoked_at``,
        ``purpose``: who is on the list.
    start, end : date-like
        The periods cover ``[start, end)``: the first starts at ``start``, the next ones at
        each ``freq`` boundary after it (month starts for ``"MS"``), the last ends at ``end``.
    freq : {"D", "W", "MS", "QS", "YS"}
        Length of a period (a pandas offset alias).
    channel : str
        Consent channel (and message channel) of the list.
    purpose : str, optional
        Only consents for this purpose count for the list.

    Returns
    -------
    pandas.DataFrame
        ``period_start, period_end, list_size`` (customers with a valid consent in the period),
        ``openers`` (of them, who opened a message sent in the period; machine-only opens
        excluded in ``human_openers``), ``open_reach`` (openers / list_size),
        ``human_open_reach``, and the period's ``delivered``, ``opens`` and ``open_rate``.

    Examples
    --------
    >>> m = pd.DataFrame({"message_id": ["m1", "m2", "m3"], "customer_id": ["a", "a", "b"],
    ...     "sent_at": pd.to_datetime(["2024-01-03", "2024-01-10", "2024-01-10"]),
    ...     "opened_at": pd.to_datetime(["2024-01-03 09:00", "2024-01-10 09:00", None])})
    >>> c = pd.DataFrame({"customer_id": ["a", "b", "c"], "channel": "email",
    ...     "granted_at": pd.to_datetime(["2023-06-01", "2023-06-01", "2023-06-01"])})
    >>> r = open_reach(m, c, start="2024-01-01", end="2024-02-01")
    >>> r[["list_size", "openers", "open_reach", "delivered", "opens", "open_rate"]]
       list_size  openers  open_reach  delivered  opens  open_rate
    0          3        1    0.333333          3      2   0.666667
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    inner = pd.date_range(start, end, freq=freq, normalize=True)
    inner = inner[(inner > start) & (inner < end)]
    edges = pd.DatetimeIndex([start]).append(inner).append(pd.DatetimeIndex([end]))
    if not start < end:
        raise ValueError(f"open_reach needs start before end; got [{start}, {end})")
    periods = ibis.memtable(pd.DataFrame({"period_start": edges[:-1], "period_end": edges[1:]}))
    t, _ = lazy(messages)
    require(t, "messages", _REQUIRED)
    if "channel" in t.columns:
        t = t.filter(t.channel == channel)
    m = _flags(t)
    sent = m.join(periods, [m.sent_at >= periods.period_start, m.sent_at < periods.period_end])
    valid = valid_in_periods(consents, periods, channel=channel, purpose=purpose)
    listed = valid.select("period_start", customer_id=valid.customer_id.cast("string")).distinct()
    opened = sent.filter(sent.opens == 1).group_by(["period_start", "customer_id"]).aggregate(
        human=(sent.opens - sent.machine_opens).max())
    reach = (listed.join(opened, ["period_start", "customer_id"])
             .group_by("period_start").aggregate(openers=ibis._.count(),
                                                 human_openers=ibis._.human.sum()))
    size = listed.group_by("period_start").aggregate(list_size=ibis._.count())
    volume = sent.group_by("period_start").aggregate(delivered=sent.delivered.sum(),
                                                     opens=sent.opens.sum())
    out = (periods.left_join(size, "period_start").left_join(reach, "period_start")
           .left_join(volume, "period_start").select("period_start", "period_end", "list_size",
                                                     "openers", "human_openers", "delivered",
                                                     "opens")
           .order_by("period_start").execute())
    counts = ["list_size", "openers", "human_openers", "delivered", "opens"]
    out[counts] = out[counts].fillna(0).astype("int64")
    listed_n = out.list_size.where(out.list_size > 0)
    return out.assign(open_reach=out.openers / listed_n,
                      human_open_reach=out.human_openers / listed_n,
                      open_rate=out.opens / out.delivered.where(out.delivered > 0))


_COMPARED = {"human_opens": "open rate", "clicks": "CTR", "conversions": "conversion rate",
             "revenue": "revenue per recipient"}


def _baseline_stats(kpis: pd.DataFrame, key: str, count: str) -> pd.DataFrame:
    """Per group, what :func:`ab_test_from_stats` compares: successes of a rate, or the mean
    and standard deviation of revenue per delivered message."""
    out = pd.DataFrame({"variant": kpis[key].astype(str), "n": kpis.delivered})
    if count != "revenue":
        return out.assign(successes=kpis[count])
    n = kpis.delivered.astype(float)
    mean = kpis.revenue / n
    variance = ((kpis.revenue_sq - n * mean**2) / (n - 1)).clip(lower=0.0)
    return out.assign(mean=mean, sd=np.sqrt(variance))


def against_baseline(kpis: pd.DataFrame, *, baseline: str = "newsletter",
                     key: str = "campaign_id", alpha: float = 0.05,
                     measures=("open rate", "CTR", "conversion rate", "revenue per recipient")
                     ) -> pd.DataFrame:
    """Each group's open rate (machine opens left out), CTR, conversion rate and revenue per
    recipient against the baseline group's, as differences with intervals.

    Parameters
    ----------
    kpis : pandas.DataFrame
        :func:`message_kpis` by ``key`` (conversion rate and revenue per recipient compared
        when it has ``conversions`` and ``revenue_sq``: :func:`message_kpis` with sales).
    baseline : str
        The ``key`` value the others are compared with (the normal newsletter).
    key : str
        The column naming the groups.
    alpha : float
        Intervals are ``1 - alpha``.
    measures : sequence of str
        Which of "open rate", "CTR", "conversion rate" and "revenue per recipient".

    Returns
    -------
    pandas.DataFrame
        One row per measure and non-baseline group: ``measure``, ``key``, ``delivered,
        baseline_delivered, value, baseline_value, effect, ci_low, ci_high, p_value,
        significant``. The statistics are :func:`lifecycle.kpis.ab_test_from_stats`' on the
        delivered messages (rates: Newcombe; revenue per delivered message: Welch); the
        groups' audiences differ, so this compares how the programs did, not a randomised
        test.

    Raises
    ------
    DataError
        Groups too small for a measure (with the size needed), as for an A/B test.

    Examples
    --------
    >>> k = pd.DataFrame({"campaign_id": ["newsletter", "welcome"], "delivered": [4000, 1000],
    ...                   "human_opens": [800, 300], "clicks": [120, 70]})
    >>> against_baseline(k)[["measure", "campaign_id", "value", "baseline_value", "effect"]]
         measure campaign_id  value  baseline_value  effect
    0  open rate     welcome   0.30            0.20    0.10
    1        CTR     welcome   0.07            0.03    0.04
    """
    if baseline not in set(kpis[key]):
        raise ValueError(f"the baseline {baseline!r} is not among the {key} values "
                         f"{sorted(map(str, kpis[key]))}")
    needs = {"conversions": ["conversions"], "revenue": ["revenue", "revenue_sq"]}
    rows = []
    for count, measure in _COMPARED.items():
        if measure not in measures or not set(needs.get(count, [count])) <= set(kpis):
            continue
        stats = _baseline_stats(kpis, key, count)
        split = dict(zip(stats.variant, stats.n, strict=True))  # no planned split to check
        compared = ab_test_from_stats(stats, control=baseline, alpha=alpha,
                                      expected_split=split)
        rows.append(compared.rename(columns={
            "variant": key, "n": "delivered", "control_n": "baseline_delivered",
            "rate": "value", "mean": "value", "control_rate": "baseline_value",
            "control_mean": "baseline_value"}).assign(measure=measure))
    columns = ["measure", key, "delivered", "baseline_delivered", "value", "baseline_value",
               "effect", "ci_low", "ci_high", "p_value", "significant"]
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)


def responder_value(messages, values, *, by="campaign_id", value_col: str = "clv_12m"
                    ) -> pd.DataFrame:
    """The later value of responders next to non-responders' (e.g. their predicted CLV).

    A customer *responded* to a group's messages when they clicked at least one delivered
    message of it; customers with delivered messages of the group and no click did not.

    Parameters
    ----------
    messages : pandas.DataFrame or ibis.Table
        As for :func:`message_kpis`, with the ``by`` columns.
    values : pandas.DataFrame or ibis.Table
        One row per customer: ``customer_id`` and ``value_col`` (e.g.
        :func:`lifecycle.clv.customer_value`'s ``clv_12m``). Customers without a value are
        left out of the means and counted in ``without_value``.
    by : str or list of str
        The groups (a program, a cell, a variant).
    value_col : str
        The value to compare.

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, ``responders, responder_value`` (mean), ``non_responders,
        non_responder_value``, ``difference`` (responders minus non-responders) and
        ``without_value``. Responders are self-selected: the difference describes who
        responds, it is not an effect of the message.

    Examples
    --------
    >>> m = pd.DataFrame({"message_id": ["m1", "m2", "m3"], "customer_id": ["a", "b", "c"],
    ...     "campaign_id": "news", "sent_at": pd.to_datetime(["2024-01-02"] * 3),
    ...     "clicked_at": pd.to_datetime(["2024-01-02 09:00", None, None])})
    >>> v = pd.DataFrame({"customer_id": ["a", "b", "c"], "clv_12m": [300.0, 100.0, 50.0]})
    >>> responder_value(m, v)[["responders", "responder_value", "non_responder_value",
    ...                        "difference"]]
       responders  responder_value  non_responder_value  difference
    0           1            300.0                 75.0       225.0
    """
    raw, _ = lazy(messages)
    require(raw, "messages", _REQUIRED)
    t, keys = _by(_flags(raw), by, "MS")
    v, _ = lazy(values)
    require(v, "values", ["customer_id", value_col])
    who = t.filter(t.delivered == 1).group_by([*keys, "customer_id"]).aggregate(
        responded=t.clicks.max())
    v = v.select(customer_id=v.customer_id.cast("string"), _value=v[value_col])
    joined = who.mutate(customer_id=who.customer_id.cast("string")).left_join(
        v, "customer_id")
    had = joined._value.notnull()
    out = joined.group_by(keys).aggregate(
        responders=(had & (joined.responded == 1)).sum(),
        responder_value=joined._value.mean(where=joined.responded == 1),
        non_responders=(had & (joined.responded == 0)).sum(),
        non_responder_value=joined._value.mean(where=joined.responded == 0),
        without_value=(~had).sum()).order_by(keys).execute()
    counts = ["responders", "non_responders", "without_value"]
    out[counts] = out[counts].astype("int64")
    return out.assign(difference=out.responder_value - out.non_responder_value)


def ab_recipients(messages):
    """One row per delivered message of an A/B test: the cells of a program step that differ
    only by variant (``welcome_thank_A`` / ``welcome_thank_B``) form one test.

    Returns ``customer_id, campaign_id, channel, sent_at, test`` (the cell without its variant
    suffix), ``variant``, ``opened`` (a click counts), ``clicked`` and ``own_opens``: whether
    the recipient's opens are their own (no machine open on any of their messages). Read open
    tests over the rows with ``own_opens``: a prefetching mail app opens every message, for
    both variants alike, and dilutes the difference; click tests read every row. pandas in,
    pandas out; ibis in, the unexecuted expression out.

    Examples
    --------
    >>> m = pd.DataFrame({"message_id": ["m1", "m2", "m3"], "customer_id": ["a", "b", "a"],
    ...     "campaign_id": "welcome", "channel": "email",
    ...     "cell_id": ["welcome_thank_A", "welcome_thank_B", "newsletter_1"],
    ...     "variant": ["A", "B", None], "sent_at": pd.to_datetime(["2024-01-02"] * 3),
    ...     "opened_at": pd.to_datetime(["2024-01-02 08:01", None, "2024-01-02 09:00"]),
    ...     "machine_open": [True, False, False]})
    >>> ab_recipients(m)[["customer_id", "test", "variant", "opened", "own_opens"]]
      customer_id           test variant  opened  own_opens
    0           a  welcome_thank       A    True      False
    1           b  welcome_thank       B   False       True
    """
    raw, eager = lazy(messages)
    require(raw, "messages", [*_REQUIRED, "cell_id", "variant"])
    m = _flags(raw)
    fetchers = m.filter(m.machine_opens == 1).select("customer_id").distinct()
    d = m.filter(m.delivered == 1, m.variant.notnull())
    d = d.left_join(fetchers.mutate(_fetches=ibis.literal(True)), "customer_id")
    extra = [c for c in ("campaign_id", "channel") if c in d.columns]
    out = d.select("customer_id", *extra, "sent_at",
                   test=d.cell_id.cast("string").re_replace(r"_[^_]+$", ""),
                   variant=d.variant.cast("string"), opened=d.opens == 1,
                   clicked=d.clicks == 1, own_opens=d._fetches.isnull())
    return finish(out.order_by(["test", "variant", "sent_at", "customer_id"]), eager)
