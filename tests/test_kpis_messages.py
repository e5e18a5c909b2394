"""Message KPIs and open reach: hand-counted cases, pandas and ibis alike, and the demo."""

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle import DataError
from lifecycle.kpis import message_kpis, open_reach


def ts(*values):
    return pd.to_datetime(list(values), format="ISO8601")


# seven messages of one campaign in two cells, one of every kind
M = pd.DataFrame({
    "message_id": [f"m{i}" for i in range(1, 8)],
    "customer_id": ["a", "b", "c", "d", "e", "f", "a"],
    "campaign_id": "news", "cell_id": ["x", "x", "x", "x", "y", "y", "y"],
    "sent_at": ts(*["2024-01-02 08:00"] * 6, "2024-02-05 08:00"),
    "delivered": [True, True, True, None, False, True, True],
    "bounce": [None, None, None, None, "hard", None, None],
    "opened_at": ts("2024-01-02 09:00", None, "2024-01-02 08:01", None, None, None,
                    "2024-02-05 09:00"),
    "clicked_at": ts("2024-01-02 09:05", "2024-01-02 12:00", None, None, None, None, None),
    "unsubscribed_at": ts(None, None, None, None, None, "2024-01-03", None),
    "complained_at": ts(None, None, None, "2024-01-02 10:00", None, None, None),
    "machine_open": [False, False, True, None, None, None, False]})


def test_counts_and_rates_by_hand():
    k = message_kpis(M, by=[]).iloc[0]
    # m4 delivered null without bounce = delivered; m5 bounced; m2 clicked without open = open
    assert (k.sent, k.delivered, k.hard_bounces, k.soft_bounces) == (7, 6, 1, 0)
    assert (k.opens, k.machine_opens, k.human_opens, k.clicks) == (4, 1, 3, 2)
    assert (k.unsubscribes, k.complaints) == (1, 1)
    assert k.open_rate == pytest.approx(4 / 6) and k.human_open_rate == pytest.approx(3 / 6)
    assert k.ctr == pytest.approx(2 / 6) and k.click_to_open == pytest.approx(2 / 4)
    assert k.delivery_rate == pytest.approx(6 / 7) and k.bounce_rate == pytest.approx(1 / 7)
    assert k.complaint_rate == pytest.approx(1 / 6) and k.complaint_level == "over 0.3 %"


def test_groups_periods_and_ibis_agree():
    by_cell = message_kpis(M, by="cell_id")
    assert by_cell.cell_id.tolist() == ["x", "y"] and by_cell.sent.tolist() == [4, 3]
    assert by_cell.opens.tolist() == [3, 1]
    monthly = message_kpis(M, by=["campaign_id", "period"])
    assert monthly.period.tolist() == list(ts("2024-01-01", "2024-02-01"))
    assert monthly.sent.tolist() == [6, 1]
    lazy = message_kpis(ibis.memtable(M), by="cell_id")
    pd.testing.assert_frame_equal(lazy, by_cell, check_dtype=False)


def test_complaint_levels_follow_the_bulk_sender_thresholds():
    n = 2000
    m = pd.DataFrame({"message_id": [f"m{i}" for i in range(n)], "customer_id": "c",
                      "sent_at": ts(*["2024-01-01"] * n), "cell_id": np.repeat(["a", "b", "c"],
                                                                                [1000, 500, 500]),
                      "complained_at": pd.NaT})
    m.loc[[0], "complained_at"] = pd.Timestamp("2024-01-02")            # a: 0.1 %
    m.loc[1000, "complained_at"] = pd.Timestamp("2024-01-02")           # b: 0.2 %
    m.loc[[1500, 1501], "complained_at"] = pd.Timestamp("2024-01-02")   # c: 0.4 %
    k = message_kpis(m, by="cell_id")
    assert k.complaint_level.astype(str).tolist() == ["warning", "warning", "over 0.3 %"]
    assert message_kpis(m.assign(complained_at=pd.NaT), by=[]).complaint_level[0] == "ok"


def test_conversions_credit_the_last_click_within_the_window():
    tx = pd.DataFrame({"customer_id": ["a", "a", "b", "b"],
                       "ts": ts("2024-01-03", "2024-01-20", "2024-01-02 11:00", "2024-01-04"),
                       "amount": [50.0, 99.0, 10.0, 20.0]})
    # b's 11:00 purchase came before b's click (12:00); a's 2024-01-20 purchase is past 7 days
    k = message_kpis(M, by="message_id", transactions=tx).set_index("message_id")
    assert k.conversions.to_dict() == {"m1": 1, "m2": 1, "m3": 0, "m4": 0, "m5": 0, "m6": 0,
                                       "m7": 0}
    assert k.revenue["m1"] == 50.0 and k.revenue["m2"] == 20.0
    assert k.revenue_per_recipient["m1"] == 50.0
    # two clicks before one purchase: the later click takes it, nothing is counted twice
    again = pd.concat([M, M.iloc[[0]].assign(message_id="m8", sent_at=ts("2024-01-02 10:00"),
                                             opened_at=pd.NaT,
                                             clicked_at=ts("2024-01-02 10:30"))])
    credited = message_kpis(again, by="message_id", transactions=tx).set_index("message_id")
    assert credited.conversions["m8"] == 1 and credited.conversions["m1"] == 0
    assert credited.revenue.sum() == 70.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
                min_size=1, max_size=30))
