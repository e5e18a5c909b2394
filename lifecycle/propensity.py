"""Fitted scikit-learn models of what a customer will do next: buy, or leave at contract end.

**Features** (:func:`features`) are computed in the backend as of a cut ``as_of``, from data
strictly before it: purchase recency, frequency and spend (the one definition of a purchase,
:mod:`lifecycle.purchases`), tenure, the web share of orders, e-mail opens and clicks of the
last 90 days, service contacts and complaints of the last year, the last NPS and survey
scores, the open rate of the last year (over the messages not opened by a prefetching mail
app: those say nothing of the reader), and the running subscription (fee, days to its end, contracts so far). A value the
customer has not got (no NPS answer) is missing, not zero; the model handles that.

**Labels** come from the window that follows the cut, ``[as_of, as_of + horizon_days)``:

- ``"purchase"`` (:func:`labels`): the customer has a purchase day in the window;
- ``"churn"``: among customers whose contract ends in the window, the customer does not
  start a new one by ``horizon_days`` after that end (renewals start on the end day).

**The model** (:class:`PropensityModel`) is a scikit-learn estimator calibrated to
probabilities, so that a score of 0.3 means 30 %: histogram gradient boosting (missing values
handled natively, non-linear in recency) with isotonic calibration when there are many
training rows, a regularised logistic regression when there are few (a churn model sees only
the contracts ending in a window). :func:`fit` trains it on the latest complete windows
before a date, stacked (a customer appears once per window).

**Quality** (:func:`backtest`) is measured on a time split: tested on the latest complete
window before ``as_of``, trained on the windows before that one, so nothing of the test
window was seen in training. It reports the AUC, the AUC of a
recency-only baseline (the fewer days since the last purchase, the likelier to buy; the more,
the likelier to leave) and a calibration table by decile of the score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lifecycle import purchases

__all__ = ["BOOSTING_ROWS", "FEATURES", "KINDS", "Backtest", "PropensityModel", "backtest",
           "features", "fit", "labels", "training_set"]

KINDS = ("purchase", "churn")
BOOSTING_ROWS = 20_000
"""Training rows from which ``method="auto"`` picks gradient boosting over logistic
regression: boosting learns recency's curve, but overfits a few thousand rows."""

#: The feature columns, in the order the model takes them.
FEATURES = ["recency_days", "tenure_days", "purchase_days", "purchase_days_365",
            "net_spend", "spend_365", "web_share", "delivered_90", "opens_90", "clicks_90",
            "open_rate_365",
            "service_contacts_365", "complaints_365", "last_nps", "last_survey",
            "monthly_fee", "days_to_contract_end", "contracts"]


def features(workspace, *, as_of, customers=None) -> pd.DataFrame:
    """One row per customer who joined before ``as_of``: ``customer_id`` and :data:`FEATURES`,
    from data strictly before ``as_of`` (see the module docstring). ``customers``: only these
    ids (a sequence), e.g. those a model is trained on or will score."""
    cut = pd.Timestamp(as_of)
    present = workspace.tables()
    people = workspace.table("customers")
    people = people.filter(people.created_at < cut)
    if customers is not None:
        wanted = _ids(customers)
        people = people.semi_join(wanted, people.customer_id == wanted._id)
    people = people.select("customer_id", tenure_days=_days_between(people.created_at, cut))

    def source(name: str) -> ir.Table:  # only the wanted customers' rows are aggregated
        t = workspace.table(name)
        return t if customers is None else t.semi_join(wanted, t.customer_id == wanted._id)

    parts = [_purchase_features(source("transactions"), cut)]
    if "messages" in present:
        parts.append(_message_features(source("messages"), cut))
    if "feedback" in present:
        parts.append(_feedback_features(source("feedback"), cut))
    if "subscriptions" in present:
        parts.append(_contract_features(source("subscriptions"), cut))
    out = people
    for part in parts:
        out = _attach(out, part)
    frame = out.execute()
    for column in FEATURES:  # absent sources: every value missing
        if column not in frame:
            frame[column] = np.nan
    counts = ["purchase_days", "purchase_days_365", "delivered_90", "opens_90", "clicks_90",
              "service_contacts_365", "complaints_365", "contracts"]
    frame[counts] = frame[counts].fillna(0)
    frame[["net_spend", "spend_365"]] = frame[["net_spend", "spend_365"]].fillna(0.0)
    return (frame[["customer_id", *FEATURES]].astype(dict.fromkeys(FEATURES, "float64"))
            .sort_values("customer_id").reset_index(drop=True))


