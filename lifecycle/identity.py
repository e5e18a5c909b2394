"""Anonymous id → customer stitching, shared devices, sessions and returning visitors.

**Links.** An event whose type is *identifying* (a login, a newsletter signup, a checkout, ...;
the ``identifying`` parameter) and that carries a ``customer_id`` links its ``anonymous_id``
(a device or browser cookie) to that customer. The link's ``first_linked_at`` is the earliest
such event.

**Person.** Every event gets exactly one ``person_id``:

1. an event that carries a ``customer_id`` belongs to that customer;
2. an anonymous event (no ``customer_id``) of an anonymous id linked to exactly one customer
   belongs to that customer, whether it happened before the first link (the earlier anonymous
   visits of a person who later logs in or subscribes) or after it (a logged-out visit);
3. any other anonymous event belongs to its ``anonymous_id`` (a visitor we do not know yet).

**Shared devices.** An anonymous id linked to two or more customers is *shared* (a family
tablet, a shop's demo laptop). It is reported (``shared`` in :func:`links`,
:func:`shared_devices`), never merged: its identified events keep their own customer, and its
anonymous events keep the ``anonymous_id`` as ``person_id`` because nothing says whose they
are. Customers are never merged with each other through a shared device.

With ``as_of`` only events up to ``as_of`` are used (a date means its whole day), so a link
made later does not re-attribute anything: this is what was known at ``as_of``.
Anonymous ids and customer ids are assumed to come from distinct namespaces.

**Visits.** A visit is a session: the events' ``session_id``. When the column is missing, or a
row's session id is null, the session is derived per ``anonymous_id``: a new session starts
with the first event and after every gap of more than ``gap_minutes`` (default 30) without an
event on that anonymous id (the common web-analytics rule); its id is
``"<anonymous_id>#<n>"``. A person's visits are the distinct sessions with their events,
numbered 1, 2, 3, ... in order of their first event: visit 2 and 3 are a returning visitor.
"""

from __future__ import annotations

from collections.abc import Iterable

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from lifecycle._frames import finish, lazy, require
from lifecycle.schema import end_of

__all__ = [
    "IDENTIFYING_EVENTS",
    "links",
    "person_events",
    "returning_visitors",
    "sessionize",
    "shared_devices",
    "stitch",
    "visit_distribution",
    "visits",
]

#: Event types that identify an anonymous id when they carry a customer id.
IDENTIFYING_EVENTS = ("login", "signup", "newsletter_signup", "checkout", "purchase")

_ROW = "_lifecycle_row"


def _until(t: ir.Table, ts_col: str, as_of) -> ir.Table:
    """Keep events up to ``as_of`` (a date means its whole day; None keeps all)."""
    return t if as_of is None else t.filter(t[ts_col] < end_of(pd.Timestamp(as_of)))


def _link_pairs(t: ir.Table, identifying, cols: dict) -> ir.Table:
    """anonymous_id, customer_id, first_linked_at, shared: one row per linked pair."""
    anon, cust = t[cols["anonymous_col"]].cast("string"), t[cols["customer_col"]]
    ts = t[cols["ts_col"]]
    known = cust.notnull()
    if identifying is not None:
        known = known & t[cols["event_type_col"]].cast("string").isin(list(identifying))
    ident = t.filter(known)
    pairs = ident.group_by(anonymous_id=anon, customer_id=cust.cast("string")).aggregate(
        first_linked_at=ts.min())
    per_anon = pairs.group_by("anonymous_id").aggregate(n_customers=pairs.count())
    pairs = pairs.join(per_anon, "anonymous_id")
    return pairs.mutate(shared=pairs.n_customers > 1).drop("n_customers")


def _stitch_input(t: ir.Table, as_of, identifying, cols: dict) -> ir.Table:
    """Check the columns stitching needs; keep the events up to ``as_of``."""
    require(t, "events", [cols["ts_col"], cols["anonymous_col"], cols["customer_col"]]
            + ([cols["event_type_col"]] if identifying is not None else []))
    return _until(t, cols["ts_col"], as_of)


