"""lifecycle.audiences: See / Think / Do / Care stages, sizes, transitions, exports."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle import DataError, synthetic
from lifecycle.audiences import (
    NOT_REACHED,
    audience_frame,
    check_rules,
    default_rules,
    purchase_rates,
    stage_sizes,
    stage_transitions,
    stages,
    transition_matrix,
)
from lifecycle.identity import sessionize, stitch

AS_OF = "2024-01-31"  # a date: its whole day; the 30-day window starts 2024-01-02 00:00


def events(rows):
    """Events from (ts, anonymous_id, event_type, customer_id, session_id, category, medium)."""
    cols = ["ts", "anonymous_id", "event_type", "customer_id", "session_id", "category", "medium"]
    return pd.DataFrame(rows, columns=cols).assign(ts=lambda d: pd.to_datetime(d.ts, format="ISO8601"))


def tx(rows):
    return pd.DataFrame(rows, columns=["customer_id", "ts", "amount"]).assign(
        ts=lambda d: pd.to_datetime(d.ts, format="ISO8601"))


EV = events([
    ("2024-01-20", "a_see", "page_view", None, "s1", None, "organic"),
    ("2023-11-01", "a_old", "add_to_cart", None, "s2", "tv", "organic"),  # before the window
    ("2024-01-20", "a_cart", "add_to_cart", None, "s3", "tv", "cpc"),
    ("2024-01-25", "a_price", "price_check", None, "s4", "tv", "cpc"),
    ("2024-01-25", "a_search", "search", None, "s5", "phones", "organic"),
    ("2024-01-25", "a_query", "search", None, "s6", None, "organic"),  # search, no category
    ("2024-01-02", "a_browse", "category_view", None, "s7", "audio", "organic"),
    ("2024-01-10", "a_read", "content_read", None, "s8", "audio", "organic"),
    ("2024-01-11", "a_mail", "page_view", None, "s9", None, "email"),
    ("2024-01-12", "a_back", "page_view", None, "s10", None, "organic"),
    ("2024-01-19", "a_back", "page_view", None, "s11", None, "organic"),
    ("2024-01-10", "a_late", "page_view", None, "s12", None, "organic"),
    ("2024-02-01", "a_late", "add_to_cart", None, "s13", "tv", "organic"),  # after as_of
    ("2024-01-15 10:00", "a_c1", "product_view", None, "s14", "tv", "organic"),
    ("2024-01-15 10:05", "a_c1", "login", "c1", "s14", None, "organic"),
    ("2024-01-28 10:00", "a_care", "login", "c_care", "s15", None, "organic"),
    ("2024-01-28 10:01", "a_care", "add_to_cart", "c_care", "s15", "tv", "organic"),
])
TX = tx([
    ("c_care", "2023-06-01", 100.0), ("c_care", "2023-09-01", 50.0),
    ("c_once", "2023-06-01 09:00", 10.0), ("c_once", "2023-06-01 18:00", 20.0),  # one day
    ("c_ret", "2023-06-01", 10.0), ("c_ret", "2023-07-01", 10.0), ("c_ret", "2023-07-01", -10.0),
    ("c_fut", "2023-12-01", 10.0), ("c_fut", "2024-02-05", 10.0),  # the 2nd after as_of
])
EXPECTED = {  # person: (customer_id, stage, rule)
    "a_back": (None, "think", "repeat visits"),
    "a_browse": (None, "think", "product or category browsing"),
    "a_cart": (None, "do", "cart or checkout"),
    "a_late": (None, "see", "reached"),
    "a_mail": (None, "think", "newsletter click"),
    "a_old": (None, "see", "reached"),
    "a_price": (None, "do", "price or store look-up"),
    "a_query": (None, "see", "reached"),
    "a_read": (None, "think", "content or newsletter signup"),
    "a_search": (None, "do", "high-intent search"),
    "a_see": (None, "see", "reached"),
    "c1": ("c1", "think", "product or category browsing"),  # stitched anonymous view
    "c_care": ("c_care", "care", "repeat buyer"),  # care before do
    "c_fut": ("c_fut", "see", "reached"),
    "c_once": ("c_once", "see", "reached"),
    "c_ret": ("c_ret", "see", "reached"),  # the second day was returned in full
}


def _as_dict(frame: pd.DataFrame) -> dict:
    return {r.person_id: (None if pd.isna(r.customer_id) else r.customer_id, r.stage, r.rule)
            for r in frame.itertuples()}


def test_default_rules_on_a_hand_built_frame():
    out = stages(EV, TX, as_of=AS_OF)
    assert list(out.columns) == ["person_id", "customer_id", "stage", "rule"]
    assert out.person_id.tolist() == sorted(EXPECTED)
    assert _as_dict(out) == EXPECTED


def test_ibis_in_ibis_out_gives_the_same_stages():
    out = stages(ibis.memtable(EV), ibis.memtable(TX), as_of=AS_OF)
    assert isinstance(out, ibis.Table)
    assert _as_dict(out.execute()) == EXPECTED


def test_custom_columns_and_pre_stitched_events():
    names = {"ts": "at", "customer_id": "member", "anonymous_id": "cookie",
             "event_type": "kind", "session_id": "visit"}
    out = stages(EV.rename(columns=names), TX.rename(columns=names), as_of=AS_OF, ts_col="at",
                 customer_col="member", anonymous_col="cookie", event_type_col="kind",
                 session_col="visit")
    assert _as_dict(out) == EXPECTED
    assert _as_dict(stages(stitch(EV, as_of=AS_OF), TX, as_of=AS_OF)) == EXPECTED


def test_window_and_as_of():
    short = _as_dict(stages(EV, TX, as_of=AS_OF, window_days=10))  # from 2024-01-22
    assert short["a_cart"][1:] == ("see", "reached") and short["a_price"][1] == "do"
    later = _as_dict(stages(EV, TX, as_of="2024-02-05"))
    assert later["a_late"][1] == "do" and later["c_fut"][1] == "care"
    early = _as_dict(stages(EV, TX, as_of="2024-01-15 10:02"))  # before c1's login
    assert "c1" not in early and early["a_c1"][1] == "think"


def test_edited_rules_change_the_result_as_expected():
    rules = default_rules()
    rules.loc[rules.stage == "care", "precedence"] = 45  # after Do, before Think
    rules.loc[rules.rule == "newsletter click", "min_count"] = 2
    rules = pd.concat([rules, pd.DataFrame([{  # an analyst's own rule and stage
        "precedence": 0, "stage": "research", "rule": "plain search", "measure": "events",
        "event_types": "search", "conditions": None, "min_count": 1}])])
    out = _as_dict(stages(EV, TX, as_of=AS_OF, rules=rules))
    assert out["c_care"][1:] == ("do", "cart or checkout")
    assert out["a_mail"][1:] == ("see", "reached")
    assert out["a_query"][1:] == out["a_search"][1:] == ("research", "plain search")
    unchanged = {p for p in EXPECTED if p not in ("c_care", "a_mail", "a_query", "a_search")}
    assert {p: out[p] for p in unchanged} == {p: EXPECTED[p] for p in unchanged}


def test_rules_as_a_list_of_dicts():
    rules = [{"precedence": 2, "stage": "see", "rule": "everyone", "measure": "reach"},
             {"precedence": 1, "stage": "do", "rule": "looked at a price",
              "measure": "events", "event_types": ["price_check"]}]
    out = stages(EV, TX, as_of=AS_OF, rules=rules)
    assert out.query("stage == 'do'").person_id.tolist() == ["a_price"]
    assert set(out.rule) == {"everyone", "looked at a price"}


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.query("measure != 'reach'"), "catch-all rule"),
    (lambda r: r.assign(precedence=1), "repeat precedence"),
    (lambda r: r.assign(rule="same"), "repeat rule"),
    (lambda r: r.assign(measure="clicks"), "unknown measure"),
    (lambda r: r.drop(columns="stage"), "lack columns"),
    (lambda r: r.assign(min_count=-1), "negative"),
    (lambda r: r.assign(conditions="category"), "mapping"),
])
def test_check_rules_rejects_bad_rule_sets(edit, message):
    with pytest.raises(ValueError, match=message):
        check_rules(edit(default_rules()))


def test_missing_columns_are_data_errors():
    with pytest.raises(DataError, match="'events', column 'medium'"):
        stages(EV.drop(columns="medium"), TX, as_of=AS_OF)
    with pytest.raises(DataError, match="'transactions', column 'amount'"):
        stages(EV, TX.drop(columns="amount"), as_of=AS_OF)


def test_stage_sizes_match_stages_at_each_date():
    dates = ["2024-01-15", AS_OF]
    sizes = stage_sizes(EV, TX, dates=dates)
    for when in dates:
        counts = stages(EV, TX, as_of=when).stage.value_counts().to_dict()
        got = sizes[sizes.as_of == pd.Timestamp(when)]
        assert dict(zip(got.stage, got.people, strict=True)) == counts
    assert sizes[sizes.as_of == pd.Timestamp(AS_OF)].stage.tolist() == ["see", "think", "do",
                                                                        "care"]
    assert isinstance(stage_sizes(ibis.memtable(EV), TX, dates=dates), ibis.Table)


def test_stage_transitions_identify_people_as_of_the_end():
    moves = stage_transitions(EV, TX, start="2024-01-15", end=AS_OF).set_index("person_id")
    # a_c1's anonymous view on the 15th is c1's: c1 was already Think then
    assert moves.loc["c1", ["stage_start", "stage_end"]].tolist() == ["think", "think"]
    assert "a_c1" not in moves.index
    assert moves.loc["a_cart", ["stage_start", "stage_end"]].tolist() == [NOT_REACHED, "do"]
    assert moves.loc["c_care", "stage_start"] == "care"
    assert (moves.stage_end.to_dict() == {p: v[1] for p, v in EXPECTED.items()
                                          if p != "a_c1"})
    m = transition_matrix(moves.reset_index())
    assert m.index.tolist()[0] == NOT_REACHED and m.columns.tolist() == ["see", "think", "do",
                                                                         "care"]
    assert m.to_numpy().sum() == len(moves)


def test_purchase_rates_count_buyers_after_as_of():
    st_ = stages(EV, TX, as_of=AS_OF)
    rates = purchase_rates(st_, TX, as_of=AS_OF, days=7)  # c_fut buys on Feb 5th
    assert rates.stage.tolist() == ["see", "think", "do", "care"]
    see = rates.set_index("stage").loc["see"]
    assert (see.people, see.buyers) == (7, 1)
    assert purchase_rates(st_, TX, as_of=AS_OF, days=4).buyers.sum() == 0


def test_audience_frame_is_export_ready():
    customers = pd.DataFrame({"customer_id": ["c1", "c_care"],
                              "email": ["c1@example.com", "care@example.com"]})
    out = audience_frame(stages(EV, TX, as_of=AS_OF), customers, stage=["think", "care"])
    assert list(out.columns) == ["person_id", "customer_id", "email", "stage", "rule"]
    rows = out.set_index("person_id")
    assert rows.loc["c1", "email"] == "c1@example.com" and pd.isna(rows.loc["a_back", "email"])
    assert set(out.stage) == {"think", "care"} and len(out) == 6
    lazy_out = audience_frame(ibis.memtable(stages(EV, TX, as_of=AS_OF)), customers)
    assert isinstance(lazy_out, ibis.Table) and lazy_out.count().execute() == len(EXPECTED)


# -- properties: one stage per person, the first matching rule by precedence -------------------
_TYPES = ["page_view", "product_view", "add_to_cart", "search", "login"]


def _reference(ev, trans, rules, as_of):
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    s = stitch(ev, as_of=as_of)
    win = s[s.ts >= end - pd.Timedelta(days=30)]
    t = trans[trans.ts < end]
    spend = t.groupby(["customer_id", t.ts.dt.normalize()]).amount.sum()
    pdays = (spend > 0).groupby(level=0).sum()
    people = sorted(set(s.person_id) | set(t.customer_id))
    out = {}
    for p in people:
        mine = win[win.person_id == p]
        for r in check_rules(rules).itertuples():
            typed = mine[mine.event_type.isin(r.event_types)] if r.event_types else mine
            count = {"reach": 0, "purchase_days": pdays.get(p, 0), "events": len(typed),
                     "visits": typed.session_id.nunique()}[r.measure]
            if count >= r.min_count:
                out[p] = (r.stage, r.rule)
                break
    return out


_events = st.lists(st.tuples(st.integers(0, 45), st.sampled_from(["a1", "a2", "a3", "a4"]),
                             st.sampled_from(_TYPES), st.sampled_from([None, None, "c1", "c2"]),
                             st.sampled_from(["s1", "s2", "s3"])), min_size=1, max_size=20)
_purchases = st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.integers(0, 45),
                                st.sampled_from([10.0, -10.0, 5.0])), max_size=6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_events, _purchases, st.permutations(range(5)), st.integers(1, 3))
def test_every_person_gets_exactly_the_stage_of_the_first_matching_rule(rows, buys, order,
                                                                         need):
    start = pd.Timestamp("2024-01-01")
    ev = pd.DataFrame(rows, columns=["day", "anonymous_id", "event_type", "customer_id",
                                     "session_id"])
    ev = ev.assign(ts=start + pd.to_timedelta(ev.pop("day"), unit="D"))
    trans = pd.DataFrame(buys, columns=["customer_id", "day", "amount"])
    trans = trans.assign(ts=start + pd.to_timedelta(trans.pop("day"), unit="D"))
    rules = pd.DataFrame([
        ("care", "buyer", "purchase_days", (), need), ("do", "cart", "events", ("add_to_cart",), 1),
        ("think", "views", "events", ("product_view", "search"), need),
        ("think", "visits", "visits", (), need), ("see", "all", "reach", (), 0)],
        columns=["stage", "rule", "measure", "event_types", "min_count"])
    rules["precedence"] = list(order)
    out = stages(ev, trans, as_of="2024-01-31", rules=rules)
    assert out.person_id.is_unique and out.stage.notna().all()
    assert dict(zip(out.person_id, zip(out.stage, out.rule, strict=True), strict=True)) == \
        _reference(ev, trans, rules, "2024-01-31")


_WINDOW_START = pd.Timestamp("2024-01-02")  # of as_of 2024-01-31


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(-20, 20), st.sampled_from(["a1", "a2", "a3"]),
                          st.sampled_from([None, None, "c1"]),
                          st.sampled_from([None, None, None, "s1"])), min_size=1, max_size=20),
       st.integers(1, 3))
def test_visits_around_the_window_start_count_as_sessions_of_the_whole_history(rows, need):
    """Sessions are derived on the window's events only; a session that began before the
    window and one that ended just before it count as they would on the whole history."""
    ev = pd.DataFrame(rows, columns=["minute", "anonymous_id", "customer_id", "session_id"])
    ev = ev.assign(ts=_WINDOW_START + pd.to_timedelta(ev.pop("minute") * 7, unit="min"),
                   event_type="login")
    rules = [{"precedence": 1, "stage": "think", "rule": "visits", "measure": "visits",
              "min_count": need},
             {"precedence": 2, "stage": "see", "rule": "all", "measure": "reach"}]
    out = stages(ev, ev.head(0)[["customer_id", "ts"]].assign(amount=0.0), as_of="2024-01-31",
                 rules=rules)
    whole = sessionize(stitch(ev, as_of="2024-01-31"))
    win = whole[whole.ts >= _WINDOW_START]
    expected = {p: "think" if win[win.person_id == p].session_id.nunique() >= need else "see"
                for p in whole.person_id.unique()}
    assert dict(zip(out.person_id, out.stage, strict=True)) == expected


# -- the demo data -----------------------------------------------------------------------------
def _rates(events, transactions, end_of_data):
    """Stages 8 days before the end of the data (a date: through its whole day), purchases
    in the following 7 days, the last 7 days of the data."""
    as_of = pd.Timestamp(end_of_data) - pd.Timedelta(days=8)
    return purchase_rates(stages(events, transactions, as_of=as_of), transactions,
                          as_of=as_of, days=7).set_index("stage").rate


def test_demo_purchase_rate_rises_from_see_to_think_to_do(demo):
    rate = _rates(demo.table("events"), demo.table("transactions"), demo.as_of)
    assert 0 < rate["see"] < rate["think"] < rate["do"]


def test_larger_demo_purchase_rate_rises_with_margin():
    d = synthetic.generate(10_000, random_state=3)
    rate = _rates(d.tables["events"], d.tables["transactions"], d.as_of)
    assert 3 * rate["see"] < rate["think"] and 2 * rate["think"] < rate["do"]


def test_demo_stages_follow_the_latent_intent(demo):
    st_ = stages(demo.table("events"), demo.table("transactions"), as_of=demo.as_of).execute()
    truth = demo.truth().intent
    both = st_.merge(truth, on="person_id", suffixes=("", "_true"))
    intent = both.groupby("stage").stage_true.apply(lambda s: (s != "see").mean())
    assert intent["see"] < intent["think"] < intent["do"]
    assert st_.person_id.is_unique and set(truth.person_id) - set(st_.person_id) <= set(
        truth.query("not is_customer").person_id)  # visitors whose visits fell outside
    sizes = stage_sizes(demo.table("events"), demo.table("transactions"),
                        dates=[demo.as_of]).execute()
    assert sizes.people.sum() == len(st_)
