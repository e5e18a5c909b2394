"""Lifecycle programs evaluated as of a day: the demo's welcome program, idempotent runs,
hashed variants and control groups, the run lock and ``lifecycle run``."""

import dataclasses
import hashlib
import json
import shutil
import uuid

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle import Workspace, consent, programs
from lifecycle.cli import main


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return Workspace.demo(tmp_path_factory.mktemp("programs") / "demo.duckdb",
                          n_customers=20_000, random_state=3)


@pytest.fixture
def fresh(tmp_path):
    """A small demo to write runs into."""
    return Workspace.demo(tmp_path / "demo.duckdb", n_customers=3000, random_state=5)


def _step(cell_id: pd.Series) -> pd.Series:
    return cell_id.str.extract(r"^welcome_([a-z]+)")[0].fillna("thank")  # control: at thank


def test_welcome_selects_whom_the_demo_contacted_that_day(demo, tmp_path):
    """Replay one day of the demo's welcome program from the contact history before it: the
    same customers get the same steps, except those the demo wrote to without a valid
    permission and address (the demo sends to bad addresses; the program does not)."""
    history = demo.table("contact_history").execute()
    day = demo.as_of.normalize() - pd.Timedelta(days=40)
    ws = Workspace.open(tmp_path / "replay.duckdb", create=True, as_of=demo.as_of)
    with ws.writing():
        for name in ("customers", "consents", "messages"):
            ws.load(name, demo.table(name).execute())
        ws.load("contact_history", history[history.planned_at < day])
    got = programs.evaluate(ws, "welcome", as_of=day)
    that_day = history[(history.planned_at >= day) & (history.planned_at < day +
                                                      pd.Timedelta(days=1))]
    expected = set(zip(that_day.customer_id, _step(that_day.cell_id), strict=True))
    selected = set(zip(got.customer_id, got.step, strict=True))
    assert len(selected) > 30 and {s for _, s in selected} == {"thank", "guide", "surprise"}
    reach = consent.contactable(demo.table("customers"), demo.table("consents"),
                                channel="email", at=day + pd.Timedelta(hours=8),
                                messages=demo.table("messages")).execute()
    why = reach.set_index("customer_id").reason
    assert {c for c, _ in expected - selected} <= set(why[why.notna()].index)
    assert selected - expected == set()  # every selection is one the demo made that day
    assert len(expected - selected) < 0.2 * len(expected)


def test_a_day_evaluated_twice_selects_nobody_new_and_no_step_repeats(fresh, tmp_path):
    day = fresh.as_of.normalize()  # the demo ran every day before: this is the next run
    first = programs.run(fresh, ["welcome"], as_of=day, out=tmp_path / "out").iloc[0]
    assert first.selected > 0 and first.exported > 0
    assert programs.evaluate(fresh, "welcome", as_of=day).empty
    again = programs.run(fresh, ["welcome"], as_of=day, out=tmp_path / "out").iloc[0]
    assert again.selected == 0
    history = Workspace.open(fresh.path).table("contact_history").execute()
    runs = history[history.run_id.str.startswith("welcome-")]
    mine = runs[runs.run_id.isin([first.run_id])]
    assert len(mine) == first.selected  # sent and held out alike are recorded
    following = programs.evaluate(Workspace.open(fresh.path), "welcome",
                                  as_of=day + pd.Timedelta(days=1))
    repeated = following.merge(mine, on=["customer_id", "cell_id"])
    assert repeated.empty


def test_variants_and_the_control_group_follow_the_hash(demo, tmp_path):
    ws = Workspace.open(tmp_path / "new.duckdb", create=True, as_of=demo.as_of)
    with ws.writing():  # no contact history: everyone who joined in the month is due
        for name in ("customers", "consents"):
            ws.load(name, demo.table(name).execute())
    month = dataclasses.replace(programs.WELCOME, parameters={"joined_within_days": 30})
    rows = programs.evaluate(ws, month, as_of=demo.as_of)
    assert set(rows.step) == {"thank"} and rows.control.sum() > 20

    def share(text):
        return int(hashlib.md5(text.encode()).hexdigest()[:8], 16) / 16**8

    held = [share(f"welcome:{c}") < 0.10 for c in rows.customer_id]
    assert rows.control.tolist() == held
    variant = ["control" if h else "welcome_thank_" + ("A" if share(f"welcome:thank:{c}") < 0.5
                                                      else "B")
               for c, h in zip(rows.customer_id, held, strict=True)]
    assert rows.cell_id.tolist() == variant
    assert 0.4 < (rows.cell_id == "welcome_thank_A").sum() / (~rows.control).sum() < 0.6