def _person_events(t: ir.Table, as_of, identifying, cols: dict) -> ir.Table:
    """Events with ``person_id``: stitched here, or, when ``t`` already has the person
    column, that column (events after ``as_of`` dropped)."""
    person_col = cols.get("person_col", "person_id")
    if person_col not in t.columns:
        return _stitch(t, as_of, identifying, cols)
    t = _until(t, cols["ts_col"], as_of)
    return t if person_col == "person_id" else t.rename(person_id=person_col)


def _stitch(t: ir.Table, as_of, identifying, cols: dict) -> ir.Table:
    """The events up to ``as_of`` with ``person_id`` and ``stitched`` (the ibis core)."""
    t = _stitch_input(t, as_of, identifying, cols)
    pairs = _link_pairs(t, identifying, cols)
    single = pairs.filter(~pairs.shared).select(_anon=pairs.anonymous_id,
                                                _linked=pairs.customer_id)
    joined = t.left_join(single, t[cols["anonymous_col"]].cast("string") == single._anon)
    own = joined[cols["customer_col"]].cast("string")
    return joined.mutate(
        person_id=own.coalesce(joined._linked, joined[cols["anonymous_col"]].cast("string")),
        stitched=own.isnull() & joined._linked.notnull(),
    ).drop("_anon", "_linked")


def _cols(ts_col, anonymous_col, event_type_col, customer_col) -> dict:
    return {"ts_col": ts_col, "anonymous_col": anonymous_col,
            "event_type_col": event_type_col, "customer_col": customer_col}


def _numbered(events):
    """Pandas input gets a row number so the output keeps the input's row order."""
    if isinstance(events, pd.DataFrame):
        return events.assign(**{_ROW: np.arange(len(events))})
    return events


def _in_order(expr: ir.Table, eager: bool) -> ir.Table:
    return expr.order_by(_ROW).drop(_ROW) if eager else expr


def stitch(events, *, as_of=None, identifying: Iterable[str] | None = IDENTIFYING_EVENTS,
           ts_col: str = "ts", anonymous_col: str = "anonymous_id",
           event_type_col: str = "event_type", customer_col: str = "customer_id"):
    """Give every event a ``person_id``: its customer when known or stitched, else its
    anonymous id.

    Parameters
    ----------
    events : pandas.DataFrame or ibis.Table
        Columns ``ts``, ``anonymous_id``, ``event_type``, ``customer_id`` (null until known).
    as_of : timestamp-like, optional
        Use only the events up to it (a date means its whole day); None uses every event.
    identifying : iterable of str or None
        Event types that link an anonymous id to the customer they carry
        (:data:`IDENTIFYING_EVENTS`); None: every event that carries a customer id.
    ts_col, anonymous_col, event_type_col, customer_col : str
        Column names.

    Returns
    -------
    Same kind as the input: the events (pandas: in input order) with ``person_id`` (string)
    and ``stitched`` (True where the person came from a link, not from the event itself).
    The rules, including shared devices, are in the module docstring.

    Examples
    --------
    >>> ev = pd.DataFrame({
    ...     "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]),
    ...     "anonymous_id": ["a1", "a1", "a2", "a1"],
    ...     "event_type": ["page_view", "login", "page_view", "page_view"],
    ...     "customer_id": [None, "c1", None, None]})
    >>> stitch(ev)[["anonymous_id", "customer_id", "person_id", "stitched"]]
      anonymous_id customer_id person_id  stitched
    0           a1         NaN        c1      True
    1           a1          c1        c1     False
    2           a2         NaN        a2     False
    3           a1         NaN        c1      True
    """
    t, eager = lazy(_numbered(events))
    cols = _cols(ts_col, anonymous_col, event_type_col, customer_col)
    return finish(_in_order(_stitch(t, as_of, identifying, cols), eager), eager)


