"""Conversion paths and attribution: journeys, path reports, rule-based, Markov and Shapley.

**Journeys.** :func:`journeys` reads each person's touchpoints and conversions in time order.
A conversion closes a journey: its touches are those after the person's previous conversion and
at most ``lookback_days`` before it. Every other touch is part of a *non-converting* journey:
one starts after each conversion and after any silence longer than ``lookback_days`` between
two touches, and the touches of a run that are older than the next conversion's look-back window
form a non-converting journey of their own. So touches after a person's last conversion form a
non-converting journey, and touches between two conversions belong to the later one when they
are within its window. A converting journey spans at most ``lookback_days``; a non-converting
one ends at its last touch and lasts as long as its touches keep coming less than
``lookback_days`` apart. Every touch with a channel is in exactly one journey (touches without a
channel are ignored). Conversions of one person at the same instant are one conversion (values
summed). A conversion with no touch in its window has no journey: no channel can be credited.

**Ties.** A touch at the same instant as a conversion belongs to that conversion. Touches at the
same instant are ordered by channel name, so a path is the same on every run and backend.

**Models** (:func:`attribute`, all of them credit exactly the total conversions and the total
conversion value of the journeys; only converting journeys carry credit):

* ``first``, ``last``: all credit to the first / last touch.
* ``linear``: equal credit to every touch (a channel touched twice gets two shares).
* ``time_decay``: a touch ``d`` days before the conversion weighs ``2 ** (-d / half_life_days)``;
  the weights are normalised within each journey.
* ``position`` (U-shape): ``first`` (0.4) to the first touch, ``last`` (0.4) to the last, the
  rest shared by the touches between; a one-touch path gives it all to its touch, a two-touch
  path splits ``first : last`` (50 / 50 by default).
* ``markov``: a Markov chain of order 1-3 over all journeys (converting and not) with the
  absorbing states conversion and null. States of order ``k`` are the last ``k`` channels, and a
  path starts in the state of its first ``k`` channels (its whole path when shorter), as in
  ChannelAttribution. Removing a channel sends every transition into a state that holds it to
  null; the conversion probability with and without each channel is solved exactly from the
  absorbing chain (a linear solve, no simulation). Credit is total conversions times the
  normalised removal effects. Value uses the expected conversion value instead of the
  probability (each state's conversions carry their mean value), again as ChannelAttribution.
  ChannelAttribution simulates instead, so its credits scatter by a few per cent around these,
  and it stops a simulated walk after as many steps as the longest path, which lowers its
  removal effects where the chain has loops.
* ``shapley``: exact Shapley values over channel sets. With ``characteristic="rate"`` (default)
  the worth of a coalition ``S`` is the conversion rate of journeys whose channel set is exactly
  ``S`` (all journeys count, converting or not), falling back to the rate of journeys whose set
  lies inside ``S`` when no journey has exactly ``S``, and 0 when none does; each journey's
  conversion probability is split among its channels by the Shapley value of that game
  restricted to its channel set (after the conversion-probability game of Dalessandro,
  Perlich, Stitelman and Provost, "Causally motivated attribution for online advertising",
  ADKDD 2012). Summed over journeys this gives
  every channel set's conversions exactly. A channel whose presence lowers the rate gets negative
  credit. With ``characteristic="subset"`` the worth of ``S`` is the conversions of journeys
  whose channel set is a subset of ``S``: the "simplified Shapley value" of Zhao, Mahboobi and
  Bagheri ("Shapley value methods for attribution modeling in online advertising",
  arXiv:1804.05327, 2018), which splits each conversion equally among its distinct channels and
  ignores non-converting journeys. Both are computed through Harsanyi dividends in
  ``O(k 2^k)`` for ``k`` channels (at most :data:`MAX_SHAPLEY_CHANNELS`).

Per-row work (journeys, windows, ordered collection, per-touch credit, path counts) is ibis;
Markov and Shapley bring only the distinct paths with their counts into numpy.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from lifecycle._frames import finish, lazy, require
from lifecycle.purchases import observed
from lifecycle.schema import DataError, Problem, end_of

__all__ = [
    "MAX_SHAPLEY_CHANNELS",
    "MODELS",
    "assisted_conversions",
    "attribute",
    "compare",
    "conversions",
    "journeys",
    "markov_transitions",
    "path_lengths",
    "removal_effects",
    "time_to_conversion",
    "top_paths",
]

MODELS = ("first", "last", "linear", "time_decay", "position", "markov", "shapley")
"""The attribution models :func:`attribute` knows, in the order :func:`compare` shows them."""

MAX_SHAPLEY_CHANNELS = 20
"""Exact Shapley needs ``2 ** channels`` coalitions; beyond this, group channels first."""

_SEP = " > "
_DAY = 86_400.0
_START, _CONV, _NULL = "(start)", "(conversion)", "(null)"
_DENSE_STATES = 200  # chains with more transient states are solved as sparse (splu)


_MAX_LOOKBACK_DAYS = 36_525


# == conversions and journeys ====================================================================
def conversions(transactions, *, customer_col: str = "customer_id", ts_col: str = "ts",
                amount_col: str = "amount", value_col: str | None = None):
    """Conversions from transactions: one row per customer and purchase instant.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        Columns ``customer_col``, ``ts_col``, ``amount_col`` (and ``value_col``). Rows with a
        positive amount are purchases (returns are negative rows and are not conversions);
        order lines of one purchase share its timestamp and are summed.
    value_col : str, optional
        What a conversion is worth (e.g. ``"margin"``); default ``amount_col``.

    Returns
    -------
    Same kind as the input: ``person_id, ts, value`` ordered by person and time.

    Examples
    --------
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...                    "ts": pd.to_datetime(["2024-01-05", "2024-01-05", "2024-01-09",
    ...                                          "2024-01-07"]),
    ...                    "amount": [10.0, 5.0, -5.0, 8.0]})
    >>> conversions(tx)
      person_id         ts  value
    0         a 2024-01-05   15.0
    1         b 2024-01-07    8.0
    """
    t, eager = lazy(transactions)
    value_col = value_col or amount_col
    require(t, "transactions", [customer_col, ts_col, amount_col, value_col])
    t = t.filter(t[amount_col] > 0)
    out = (t.group_by(person_id=t[customer_col].cast("string"), ts=t[ts_col])
           .aggregate(value=t[value_col].sum().cast("float64"))
           .order_by(["person_id", "ts"]))
    return finish(out, eager)


def journeys(touchpoints, conversions, *, lookback_days: float = 30, as_of=None,
             person_col: str = "person_id", ts_col: str = "ts", channel_col: str = "channel",
             value_col: str = "value"):
    """One row per journey: a person's ordered channel path, converted or not.

    See the module docstring for how touches are cut into journeys and how ties are ordered.

    Parameters
    ----------
    touchpoints : pandas.DataFrame or ibis.Table
        Columns ``person_col``, ``ts_col``, ``channel_col`` (use ``channel_col="campaign_id"``
        for campaign paths).
    conversions : pandas.DataFrame or ibis.Table
        Columns ``person_col``, ``ts_col``, ``value_col``, e.g. from :func:`conversions`.
    lookback_days : float
        How long before a conversion a touch may be to be part of its journey: more than 0 and
        at most 36,525 (a hundred years).
    as_of : date-like, optional
        The end of the data. Touches and conversions after it are ignored, and a journey that
        has not converted but whose last touch is less than ``lookback_days`` before it is
        still open (it may yet convert): it is left out (censored), not counted as a journey
        that did not convert. A date means its whole day. Default: no cut, nothing censored.

    Returns
    -------
    Same kind as ``touchpoints``, ordered by person and first touch:

    * ``person_id``; ``path`` (list of channels in time order) and ``path_text`` ("a > b");
    * ``days_before`` (list): days from each touch to the journey's end (the conversion, or the
      last touch of a non-converting journey);
    * ``n_touches``, ``first_touch_at``, ``converted``, ``conversion_at`` (null when not
      converted), ``value`` (0 when not converted) and ``days_to_conversion`` (first touch to
      conversion, null when not converted).

    Examples
    --------
    >>> tp = pd.DataFrame({"person_id": ["p"] * 4, "channel": ["email", "social", "email",
    ...                    "display"], "ts": pd.to_datetime(["2024-01-01", "2024-02-20",
    ...                    "2024-03-01", "2024-03-05"])})
    >>> cv = pd.DataFrame({"person_id": ["p"], "ts": pd.to_datetime(["2024-03-02"]),
    ...                    "value": [50.0]})
    >>> journeys(tp, cv)[["path_text", "converted", "value", "days_to_conversion"]]
             path_text  converted  value  days_to_conversion
    0            email      False    0.0                 NaN
    1  social > email       True   50.0                11.0
    2          display      False    0.0                 NaN
    """
    t, eager = lazy(touchpoints)
    c, _ = lazy(conversions)
    require(t, "touchpoints", [person_col, ts_col, channel_col])
    require(c, "conversions", [person_col, ts_col, value_col])
    if not (isinstance(lookback_days, int | float) and 0 < lookback_days <= _MAX_LOOKBACK_DAYS):
        raise ValueError(f"lookback_days must be a number of days above 0 and at most "
                         f"{_MAX_LOOKBACK_DAYS:,} (a hundred years), not {lookback_days!r}")
    open_from = None
    if as_of is not None:
        t, c = t.filter(observed(t[ts_col], as_of)), c.filter(observed(c[ts_col], as_of))
        open_from = end_of(as_of) - pd.Timedelta(days=lookback_days)
    lookback = ibis.interval(seconds=round(lookback_days * _DAY))
    parts = _parts(_events(t, c, person_col, ts_col, channel_col, value_col), lookback)
    return finish(_collect(parts, open_from=open_from), eager)


def _events(t: ir.Table, c: ir.Table, person_col, ts_col, channel_col, value_col) -> ir.Table:
    """Touches and conversions (merged per person and instant) as one event stream."""
    ttype, ctype = t[ts_col].type(), c[ts_col].type()
    if getattr(ttype, "timezone", None) != getattr(ctype, "timezone", None):
        raise DataError([Problem("conversions", ts_col, f"timestamp type {ctype} does not match "
                                 f"the touchpoints' {ttype} (timezone-aware and naive mixed)", 0)])
    same = t[person_col].type() == c[person_col].type()  # else compare ids as strings
    ptype = t[person_col].type() if same else ibis.dtype("string")
    t = t.filter(t[channel_col].notnull())
    touches = t.select(person=t[person_col].cast(ptype), ts=t[ts_col],
                       channel=t[channel_col].cast("string"), conv=ibis.literal(False),
                       value=ibis.null("float64"))
    convs = (c.group_by(person=c[person_col].cast(ptype), ts=c[ts_col].cast(ttype))
             .aggregate(value=c[value_col].sum().cast("float64")))
    convs = convs.select("person", "ts", channel=ibis.null("string"), conv=ibis.literal(True),
                         value=convs.value)
    return touches.union(convs)


def _parts(e: ir.Table, lookback) -> ir.Table:
    """Label each event with its run (``seg``) and whether it is in a conversion's window.

    A touch is inside the window of the next conversion (at or after it) when that conversion
    is at most ``lookback`` later: no conversion and no silence longer than ``lookback`` can lie
    between them, so they are in the same run.
    """
    keys = {"group_by": "person", "order_by": ["ts", "conv"]}
    prev_ts, prev_conv = e.ts.lag().over(**keys), e.conv.lag().over(**keys)
    upcoming = e.ts.min(where=e.conv).over(ibis.window(**keys, range=(0, None)))
    e = e.mutate(new=(prev_ts.isnull() | prev_conv | (e.ts - lookback > prev_ts)).cast("int64"),
                 inside=upcoming.notnull() & (e.ts >= upcoming - lookback))
    return e.mutate(seg=e.new.sum().over(ibis.window(**keys, range=(None, 0))))


def _collect(e: ir.Table, *, open_from=None) -> ir.Table:
    """One row per (person, run, inside-window) part: the ordered path and its facts; without
    the parts that have not converted and were touched at or after ``open_from`` (still open).

    The touches are collected unordered as (ts, channel) pairs and the list is sorted: an
    ordered aggregate per group costs DuckDB many times the memory and time.
    """
    touch = ~e.conv
    g = e.group_by(["person", "seg", "inside"]).aggregate(
        items=ibis.struct({"ts": e.ts, "channel": e.channel}).collect(where=touch),
        n_touches=e.ts.count(where=touch),
        first_touch_at=e.ts.min(where=touch),
        last=e.ts.max(where=touch).epoch_seconds(),
        conversion_at=e.ts.max(where=e.conv),
        value=e.value.sum(where=e.conv),
    ).filter(ibis._.n_touches > 0)
    if open_from is not None:
        since = ibis.literal(open_from).cast(e.ts.type()).epoch_seconds()
        g = g.filter(g.conversion_at.notnull() | (g["last"] < since))
    items = g["items"].sort()
    end = g.conversion_at.epoch_seconds().coalesce(g.last).cast("float64")
    first = g.first_touch_at.epoch_seconds().cast("float64")
    path = items.map(lambda x: x.channel)
    return g.select(
        person_id=g.person, path=path, path_text=ibis.literal(_SEP).join(path),
        days_before=items.map(lambda x: (end - x.ts.epoch_seconds().cast("float64")) / _DAY),
        n_touches=g.n_touches, first_touch_at=g.first_touch_at,
        converted=g.conversion_at.notnull(), conversion_at=g.conversion_at,
        value=g.value.coalesce(0.0),
        days_to_conversion=(g.conversion_at.epoch_seconds().cast("float64") - first) / _DAY,
    ).order_by(["person_id", "first_touch_at"])


# == attribution ===================================================================================
def attribute(journeys, model: str = "markov", **params) -> pd.DataFrame:
    """Credited conversions and conversion value per channel under one model.

    Parameters
    ----------
    journeys : pandas.DataFrame or ibis.Table
        :func:`journeys` output (``path``, ``converted``, ``value``; ``time_decay`` also needs
        ``days_before``). On a large table, ``.cache()`` it before running several models.
    model : str
        One of :data:`MODELS` (see the module docstring).
    **params
        ``time_decay``: ``half_life_days=7``; ``position``: ``first=0.4, last=0.4``;
        ``markov``: ``order=1`` (1-3); ``shapley``: ``characteristic="rate"`` or ``"subset"``.

    Returns
    -------
    pandas.DataFrame
        ``channel, conversions, value`` ordered by channel: a small model result, so always
        pandas; rule-based models run in the backend, Markov and Shapley on distinct paths.

    Examples
    --------
    >>> j = pd.DataFrame({"path": [["a"], ["a"], ["b"], ["a", "b"], ["a"]],
    ...                   "converted": [True, True, True, True, False],
    ...                   "value": [1.0, 1.0, 1.0, 1.0, 0.0]})
    >>> attribute(j, "markov")
      channel  conversions  value
    0       a          2.4    2.4
    1       b          1.6    1.6
    >>> attribute(j, "linear").conversions.tolist()
    [2.5, 1.5]
    """
    if model not in _MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    if isinstance(journeys, pd.DataFrame) and journeys.empty:
        raise DataError([Problem("journeys", "*", "empty table: no journeys to attribute", 0)])
    t, _ = lazy(journeys)
    require(t, "journeys", ["path", "converted", "value"])
    return _MODELS[model](t, **params).sort_values("channel", ignore_index=True)


def compare(journeys, models=MODELS, *, measure: str = "conversions") -> pd.DataFrame:
    """All models side by side: one row per channel, one column of credit per model.

    Parameters
    ----------
    journeys : pandas.DataFrame or ibis.Table
        :func:`journeys` output.
    models : sequence of str or of (name, model, params)
        Model names from :data:`MODELS`, or ``(column name, model, params dict)`` triples to
        show one model with several settings (e.g. Markov of order 1 and 2).
    measure : {"conversions", "value"}
        Which credit to show.

    Returns
    -------
    pandas.DataFrame
        ``channel`` and one column per model (0 where a model gives a channel nothing),
        ordered by the last model's credit, largest first.

    Examples
    --------
    >>> j = pd.DataFrame({"path": [["a"], ["a"], ["b"], ["a", "b"], ["a"]],
    ...                   "converted": [True, True, True, True, False],
    ...                   "value": [1.0, 1.0, 1.0, 1.0, 0.0]})
    >>> compare(j, ["first", "last", ("markov 2", "markov", {"order": 2})])
      channel  first  last  markov 2
    0       a    3.0   2.0       2.4
    1       b    1.0   2.0       1.6
    """
    if measure not in ("conversions", "value"):
        raise ValueError(f"measure must be 'conversions' or 'value', not {measure!r}")
    specs = [(m, m, {}) if isinstance(m, str) else m for m in models]
    t, _ = lazy(journeys)
    out = pd.DataFrame({"channel": pd.Series([], dtype=object)})
    for name, model, params in specs:
        credit = attribute(t, model, **params)[["channel", measure]].rename(
            columns={measure: name})
        out = out.merge(credit, on="channel", how="outer")
    out = out.fillna(0.0)
    return out.sort_values([specs[-1][0], "channel"], ascending=[False, True],
                           ignore_index=True) if specs else out


def _path_counts(t: ir.Table) -> ir.Table:
    """Distinct paths: journeys, conversions, non-conversions and value of each."""
    return t.group_by("path").aggregate(
        journeys=t.count(), conversions=t.converted.cast("int64").sum(),
        value=t.value.sum().cast("float64"),
    ).mutate(nulls=ibis._.journeys - ibis._.conversions).order_by("path")


def _credit(t: ir.Table, weight) -> pd.DataFrame:
    """Rule-based credit: ``weight(u)`` is a touch's share of its path's conversions."""
    won = _path_counts(t.filter(t.converted))
    u = won.mutate(n=won.path.length()).unnest("path", offset="pos")
    share = weight(u)
    credit = u.group_by(channel=u.path).aggregate(conversions=(u.conversions * share).sum(),
                                                  value=(u.value * share).sum())
    return _every_channel(t, credit)


def _every_channel(t: ir.Table, credit: ir.Table) -> pd.DataFrame:
    """``credit`` with a zero row for each channel seen only on non-converting paths."""
    seen = t.select(channel=t.path.unnest()).distinct()
    out = seen.left_join(credit, "channel").select(
        "channel", conversions=ibis._.conversions.coalesce(0.0), value=ibis._.value.coalesce(0.0))
    return out.execute()


def _first(t):
    return _credit(t, lambda u: (u.pos == 0).cast("float64"))


def _last(t):
    return _credit(t, lambda u: (u.pos == u.n - 1).cast("float64"))


def _linear(t):
    return _credit(t, lambda u: 1.0 / u.n)


def _position(t, *, first: float = 0.4, last: float = 0.4):
    if first < 0 or last < 0 or not 0 < first + last <= 1:
        raise ValueError("position weights need first, last >= 0 and 0 < first + last <= 1")

    def weight(u):
        two = ibis.ifelse(u.pos == 0, first / (first + last), last / (first + last))
        ends = ibis.ifelse(u.pos == 0, first, last)
        middle = (1.0 - first - last) / (u.n - 2).cast("float64")
        return ibis.cases((u.n == 1, 1.0), (u.n == 2, two),
                          ((u.pos == 0) | (u.pos == u.n - 1), ends), else_=middle)

    return _credit(t, weight)


def _time_decay(t, *, half_life_days: float = 7.0):
    if not half_life_days > 0:
        raise ValueError("half_life_days must be positive")
    require(t, "journeys", ["days_before"])
    won = t.filter(t.converted)
    latest = won.days_before.mins()  # the latest touch weighs 1: no underflow

    def decay(days):
        return (0.5 ** ((days - latest) / half_life_days)).cast("float64")

    # zip the raw lists and weigh after unnesting: zipping a computed list recomputes it per
    # element in DuckDB (quadratic in the path length)
    u = won.select(touch=won.path.zip(won.days_before), latest=latest,
                   norm=won.days_before.map(decay).sums(),
                   value=won.value.cast("float64").fill_null(0.0)).unnest("touch")
    share = (0.5 ** ((u.touch.f2 - u.latest) / half_life_days)) / u.norm
    credit = u.group_by(channel=u.touch.f1).aggregate(conversions=share.sum(),
                                                      value=(u.value * share).sum())
    return _every_channel(t, credit)


# == Markov ======================================================================================
def _distinct_paths(t: ir.Table) -> dict:
    """Distinct paths in numpy: sorted channel names, flat channel codes, path offsets."""
    return _encode(_path_counts(t).to_pyarrow())


def _encode(arrow: pa.Table) -> dict:
    """:func:`_path_counts` rows (Arrow) as numpy arrays, channels coded in name order."""
    lists = arrow.column("path").combine_chunks()
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(lists)
    enc = pc.dictionary_encode(flat) if len(flat) else pa.array([], pa.string()).dictionary_encode()
    names = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    rank = np.empty(len(names), np.int64)
    rank[np.argsort(names, kind="stable")] = np.arange(len(names))
    column = {name: arrow.column(name).to_numpy().astype(np.float64)
              for name in ("journeys", "conversions", "nulls", "value")}
    return {"channels": sorted(names.tolist()), "codes": rank[enc.indices.to_numpy()],
            "lengths": lengths, "starts": np.cumsum(lengths) - lengths, **column}


def _windows(p: dict, order: int):
    """Markov states along every path: state code, path index, first / last state flags.

    A state's code holds its channels as digits ``code + 1`` in base ``channels + 1``, so
    states of different lengths differ.
    """
    lengths, base = p["lengths"], len(p["channels"]) + 1
    count = np.maximum(lengths - order + 1, 1)
    path = np.repeat(np.arange(len(lengths)), count)
    j = np.arange(len(path)) - np.repeat(np.cumsum(count) - count, count)
    if order == 1:
        return p["codes"] + 1, path, j == 0, j == count[path] - 1
    at, width = p["starts"][path] + j, np.minimum(order, lengths[path])
    code = np.zeros(len(path), np.int64)
    for m in range(order):
        inside = m < width
        code[inside] += (p["codes"][at[inside] + m] + 1) * base ** m
    return code, path, j == 0, j == count[path] - 1


def _index(code: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct codes (sorted) and each code's position among them."""
    if size > 1 << 24:
        return np.unique(code, return_inverse=True)
    present = np.zeros(size, bool)
    present[code] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[code]