def test_rates_are_fractions_and_opens_never_exceed_deliveries(rows):
    m = pd.DataFrame({
        "message_id": [f"m{i}" for i in range(len(rows))], "customer_id": "c",
        "sent_at": ts(*["2024-01-01"] * len(rows)),
        "bounce": [("hard" if r[0] else None) for r in rows],
        "opened_at": [pd.Timestamp("2024-01-01 09:00") if r[1] and not r[0] else pd.NaT
                      for r in rows],
        "clicked_at": [pd.Timestamp("2024-01-01 10:00") if r[2] and not r[0] else pd.NaT
                       for r in rows],
        "machine_open": [r[3] for r in rows]})
    k = message_kpis(m, by=[]).iloc[0]
    assert k.human_opens <= k.opens <= k.delivered <= k.sent
    assert k.clicks <= k.opens  # a click is an open
    for rate in ("open_rate", "human_open_rate", "ctr", "click_to_open", "delivery_rate"):
        assert np.isnan(k[rate]) or 0 <= k[rate] <= 1


def test_open_reach_by_hand():
    consents = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "channel": "email",
        "granted_at": ts("2023-01-01", "2023-01-01", "2024-01-20", "2023-01-01"),
        "revoked_at": ts(None, "2024-01-15", None, "2023-12-31")})
    r = open_reach(M, consents, start="2024-01-01", end="2024-03-01")
    assert r.period_start.tolist() == list(ts("2024-01-01", "2024-02-01"))
    # January: a, b (revoked mid-month) and c (joined mid-month); d revoked before it
    assert r.list_size.tolist() == [3, 2]
    # Jan: a (m1), b (m2: a click is an open) and c (m3, a machine-only open); Feb: a
    assert r.openers.tolist() == [3, 1] and r.human_openers.tolist() == [2, 1]
    assert r.open_reach.tolist() == pytest.approx([1, 1 / 2])
    assert r.human_open_reach.tolist() == pytest.approx([2 / 3, 1 / 2])
    assert r.delivered.tolist() == [5, 1] and r.opens.tolist() == [3, 1]
    lazy = open_reach(ibis.memtable(M), ibis.memtable(consents), start="2024-01-01",
                      end="2024-03-01")
    pd.testing.assert_frame_equal(lazy, r)
    mid = open_reach(M, consents, start="2024-01-02 08:30", end="2024-02-10")  # unaligned
    assert mid.period_start.tolist() == list(ts("2024-01-02 08:30", "2024-02-01"))
    assert mid.period_end.tolist() == list(ts("2024-02-01", "2024-02-10"))
    assert mid.delivered.tolist() == [0, 1]  # the January sends went out at 08:00


def test_bad_arguments_are_clear():
    with pytest.raises(DataError, match="'messages'.*'sent_at'"):
        message_kpis(M.drop(columns="sent_at"))
    with pytest.raises(DataError, match="'messages'.*'region'"):
        message_kpis(M, by="region")
    with pytest.raises(ValueError, match="freq must be one of"):
        message_kpis(M, by="period", freq="fortnight")
    with pytest.raises(ValueError, match="needs start before end"):
        open_reach(M, M.assign(channel="email", granted_at=M.sent_at), start="2024-01-05",
                   end="2024-01-05")


def test_demo_welcome_and_newsletter(demo):
    k = message_kpis(demo.table("messages"), by="campaign_id",
                     transactions=demo.table("transactions"))
    assert set(k.campaign_id) == {"newsletter", "welcome"}
    assert (k.opens <= k.delivered).all() and (k.delivered <= k.sent).all()
    assert (k.revenue >= 0).all() and k.conversions.sum() > 0
    r = open_reach(demo.table("messages"), demo.table("consents"),
                   start=demo.as_of.replace(day=1) - pd.DateOffset(months=5), end=demo.as_of)
    assert len(r) == 6 and (r.openers <= r.list_size).all()
    assert ((r.open_reach > 0) & (r.open_reach < 1)).all()


def test_contradictory_messages_are_refused_at_the_boundary():
    from lifecycle.schema import validate

    bad = M.assign(channel="email", bounce=["hard", None, None, None, "hard", None, None])
    with pytest.raises(DataError) as caught:
        validate(bad, "messages", as_of="2024-12-31")
    rules = {(p.column, p.rule.split(" (")[0]) for p in caught.value.problems}
    assert ("opened_at", "opened but not delivered") in rules
    assert ("clicked_at", "clicked but not delivered") in rules
    assert ("bounce", "bounced but delivered = true") in rules
    early = M.assign(channel="email", opened_at=M.opened_at - pd.Timedelta(days=1))
    with pytest.raises(DataError, match="opened_at before sent_at"):
        validate(early, "messages", as_of="2024-12-31")