def test_a_second_run_is_refused_while_one_holds_the_lock(fresh, tmp_path, capsys):
    with programs._run_lock(fresh):
        with pytest.raises(programs.RunInProgress, match="another run"):
            programs.run(fresh, as_of=fresh.as_of, out=tmp_path)
        code = main(["run", "--as-of", f"{fresh.as_of:%Y-%m-%d}", "--path", str(fresh.path),
                     "--out", str(tmp_path / "cli")])
    assert code == 3 and "another run" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()


def test_lifecycle_run_exports_and_records(fresh, tmp_path, capsys):
    day = f"{fresh.as_of:%Y-%m-%d}"
    args = ["run", "--as-of", day, "--path", str(fresh.path), "--out", str(tmp_path / "x")]
    assert main([*args, "--dry-run"]) == 0
    assert "welcome (email): would contact" in capsys.readouterr().out
    assert not (tmp_path / "x").exists()
    assert main([*args, "--format", "parquet"]) == 0
    files = sorted((tmp_path / "x").glob("welcome-*.parquet"))
    assert len(files) == 1
    manifest = json.loads(files[0].with_name(files[0].name + ".manifest.json").read_text())
    assert manifest["rows"] == len(pd.read_parquet(files[0])) > 0
    assert manifest["kind"] == "program:welcome"
    later = ["run", "--as-of", "2099-01-01", "--path", str(fresh.path)]
    assert main(later) == 1
    assert "data ends" in capsys.readouterr().err


def _consenting(tmp_path, ids, **tables) -> Workspace:
    """A workspace of customers ``ids`` with e-mail addresses and permission since 2025, and
    the ``tables`` given."""
    ws = Workspace.open(tmp_path / "w.duckdb", create=True, as_of="2027-12-31")
    with ws.writing():
        ws.load("customers", pd.DataFrame({"customer_id": ids, "created_at": pd.Timestamp(
            "2025-01-01"), "email": [f"{i}@shop.se" for i in ids]}))
        ws.load("consents", pd.DataFrame({"customer_id": ids, "channel": "email",
                                          "granted_at": pd.Timestamp("2025-01-01")}))
        for name, frame in tables.items():
            if frame is not None:
                ws.load(name, frame)
    return ws


def _survey_workspace(tmp_path, starts, *, ended=None):
    ids = [f"s{i}" for i in range(len(starts))]
    return _consenting(tmp_path, ids, subscriptions=pd.DataFrame({
        "customer_id": ids, "start_at": pd.to_datetime(starts),
        "end_at": pd.to_datetime(ended or [None] * len(ids))})), ids


@pytest.mark.parametrize(("day", "due"), [
    ("2026-10-30", []),                       # 30 July's contract: 3 months on 30 October
    ("2026-10-31", ["2026-07-31 23:59"]),     # 31 July is due on 31 October
    ("2027-02-27", []),
    ("2027-02-28", ["2026-11-29 10:00", "2026-11-30 10:00"]),  # February has no 29th / 30th
])
def test_survey_is_due_three_calendar_months_after_the_start(tmp_path, day, due):
    starts = ["2026-07-31 23:59", "2026-08-01 00:00", "2026-11-29 10:00", "2026-11-30 10:00"]
    ws, ids = _survey_workspace(tmp_path, starts)
    program = dataclasses.replace(programs.SURVEY, parameters={"months": 3, "catch_up_days": 0})
    got = programs.evaluate(ws, program, as_of=day)
    assert sorted(got.customer_id) == sorted(ids[starts.index(s)] for s in due)
    assert set(got.reason) <= {f"3 months since {s[:10]}" for s in due}


def test_survey_catches_up_a_missed_week_once_and_skips_ended_contracts(tmp_path):
    ws, ids = _survey_workspace(tmp_path, ["2026-07-25", "2026-07-28", "2026-07-20"],
                                ended=[None, "2026-09-01", None])
    got = programs.run(ws, ["survey"], as_of="2026-10-31", out=tmp_path / "out")
    assert got.exported.tolist() == [1]  # 25 July (6 days late); 28 July ended; 20 July: > 7
    assert programs.evaluate(ws, "survey", as_of="2026-11-01").empty