def _attach(left: ir.Table, right: ir.Table) -> ir.Table:
    """``right``'s columns on ``left``'s rows, matched on ``customer_id``."""
    right = right.rename(_key="customer_id")
    return left.left_join(right, left.customer_id == right._key).drop("_key")


def _days_between(earlier: ir.TimestampValue, cut: pd.Timestamp) -> ir.FloatingValue:
    seconds = ibis.literal(cut).epoch_seconds() - earlier.cast("timestamp").epoch_seconds()
    return seconds.cast("float64") / 86_400


def _purchase_features(tx: ir.Table, cut: pd.Timestamp) -> ir.Table:
    before = tx.filter(tx.ts < cut)
    end = cut - pd.Timedelta(days=1)  # a date is observed through its whole day
    every = purchases.customer_purchases(before, end=end)
    year = purchases.customer_purchases(before.filter(before.ts >= cut - pd.Timedelta(days=365)),
                                        end=end).select("customer_id",
                                                        purchase_days_365="purchase_days",
                                                        spend_365="net_spend")
    web = before.group_by("customer_id").aggregate(
        web_share=(before.channel == "web").cast("float64").mean())
    out = every.select("customer_id", "purchase_days", "net_spend", recency_days=_days_between(
        every.last_day.cast("timestamp") + ibis.interval(days=1), cut))
    return _attach(_attach(out, year), web)


def _message_features(m: ir.Table, cut: pd.Timestamp) -> ir.Table:
    year = m.filter(m.sent_at < cut, m.sent_at >= cut - pd.Timedelta(days=365))
    seen = lambda c: year[c].notnull() & (year[c] < cut)  # noqa: E731
    delivered = year.delivered.fill_null(True) & year.bounce.isnull()
    opened = delivered & (seen("opened_at") | seen("clicked_at"))
    recent = year.sent_at >= cut - pd.Timedelta(days=90)
    # a prefetching mail app opens everything: its messages say nothing of the reader
    prefetched = (year.machine_open.fill_null(False) & seen("opened_at")
                  if "machine_open" in year.columns else ibis.literal(False))
    own = delivered & ~prefetched
    return year.group_by("customer_id").aggregate(
        delivered_90=(delivered & recent).cast("int64").sum(),
        opens_90=(opened & recent).cast("int64").sum(),
        clicks_90=(delivered & recent & seen("clicked_at")).cast("int64").sum(),
        open_rate_365=(opened & own).cast("float64").sum()
        / own.cast("float64").sum().nullif(0))


def _feedback_features(f: ir.Table, cut: pd.Timestamp) -> ir.Table:
    before = f.filter(f.ts < cut)
    year = before.ts >= cut - pd.Timedelta(days=365)
    out = before.group_by("customer_id").aggregate(
        service_contacts_365=((before.kind == "service_contact") & year).cast("int64").sum(),
        complaints_365=((before.kind == "complaint") & year).cast("int64").sum())
    for kind, name in (("nps", "last_nps"), ("survey", "last_survey")):
        rows = before.filter(before.kind == kind, before.score.notnull())
        out = _attach(out, rows.group_by("customer_id").aggregate(
            **{name: rows.score.argmax(rows.ts)}))
    return out


def _contract_features(s: ir.Table, cut: pd.Timestamp) -> ir.Table:
    started = s.filter(s.start_at < cut)
    running = started.filter(started.end_at.isnull() | (started.end_at > cut))
    now = running.group_by("customer_id").aggregate(
        monthly_fee=running.monthly_fee.max(), _end=running.end_at.max())
    now = now.mutate(days_to_contract_end=-_days_between(now._end, cut)).drop("_end")
    count = started.group_by("customer_id").aggregate(contracts=started.count())
    return _attach(count, now)  # every running contract's customer has started one


