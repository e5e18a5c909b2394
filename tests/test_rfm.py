import itertools

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle import DataError
from lifecycle.rfm import (
    RF_SEGMENTS,
    RFM_SEGMENTS,
    check_segment_map,
    concentration,
    concentration_summary,
    gini,
    migration,
    rfm,
    score,
    segment,
    transition_matrix,
)


def tx(rows):
    return pd.DataFrame(rows, columns=["customer_id", "ts", "amount"]).assign(
        ts=lambda d: pd.to_datetime(d.ts, format="ISO8601"))


def test_rfm_counts_purchase_days_nets_returns_and_ignores_the_future():
    t = tx([("a", "2024-01-01 09:00", 50.0), ("a", "2024-01-01 18:00", 10.0),
            ("a", "2024-01-03", 30.0), ("a", "2024-01-03", -30.0),  # returned the same day
            ("a", "2024-01-20", 40.0), ("a", "2024-02-05", 99.0),  # after as_of
            ("b", "2024-01-31 23:59", 5.0)])
    out = rfm(t, as_of="2024-01-31").set_index("customer_id")
    assert out.loc["a"].tolist() == [11, 2, 100.0]
    assert out.loc["b"].tolist() == [0, 1, 5.0]
    mean = rfm(t, as_of="2024-01-31", monetary="mean").set_index("customer_id")
    assert mean.loc["a", "monetary"] == 50.0


def test_rfm_ibis_in_ibis_out_and_custom_columns():
    t = tx([("a", "2024-01-01", 5.0)]).rename(columns={"customer_id": "member", "amount": "eur"})
    out = rfm(ibis.memtable(t), as_of="2024-01-02", customer_col="member", amount_col="eur")
    assert isinstance(out, ibis.Table)
    assert out.execute().to_dict("records") == [
        {"customer_id": "a", "recency": 1, "frequency": 1, "monetary": 5.0}]


def test_rfm_missing_column_is_a_data_error():
    with pytest.raises(DataError, match="'transactions', column 'amount'"):
        rfm(tx([("a", "2024-01-01", 5.0)]).drop(columns="amount"), as_of="2024-02-01")


def test_distinct_values_give_exact_quintiles():
    t = pd.DataFrame({"customer_id": [f"c{i}" for i in range(100)], "recency": range(100),
                      "frequency": range(100), "monetary": np.linspace(1, 2, 100)})
    s = score(t)
    for col in "rfm":
        assert s[col].value_counts().sort_index().tolist() == [20] * 5
    assert s.loc[s.recency == 0, "r"].item() == 5  # most recent is best
    assert s.loc[s.frequency == 99, "f"].item() == 5


def test_a_block_of_ties_shares_one_score():
    freq = [1] * 60 + [2] * 20 + list(range(3, 23))
    t = pd.DataFrame({"customer_id": range(100), "recency": 1, "frequency": freq,
                      "monetary": 1.0})
    s = score(t)
    assert set(s.f[:60]) == {1}
    assert set(s.f[60:80]) == {4}  # 60 % strictly below: 1 + floor(5 * 0.6)
    assert set(s.r) == {1} and set(s.m) == {1}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=40))
def test_equal_inputs_get_equal_scores_and_order_is_kept(values):
    t = pd.DataFrame({"customer_id": range(len(values)), "recency": values,
                      "frequency": values, "monetary": values})
    s = score(t)
    for v in set(values):
        assert s.loc[s.frequency == v, "f"].nunique() == 1
    by_value = s.groupby("frequency").agg(f=("f", "first"), r=("r", "first"))
    assert by_value.f.is_monotonic_increasing and by_value.r.is_monotonic_decreasing
    assert s[["r", "f", "m"]].isin(range(1, 6)).all().all()


def test_default_map_covers_each_rf_cell_exactly_once():
    hits = {cell: 0 for cell in itertools.product(range(1, 6), repeat=2)}
    for rule in RF_SEGMENTS.itertuples():
        for r, f in itertools.product(range(rule.r_min, rule.r_max + 1),
                                      range(rule.f_min, rule.f_max + 1)):
            hits[(r, f)] += 1
    assert set(hits.values()) == {1}
    assert len(RF_SEGMENTS) == 10


def test_rfm_map_is_complete_and_uses_priority():
    check_segment_map(RFM_SEGMENTS)
    s = pd.DataFrame({"customer_id": ["big", "lapsed"], "r": [1, 1], "f": [5, 5], "m": [5, 1]})
    assert segment(s, RFM_SEGMENTS).segment.tolist() == ["Big spenders slipping", "Lapsing"]


def test_ambiguous_and_incomplete_maps_are_rejected():
    overlapping = pd.concat([RF_SEGMENTS, pd.DataFrame(
        [("VIP", 5, 5, 5, 5)], columns=RF_SEGMENTS.columns)])
    with pytest.raises(ValueError, match=r"ambiguous in 1 score cells, e.g. \(r=5, f=5\)"):
        check_segment_map(overlapping)
    check_segment_map(overlapping.assign(priority=[2] * 10 + [1]))  # priority resolves it
    with pytest.raises(ValueError, match="uncovered"):
        check_segment_map(RF_SEGMENTS[RF_SEGMENTS.segment != "Hibernating"])


def test_user_defined_map():
    two = pd.DataFrame([("Good", 3, 5, 1, 5), ("Bad", 1, 2, 1, 5)],
                       columns=["segment", "r_min", "r_max", "f_min", "f_max"])
    s = pd.DataFrame({"customer_id": ["x", "y"], "r": [4, 2], "f": [1, 1]})
    assert segment(s, two).segment.tolist() == ["Good", "Bad"]


def test_migration_and_transition_matrix():
    t = tx([(c, "2024-01-01", 10.0) for c in "abcde"]
           + [("a", "2024-03-01", 10.0), ("a", "2024-05-25", 10.0), ("f", "2024-05-30", 10.0)])
    moves = migration(t, start="2024-01-31", end="2024-05-31")
    assert len(moves) == 6
    f = moves.set_index("customer_id").loc["f"]
    assert f.segment_start == "(not yet a customer)"
    m = transition_matrix(moves)
    assert m.to_numpy().sum() == 6
    shares = transition_matrix(moves, normalize=True)
    assert np.allclose(shares.sum(axis=1), 1.0)


def test_concentration_curve_top_share_and_gini():
    t = tx([(f"c{i}", "2024-01-01", v) for i, v in enumerate([50, 30, 10, 5, 5, 0, 0, 0, 0,
                                                              0])])
    curve = concentration(t)
    assert curve.value_share.iloc[-1] == pytest.approx(1.0)
    summary = concentration_summary(curve, tops=(0.2,))
    assert summary["top 20%"] == pytest.approx(0.8)
    x = np.array([50, 30, 10, 5, 5, 0, 0, 0, 0, 0.0])
    mean_abs_diff = np.abs(x[:, None] - x[None, :]).mean()
    assert summary["gini"] == pytest.approx(mean_abs_diff / (2 * x.mean()))


def test_concentration_on_margin_treats_net_negative_as_zero():
    t = tx([("a", "2024-01-01", 10.0), ("b", "2024-01-01", 10.0)]).assign(margin=[4.0, -1.0])
    curve = concentration(t, value_col="margin")
    assert curve.value.tolist() == [4.0, 0.0]
    assert gini(curve.value.to_numpy()) == pytest.approx(0.5)