def _reactivation_workspace(tmp_path, *, messages=None, transactions=None):
    return _consenting(tmp_path, ["r0", "r1", "r2"], messages=messages,
                       transactions=transactions)


def _no_control(**parameters):
    return dataclasses.replace(programs.REACTIVATION, control_share=0.0,
                               parameters={**programs.REACTIVATION.parameters, **parameters})


def _record(ws, selection, day):
    ws.append("contact_history", selection.assign(
        run_id=f"r-{day}", channel="email", planned_at=pd.Timestamp(day) + pd.Timedelta(hours=8)
    )[["run_id", "campaign_id", "cell_id", "customer_id", "channel", "planned_at"]])


def test_a_lapsed_buyer_is_won_back_once_per_lapse(tmp_path):
    tx = pd.DataFrame({"customer_id": ["r0", "r1", "r2"], "amount": 50.0,
                       "ts": pd.to_datetime(["2026-06-30 12:00", "2026-07-05 12:00", "2026-06-01 12:00"])})
    ws = _reactivation_workspace(tmp_path, transactions=tx)
    program = _no_control()
    first = programs.evaluate(ws, program, as_of="2026-10-31")
    # r0: 30 June + 4 months = 30 October (one day late is caught up); r1: not yet 4 months;
    # r2: 1 June + 4 months = 1 October, 30 days ago: beyond the week of catching up
    assert first[["customer_id", "step", "reason"]].values.tolist() == [
        ["r0", "no_purchase", "last purchase on 2026-06-30"]]
    _record(ws, first, "2026-10-31")
    assert programs.evaluate(ws, program, as_of="2026-11-01").empty
    with ws.writing():  # r0 comes back on 5 November, then lapses again
        ws.load("transactions", pd.concat([tx, pd.DataFrame({
            "customer_id": ["r0"], "amount": [20.0], "ts": [pd.Timestamp("2026-11-05")]})]))
    again = programs.evaluate(ws, program, as_of="2027-03-05")
    assert again.customer_id.tolist() == ["r0"]


def test_newsletter_non_openers_get_one_resend_and_quiet_readers_one_nudge(tmp_path):
    sent = pd.to_datetime(["2026-08-13", "2026-09-10", "2026-09-24", "2026-10-08", "2026-10-28"])
    rows = [(f"m{c}{i}", c, "newsletter", f"newsletter_{at:%Y%m%d}", at + pd.Timedelta(hours=7),
             at + pd.Timedelta(hours=9) if (c == "r1" or (c == "r2" and i == 0)) else None)
            for c in ("r0", "r1", "r2") for i, at in enumerate(sent)]
    messages = pd.DataFrame(rows, columns=["message_id", "customer_id", "campaign_id",
                                           "cell_id", "sent_at", "opened_at"]).assign(
        channel="email", delivered=True)
    ws = _reactivation_workspace(tmp_path, messages=messages)
    got = programs.evaluate(ws, _no_control(), as_of="2026-10-31")
    # r0 opened nothing: nudged, and resent the 28 October issue; r2 opened only in
    # August (before the two months): nudged and resent; r1 opened everything
    assert got[["customer_id", "step"]].values.tolist() == [
        ["r0", "no_opens"], ["r2", "no_opens"], ["r0", "resend"], ["r2", "resend"]]
    assert set(got.reason[got.step == "resend"]) == {"did not open the newsletter of 2026-10-28"}
    _record(ws, got, "2026-10-31")
    assert programs.evaluate(ws, _no_control(), as_of="2026-11-01").empty


def _reachable(ws, channel, day) -> set:
    reach = consent.contactable_in(ws, channel=channel, at=day + pd.Timedelta(hours=8))
    return set(reach.filter(reach.reason.isnull()).customer_id.execute())


def _copy(demo, tmp_path) -> Workspace:
    shutil.copy(demo.path, tmp_path / "copy.duckdb")
    return Workspace.open(tmp_path / "copy.duckdb")


def _assert_cells_follow_bands(offers, label, bounds, cells):
    """Each sent offer's cell is its score's band (the score read from the reason; scores
    within rounding of a bound are skipped)."""
    score = offers.reason.str.extract(label + r" (\d+) %")[0].astype(float) / 100
    clear = np.all([~np.isclose(score, b, atol=0.006) for b in bounds], axis=0)
    sent = ~offers.control
    expected = pd.cut(score, [0, *bounds, 1.01], right=False, labels=list(cells))
    package = offers.cell_id.str.removesuffix("_sms")  # the same package by SMS
    assert (package[sent & clear] == expected[sent & clear].astype(str)).all()
    assert package[sent].nunique() >= 2