def labels(workspace, kind: str, *, as_of, horizon_days: int = 90,
           customers=None) -> pd.DataFrame:
    """``customer_id, label`` (0/1) of the window ``[as_of, as_of + horizon_days)``.

    ``"purchase"``: every customer who joined before ``as_of``; 1 with a purchase day in the
    window. ``"churn"``: the customers whose contract ends in the window; 1 without a new
    contract starting by ``horizon_days`` after that end. ``customers``: only these ids.
    """
    cut, window = pd.Timestamp(as_of), pd.Timedelta(days=horizon_days)
    if kind == "purchase":
        people = workspace.table("customers")
        people = people.filter(people.created_at < cut).select("customer_id")
        tx = workspace.table("transactions")
        if customers is not None:
            wanted = _ids(customers)
            people = people.semi_join(wanted, people.customer_id == wanted._id)
            tx = tx.semi_join(wanted, tx.customer_id == wanted._id)
        window_tx = tx.filter(tx.ts >= cut, tx.ts < cut + window)
        bought = purchases.customer_purchases(window_tx, end=cut + window - pd.Timedelta(days=1))
        bought = bought.filter(bought.purchase_days > 0).select(_b="customer_id")
        j = people.left_join(bought, people.customer_id == bought._b)
        out = j.select("customer_id", label=j._b.notnull().cast("int64"))
    elif kind == "churn":
        s = workspace.table("subscriptions")
        ending = s.filter(s.end_at >= cut, s.end_at < cut + window, s.start_at < cut)
        ending = ending.group_by("customer_id").aggregate(_end=ending.end_at.max())
        later = s.select(_c="customer_id", _start="start_at")
        j = ending.left_join(later, (ending.customer_id == later._c) &
                             (later._start >= ending._end) &
                             (later._start < ending._end + ibis.interval(days=horizon_days)))
        renewed = j.group_by("customer_id").aggregate(_renewed=j._c.notnull().any())
        out = renewed.select("customer_id", label=(~renewed._renewed).cast("int64"))
        if customers is not None:
            wanted = _ids(customers)
            out = out.semi_join(wanted, out.customer_id == wanted._id)
    else:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return out.execute().sort_values("customer_id").reset_index(drop=True)


def _ids(customers) -> ir.Table:
    """A one-column table ``_id`` of customer ids."""
    return ibis.memtable(pd.DataFrame({"_id": pd.Series(customers, dtype="str")}))