def _chain(p: dict, order: int) -> dict:
    """Transition counts of the order-``k`` chain: start, between states, into the absorbers."""
    base = len(p["channels"]) + 1
    code, path, first, last = _windows(p, order)
    states, sid = _index(code, base**order)
    n, w = len(states), p["journeys"][path]
    step = ~last[:-1]
    src, dst, weight = sid[:-1][step], sid[1:][step], w[:-1][step]
    if n <= _DENSE_STATES:
        moves = np.bincount(src * n + dst, weights=weight, minlength=n * n).reshape(n, n)
    else:
        moves = scipy.sparse.csr_matrix((weight, (src, dst)), shape=(n, n))
    ends = sid[last]

    def into(x):
        return np.bincount(ends, weights=x[path[last]], minlength=n)

    return {"states": states, "moves": moves, "start": np.bincount(sid[first], weights=w[first],
            minlength=n), "conv": into(p["conversions"]), "null": into(p["nulls"]),
            "value": into(p["value"]), "base": base, "order": order}


def _absorb(chain: dict, keep: np.ndarray) -> np.ndarray:
    """Conversion probability and expected value from the start, only through ``keep`` states."""
    moves = chain["moves"]
    out = np.asarray(moves.sum(axis=1)).ravel() + chain["conv"] + chain["null"]
    scale = np.divide(1.0, out, out=np.zeros_like(out), where=out > 0)[keep]
    reward = np.column_stack([chain["conv"], chain["value"]])[keep] * scale[:, None]
    total = chain["start"].sum()
    if not total or not keep.any():
        return np.zeros(2)
    if isinstance(moves, np.ndarray):
        system = np.eye(int(keep.sum())) - moves[np.ix_(keep, keep)] * scale[:, None]
        x = scipy.linalg.solve(system, reward)
    else:
        q = moves[keep][:, keep].multiply(scale[:, None])
        system = scipy.sparse.identity(int(keep.sum()), format="csc") - q
        x = scipy.sparse.linalg.splu(system.tocsc()).solve(reward)
    return chain["start"][keep] @ x / total


