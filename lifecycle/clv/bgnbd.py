"""The BG/NBD model of repeat purchases and drop-out."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from lifecycle.clv._kernels import (
    _BG_COLUMNS,
    _alive_purchases,
    _bg_data,
    _bg_nll,
    _check_engine,
    _check_unit,
    _distinct,
    _eager,
    _fit_with_retry,
    _fitted,
    _group,
    _ids,
    _lifetimes_fit,
    _minimise,
    _p_alive,
    _resolve_unit,
    _Uncertainty,
    _validate,
)
from lifecycle.schema import DataError, Problem

__all__ = ["BetaGeoModel"]


class BetaGeoModel(_Uncertainty, BaseEstimator):
    """BG/NBD model of repeat purchases and drop-out (Fader, Hardie and Lee 2005).

    A scikit-learn estimator (``get_params``, ``set_params``, ``sklearn.base.clone``).

    Parameters
    ----------
    penalizer : float
        L2 penalty on the parameters, as ``lifetimes``' ``penalizer_coef`` (0: plain maximum
        likelihood). A fit that does not converge is retried once with 0.001 (or ten times the
        given penalty) with a warning; ``penalizer_`` records the one used.
    time_unit : {None, "W", "D"}
        Unit of the summaries' durations, of ``alpha`` and of prediction horizons. None (the
        default) takes the unit the summary states in its ``time_unit`` column; a unit given
        here must agree with it.
    engine : {"numpy", "lifetimes"}
        Who minimises the (identical) objective: analytic gradients here, or ``lifetimes``'
        ``BetaGeoFitter`` on the same weighted distinct rows (slower, the reference).

    Attributes
    ----------
    params_ : pandas.Series
        ``r``, ``alpha`` (in ``time_unit_``), ``a``, ``b``.
    standard_errors_ : pandas.Series
        Their asymptotic standard errors (as ``lifetimes``' ``summary``), named like
        ``params_``; ``covariance_`` is the full matrix. Both are computed on first use.
    log_likelihood_ : float
        Total log-likelihood of the summary at ``params_`` (penalty excluded), durations in
        ``time_unit_``. ``lifetimes`` reports instead the mean negative log-likelihood per
        customer on durations rescaled so that the largest T is 1, plus the penalty.
    time_unit_, penalizer_ : the unit and penalty the fit used.
    n_customers_, max_frequency_, max_T_ : the fitted summary's size and ranges.

    Examples
    --------
    The published CDNOW fit (Fader, Hardie and Lee 2005: r 0.243, alpha 4.414, a 0.793,
    b 2.426, log-likelihood -9582.4; customer 1 expects 1.226 purchases in the next 39 weeks):

    >>> from lifecycle.clv import calibration_holdout
    >>> from lifecycle.datasets import load_cdnow
    >>> ch = calibration_holdout(load_cdnow(), calibration_end="1997-09-30",
    ...                          observation_end="1998-06-30")
    >>> bg = BetaGeoModel().fit(ch)
    >>> bg.params_.round(3)
    r        0.243
    alpha    4.414
    a        0.793
    b        2.426
    Name: BG/NBD, dtype: float64
    >>> round(bg.log_likelihood_, 1), bg.time_unit_
    (-9582.4, 'W')
    >>> bg.predict(ch, horizon=39).head(3).round(3)
      customer_id  p_alive  expected_purchases
    0           1    0.727               1.226
    1          10    1.000               0.195
    2         100    0.647               0.627
    """

    def __init__(self, penalizer: float = 0.0, *, time_unit: str | None = None,
                 engine: str = "numpy"):
        self.penalizer = penalizer
        self.time_unit = time_unit
        self.engine = engine

    def fit(self, summary) -> BetaGeoModel:
        """Fit on a :func:`summary` (pandas or ibis) with ``frequency, recency, T``."""
        _check_engine(self.engine)
        v, w, unit = _distinct(summary, _BG_COLUMNS)
        self.time_unit_ = _resolve_unit(unit, self.time_unit)
        x, tx, T = v["frequency"], v["recency"], v["T"]
        if T.max() <= 0:
            raise DataError([Problem("summary", "T", "must be positive for some customer", 0)])
        if x.max() == 0:
            raise DataError([Problem(
                "summary", "frequency", "no customer has a repeat purchase: BG/NBD cannot tell "
                "the purchase rate from drop-out (use a longer period)", int(w.sum()))])
        scale = 1.0 / T.max()  # as lifetimes: durations rescaled so the largest T is 1

        def data_for(rows):
            return _bg_data(x[rows], tx[rows] * scale, T[rows] * scale, w[rows] / w[rows].sum())

        def once(penalizer):
            if self.engine == "lifetimes":
                return _lifetimes_fit("BetaGeoFitter", penalizer, x, tx, T, weights=w)
            p = _minimise(_bg_nll, data_for, len(x), penalizer, 4)
            return None if p is None else p / np.array([1, scale, 1, 1])

        params, self.penalizer_ = _fit_with_retry(
            once, self.penalizer, "BG/NBD",
            "a larger penalizer (0.01 to 0.1), removing accounts with extreme purchase counts "
            "(bots, resellers), or a longer calibration period")
        names = ["r", "alpha", "a", "b"]
        self.params_ = pd.Series(params, index=names, name="BG/NBD")
        to_scaled = np.array([1, scale, 1, 1])
        self._objective = (_bg_nll, params * to_scaled, data_for, self.penalizer_,
                           w.sum(), 1 / to_scaled)
        self.__dict__.pop("_cov", None)
        self.log_likelihood_ = float(-_bg_nll(np.log(params), _bg_data(x, tx, T, w), 0.0)[0])
        self.n_customers_, self.max_frequency_, self.max_T_ = int(w.sum()), int(x.max()), T.max()
        return self

    def _prepared(self, summary) -> tuple[np.ndarray, pd.DataFrame, dict]:
        params = _fitted(self)
        frame = _eager(summary)
        _check_unit(frame, self.time_unit_)
        return params, frame, _validate(frame, _BG_COLUMNS)

    def p_alive(self, summary) -> pd.Series:
        """Probability that each customer is still active at T (1 without repeat purchases),
        on the summary's rows (same index)."""
        params, frame, v = self._prepared(summary)
        out = _p_alive(params, v["frequency"], v["recency"], v["T"])
        return pd.Series(out, index=frame.index, name="p_alive")

    def expected_purchases(self, summary, *, horizon: float) -> pd.Series:
        """Expected purchases of each customer in the next ``horizon`` time units, on the
        summary's rows (same index)."""
        params, frame, v = self._prepared(summary)
        x, T = v["frequency"], v["T"]
        key, first = _group(x, T)
        alive = _alive_purchases(params, float(horizon), x[first], T[first])[key]
        out = alive * _p_alive(params, x, v["recency"], T)
        return pd.Series(out, index=frame.index, name="expected_purchases")

    def predict(self, summary, *, horizon: float) -> pd.DataFrame:
        """``customer_id`` (if the summary has it), ``p_alive`` and ``expected_purchases``
        over ``horizon`` time units, one row per summary row."""
        frame = _eager(summary)
        return pd.concat([_ids(frame),
                          self.p_alive(frame), self.expected_purchases(frame, horizon=horizon)],
                         axis=1)

    def population_purchases(self, t) -> np.ndarray:
        """Expected repeat purchases of a new customer in their first ``t`` time units."""
        t = np.asarray(t, dtype="float64")
        return _alive_purchases(_fitted(self), t, 0.0, 0.0)