class PropensityModel:
    """A calibrated classifier on :data:`FEATURES` (see the module docstring).

    ``method``: ``"boosting"`` (histogram gradient boosting, isotonic-calibrated on shuffled
    folds), ``"logistic"`` (median imputation with missing-value indicators, standardised,
    L2-regularised logistic regression: calibrated by construction, and steadier on a few
    thousand rows) or ``"auto"``: boosting from :data:`BOOSTING_ROWS` training rows on,
    logistic below. scikit-learn's contract: ``fit(frame, y)`` then ``predict(frame)``.
    """

    def __init__(self, *, method: str = "auto", random_state: int = 0):
        self.method = method
        self.random_state = random_state

    def fit(self, frame: pd.DataFrame, y) -> PropensityModel:
        """Learn from ``frame`` (the :data:`FEATURES` columns) and 0/1 outcomes ``y``."""
        y = np.asarray(y)
        if len(np.unique(y)) < 2:
            raise ValueError("the outcome has one value only: nothing to learn from")
        if self.method not in ("auto", "boosting", "logistic"):
            raise ValueError(f"method must be auto, boosting or logistic, not {self.method!r}")
        self.method_ = (self.method if self.method != "auto" else
                        "boosting" if len(y) >= BOOSTING_ROWS else "logistic")
        if self.method_ == "boosting":
            boost = HistGradientBoostingClassifier(random_state=self.random_state)
            folds = StratifiedKFold(3, shuffle=True, random_state=self.random_state)  # rows
            self.model_ = CalibratedClassifierCV(boost, method="isotonic", cv=folds)  # come
        else:  # sorted by id, i.e. by joining date: unshuffled folds would split by tenure
            self.model_ = make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                        StandardScaler(), LogisticRegression(C=0.5,
                                                                             max_iter=2000))
        self.model_.fit(frame[FEATURES].to_numpy("float64"), y)
        self.n_rows_ = len(y)
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``score``: the probability of the outcome, on the index of ``frame``."""
        if not hasattr(self, "model_"):
            raise RuntimeError("PropensityModel is not fitted: call fit(frame, y) first")
        scores = self.model_.predict_proba(frame[FEATURES].to_numpy("float64"))[:, 1]
        return pd.DataFrame({"score": scores}, index=frame.index)


class Backtest(NamedTuple):
    """What :func:`backtest` measured."""

    kind: str
    train_cuts: list[pd.Timestamp]
    test_cut: pd.Timestamp
    n_train: int
    n_test: int
    auc: float
    baseline_auc: float
    calibration: pd.DataFrame  # decile, customers, mean_score, observed_rate
    model: PropensityModel


def training_set(workspace, kind: str, cuts, *, horizon_days: int = 90,
                 population: Callable[[pd.Timestamp], Iterable[str]] | None = None
                 ) -> pd.DataFrame:
    """:func:`features` and :func:`labels` at each cut, stacked: ``cut, customer_id``,
    :data:`FEATURES` and ``label``. ``population(cut)``: only these customers at that cut
    (e.g. those a program would have selected on the day), default all with a label."""
    parts = []
    for cut in cuts:
        known = labels(workspace, kind, as_of=cut, horizon_days=horizon_days,
                       customers=None if population is None else
                       population(pd.Timestamp(cut)))
        parts.append(features(workspace, as_of=cut, customers=known.customer_id).merge(
            known, on="customer_id").assign(cut=pd.Timestamp(cut)))
    return pd.concat(parts, ignore_index=True)


def _cuts(end, horizon_days: int, windows: int) -> list[pd.Timestamp]:
    """The cuts one, two, ... ``windows`` horizons before ``end``: their windows end by it."""
    return [pd.Timestamp(end) - k * pd.Timedelta(days=horizon_days)
            for k in range(1, windows + 1)]


def fit(workspace, kind: str, *, as_of=None, horizon_days: int = 90, windows: int = 3,
        method: str = "auto", random_state: int = 0,
        population: Callable[[pd.Timestamp], Iterable[str]] | None = None) -> PropensityModel:
    """A model trained on the ``windows`` latest complete windows before ``as_of`` (cuts one,
    two, ... horizons back), to score customers as of ``as_of``; ``population`` as in
    :func:`training_set`."""
    end = pd.Timestamp(as_of if as_of is not None else workspace.as_of)
    cuts = _cuts(end, horizon_days, windows)
    train = training_set(workspace, kind, cuts, horizon_days=horizon_days,
                         population=population)
    if train.empty:
        raise ValueError(f"no {kind} training rows in the {windows} windows of "
                         f"{horizon_days} days before {end:%Y-%m-%d}")
    return PropensityModel(method=method, random_state=random_state).fit(train, train.label)


def backtest(workspace, kind: str, *, as_of=None, horizon_days: int = 90, windows: int = 3,
             method: str = "auto", random_state: int = 0,
             population: Callable[[pd.Timestamp], Iterable[str]] | None = None) -> Backtest:
    """Test :func:`fit`'s model on the latest complete window, trained on the ``windows``
    before it; against the recency-only baseline, with the calibration table by decile."""
    test_cut = _cuts(as_of if as_of is not None else workspace.as_of, horizon_days, 1)[0]
    model = fit(workspace, kind, as_of=test_cut, horizon_days=horizon_days, windows=windows,
                method=method, random_state=random_state, population=population)
    test = training_set(workspace, kind, [test_cut], horizon_days=horizon_days,
                        population=population)
    score = model.predict(test).score
    recency = test.recency_days.fillna(test.recency_days.max() + 1)
    baseline = -recency if kind == "purchase" else recency
    decile = pd.qcut(score.rank(method="first"), 10, labels=False) + 1
    calibration = test.assign(score=score, decile=decile).groupby("decile").agg(
        customers=("label", "size"), mean_score=("score", "mean"),
        observed_rate=("label", "mean")).reset_index()
    return Backtest(kind, _cuts(test_cut, horizon_days, windows), test_cut, model.n_rows_, len(test),
                    float(roc_auc_score(test.label, score)),
                    float(roc_auc_score(test.label, baseline)), calibration, model)