def test_retention_offers_by_churn_band_once_per_contract_then_a_last_chance(demo, tmp_path):
    ws = _copy(demo, tmp_path)
    day = ws.as_of.normalize()
    offers = programs.evaluate(ws, "retention", as_of=day)
    assert set(offers.step) == {"offer"} and len(offers) > 50
    subs = ws.table("subscriptions").execute()
    ending = subs[(subs.start_at < day) & (subs.end_at >= day)
                  & (subs.end_at < day + pd.Timedelta(days=60))]
    renewed = subs.merge(ending, on="customer_id", suffixes=("", "_old"))
    renewed = set(renewed.customer_id[renewed.start_at >= renewed.end_at_old])
    email, sms = (_reachable(ws, channel, day) for channel in ("email", "sms"))
    assert set(offers.customer_id) == (set(ending.customer_id) - renewed) & (email | sms)
    by = offers.set_index("customer_id").channel
    assert set(by[by == "sms"].index) >= set(by.index) - email  # SMS where e-mail cannot
    assert set(by[by == "email"].index) <= email and set(by[by == "sms"].index) <= sms
    assert 0 < (by == "sms").sum() < (by == "email").sum()
    sms_cells = offers.cell_id[offers.channel == "sms"]
    assert (sms_cells.str.endswith("_sms") | (sms_cells == "retention_control")).all()
    _assert_cells_follow_bands(offers, "churn score", (0.3, 0.6), (
        "retention_normal", "retention_discount", "retention_best"))
    sent = ~offers.control
    assert set(offers.cell_id[offers.control]) == {"retention_control"}
    programs.run(ws, ["retention"], as_of=day, out=tmp_path / "out")
    assert programs.evaluate(ws, "retention", as_of=day).empty  # once per contract
    later = programs.evaluate(ws, "retention", as_of=day + pd.Timedelta(days=30))
    last = later[later.step == "last_chance"]
    still = set(ending.customer_id[ending.end_at >= day + pd.Timedelta(days=30)])
    assert set(last.customer_id) == set(offers.customer_id[sent]) & still
    assert (last.offer_id == "renewal_best_plus").all() and len(last) > 0


def test_contact_policies_cap_the_contacts_in_their_window(fresh):
    day = fresh.as_of.normalize()
    free = programs.evaluate(fresh, "welcome", as_of=day)
    idle = free.customer_id[~free.control].iloc[0]
    with fresh.writing():  # at most one e-mail a week; no sms at all
        fresh.append("contact_history", pd.DataFrame({
            "run_id": "earlier", "campaign_id": "newsletter", "cell_id": ["n1"],
            "customer_id": [idle], "channel": "email", "planned_at": [day - pd.Timedelta(days=6)]}))
        fresh.load("contact_policies", pd.DataFrame({
            "policy_id": ["weekly", "sms"], "max_contacts": [1, 0], "channel": ["email", "sms"],
            "window_days": [7, None]}))
    history = fresh.table("contact_history").execute()
    week = history[(history.planned_at >= day - pd.Timedelta(days=7)) & (history.channel ==
                                                                          "email")
                   & ~history.cell_id.str.endswith("control")]
    busy = set(week.customer_id)
    capped = programs.evaluate(fresh, "welcome", as_of=day)
    expected = free[free.control | ~free.customer_id.isin(busy)]
    assert len(busy & set(free.customer_id)) > 1  # the demo's welcome steps count too
    pd.testing.assert_frame_equal(capped, expected.reset_index(drop=True))
    with fresh.writing():  # cells exempt from the policies go out anyway
        fresh.load("campaigns", pd.DataFrame({"campaign_id": ["welcome"], "group_id": ["life"]}))
        fresh.load("cells", pd.DataFrame({"cell_id": sorted(set(free.cell_id)),
                                          "campaign_id": "welcome", "channel": "email",
                                          "exclude_policies": True}))
    pd.testing.assert_frame_equal(programs.evaluate(fresh, "welcome", as_of=day), free)