def person_events(events, *, as_of=None,
                  identifying: Iterable[str] | None = IDENTIFYING_EVENTS, ts_col: str = "ts",
                  anonymous_col: str = "anonymous_id", event_type_col: str = "event_type",
                  customer_col: str = "customer_id", person_col: str = "person_id"):
    """The events up to ``as_of`` with ``person_id``: from ``person_col`` when the events
    already carry one (stitched upstream), else stitched here (:func:`stitch`).

    Examples
    --------
    >>> ev = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "2024-01-02"]),
    ...                    "anonymous_id": ["a1", "a1"], "event_type": ["login", "page_view"],
    ...                    "customer_id": ["c1", None]})
    >>> person_events(ev).person_id.tolist()
    ['c1', 'c1']
    """
    t, eager = lazy(_numbered(events))
    cols = {**_cols(ts_col, anonymous_col, event_type_col, customer_col),
            "person_col": person_col}
    return finish(_in_order(_person_events(t, as_of, identifying, cols), eager), eager)


def links(events, *, as_of=None, identifying: Iterable[str] | None = IDENTIFYING_EVENTS,
          ts_col: str = "ts", anonymous_col: str = "anonymous_id",
          event_type_col: str = "event_type", customer_col: str = "customer_id"):
    """The anonymous id → customer links: one row per linked pair.

    Parameters are those of :func:`stitch`.

    Returns
    -------
    Same kind as the input: ``anonymous_id, customer_id, first_linked_at, n_events,
    n_stitched, shared``. ``n_events`` counts the anonymous id's events attributed to the
    customer, ``n_stitched`` those of them that came without a customer id (attributed by the
    link); ``shared`` marks an anonymous id linked to two or more customers (its anonymous
    events are then attributed to nobody: ``n_stitched`` is 0). Sorted by anonymous id and
    customer.

    Examples
    --------
    >>> ev = pd.DataFrame({
    ...     "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]),
    ...     "anonymous_id": ["a1", "a1", "a2", "a2"],
    ...     "event_type": ["page_view", "login", "login", "login"],
    ...     "customer_id": [None, "c1", "c2", "c3"]})
    >>> links(ev)[["anonymous_id", "customer_id", "n_events", "n_stitched", "shared"]]
      anonymous_id customer_id  n_events  n_stitched  shared
    0           a1          c1         2           1   False
    1           a2          c2         1           0    True
    2           a2          c3         1           0    True
    """
    t, eager = lazy(events)
    cols = _cols(ts_col, anonymous_col, event_type_col, customer_col)
    s = _stitch(t, as_of, identifying, cols)
    counts = s.group_by(_a=s[anonymous_col].cast("string"), _p=s.person_id).aggregate(
        n_events=s.count(), n_stitched=s.stitched.sum())
    pairs = _link_pairs(_stitch_input(t, as_of, identifying, cols), identifying, cols)
    out = pairs.left_join(counts, (pairs.anonymous_id == counts._a)
                          & (pairs.customer_id == counts._p))
    out = out.select("anonymous_id", "customer_id", "first_linked_at",
                     n_events=out.n_events.coalesce(0), n_stitched=out.n_stitched.coalesce(0),
                     shared=out.shared)
    return finish(out.order_by(["anonymous_id", "customer_id"]), eager)


def shared_devices(events, *, as_of=None,
                   identifying: Iterable[str] | None = IDENTIFYING_EVENTS, ts_col: str = "ts",
                   anonymous_col: str = "anonymous_id", event_type_col: str = "event_type",
                   customer_col: str = "customer_id"):
    """Anonymous ids linked to two or more customers: ``anonymous_id, customer_id,
    first_linked_at``, one row per customer seen on the device.

    Parameters are those of :func:`stitch`; the result is the same kind as the input.

    Examples
    --------
    >>> ev = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
    ...                    "anonymous_id": ["a1", "a1", "a2"], "event_type": "login",
    ...                    "customer_id": ["c1", "c2", "c3"]})
    >>> shared_devices(ev)[["anonymous_id", "customer_id"]]
      anonymous_id customer_id
    0           a1          c1
    1           a1          c2
    """
    t, eager = lazy(events)
    cols = _cols(ts_col, anonymous_col, event_type_col, customer_col)
    pairs = _link_pairs(_stitch_input(t, as_of, identifying, cols), identifying, cols)
    out = pairs.filter(pairs.shared).drop("shared")
    return finish(out.order_by(["anonymous_id", "customer_id"]), eager)


