"""The Gamma-Gamma model of spend per purchase."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from lifecycle.clv._kernels import (
    _GG_COLUMNS,
    ConvergenceError,
    _check_engine,
    _distinct,
    _eager,
    _fit_with_retry,
    _fitted,
    _gg_data,
    _gg_nll,
    _gg_spend,
    _ids,
    _lifetimes_fit,
    _minimise,
    _Uncertainty,
    _validate,
)
from lifecycle.schema import DataError, Problem

__all__ = ["GammaGammaModel"]


class GammaGammaModel(_Uncertainty, BaseEstimator):
    """Gamma-Gamma model of spend per purchase (Fader, Hardie and Lee 2005; Fader-Hardie 025).

    Fitted on the repeat buyers (frequency > 0 and monetary value > 0). Predictions shrink each
    customer's mean repeat spend towards the population mean; a customer without repeat
    purchases gets the population mean ``mean_spend_ = p * v / (q - 1)``. A scikit-learn
    estimator, like :class:`~lifecycle.clv.BetaGeoModel`.

    **Any money unit.** The fit runs on amounts divided by ``spend_scale_``, their mean, and
    ``v`` is scaled back: amounts in cents or in millions give the same ``p``, ``q`` and the
    same ``v`` relative to the amounts (the optimiser sees the same numbers). The penalty
    applies to ``v`` in that unit; with no penalty the optimum is ``lifetimes``' own.

    Parameters
    ----------
    penalizer : float
        L2 penalty on ``p, q, v`` (``v`` in units of ``spend_scale_``), retried as for
        :class:`~lifecycle.clv.BetaGeoModel`.
    engine : {"numpy", "lifetimes"}
        As for :class:`~lifecycle.clv.BetaGeoModel` (``lifetimes``' ``GammaGammaFitter``).

    Attributes
    ----------
    params_ : pandas.Series
        ``p``, ``q``, ``v``.
    standard_errors_, covariance_ : pandas.Series, pandas.DataFrame
        As for :class:`~lifecycle.clv.BetaGeoModel` (computed on first use).
    log_likelihood_ : float
        Total log-likelihood of the repeat buyers at ``params_`` (penalty excluded).
    mean_spend_ : float
        Population mean spend per purchase.
    penalizer_, spend_scale_, n_customers_ : float, float, int

    Examples
    --------
    The published CDNOW fit on the 946 repeat buyers (p 6.25, q 3.74, v 15.44); customer 10
    never repeated and gets the population mean:

    >>> from lifecycle.clv import calibration_holdout
    >>> from lifecycle.datasets import load_cdnow
    >>> ch = calibration_holdout(load_cdnow(), calibration_end="1997-09-30",
    ...                          observation_end="1998-06-30")
    >>> gg = GammaGammaModel().fit(ch)
    >>> gg.params_.round(2)
    p     6.25
    q     3.74
    v    15.44
    Name: Gamma-Gamma, dtype: float64
    >>> gg.predict(ch).head(2).round(2)
      customer_id  expected_spend
    0           1           24.65
    1          10           35.17
    """

    def __init__(self, penalizer: float = 0.0, *, engine: str = "numpy"):
        self.penalizer = penalizer
        self.engine = engine

    def fit(self, summary) -> GammaGammaModel:
        """Fit on a :func:`summary` (pandas or ibis) with ``frequency, monetary_value``."""
        _check_engine(self.engine)
        v, w, _ = _distinct(summary, _GG_COLUMNS, repeat_only=True)
        x, m = v["frequency"], v["monetary_value"]
        if len(x) == 0:
            raise DataError([Problem("summary", "frequency", "Gamma-Gamma needs customers with "
                                     "repeat purchases of positive value", 0)])
        self.spend_scale_ = float(np.average(m, weights=w))
        m_scaled = m / self.spend_scale_
        unscale = np.array([1.0, 1.0, self.spend_scale_])

        def data_for(rows):
            return _gg_data(x[rows], m_scaled[rows], w[rows] / w[rows].sum())

        def once(penalizer):
            if self.engine == "lifetimes":
                p = _lifetimes_fit("GammaGammaFitter", penalizer, x, m_scaled, weights=w)
            else:
                p = _minimise(_gg_nll, data_for, len(x), penalizer, 3)
            return None if p is None else p * unscale

        advice = ("a penalizer (0.01 to 0.1) or capping extreme monetary values")
        params, self.penalizer_ = _fit_with_retry(once, self.penalizer, "Gamma-Gamma", advice)
        p, q, v_ = params
        if q <= 1:
            raise ConvergenceError(f"the Gamma-Gamma fit gives q = {q:.3g} <= 1: the population "
                                   f"mean spend is infinite. Try {advice}")
        names = ["p", "q", "v"]
        self.params_ = pd.Series(params, index=names, name="Gamma-Gamma")
        self._objective = (_gg_nll, params / unscale, data_for, self.penalizer_,
                           w.sum(), unscale)
        self.__dict__.pop("_cov", None)
        self.log_likelihood_ = float(-_gg_nll(np.log(params), _gg_data(x, m, w), 0.0)[0])
        self.mean_spend_ = float(p * v_ / (q - 1))
        self.n_customers_ = int(w.sum())
        return self

    def expected_spend(self, summary) -> pd.Series:
        """Expected spend per future purchase of each customer, on the summary's rows (same
        index)."""
        params = _fitted(self)
        frame = _eager(summary)
        v = _validate(frame, _GG_COLUMNS)
        out = _gg_spend(params, v["frequency"], v["monetary_value"])
        return pd.Series(out, index=frame.index, name="expected_spend")

    def predict(self, summary) -> pd.DataFrame:
        """``customer_id`` (if the summary has it) and ``expected_spend``, one row per summary
        row."""
        frame = _eager(summary)
        return pd.concat([_ids(frame),
                          self.expected_spend(frame)], axis=1)