def _holds(chain: dict, channel: int) -> np.ndarray:
    """Which states hold ``channel`` among their (up to ``order``) channels."""
    digits = [(chain["states"] // chain["base"] ** m) % chain["base"] for m in
              range(chain["order"])]
    return np.any(np.column_stack(digits) == channel + 1, axis=1)


def _removal(t: ir.Table, order: int) -> pd.DataFrame:
    if order not in (1, 2, 3):
        raise ValueError(f"Markov order must be 1, 2 or 3, not {order!r}")
    return _removal_from(_distinct_paths(t), order)


def _removal_from(p: dict, order: int) -> pd.DataFrame:
    """Removal effects from encoded distinct paths (the numpy part of the Markov model)."""
    if not len(p["lengths"]):
        return _removal_frame([], np.zeros(2), np.zeros((0, 2)), p)
    chain = _chain(p, order)
    full = _absorb(chain, np.ones(len(chain["states"]), bool))
    without = np.array([_absorb(chain, ~_holds(chain, c)) for c in range(len(p["channels"]))])
    return _removal_frame(p["channels"], full, without.reshape(-1, 2), p)


def _removal_frame(channels, full, without, p) -> pd.DataFrame:
    lost = np.divide(full - without, full, out=np.zeros_like(without), where=full > 0)
    return pd.DataFrame({"channel": channels, "p_conversion": full[0], "p_without": without[:, 0],
                         "removal_effect": lost[:, 0], "removal_effect_value": lost[:, 1]})


def _markov(t, *, order: int = 1):
    if order not in (1, 2, 3):
        raise ValueError(f"Markov order must be 1, 2 or 3, not {order!r}")
    p = _distinct_paths(t)
    return _markov_credit_frame(_removal_from(p, order), p["conversions"].sum(),
                                p["value"].sum())


def _markov_credit_frame(effects: pd.DataFrame, conversions: float, value: float):
    """Total conversions and value shared in proportion to the removal effects."""
    return pd.DataFrame({
        "channel": effects.channel,
        "conversions": conversions * _normalised(effects.removal_effect.to_numpy()),
        "value": value * _normalised(effects.removal_effect_value.to_numpy())})


def _normalised(x: np.ndarray) -> np.ndarray:
    total = x.sum()
    return x / total if total > 0 else np.zeros_like(x)


def removal_effects(journeys, *, order: int = 1) -> pd.DataFrame:
    """Markov removal effects per channel, solved exactly from the absorbing chain.

    Parameters
    ----------
    journeys : pandas.DataFrame or ibis.Table
        :func:`journeys` output (``path``, ``converted``, ``value``), converting or not.
    order : {1, 2, 3}
        Markov order (see the module docstring for the states).

    Returns
    -------
    pandas.DataFrame
        ``channel``, ``p_conversion`` (the chain's conversion probability from the start),
        ``p_without`` (the same with the channel removed), ``removal_effect``
        (``1 - p_without / p_conversion``) and ``removal_effect_value`` (the same on the
        expected conversion value).

    Examples
    --------
    >>> j = pd.DataFrame({"path": [["a"], ["a"], ["b"], ["a", "b"], ["a"]],
    ...                   "converted": [True, True, True, True, False],
    ...                   "value": [1.0, 1.0, 1.0, 1.0, 0.0]})
    >>> removal_effects(j)[["channel", "p_conversion", "p_without", "removal_effect"]]
      channel  p_conversion  p_without  removal_effect
    0       a           0.8        0.2            0.75
    1       b           0.8        0.4            0.50
    """
    t, _ = lazy(journeys)
    require(t, "journeys", ["path", "converted", "value"])
    return _removal(t, order)


def markov_transitions(journeys, *, order: int = 1) -> pd.DataFrame:
    """The Markov chain's transitions as a tidy frame (for a picture or a check).

    Returns
    -------
    pandas.DataFrame
        ``from``, ``to``, ``transitions`` (journeys making the step) and ``probability`` (share
        of the steps out of ``from``). States are ``(start)``, channel states (order > 1:
        "a > b"), and the absorbing ``(conversion)`` and ``(null)``.

    Examples
    --------
    >>> j = pd.DataFrame({"path": [["a"], ["a", "b"], ["b"]], "converted": [True, False, True],
    ...                   "value": [1.0, 0.0, 1.0]})
    >>> markov_transitions(j)
            from            to  transitions  probability
    0    (start)             a          2.0     0.666667
    1    (start)             b          1.0     0.333333
    2          a  (conversion)          1.0     0.500000
    3          a             b          1.0     0.500000
    4          b  (conversion)          1.0     0.500000
    5          b        (null)          1.0     0.500000
    """
    t, _ = lazy(journeys)
    require(t, "journeys", ["path", "converted", "value"])
    p = _distinct_paths(t)
    columns = ["from", "to", "transitions", "probability"]
    if not len(p["lengths"]):
        return pd.DataFrame(columns=columns)
    chain = _chain(p, order)
    names = _state_names(chain, p["channels"])
    moves = scipy.sparse.coo_matrix(chain["moves"])
    n = len(names)
    rows = pd.concat([
        pd.DataFrame({"from": _START, "to": names, "transitions": chain["start"]}),
        pd.DataFrame({"from": names[moves.row], "to": names[moves.col],
                      "transitions": moves.data}),
        pd.DataFrame({"from": names, "to": [_CONV] * n, "transitions": chain["conv"]}),
        pd.DataFrame({"from": names, "to": [_NULL] * n, "transitions": chain["null"]}),
    ]).query("transitions > 0")
    rows["probability"] = rows.transitions / rows.groupby("from").transitions.transform("sum")
    return rows.sort_values(["from", "to"], ignore_index=True)[columns]


def _state_names(chain: dict, channels: list[str]) -> np.ndarray:
    base, names = chain["base"], np.asarray(channels, dtype=object)
    out = []
    for code in chain["states"]:
        digits = [(code // base ** m) % base for m in range(chain["order"])]
        out.append(_SEP.join(names[d - 1] for d in digits if d))
    return np.asarray(out, dtype=object)


# == Shapley =====================================================================================
def _shapley(t, *, characteristic: str = "rate"):
    if characteristic not in ("rate", "subset"):
        raise ValueError(f"characteristic must be 'rate' or 'subset', not {characteristic!r}")
    p = _distinct_paths(t)
    k = len(p["channels"])
    if k > MAX_SHAPLEY_CHANNELS:
        raise ValueError(f"exact Shapley over {k} channels needs 2**{k} coalitions; group them "
                         f"into at most {MAX_SHAPLEY_CHANNELS} channels first")
    sets = _channel_sets(p)
    credit = [_shapley_credit(_set_sums(sets, p[x], k), _set_sums(sets, p["journeys"], k),
                              characteristic, k) for x in ("conversions", "value")]
    return pd.DataFrame({"channel": p["channels"], "conversions": credit[0], "value": credit[1]})


def _channel_sets(p: dict) -> np.ndarray:
    """Each distinct path's channel set as a bit mask."""
    if not len(p["lengths"]):
        return np.zeros(0, np.int64)
    return np.bitwise_or.reduceat(np.left_shift(1, p["codes"]), p["starts"])


def _set_sums(sets: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(sets, weights=x, minlength=2**k).astype(np.float64)


def _shapley_credit(worth: np.ndarray, journeys: np.ndarray, characteristic: str, k: int):
    """Shapley credit per channel from Harsanyi dividends over the ``2**k`` channel sets."""
    if characteristic == "subset":  # v(S) = conversions inside S: the dividends are the sums
        dividend, weight = worth, np.ones_like(worth)
    else:
        inside_worth, inside_n = _subset_sum(worth, k), _subset_sum(journeys, k)
        rate = np.divide(inside_worth, inside_n, out=np.zeros_like(worth), where=inside_n > 0)
        exact = np.divide(worth, journeys, out=np.zeros_like(worth), where=journeys > 0)
        dividend = _moebius(np.where(journeys > 0, exact, rate), k)
        weight = _superset_sum(journeys, k)  # journeys whose set holds each coalition
    size = np.bitwise_count(np.arange(2**k)).astype(np.float64)
    share = np.divide(dividend * weight, size, out=np.zeros_like(worth), where=size > 0)
    return np.array([share.reshape(-1, 2, 2**i)[:, 1, :].sum() for i in range(k)])


def _subset_sum(f: np.ndarray, k: int) -> np.ndarray:
    f = f.copy()
    for i in range(k):
        v = f.reshape(-1, 2, 2**i)
        v[:, 1, :] += v[:, 0, :]
    return f


def _superset_sum(f: np.ndarray, k: int) -> np.ndarray:
    f = f.copy()
    for i in range(k):
        v = f.reshape(-1, 2, 2**i)
        v[:, 0, :] += v[:, 1, :]
    return f


def _moebius(f: np.ndarray, k: int) -> np.ndarray:
    f = f.copy()
    for i in range(k):
        v = f.reshape(-1, 2, 2**i)
        v[:, 1, :] -= v[:, 0, :]
    return f


_MODELS = {"first": _first, "last": _last, "linear": _linear, "time_decay": _time_decay,
           "position": _position, "markov": _markov, "shapley": _shapley}


# == path reports ================================================================================
def top_paths(journeys, *, n: int = 10, by: str = "conversions"):
    """The most common paths: journeys, conversions, rate, value and share of conversions.

    Parameters
    ----------
    journeys : pandas.DataFrame or ibis.Table
        :func:`journeys` output (``path_text``, ``converted``, ``value``).
    n : int
        How many paths.
    by : {"conversions", "journeys", "value"}
        What "top" means.

    Returns
    -------
    Same kind as the input: ``path, journeys, conversions, conversion_rate, value,
    share_of_conversions``, largest first (ties by path).

    Examples
    --------
    >>> j = pd.DataFrame({"path_text": ["a", "a", "b", "a > b", "a"],
    ...                   "converted": [True, True, True, True, False],
    ...                   "value": [1.0, 2.0, 1.0, 5.0, 0.0]})
    >>> top_paths(j, n=2)
        path  journeys  conversions  conversion_rate  value  share_of_conversions
    0      a         3            2         0.666667    3.0                  0.50
    1  a > b         1            1         1.000000    5.0                  0.25
    """
    if by not in ("conversions", "journeys", "value"):
        raise ValueError(f"by must be 'conversions', 'journeys' or 'value', not {by!r}")
    t, eager = lazy(journeys)
    require(t, "journeys", ["path_text", "converted", "value"])
    g = _summary(t.group_by(path=t.path_text), t)
    return finish(g.order_by([ibis.desc(by), "path"]).limit(n), eager)


def _summary(grouped, t: ir.Table) -> ir.Table:
    g = grouped.aggregate(journeys=t.count(), conversions=t.converted.cast("int64").sum(),
                          value=t.value.sum().cast("float64"))
    total = g.conversions.sum().over()
    return g.mutate(conversion_rate=g.conversions / g.journeys,
                    share_of_conversions=ibis.ifelse(total > 0, g.conversions / total, 0.0)
                    ).relocate("value", after="conversion_rate")


def path_lengths(journeys):
    """Journeys and conversions by number of touches.

    Returns
    -------
    Same kind as the input: ``n_touches, journeys, conversions, conversion_rate, value,
    share_of_conversions`` ordered by ``n_touches``.

    Examples
    --------
    >>> j = pd.DataFrame({"n_touches": [1, 1, 1, 2, 1], "converted": [True, True, True, True,
    ...                   False], "value": [1.0, 2.0, 1.0, 5.0, 0.0]})
    >>> path_lengths(j)[["n_touches", "journeys", "conversions", "share_of_conversions"]]
       n_touches  journeys  conversions  share_of_conversions
    0          1         4            3                  0.75
    1          2         1            1                  0.25
    """
    t, eager = lazy(journeys)
    require(t, "journeys", ["n_touches", "converted", "value"])
    return finish(_summary(t.group_by("n_touches"), t).order_by("n_touches"), eager)


def time_to_conversion(journeys):
    """Converting journeys by whole days from first touch to conversion.

    Returns
    -------
    Same kind as the input: ``days`` (0 = within a day), ``conversions``, ``share`` and
    ``cumulative_share`` ordered by ``days``.

    Examples
    --------
    >>> j = pd.DataFrame({"converted": [True, True, True, False],
    ...                   "days_to_conversion": [0.5, 3.2, 3.9, None]})
    >>> time_to_conversion(j)
       days  conversions     share  cumulative_share
    0     0            1  0.333333          0.333333
    1     3            2  0.666667          1.000000
    """
    t, eager = lazy(journeys)
    require(t, "journeys", ["converted", "days_to_conversion"])
    t = t.filter(t.converted)
    g = t.group_by(days=t.days_to_conversion.floor().cast("int64")).aggregate(
        conversions=t.count())
    total = g.conversions.sum().over()
    upto = ibis.window(order_by="days", rows=(None, 0))
    g = g.mutate(share=g.conversions / total,
                 cumulative_share=g.conversions.sum().over(upto) / total)
    return finish(g.order_by("days"), eager)


def assisted_conversions(journeys):
    """Per channel: conversions with the channel on the path, as last touch, and as assist.

    A channel *assists* a conversion when it is on the converting path anywhere but the last
    touch (a channel can be both the last touch and an assist, as in "a > b > a").

    Returns
    -------
    Same kind as the input: ``channel``, ``conversions_with_channel`` and ``share_of_conversions``
    (converting journeys with the channel anywhere on the path, and their share of all),
    ``last_touch``, ``assisted`` and ``assist_ratio`` (assisted / last touch), ordered by
    ``conversions_with_channel``, largest first.

    Examples
    --------
    >>> j = pd.DataFrame({"path": [["a"], ["a", "b"], ["b", "a", "b"], ["a"]],
    ...                   "converted": [True, True, True, False], "value": [1.0] * 3 + [0.0]})
    >>> assisted_conversions(j).drop(columns="share_of_conversions")
      channel  conversions_with_channel  last_touch  assisted  assist_ratio
    0       a                         3           1         2           2.0
    1       b                         2           2         1           0.5
    """
    t, eager = lazy(journeys)
    require(t, "journeys", ["path", "converted"])
    t = t.filter(t.converted)
    total = t.count().as_scalar()
    u = t.mutate(journey=ibis.row_number(), n=t.path.length()).unnest("path", offset="pos")
    per = u.group_by(["journey", u.path.name("channel")]).aggregate(
        last=(u.pos == u.n - 1).any(), assist=(u.pos < u.n - 1).any())
    g = per.group_by("channel").aggregate(
        conversions_with_channel=per.count(), last_touch=per["last"].cast("int64").sum(),
        assisted=per.assist.cast("int64").sum())
    g = g.mutate(share_of_conversions=g.conversions_with_channel / total,
                 assist_ratio=ibis.ifelse(g.last_touch > 0, g.assisted / g.last_touch, None)
                 ).relocate("share_of_conversions", after="conversions_with_channel")
    return finish(g.order_by([ibis.desc("conversions_with_channel"), "channel"]), eager)
