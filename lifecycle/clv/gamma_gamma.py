"""The Gamma-Gamma model of spend per purchase."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    _lifetimes_fit,
    _minimise,
    _validate,
)
from lifecycle.schema import DataError, Problem

__all__ = ["GammaGammaModel"]


class GammaGammaModel:
    """Gamma-Gamma model of spend per purchase (Fader, Hardie and Lee 2005; Fader-Hardie 025).

    Fitted on the repeat buyers (frequency > 0 and monetary value > 0). Predictions shrink each
    customer's mean repeat spend towards the population mean; a customer without repeat
    purchases gets the population mean ``mean_spend_ = p * v / (q - 1)``.

    Parameters
    ----------
    penalizer : float
        L2 penalty on ``p, q, v`` as in ``lifetimes`` (retry rule as for :class:`BetaGeoModel`).
    engine : {"numpy", "lifetimes"}
        As for :class:`BetaGeoModel` (``lifetimes``' ``GammaGammaFitter``).

    Attributes
    ----------
    params_ : pandas.Series
        ``p``, ``q``, ``v``.
    log_likelihood_ : float
        Total log-likelihood of the repeat buyers at ``params_`` (penalty excluded).
    mean_spend_ : float
        Population mean spend per purchase.
    penalizer_, n_customers_ : float, int

    Examples
    --------
    The published CDNOW fit on the 946 repeat buyers (p 6.25, q 3.74, v 15.44); customer 3
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
    >>> gg.expected_spend(ch).loc[["1", "2", "3"]].round(2)
    customer_id
    1    24.65
    2    18.91
    3    35.17
    Name: expected_spend, dtype: float64
    """

    def __init__(self, penalizer: float = 0.0, *, engine: str = "numpy"):
        self.penalizer = penalizer
        self.engine = engine

    def fit(self, summary) -> GammaGammaModel:
        """Fit on a :func:`summary` (pandas or ibis) with ``frequency, monetary_value``."""
        _check_engine(self.engine)
        v, w = _distinct(summary, _GG_COLUMNS, repeat_only=True)
        x, m = v["frequency"], v["monetary_value"]
        if len(x) == 0:
            raise DataError([Problem("summary", "frequency", "Gamma-Gamma needs customers with "
                                     "repeat purchases of positive value", 0)])

        def data_for(rows):
            return _gg_data(x[rows], m[rows], w[rows] / w[rows].sum())

        def once(penalizer):
            if self.engine == "lifetimes":
                return _lifetimes_fit("GammaGammaFitter", penalizer, x, m, weights=w)
            return _minimise(_gg_nll, data_for, len(x), penalizer, 3)

        advice = ("a penalizer (0.01 to 0.1) or capping extreme monetary values")
        params, self.penalizer_ = _fit_with_retry(once, self.penalizer, "Gamma-Gamma", advice)
        p, q, v_ = params
        if q <= 1:
            raise ConvergenceError(f"the Gamma-Gamma fit gives q = {q:.3g} <= 1: the population "
                                   f"mean spend is infinite. Try {advice}")
        self.params_ = pd.Series(params, index=["p", "q", "v"], name="Gamma-Gamma")
        self.log_likelihood_ = float(-_gg_nll(np.log(params), _gg_data(x, m, w), 0.0)[0])
        self.mean_spend_ = float(p * v_ / (q - 1))
        self.n_customers_ = int(w.sum())
        return self

    def expected_spend(self, summary) -> pd.Series:
        """Expected spend per future purchase of each customer."""
        params = _fitted(self)
        frame = _eager(summary)
        v = _validate(frame, _GG_COLUMNS)
        out = _gg_spend(params, v["frequency"], v["monetary_value"])
        return pd.Series(out, index=frame.index, name="expected_spend")

    def predict(self, summary) -> pd.DataFrame:
        """``expected_spend`` per customer, as a frame."""
        return self.expected_spend(summary).to_frame()


# --------------------------------------------------------------------------------------------
# Lifetime value
# --------------------------------------------------------------------------------------------