def _sessions(t: ir.Table, *, ts_col: str, anonymous_col: str, session_col: str,
              gap_minutes: float) -> ir.Table:
    """``t`` with ``session_col`` filled: derived by the gap rule where missing or null."""
    anon = t[anonymous_col].cast("string")
    w = ibis.window(group_by=anon, order_by=[t[ts_col]])
    gap = ibis.interval(seconds=int(round(gap_minutes * 60)))
    prev = t[ts_col].lag().over(w)
    starts = (prev.isnull() | (t[ts_col] - prev > gap)).cast("int64")
    t = t.mutate(_new=starts)
    number = t._new.sum().over(ibis.window(group_by=t[anonymous_col].cast("string"),
                                           order_by=[t[ts_col]], preceding=None, following=0))
    derived = t[anonymous_col].cast("string").concat("#", number.cast("string"))
    own = t[session_col].cast("string") if session_col in t.columns else ibis.null("string")
    return t.mutate(**{session_col: own.coalesce(derived)}).drop("_new")


def sessionize(events, *, gap_minutes: float = 30, ts_col: str = "ts",
               anonymous_col: str = "anonymous_id", session_col: str = "session_id"):
    """Fill ``session_id`` where it is missing: a new session per anonymous id after every
    gap of more than ``gap_minutes`` without an event.

    Existing session ids are kept; the column is added when absent.

    Examples
    --------
    >>> ev = pd.DataFrame({"anonymous_id": ["a", "a", "a", "b"],
    ...                    "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 10:20",
    ...                                          "2024-01-01 11:00", "2024-01-01 10:00"])})
    >>> sessionize(ev).session_id.tolist()
    ['a#1', 'a#1', 'a#2', 'b#1']
    """
    t, eager = lazy(_numbered(events))
    require(t, "events", [ts_col, anonymous_col])
    out = _sessions(t, ts_col=ts_col, anonymous_col=anonymous_col, session_col=session_col,
                    gap_minutes=gap_minutes)
    return finish(_in_order(out, eager), eager)


def _visits(s: ir.Table, *, ts_col: str, anonymous_col: str, session_col: str,
            gap_minutes: float) -> ir.Table:
    """One row per person and session of stitched events, numbered per person."""
    s = _sessions(s, ts_col=ts_col, anonymous_col=anonymous_col, session_col=session_col,
                  gap_minutes=gap_minutes)
    v = s.group_by(person_id=s.person_id, session_id=s[session_col]).aggregate(
        started_at=s[ts_col].min(), n_events=s.count())
    order = ibis.window(group_by=v.person_id, order_by=[v.started_at, v.session_id])
    v = v.mutate(visit_number=ibis.row_number().over(order) + 1)
    return v.mutate(returning=v.visit_number > 1)


