import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames

from lifecycle.value import CRITERIA, criteria, rank_changes, score, top_n_change


def weights(**w):
    rows = CRITERIA[CRITERIA.criterion.isin(w)].copy()
    rows["weight"] = rows.criterion.map(w)
    return rows


def measures(**cols):
    n = len(next(iter(cols.values())))
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], **cols})


def test_percentiles_direction_and_contributions_add_up():
    m = measures(frequency=[1.0, 2.0, 3.0], service_contacts=[0.0, 0.0, 4.0])
    s = score(m, weights(frequency=1.0, service_contacts=1.0))
    # frequency percentiles 0, .5, 1; contacts (lower better): ties at 0 share .75, 4 -> 0
    assert s.frequency.tolist() == [0.0, 25.0, 50.0]
    assert s.service_contacts.tolist() == [37.5, 37.5, 0.0]
    assert np.allclose(s.score, s.frequency + s.service_contacts)
    assert s["rank"].tolist() == [3, 1, 2]  # scores 37.5, 62.5, 50


def test_zero_weight_ignores_a_criterion_and_weights_change_the_ranking():
    m = measures(frequency=[1.0, 5.0], margin=[100.0, 1.0])
    by_freq = score(m, weights(frequency=1.0, margin=0.0))
    by_margin = score(m, weights(frequency=0.0, margin=1.0))
    assert by_freq["rank"].tolist() == [2, 1]
    assert by_margin["rank"].tolist() == [1, 2]
    assert by_freq.margin.tolist() == [0.0, 0.0]


@pytest.mark.parametrize(("policy", "expected"), [("neutral", 75.0), ("worst", 50.0),
                                                  ("skip", 100.0)])
def test_missing_data_policies(policy, expected):
    m = measures(frequency=[3.0, 1.0], advocacy=[np.nan, 2.0])
    w = weights(frequency=1.0, advocacy=1.0)
    w.loc[w.criterion == "advocacy", "missing"] = policy
    s = score(m, w)
    assert s.set_index("customer_id").loc["c0", "score"] == pytest.approx(expected)


def test_invalid_weights_are_rejected_with_the_rows():
    m = measures(frequency=[1.0])
    with pytest.raises(ValueError, match="no measure for criteria"):
        score(m, weights(frequency=1.0, margin=1.0))
    bad = weights(frequency=1.0).assign(direction=0)
    with pytest.raises(ValueError, match="invalid criteria rows"):
        score(m, bad)
    with pytest.raises(ValueError, match="positive weight"):
        score(m, weights(frequency=0.0))


def test_top_n_change_counts_movers():
    m = measures(frequency=[4.0, 3.0, 2.0, 1.0], margin=[1.0, 2.0, 3.0, 4.0])
    a = score(m, weights(frequency=1.0, margin=0.0))
    b = score(m, weights(frequency=0.0, margin=1.0))
    change = top_n_change(a, b, n=2)
    assert change[["kept", "entered", "left"]].tolist() == [0, 2, 2]
    assert change.spearman == pytest.approx(-1.0)
    assert rank_changes(a, b).set_index("customer_id").loc["c3", "move"] == 3


frames = data_frames([
    column("frequency", elements=st.floats(0, 50) | st.just(np.nan)),
    column("margin", elements=st.floats(-100, 1e4) | st.just(np.nan)),
    column("acquisition_cost", elements=st.floats(0, 500) | st.just(np.nan)),
])


@settings(max_examples=50, deadline=None)
@given(frames.filter(lambda d: len(d) > 0),
       st.lists(st.floats(0, 10), min_size=3, max_size=3).filter(lambda w: sum(w) > 0),
       st.sampled_from(["neutral", "worst", "skip"]))
def test_score_is_bounded_additive_and_ranks_everyone(m, w, policy):
    m.insert(0, "customer_id", [f"c{i}" for i in range(len(m))])
    wt = weights(frequency=w[0], margin=w[1], acquisition_cost=w[2]).assign(missing=policy)
    s = score(m, wt)
    assert s.score.between(0, 100 + 1e-9).all()
    assert np.allclose(s.score, s[["frequency", "margin", "acquisition_cost"]].sum(axis=1))
    assert sorted(s["rank"]) == list(range(1, len(m) + 1))


def test_criteria_from_tables_handle_missing_explicitly():
    customers = pd.DataFrame({"customer_id": ["a", "b", "late"],
                              "created_at": pd.to_datetime(["2024-01-01", "2024-07-01",
                                                            "2025-02-01"]),
                              "acquisition_cost": [30.0, np.nan, 5.0]})
    tx = pd.DataFrame({"customer_id": ["a", "a", "b"],
                       "ts": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-07-01"]),
                       "amount": [10.0, 20.0, 5.0], "margin": [3.0, 4.0, 1.0]})
    fb = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
                       "ts": pd.to_datetime(["2024-02-01", "2024-03-01", "2024-04-01",
                                             "2024-08-01"]),
                       "kind": ["nps", "nps", "idea", "referral"],
                       "score": [3.0, 9.0, np.nan, np.nan]})
    clv = pd.DataFrame({"customer_id": ["a"], "clv": [123.0]})
    m = criteria(customers, tx, fb, as_of="2024-12-31", clv=clv)
    assert m.customer_id.tolist() == ["a", "b"]  # not yet a customer on as_of
    m = m.set_index("customer_id")
    a, b = m.loc["a"], m.loc["b"]
    assert a.frequency == pytest.approx(1.0 / (366 / 365.25))  # one purchase day in a year
    assert a.ideas == 1 and a.advocacy == 1  # latest NPS 9 = promoter
    assert b.advocacy == 1  # no NPS, one referral
    assert np.isnan(b.acquisition_cost) and np.isnan(b.predicted_clv)
    assert a.predicted_clv == 123.0
