"""See / Think / Do / Care: audiences by intent, from behaviour and purchases.

**People.** Events are stitched to people first (:func:`lifecycle.identity.stitch`, up to
``as_of``): a person is a customer id, or the anonymous id of a visitor we do not know yet.

**Reach.** The See audience is everyone we can reach: every person seen in the events up to
``as_of`` (customers and anonymous visitors, the whole history, not only the window) and every
customer with a transaction up to ``as_of``. Each of them gets exactly one stage.

**Rules are data.** :func:`default_rules` returns a frame an analyst can read and edit; a list
of dicts with the same keys works too. One row per rule:

``precedence``
    A number, unique; where a person matches several rules, the lowest precedence wins
    The defaults step by 10, so 45 slots a rule between 40 and 50.
``stage``
    The stage the rule assigns (``see``, ``think``, ``do``, ``care``, or a name of your own).
``rule``
    The rule's name (unique); the output says which rule decided each person's stage.
``measure``
    What is counted per person: ``"events"`` (events in the window), ``"visits"`` (distinct
    sessions in the window, see :mod:`lifecycle.identity` for sessions), ``"purchase_days"``
    (purchase days as :mod:`lifecycle.purchases` defines them, up to ``as_of``, the whole
    history) or ``"reach"`` (matches everyone: the catch-all rule every rule set must have).
``event_types``
    The event types counted (a tuple, or a comma-separated string); empty counts every type.
``conditions``
    Extra conditions on event columns, ``{column: allowed values}``; ``"*"`` allows any
    non-null value (``{"category": "*"}``: a search within a category). Empty: none.
``min_count``
    The rule matches when the count is at least this.

The window is ``window_days`` days up to ``as_of``; a date ``as_of`` means its whole day.
The default rules: Care (two or more purchase days) before Do (cart, checkout,
price or store look-ups, category-scoped search) before Think (product or category browsing,
content, newsletter signup, a visit from a newsletter click, two or more visits) before See.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from lifecycle._frames import finish, lazy, require
from lifecycle.identity import IDENTIFYING_EVENTS, person_events, sessionize, stitch
from lifecycle.purchases import customer_purchases
from lifecycle.schema import end_of

__all__ = [
    "MEASURES",
    "STAGES",
    "audience_frame",
    "check_rules",
    "default_rules",
    "purchase_rates",
    "rule_counts",
    "stage_sizes",
    "stage_transitions",
    "stages",
    "transition_matrix",
]

#: The stages in funnel order.
STAGES = ("see", "think", "do", "care")
#: What a rule can count per person.
MEASURES = ("events", "visits", "purchase_days", "reach")
#: The start stage of people not yet reachable at the first date of a transition.
NOT_REACHED = "(not reached)"

_RULE_COLUMNS = ["precedence", "stage", "rule", "measure", "event_types", "conditions", "min_count"]


def default_rules() -> pd.DataFrame:
    """The default See / Think / Do / Care rules (a new frame on every call: edit freely).

    Examples
    --------
    >>> default_rules()[["precedence", "stage", "rule"]].head(3)
       precedence stage                    rule
    0          10  care            repeat buyer
    1          20    do        cart or checkout
    2          30    do  price or store look-up
    """
    rows = [
        (10, "care", "repeat buyer", "purchase_days", (), None, 2),
        (20, "do", "cart or checkout", "events", ("add_to_cart", "checkout"), None, 1),
        (30, "do", "price or store look-up", "events", ("price_check", "store_locator"), None, 1),
        (40, "do", "high-intent search", "events", ("search",), {"category": "*"}, 1),
        (50, "think", "product or category browsing", "events",
         ("product_view", "category_view"), None, 1),
        (60, "think", "content or newsletter signup", "events",
         ("content_read", "newsletter_signup"), None, 1),
        (70, "think", "newsletter click", "events", (), {"medium": ("email",)}, 1),
        (80, "think", "repeat visits", "visits", (), None, 2),
        (90, "see", "reached", "reach", (), None, 0),
    ]
    return pd.DataFrame(rows, columns=_RULE_COLUMNS)


def _types(value) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _conditions(value) -> dict:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"a rule's 'conditions' must be a mapping {{column: values}}, "
                         f"got {value!r}")
    return {str(k): "*" if isinstance(v, str) and v == "*"
            else _types([v] if isinstance(v, str) else v) for k, v in value.items()}


def check_rules(rules=None) -> pd.DataFrame:
    """Validate a rule set and return it normalised and sorted by precedence.

    Parameters
    ----------
    rules : pandas.DataFrame, list of dict or None
        Columns (keys) ``precedence, stage, rule, measure`` and optionally ``event_types``,
        ``conditions``, ``min_count`` (default 1); None gives :func:`default_rules`.

    Examples
    --------
    >>> check_rules([{"precedence": 1, "stage": "see", "rule": "all", "measure": "reach"}])
       precedence stage rule measure event_types conditions  min_count
    0           1   see  all   reach          ()    {}          1
    >>> check_rules(default_rules().query("measure != 'reach'"))
    Traceback (most recent call last):
    ...
    ValueError: a rule set needs a catch-all rule (measure 'reach'), or some people get no stage
    """
    frame = default_rules() if rules is None else pd.DataFrame(rules)
    missing = [c for c in ("precedence", "stage", "rule", "measure") if c not in frame.columns]
    if missing:
        raise ValueError(f"rules lack columns {missing}")
    frame = frame.assign(
        event_types=[_types(v) for v in frame.get("event_types", [None] * len(frame))],
        conditions=[_conditions(v) for v in frame.get("conditions", [None] * len(frame))],
        min_count=pd.Series(frame.get("min_count", 1), index=frame.index).fillna(1)
        .astype("int64"),
        precedence=pd.to_numeric(frame.precedence), stage=frame.stage.astype(str),
        rule=frame.rule.astype(str))[_RULE_COLUMNS]
    _check_values(frame)
    return frame.sort_values("precedence", ignore_index=True)


def _check_values(frame: pd.DataFrame) -> None:
    unknown = sorted(set(frame.measure) - set(MEASURES))
    if unknown:
        raise ValueError(f"unknown measure {unknown}; use one of {list(MEASURES)}")
    for col in ("precedence", "rule"):
        twice = frame[col][frame[col].duplicated()].tolist()
        if twice:
            raise ValueError(f"rules repeat {col} {twice}: each rule needs its own")
    if (frame.min_count < 0).any():
        raise ValueError("min_count must not be negative")
    if not (frame.measure == "reach").any():
        raise ValueError("a rule set needs a catch-all rule (measure 'reach'), or some people "
                         "get no stage")


def _stage_order(names: Iterable[str]) -> list[str]:
    """Stages in funnel order: the known ones first, others in the order given."""
    names = list(dict.fromkeys(names))
    return [s for s in STAGES if s in names] + [s for s in names if s not in STAGES]


def _condition(s: ir.Table, rule, event_type_col: str) -> ir.BooleanValue:
    cond = ibis.literal(True)
    if rule.event_types:
        cond = cond & s[event_type_col].cast("string").isin(list(rule.event_types))
    for col, allowed in rule.conditions.items():
        cond = cond & (s[col].notnull() if allowed == "*"
                       else s[col].cast("string").isin(list(allowed)))
    return cond


def _event_counts(s: ir.Table, rules: pd.DataFrame, start, cols: dict) -> ir.Table:
    """Per person: whether a customer, and each event / visit rule's count in the window.

    Only the window's events are counted, and sessions are derived on them alone: the
    events of one anonymous id in the window are a run of consecutive events, so the gap rule
    splits them as it would in the whole history, and each rule counts the same distinct
    sessions. Deriving sessions sorts its input, so this keeps that sort to the window.
    """
    own = s[cols["customer_col"]].cast("string") == s.person_id
    people = s.group_by("person_id").aggregate(_customer=own.coalesce(False).any())
    counted = rules[rules.measure.isin(["events", "visits"])]
    if counted.empty:
        return people
    w = s.filter(s[cols["ts_col"]] >= start)
    if (counted.measure == "visits").any():
        w = sessionize(w, ts_col=cols["ts_col"], anonymous_col=cols["anonymous_col"],
                       session_col=cols["session_col"], gap_minutes=cols["gap_minutes"])
    counts = {}
    for i, rule in counted.iterrows():
        cond = _condition(w, rule, cols["event_type_col"])
        counts[f"_r{i}"] = (w.count(where=cond) if rule.measure == "events"
                            else w[cols["session_col"]].nunique(where=cond))
    per = w.group_by(_p=w.person_id).aggregate(**counts)
    j = people.left_join(per, people.person_id == per._p)
    return j.drop("_p")


def _purchase_days(tx: ir.Table, as_of, cols: dict) -> ir.Table:
    """Per customer with a transaction as of ``as_of``: their purchase days."""
    ts, amount = cols["ts_col"], cols["amount_col"]
    tx = tx.mutate(**{ts: tx[ts].cast("timestamp"),  # typed even when a frame is empty
                      amount: tx[amount].cast("float64")})
    per = customer_purchases(tx, end=as_of, customer_col=cols["customer_col"],
                             ts_col=cols["ts_col"], amount_col=cols["amount_col"])
    return per.select(_c=per.customer_id.cast("string"), _purchase_days=per.purchase_days)


def _stages(s: ir.Table, tx: ir.Table, *, as_of, window_days: float, rules: pd.DataFrame,
            cols: dict) -> ir.Table:
    """The stage expression on stitched events ``s`` (with ``person_id``)."""
    end = end_of(pd.Timestamp(as_of))
    s = s.filter(s[cols["ts_col"]] < end)
    ev = _event_counts(s, rules, end - pd.Timedelta(days=window_days), cols)
    pdays = _purchase_days(tx, as_of, cols)
    p = ev.outer_join(pdays, ev.person_id == pdays._c)
    person = p.person_id.coalesce(p._c)
    is_customer = p._customer.coalesce(False) | p._c.notnull()

    def matches(i, rule):
        if rule.measure == "reach":
            return ibis.literal(True)
        name = "_purchase_days" if rule.measure == "purchase_days" else f"_r{i}"
        return p[name].coalesce(0) >= int(rule.min_count)

    hits = [(matches(i, r), r) for i, r in rules.iterrows()]
    return p.select(
        person_id=person, customer_id=ibis.ifelse(is_customer, person, ibis.null("string")),
        stage=ibis.cases(*[(m, r.stage) for m, r in hits]),
        rule=ibis.cases(*[(m, r.rule) for m, r in hits]),
    ).order_by("person_id")


def _identity_cols(cols: dict) -> dict:
    """The column names :mod:`lifecycle.identity` takes."""
    return {k: cols[k] for k in ("ts_col", "anonymous_col", "event_type_col", "customer_col")}


def _prepare(events, transactions, rules, cols: dict):
    """Lazy tables, the checked rules and the columns they need."""
    t, eager = lazy(events)
    tx, _ = lazy(transactions)
    rules = check_rules(rules)
    needed = [cols["ts_col"], cols["anonymous_col"], cols["customer_col"]]
    if any(len(r) for r in rules.event_types):
        needed.append(cols["event_type_col"])
    needed += sorted({c for w in rules.conditions for c in w})
    require(t, "events", needed)
    require(tx, "transactions", [cols["customer_col"], cols["ts_col"], cols["amount_col"]])
    return t, tx, rules, eager


def stages(events, transactions, *, as_of, window_days: float = 30, rules=None,
           identifying: Iterable[str] | None = IDENTIFYING_EVENTS, gap_minutes: float = 30,
           ts_col: str = "ts", anonymous_col: str = "anonymous_id",
           event_type_col: str = "event_type", customer_col: str = "customer_id",
           session_col: str = "session_id", amount_col: str = "amount",
           person_col: str = "person_id"):
    """One row per person we can reach: the stage and the rule that decided it.

    Parameters
    ----------
    events : pandas.DataFrame or ibis.Table
        The canonical ``events`` table (:mod:`lifecycle.schema`): ``ts``, ``anonymous_id``,
        ``customer_id``, ``event_type`` and the columns the rules' ``conditions`` name (the
        defaults: ``category``, ``medium``); optional ``session_id``. Stitched here up to
        ``as_of``, unless they already have ``person_col`` (then stitch them up to ``as_of``
        yourself: later links would leak the future).
    transactions : pandas.DataFrame or ibis.Table
        ``customer_id``, ``ts``, ``amount`` (the same ``ts_col`` and ``customer_col`` names).
    as_of : timestamp-like
        The date the stages are for; nothing after it is used (a date means its whole day).
    window_days : float
        Look-back window of the event and visit rules.
    rules : pandas.DataFrame, list of dict or None
        The rule set (module docstring); None uses :func:`default_rules`.
    identifying, gap_minutes
        Passed to :func:`lifecycle.identity.stitch` and to session derivation.
    ts_col, anonymous_col, event_type_col, customer_col, session_col, amount_col, person_col
        Column names.

    Returns
    -------
    Same kind as ``events``: ``person_id, customer_id`` (null for an anonymous visitor),
    ``stage, rule``, sorted by person.

    Examples
    --------
    >>> ev = pd.DataFrame({
    ...     "ts": pd.to_datetime(["2024-01-20", "2024-01-21", "2024-01-25", "2023-06-01"]),
    ...     "anonymous_id": ["a1", "a1", "a2", "a3"],
    ...     "event_type": ["product_view", "login", "add_to_cart", "page_view"],
    ...     "customer_id": [None, "c1", None, None], "category": None, "medium": None})
    >>> tx = pd.DataFrame({"customer_id": ["c2", "c2"], "amount": [10.0, 20.0],
    ...                    "ts": pd.to_datetime(["2023-05-01", "2023-09-01"])})
    >>> stages(ev, tx, as_of="2024-01-31")
      person_id customer_id  stage                          rule
    0        a2         NaN     do              cart or checkout
    1        a3         NaN    see                       reached
    2        c1          c1  think  product or category browsing
    3        c2          c2   care                  repeat buyer
    """
    cols = dict(ts_col=ts_col, anonymous_col=anonymous_col, event_type_col=event_type_col,
                customer_col=customer_col, session_col=session_col, amount_col=amount_col,
                person_col=person_col, gap_minutes=gap_minutes)
    t, tx, rules, eager = _prepare(events, transactions, rules, cols)
    s = person_events(t, as_of=as_of, identifying=identifying, **_identity_cols(cols),
                      person_col=cols["person_col"])
    return finish(_stages(s, tx, as_of=as_of, window_days=window_days, rules=rules, cols=cols),
                  eager)


def stage_sizes(events, transactions, *, dates: Sequence, window_days: float = 30,
                rules=None, identifying: Iterable[str] | None = IDENTIFYING_EVENTS,
                gap_minutes: float = 30, ts_col: str = "ts", anonymous_col: str = "anonymous_id",
                event_type_col: str = "event_type", customer_col: str = "customer_id",
                session_col: str = "session_id", amount_col: str = "amount"):
    """People per stage at each of ``dates`` (each date stitched and staged as of itself).

    Parameters are those of :func:`stages`, with ``dates`` (timestamp-likes) for ``as_of``.

    Returns
    -------
    Same kind as ``events``: ``as_of, stage, people``, sorted by date and funnel order
    (a stage nobody is in at a date has no row).

    Examples
    --------
    >>> ev = pd.DataFrame({"ts": pd.to_datetime(["2024-01-05", "2024-02-10"]),
    ...                    "anonymous_id": ["a1", "a2"], "event_type": "add_to_cart",
    ...                    "customer_id": None, "category": None, "medium": None})
    >>> tx = pd.DataFrame({"customer_id": ["c1"], "amount": [5.0],
    ...                    "ts": pd.to_datetime(["2023-12-01"])})
    >>> stage_sizes(ev, tx, dates=["2024-01-31", "2024-02-29"])
          as_of stage  people
    0 2024-01-31   see       1
    1 2024-01-31    do       1
    2 2024-02-29   see       2
    3 2024-02-29    do       1
    """
    cols = dict(ts_col=ts_col, anonymous_col=anonymous_col, event_type_col=event_type_col,
                customer_col=customer_col, session_col=session_col, amount_col=amount_col,
                person_col="person_id", gap_minutes=gap_minutes)
    t, tx, rules, eager = _prepare(events, transactions, rules, cols)
    order = _stage_order(rules.stage)
    parts = []
    for when in dates:
        s = stitch(t, as_of=when, identifying=identifying, **_identity_cols(cols))
        st = _stages(s, tx, as_of=when, window_days=window_days, rules=rules, cols=cols)
        parts.append(st.group_by("stage").aggregate(people=st.count())
                     .mutate(as_of=ibis.literal(pd.Timestamp(when))))
    out = ibis.union(*parts)
    out = out.mutate(_rank=ibis.cases(*[(out.stage == s, i) for i, s in enumerate(order)]))
    return finish(out.order_by(["as_of", "_rank"]).select("as_of", "stage", "people"), eager)


def stage_transitions(events, transactions, *, start, end, window_days: float = 30,
                      rules=None, identifying: Iterable[str] | None = IDENTIFYING_EVENTS,
                      gap_minutes: float = 30, ts_col: str = "ts",
                      anonymous_col: str = "anonymous_id", event_type_col: str = "event_type",
                      customer_col: str = "customer_id", session_col: str = "session_id",
                      amount_col: str = "amount"):
    """Each person's stage at ``start`` and at ``end``.

    People are identified once, as of ``end`` (so a visitor who logged in between the dates
    is the same person at both), and staged from the events up to each date. Other
    parameters are those of :func:`stages`.

    Returns
    -------
    Same kind as ``events``: ``person_id, customer_id, stage_start, stage_end``;
    ``stage_start`` is ``"(not reached)"`` for people first seen after ``start``.

    Examples
    --------
    >>> ev = pd.DataFrame({"ts": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-02-12"]),
    ...                    "anonymous_id": ["a1", "a1", "a2"],
    ...                    "event_type": ["page_view", "add_to_cart", "page_view"],
    ...                    "customer_id": None, "category": None, "medium": None})
    >>> tx = pd.DataFrame({"customer_id": ["c1"], "amount": [5.0],
    ...                    "ts": pd.to_datetime(["2023-12-01"])})
    >>> stage_transitions(ev, tx, start="2024-01-31", end="2024-02-29")
      person_id customer_id    stage_start stage_end
    0        a1         NaN            see        do
    1        a2         NaN  (not reached)       see
    2        c1          c1            see       see
    """
    cols = dict(ts_col=ts_col, anonymous_col=anonymous_col, event_type_col=event_type_col,
                customer_col=customer_col, session_col=session_col, amount_col=amount_col,
                person_col="person_id", gap_minutes=gap_minutes)
    t, tx, rules, eager = _prepare(events, transactions, rules, cols)
    s = stitch(t, as_of=end, identifying=identifying, **_identity_cols(cols))
    a = _stages(s, tx, as_of=start, window_days=window_days, rules=rules, cols=cols)
    b = _stages(s, tx, as_of=end, window_days=window_days, rules=rules, cols=cols)
    prev = a.select(_p=a.person_id, _stage=a.stage)
    j = b.left_join(prev, b.person_id == prev._p)
    out = j.select("person_id", "customer_id",
                   stage_start=j._stage.coalesce(NOT_REACHED), stage_end=j.stage)
    return finish(out.order_by("person_id"), eager)


def rule_counts(staged, rules=None) -> pd.DataFrame:
    """People per rule, in precedence order, with the rules that decided nobody's stage.

    ``staged`` is :func:`stages` output made with the same ``rules``.

    Examples
    --------
    >>> st = pd.DataFrame({"stage": ["see", "do", "see"],
    ...                    "rule": ["reached", "cart or checkout", "reached"]})
    >>> rule_counts(st).iloc[[1, 3, 8]]
       precedence  stage                rule  people  share
    1          20     do    cart or checkout       1   0.333
    3          40     do  high-intent search       0   0.000
    8          90    see             reached       2   0.667
    """
    st, _ = lazy(staged)
    counts = st.group_by("rule").aggregate(people=st.count()).execute()
    out = check_rules(rules)[["precedence", "stage", "rule"]].merge(counts, on="rule", how="left")
    out["people"] = out.people.fillna(0).astype("int64")
    return out.assign(share=(out.people / max(out.people.sum(), 1)).round(3))


def transition_matrix(moves: pd.DataFrame, *, normalize: bool = False) -> pd.DataFrame:
    """People moving from ``stage_start`` (rows) to ``stage_end`` (columns), in funnel order.

    ``normalize=True`` gives row shares. Feed it to :func:`lifecycle.plots.transition_figure`.

    Examples
    --------
    >>> m = pd.DataFrame({"stage_start": ["see", "see", "(not reached)"],
    ...                   "stage_end": ["do", "see", "see"]})
    >>> transition_matrix(m)
    stage_end      see  do
    stage_start
    (not reached)    1   0
    see              1   1
    """
    out = pd.crosstab(moves.stage_start, moves.stage_end,
                      normalize="index" if normalize else False)
    rows = [NOT_REACHED] * (NOT_REACHED in out.index) + _stage_order(
        s for s in out.index if s != NOT_REACHED)
    return out.reindex(index=rows, columns=_stage_order(out.columns))


def purchase_rates(staged, transactions, *, as_of, days: float = 7,
                   customer_col: str = "customer_id", ts_col: str = "ts",
                   amount_col: str = "amount") -> pd.DataFrame:
    """Share of each stage's people who buy within ``days`` days after ``as_of``.

    The check that stages mean intent: with the stages computed at ``as_of`` and the
    purchases observed after it, the rate should rise from See to Think to Do. A purchase is
    a transaction with a positive amount in ``[end of as_of, end of as_of + days)``.

    Examples
    --------
    >>> st = pd.DataFrame({"person_id": ["a", "b", "c"], "customer_id": [None, "b", "c"],
    ...                    "stage": ["see", "do", "do"], "rule": "r"})
    >>> tx = pd.DataFrame({"customer_id": ["b"], "amount": [9.0],
    ...                    "ts": pd.to_datetime(["2024-02-03"])})
    >>> purchase_rates(st, tx, as_of="2024-01-31")
      stage  people  buyers  rate
    0   see       1       0   0.0
    1    do       2       1   0.5
    """
    st, _ = lazy(staged)
    tx, _ = lazy(transactions)
    require(tx, "transactions", [customer_col, ts_col, amount_col])
    end = end_of(pd.Timestamp(as_of))
    tx = tx.filter((tx[ts_col] >= end) & (tx[ts_col] < end + pd.Timedelta(days=days))
                   & (tx[amount_col] > 0))
    buyers = tx.select(_b=tx[customer_col].cast("string")).distinct()
    j = st.left_join(buyers, st.customer_id == buyers._b)
    out = j.group_by("stage").aggregate(people=j.count(), buyers=j._b.notnull().sum()).execute()
    out = out.set_index("stage").reindex(_stage_order(out.stage)).reset_index()
    return out.assign(rate=out.buyers / out.people)


def audience_frame(staged, customers, *, stage: str | Sequence[str] | None = None,
                   customer_col: str = "customer_id", email_col: str = "email"):
    """An export-ready audience: ``person_id, customer_id, email, stage, rule``.

    ``email`` comes from ``customers`` where the person is a known customer (null otherwise).
    ``stage`` keeps one stage or several. No consent filter is applied here.

    Examples
    --------
    >>> st = pd.DataFrame({"person_id": ["a1", "c1"], "customer_id": [None, "c1"],
    ...                    "stage": ["do", "do"], "rule": "cart or checkout"})
    >>> cu = pd.DataFrame({"customer_id": ["c1"], "email": ["c1@example.com"]})
    >>> audience_frame(st, cu, stage="do")[["person_id", "email", "stage"]]
      person_id           email stage
    0        a1             NaN    do
    1        c1  c1@example.com    do
    """
    st, eager = lazy(staged)
    cu, _ = lazy(customers)
    require(cu, "customers", [customer_col, email_col])
    if stage is not None:
        st = st.filter(st.stage.isin([stage] if isinstance(stage, str) else list(stage)))
    cu = cu.select(_c=cu[customer_col].cast("string"), _email=cu[email_col])
    j = st.left_join(cu, st.customer_id == cu._c)
    out = j.select("person_id", "customer_id", email=j._email, stage=j.stage, rule=j.rule)
    return finish(out.order_by("person_id"), eager)