def _phone_buyers(ws, day, days=14):
    tx = ws.table("transactions").execute()
    phones = tx[(tx.category == "phones") & (tx.ts >= day - pd.Timedelta(days=days))
                & (tx.ts < day)]
    net = phones.groupby(["customer_id", phones.ts.dt.normalize()]).amount.agg(["sum", "min"])
    bought = net[(net["sum"] > 0) | ((net["sum"] == 0) & (net["min"] >= 0))]
    return set(bought.index.get_level_values(0))


def test_cross_sell_offers_recent_buyers_an_add_on_by_propensity_band(demo, tmp_path):
    ws = _copy(demo, tmp_path)
    day = ws.as_of.normalize()
    offers = programs.evaluate(ws, "cross_sell", as_of=day)
    assert len(offers) > 50 and set(offers.step) == {"offer"}
    # who: phone buyers of the last 14 days, reachable, without negative service feedback
    feedback = ws.table("feedback").execute()
    year = feedback[(feedback.ts < day) & (feedback.ts >= day - pd.Timedelta(days=365))]
    negative = set(year.customer_id[(year.kind == "complaint") | (
        (year.kind == "service_contact") & (year.sentiment == "negative"))])
    reachable = _reachable(ws, "email", day)
    history = ws.table("contact_history").execute()
    assert not (history.campaign_id == "cross_sell").any()  # the demo has no earlier offers
    assert set(offers.customer_id) == (_phone_buyers(ws, day) - negative) & reachable
    # which offer: the propensity band
    _assert_cells_follow_bands(offers, "purchase propensity", (0.2, 0.4), (
        "cross_sell_low", "cross_sell_medium", "cross_sell_high"))
    sent = ~offers.control
    # the add-on: the accessory that earned the most margin from the phone model's owners
    tx = ws.table("transactions").execute()
    people = ws.table("customers").execute()[["customer_id", "phone_model"]]
    year_tx = tx[(tx.category == "accessories") & (tx.ts < day)
                 & (tx.ts >= day - pd.Timedelta(days=365))].merge(people, on="customer_id")
    margin = year_tx.groupby(["phone_model", "product_id"]).margin.sum().reset_index()
    best = margin.sort_values(["margin", "product_id"], ascending=[False, True]
                              ).drop_duplicates("phone_model").set_index("phone_model").product_id
    known = offers.phone_model.notna()
    assert (offers.add_on_product[known] == offers.phone_model[known].map(best)).all()
    assert offers.add_on_product.notna().all()
    # negative feedback removes; the contact policy counts offers since the customer joined
    joined = people.merge(ws.table("customers").execute()[["customer_id", "created_at"]])
    joined = joined.set_index("customer_id").created_at[offers.customer_id[sent]]
    old, new = joined.index[joined < day - pd.Timedelta(days=200)], joined.index[
        joined > day - pd.Timedelta(days=300)]
    complainer, offered_thrice, offered_lately = old[:3]
    reused = next(c for c in new if c not in old[:3])  # offers to an earlier holder of the id
    offered = [(offered_thrice, day - pd.Timedelta(days=d)) for d in (190, 180, 170)] + [
        (offered_lately, day - pd.Timedelta(days=60))] + [
        (reused, joined[reused] - pd.Timedelta(days=d)) for d in (30, 20, 10)]
    with ws.writing():
        ws.append("feedback", pd.DataFrame({
            "customer_id": [complainer], "ts": [day - pd.Timedelta(days=2)],
            "kind": ["complaint"], "sentiment": ["negative"]}))
        ws.append("contact_history", pd.DataFrame({
            "run_id": [f"o{i}" for i in range(len(offered))], "campaign_id": "cross_sell",
            "cell_id": "cross_sell_low", "customer_id": [c for c, _ in offered],
            "channel": "email", "planned_at": [at for _, at in offered]}))
    again = programs.evaluate(ws, "cross_sell", as_of=day)
    removed = {complainer, offered_thrice, offered_lately}
    assert set(again.customer_id) == set(offers.customer_id) - removed
    assert reused in set(again.customer_id)
    programs.run(ws, ["cross_sell"], as_of=day, out=tmp_path / "out")
    assert programs.evaluate(ws, "cross_sell", as_of=day).empty  # once per purchase