def visits(events, *, as_of=None, gap_minutes: float = 30,
           identifying: Iterable[str] | None = IDENTIFYING_EVENTS, ts_col: str = "ts",
           anonymous_col: str = "anonymous_id", event_type_col: str = "event_type",
           customer_col: str = "customer_id", session_col: str = "session_id",
           person_col: str = "person_id"):
    """Every visit (session) of every person, numbered: the 2nd and 3rd visit are visible.

    Parameters
    ----------
    events : pandas.DataFrame or ibis.Table
        Raw events (stitched here with :func:`stitch` up to ``as_of``), or events already
        stitched (they have ``person_col``; then only filtered to ``as_of``). Columns ``ts``,
        ``anonymous_id``, ``event_type``, ``customer_id``, optional ``session_id``.
    as_of : timestamp-like, optional
        Use only the events up to it (a date means its whole day).
    gap_minutes : float
        Inactivity that ends a derived session (rows without a session id).

    Returns
    -------
    Same kind as the input: ``person_id, session_id, started_at, n_events, visit_number,
    returning`` (``visit_number > 1``), sorted by person and visit.

    Examples
    --------
    >>> ev = pd.DataFrame({
    ...     "ts": pd.to_datetime(["2024-01-01 09:00", "2024-01-05 09:00", "2024-01-05 09:10"]),
    ...     "anonymous_id": "a1", "event_type": ["page_view", "page_view", "login"],
    ...     "customer_id": [None, None, "c1"], "session_id": ["s1", "s2", "s2"]})
    >>> visits(ev)[["person_id", "session_id", "visit_number", "returning"]]
      person_id session_id  visit_number  returning
    0        c1         s1             1      False
    1        c1         s2             2       True
    """
    t, eager = lazy(events)
    cols = {**_cols(ts_col, anonymous_col, event_type_col, customer_col),
            "person_col": person_col}
    s = _person_events(t, as_of, identifying, cols)
    v = _visits(s, ts_col=ts_col, anonymous_col=anonymous_col, session_col=session_col,
                gap_minutes=gap_minutes)
    return finish(v.order_by(["person_id", "visit_number"]), eager)


def returning_visitors(events, *, as_of=None, gap_minutes: float = 30,
                       identifying: Iterable[str] | None = IDENTIFYING_EVENTS,
                       ts_col: str = "ts", anonymous_col: str = "anonymous_id",
                       event_type_col: str = "event_type", customer_col: str = "customer_id",
                       session_col: str = "session_id", person_col: str = "person_id"):
    """Per person: how many visits, and when the first, second, third and last began.

    Parameters are those of :func:`visits`.

    Returns
    -------
    Same kind as the input: ``person_id, visits, first_visit_at, second_visit_at,
    third_visit_at, last_visit_at`` (null where a person has fewer visits), sorted by person.

    Examples
    --------
    >>> ev = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-09"]),
    ...                    "anonymous_id": ["a1", "a1", "a2"], "event_type": "page_view",
    ...                    "customer_id": None, "session_id": ["s1", "s2", "s3"]})
    >>> returning_visitors(ev)[["person_id", "visits", "second_visit_at"]]
      person_id  visits second_visit_at
    0        a1       2      2024-01-05
    1        a2       1             NaT
    """
    t, eager = lazy(events)
    cols = {**_cols(ts_col, anonymous_col, event_type_col, customer_col),
            "person_col": person_col}
    v = _visits(_person_events(t, as_of, identifying, cols), ts_col=ts_col,
                anonymous_col=anonymous_col, session_col=session_col, gap_minutes=gap_minutes)

    def nth(k):
        return v.started_at.min(where=v.visit_number == k)

    out = v.group_by("person_id").aggregate(
        visits=v.count(), first_visit_at=nth(1), second_visit_at=nth(2),
        third_visit_at=nth(3), last_visit_at=v.started_at.max())
    return finish(out.order_by("person_id"), eager)


def visit_distribution(per_person: pd.DataFrame, *, max_visits: int = 5) -> pd.DataFrame:
    """People by number of visits (1, 2, ..., ``max_visits`` or more) and their share.

    ``per_person`` is :func:`returning_visitors` output (a ``visits`` column).

    Examples
    --------
    >>> visit_distribution(pd.DataFrame({"visits": [1, 1, 2, 7]}), max_visits=3)
      visits  people  share
    0      1       2   0.50
    1      2       1   0.25
    2     3+       1   0.25
    """
    top = f"{max_visits}+"
    labels = [str(k) for k in range(1, max_visits)] + [top]
    n = per_person["visits"].clip(upper=max_visits)
    bucket = n.astype(int).astype(str).where(n < max_visits, top)
    counts = bucket.value_counts().reindex(labels, fill_value=0)
    return pd.DataFrame({"visits": labels, "people": counts.to_numpy(),
                         "share": counts.to_numpy() / max(len(per_person), 1)})
