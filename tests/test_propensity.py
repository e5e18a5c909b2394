"""Propensity and churn models: features from before the cut only, labels from the window
after it, and on the demo better than knowing only when a customer last bought."""

import numpy as np
import pandas as pd
import pytest

from lifecycle import Workspace, propensity

CUT = pd.Timestamp("2026-06-01")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return Workspace.demo(tmp_path_factory.mktemp("propensity") / "demo.duckdb",
                          n_customers=50_000, random_state=0)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return Workspace.demo(tmp_path_factory.mktemp("small") / "demo.duckdb", n_customers=3000,
                          random_state=2)


def _before(frame: pd.DataFrame, when: dict[str, str], cut: pd.Timestamp) -> pd.DataFrame:
    """The rows of a table as they stood at ``cut``: rows from after it dropped, and
    timestamps after it (an open of an earlier message) unknown yet."""
    out = frame[frame[when["row"]] < cut].copy()
    for column in when.get("later", ()):
        out[column] = out[column].where(out[column] < cut)
    return out


def test_features_use_only_the_data_before_the_cut(small, tmp_path):
    """The features at a cut are the same on the full workspace and on one cut at that
    instant: nothing from after the cut leaks in."""
    rows = {"customers": {"row": "created_at"}, "transactions": {"row": "ts"},
            "messages": {"row": "sent_at", "later": ("opened_at", "clicked_at",
                                                     "unsubscribed_at", "complained_at")},
            "feedback": {"row": "ts"}, "subscriptions": {"row": "start_at"}}
    cut_ws = Workspace.open(tmp_path / "cut.duckdb", create=True, as_of=CUT)
    with cut_ws.writing():
        for name, when in rows.items():
            frame = small.table(name).execute()
            if name == "messages":  # an open after the cut was not known at the cut
                frame.loc[frame.opened_at >= CUT, "machine_open"] = False
            cut_ws.load(name, _before(frame, when, CUT))
    full = propensity.features(small, as_of=CUT)
    seen = propensity.features(cut_ws, as_of=CUT)
    pd.testing.assert_frame_equal(full, seen)
    assert full.purchase_days.sum() > 0 and full.opens_90.sum() > 0
    assert full.service_contacts_365.sum() > 0 and full.monthly_fee.notna().any()


def test_labels_come_from_the_window_after_the_cut(small):
    tx = small.table("transactions").execute()
    got = propensity.labels(small, "purchase", as_of=CUT, horizon_days=30).set_index(
        "customer_id").label
    window = tx[(tx.ts >= CUT) & (tx.ts < CUT + pd.Timedelta(days=30))]
    spend = window.groupby(["customer_id", window.ts.dt.date]).amount.sum()
    buyers = set(spend[spend > 0].index.get_level_values(0))
    assert set(got[got == 1].index) == buyers & set(got.index)
    people = small.table("customers").execute()
    assert set(got.index) == set(people.customer_id[people.created_at < CUT])


def test_churn_labels_are_contract_ends_without_a_renewal(small):
    subs = small.table("subscriptions").execute()
    got = propensity.labels(small, "churn", as_of=CUT, horizon_days=90).set_index(
        "customer_id").label
    ending = subs[(subs.end_at >= CUT) & (subs.end_at < CUT + pd.Timedelta(days=90))
                  & (subs.start_at < CUT)]
    assert set(got.index) == set(ending.customer_id)
    for customer, end in ending.groupby("customer_id").end_at.max().items():
        renewed = ((subs.customer_id == customer) & (subs.start_at >= end)
                   & (subs.start_at < end + pd.Timedelta(days=90))).any()
        assert got[customer] == int(not renewed)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "margin"), [("purchase", 0.01), ("churn", 0.05)])
def test_models_beat_recency_alone_on_the_demo_and_are_calibrated(demo, kind, margin):
    """The demo's purchase signal is BG/NBD (frequency and recency together), its churn
    signal e-mail engagement, service need and advocacy (the truth's churn_risk): a model of
    the features finds them, recency alone does not."""
    result = propensity.backtest(demo, kind)
    assert result.auc > result.baseline_auc + margin, (result.auc, result.baseline_auc)
    table = result.calibration
    top, bottom = table.tail(3), table.head(3)  # the high scores are the likelier ones
    assert np.average(top.observed_rate, weights=top.customers) > np.average(
        bottom.observed_rate, weights=bottom.customers) + margin
    weighted = np.average(np.abs(table.mean_score - table.observed_rate),
                          weights=table.customers)
    assert weighted < (0.02 if kind == "purchase" else 0.08)
    assert result.train_cuts[0] == result.test_cut - pd.Timedelta(days=90)


def test_an_unfitted_or_one_class_model_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        propensity.PropensityModel().predict(pd.DataFrame(columns=propensity.FEATURES))
    frame = pd.DataFrame(np.ones((5, len(propensity.FEATURES))), columns=propensity.FEATURES)
    with pytest.raises(ValueError, match="one value only"):
        propensity.PropensityModel().fit(frame, [1] * 5)
    with pytest.raises(ValueError, match="kind must be"):
        propensity.labels(None, "upsell", as_of=CUT)