def test_a_program_with_two_channels_uses_the_one_each_customer_responds_on(tmp_path):
    ids = list("abcdef")
    day = pd.Timestamp("2026-10-31")
    ws = Workspace.open(tmp_path / "w.duckdb", create=True, as_of=day)
    sent = [day - pd.Timedelta(days=7 * k) for k in range(1, 6)]
    opens = {"a": [None, None, "open", None], "b": [None] * 4, "c": ["machine"] * 4,
             "e": [None] * 2, "f": [None] * 5}
    messages = pd.DataFrame(
        [(f"{c}{k}", c, "email", at + pd.Timedelta(hours=7),
          None if o is None else at + pd.Timedelta(hours=9), o == "machine")
         for c, seen in opens.items() for k, (at, o) in enumerate(zip(sent, seen, strict=False))],
        columns=["message_id", "customer_id", "channel", "sent_at", "opened_at",
                 "machine_open"]).assign(delivered=True)
    with ws.writing():
        ws.load("customers", pd.DataFrame({
            "customer_id": ids, "created_at": day - pd.Timedelta(days=50),
            "email": [f"{i}@shop.se" for i in ids], "phone": [f"+4670123456{i}" for i in
                                                               range(6)]}))
        ws.load("consents", pd.DataFrame(
            [(c, ch, pd.Timestamp("2025-01-01")) for c in ids for ch in ("email", "sms")
             if not (c == "d" and ch == "email") and not (c == "f" and ch == "sms")],
            columns=["customer_id", "channel", "granted_at"]))
        ws.load("messages", messages)
    both = dataclasses.replace(programs.WELCOME, channels=("email", "sms"), control_share=0.0,
                               parameters={"joined_within_days": 60})
    got = programs.evaluate(ws, both, as_of=day)
    # a opened one: e-mail; b ignored four and c's were all a mail app's prefetch: SMS;
    # d has only SMS permission; e had too few e-mails to tell; f can only be e-mailed
    assert dict(zip(got.customer_id, got.channel, strict=True)) == {
        "a": "email", "b": "sms", "c": "sms", "d": "sms", "e": "email", "f": "email"}
    done = programs.run(ws, [both], as_of=day, out=tmp_path / "out").set_index("channel")
    assert done.exported.to_dict() == {"email": 3, "sms": 3}
    email, sms = (pd.read_csv(done.file[c], dtype=str) for c in ("email", "sms"))
    assert sorted(email.email) == ["a@shop.se", "e@shop.se", "f@shop.se"]
    assert "email" not in sms and sorted(sms.phone) == ["+46701234561", "+46701234562",
                                                         "+46701234563"]
    history = ws.table("contact_history").execute()
    assert dict(zip(history.customer_id, history.channel, strict=True)) == dict(
        zip(got.customer_id, got.channel, strict=True))


# -- nobody is selected outside a valid permission -------------------------------------------
_SEND = pd.Timestamp("2026-10-31 08:00")  # the welcome program's send time on 31 October
_grants = st.lists(st.tuples(st.integers(-20, 20), st.one_of(st.none(), st.integers(0, 20)),
                             st.one_of(st.none(), st.integers(0, 20))), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_grants)
def test_nobody_is_selected_outside_a_valid_permission_at_the_send_time(tmp_path, spec):
    """Grants, expiries and revocations in whole minutes around 08:00, the boundaries
    included: the welcome selection is exactly those valid at 08:00."""
    at = lambda m: _SEND + pd.Timedelta(minutes=m)  # noqa: E731
    ids = [f"c{i}" for i in range(len(spec))]
    grants = pd.DataFrame({
        "customer_id": ids, "channel": "email",
        "granted_at": [at(g) for g, _, _ in spec],
        "expires_at": [None if e is None else at(g + e) for g, e, _ in spec],
        "revoked_at": [None if r is None else at(g + r) for g, _, r in spec]})
    folder = tmp_path / uuid.uuid4().hex  # one per example: tmp_path is the test's
    folder.mkdir()
    ws = Workspace.open(folder / "w.duckdb", create=True, as_of=_SEND + pd.Timedelta(days=1))
    with ws.writing():
        ws.load("customers", pd.DataFrame({"customer_id": ids, "created_at": pd.Timestamp(
            "2026-10-30 12:00"), "email": [f"{i}@shop.se" for i in ids]}))
        ws.load("consents", grants)
    program = dataclasses.replace(programs.WELCOME, control_share=0.0)
    selected = programs.evaluate(ws, program, as_of="2026-10-31")
    assert set(selected.customer_id) == set(consent.valid(grants, channel="email",
                                                          at=_SEND).customer_id)
