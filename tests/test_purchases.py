"""lifecycle.purchases: one meaning of "a purchase", and every module counting with it."""

import ibis
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle import clv, purchases, rfm, value
from lifecycle.audiences import stages
from lifecycle.datasets import load_cdnow

AS_OF = "2024-01-31"


def _tx(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "ts", "amount"]).assign(
        ts=lambda d: pd.to_datetime(d.ts, format="ISO8601"))


def _per_customer(rows) -> pd.DataFrame:
    per = purchases.customer_purchases(ibis.memtable(_tx(rows)), end=AS_OF)
    return per.execute().set_index("customer_id").sort_index()


@pytest.mark.parametrize(("rows", "days", "net"), [
    ([("a", "2024-01-02 09:00", 10.0), ("a", "2024-01-02 17:00", 5.0)], 1, 15.0),  # same day
    ([("a", "2024-01-02", 0.0)], 1, 0.0),  # a free item is a purchase
    ([("a", "2024-01-02", 15.0), ("a", "2024-01-03", 20.0), ("a", "2024-01-09", -8.0)],
     2, 27.0),  # a return on a later day reduces net spend, not the purchase days
    ([("a", "2024-01-02", 20.0), ("a", "2024-01-02", -20.0)], 0, 0.0),  # fully refunded day
    ([("a", "2024-01-02", 20.0), ("a", "2024-01-02", -5.0)], 1, 15.0),  # partly refunded day
    ([("a", "2024-01-05", -30.0)], 0, -30.0),  # only a return
    ([("a", "2024-01-02", 10.0), ("a", "2024-02-01", 10.0)], 1, 10.0),  # after as_of: unseen
])
def test_purchase_days_and_net_spend(rows, days, net):
    per = _per_customer(rows)
    assert per.loc["a", "purchase_days"] == days
    assert per.loc["a", "net_spend"] == net


def test_first_and_last_day_are_purchase_days():
    per = _per_customer([("a", "2024-01-01", -5.0), ("a", "2024-01-03", 10.0),
                         ("a", "2024-01-07", 4.0), ("a", "2024-01-09", -4.0)])
    assert (str(per.loc["a", "first_day"].date()), str(per.loc["a", "last_day"].date())) == (
        "2024-01-03", "2024-01-07")


def test_rfm_counts_the_same_buyers_as_the_clv_summary_on_cdnow():
    tx = load_cdnow()
    summary = clv.summary(tx, as_of="1998-06-30").set_index("customer_id")
    scores = rfm.rfm(tx, as_of="1998-06-30").set_index("customer_id")
    scores.index = scores.index.astype(str)
    assert set(scores.index) == set(summary.index)  # the zero-amount buyers too
    pd.testing.assert_series_equal(scores.frequency.sort_index() - 1,
                                   summary.frequency.sort_index(), check_names=False,
                                   check_dtype=False)


_ROW = st.tuples(st.sampled_from(["a", "b", "c"]),
                 st.integers(min_value=0, max_value=40),  # day offset from 2024-01-01
                 st.sampled_from([-20.0, -5.0, 0.0, 5.0, 20.0]))


@settings(max_examples=25, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=25))
def test_every_module_counts_the_same_purchase_days(rows):
    tx = _tx([(c, pd.Timestamp("2024-01-01") + pd.Timedelta(days=d), a) for c, d, a in rows])
    per = _per_customer(tx.itertuples(index=False))
    buyers = per[per.purchase_days > 0]
    scores = rfm.rfm(tx, as_of=AS_OF).set_index("customer_id")
    assert scores.frequency.to_dict() == buyers.purchase_days.to_dict()
    assert scores.monetary.to_dict() == pytest.approx(buyers.net_spend.to_dict())
    summary = clv.summary(tx, as_of=AS_OF, time_unit="D").set_index("customer_id")
    assert (summary.frequency + 1).to_dict() == buyers.purchase_days.to_dict()
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"],
                              "created_at": pd.Timestamp("2023-01-01")})
    feedback = pd.DataFrame({"customer_id": pd.Series(dtype=str), "ts": pd.Series(
        dtype="datetime64[ns]"), "kind": pd.Series(dtype=str), "score": pd.Series(dtype=float)})
    measured = value.criteria(customers, tx, feedback, as_of=AS_OF).set_index("customer_id")
    years = measured.tenure.clip(lower=value._MIN_YEARS)
    counted = (measured.frequency * years).round(9)
    assert counted.to_dict() == per.purchase_days.reindex(counted.index).fillna(0).to_dict()
    events = pd.DataFrame({"ts": pd.Series(dtype="datetime64[ns]"),
                           "anonymous_id": pd.Series(dtype=str),
                           "customer_id": pd.Series(dtype=str),
                           "event_type": pd.Series(dtype=str), "category": pd.Series(dtype=str),
                           "medium": pd.Series(dtype=str)})
    staged = stages(events, tx, as_of=AS_OF).set_index("person_id")
    repeat = set(per.index[per.purchase_days >= 2])
    assert set(staged.index[staged.stage == "care"]) == repeat