def test_programs_against_the_newsletter():
    from statsmodels.stats.proportion import confint_proportions_2indep

    from lifecycle.kpis import against_baseline

    k = pd.DataFrame({"campaign_id": ["newsletter", "welcome", "winback"],
                      "delivered": [4000, 1000, 500], "human_opens": [800, 300, 90],
                      "clicks": [120, 70, 10], "conversions": [80, 30, 8]})
    out = against_baseline(k).set_index(["measure", "campaign_id"])
    assert out.index.tolist() == [(m, c) for m in ("open rate", "CTR", "conversion rate")
                                  for c in ("welcome", "winback")]
    row = out.loc[("CTR", "welcome")]
    assert row.effect == pytest.approx(0.07 - 0.03) and row.value == pytest.approx(0.07)
    low, high = confint_proportions_2indep(70, 1000, 120, 4000, method="newcomb")
    assert (row.ci_low, row.ci_high) == pytest.approx((low, high))
    assert out.loc[("open rate", "winback")].effect == pytest.approx(0.18 - 0.2)
    with pytest.raises(ValueError, match="baseline 'retention' is not among"):
        against_baseline(k, baseline="retention")
    with pytest.raises(DataError, match="needs at least"):  # 0.3 % of 500: too few to say
        against_baseline(k.assign(conversions=[12, 3, 1]))
    assert set(against_baseline(k, measures=("CTR",)).measure) == {"CTR"}


def test_revenue_per_recipient_against_the_newsletter_is_welch_on_the_messages():
    from scipy import stats

    from lifecycle.kpis import against_baseline

    rng = np.random.default_rng(3)
    n = {"newsletter": 3000, "welcome": 1000}
    rows = []
    for campaign, size in n.items():
        buys = rng.random(size) < (0.03 if campaign == "newsletter" else 0.06)
        rows.append(pd.DataFrame({"campaign_id": campaign,
                                  "revenue": np.where(buys, rng.lognormal(4, 1, size), 0.0)}))
    per_message = pd.concat(rows, ignore_index=True)
    k = per_message.groupby("campaign_id", as_index=False).agg(
        delivered=("revenue", "size"), revenue=("revenue", "sum"),
        revenue_sq=("revenue", lambda r: (r**2).sum()), human_opens=("revenue", "size"),
        clicks=("revenue", "size"))
    row = against_baseline(k, measures=("revenue per recipient",)).iloc[0]
    a = per_message.revenue[per_message.campaign_id == "welcome"]
    b = per_message.revenue[per_message.campaign_id == "newsletter"]
    assert row.effect == pytest.approx(a.mean() - b.mean())
    welch = stats.ttest_ind(a, b, equal_var=False)
    assert row.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    low, high = welch.confidence_interval()
    assert (row.ci_low, row.ci_high) == pytest.approx((low, high), rel=1e-6)


def test_credit_earned_over_all_messages_stays_put_when_reading_a_subset():
    from lifecycle.kpis import credited_sales

    m = pd.DataFrame({"message_id": ["n1", "w1"], "customer_id": ["a", "a"],
                      "campaign_id": ["newsletter", "welcome"],
                      "sent_at": ts("2024-01-02", "2024-01-03"),
                      "clicked_at": ts("2024-01-02 09:00", "2024-01-03 09:00")})
    tx = pd.DataFrame({"customer_id": ["a"], "ts": ts("2024-01-04"), "amount": [40.0]})
    credits = credited_sales(m, tx)
    assert credits.to_dict("list") == {"message_id": ["w1"], "conversions": [1],
                                       "revenue": [40.0]}
    news = m[m.campaign_id == "newsletter"]
    assert message_kpis(news, credited=credits).revenue.tolist() == [0.0]  # welcome earned it
    assert message_kpis(news, transactions=tx).revenue.tolist() == [40.0]  # subset alone
    both = message_kpis(m, credited=ibis.memtable(credits))
    pd.testing.assert_frame_equal(both, message_kpis(m, transactions=tx))


def test_responders_later_value_next_to_non_responders():
    from lifecycle.kpis import responder_value

    values = pd.DataFrame({"customer_id": ["a", "b", "c", "e"],
                           "clv_12m": [300.0, 120.0, 60.0, 10.0]})
    out = responder_value(M, values, by="cell_id").set_index("cell_id")
    # x: a and b clicked, c did not, d has no value; y: e bounced (m5), f and a's m7 no click
    assert out.loc["x"].tolist()[:5] == [2, 210.0, 1, 60.0, 1]
    assert out.difference["x"] == 150.0
    assert out.loc["y", "responders"] == 0 and out.loc["y", "non_responders"] == 1  # a
    assert out.loc["y", "without_value"] == 1  # f
    lazy = responder_value(ibis.memtable(M), ibis.memtable(values), by="cell_id")
    pd.testing.assert_frame_equal(lazy, out.reset_index())
