"""Discounted customer lifetime value from a fitted BG/NBD and Gamma-Gamma pair."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lifecycle._frames import lazy, require
from lifecycle.clv._kernels import (
    _ALL_COLUMNS,
    _BLOCK,
    _IDS_UNIQUE,
    DAYS_PER_MONTH,
    _check_unit,
    _discounted_purchases,
    _eager,
    _fitted,
    _fitted_unit,
    _gg_spend,
    _group,
    _ids,
    _p_alive,
    _unit_days,
    _validate,
)
from lifecycle.clv.bgnbd import BetaGeoModel
from lifecycle.clv.gamma_gamma import GammaGammaModel
from lifecycle.clv.summaries import _collect, _summary_builder

__all__ = ["customer_value", "lifetime_value", "total_value_interval"]


def _horizons(horizons_months) -> list[int]:
    hs = [horizons_months] if np.isscalar(horizons_months) else list(horizons_months)
    if not hs or any(int(h) != h or h < 1 for h in hs):
        raise ValueError(f"horizons_months must be whole numbers of months >= 1, not "
                         f"{horizons_months!r}")
    return sorted({int(h) for h in hs})


def lifetime_value(summary, *, purchases: BetaGeoModel, spend: GammaGammaModel,
                   horizons_months: int | Sequence[int] = (6, 12),
                   discount_rate: float = 0.10) -> pd.DataFrame:
    """Discounted customer lifetime value over horizons in months, per customer.

    Parameters
    ----------
    summary : pandas.DataFrame or ibis.Table
        A :func:`summary`: ``frequency, recency, T, monetary_value``, in the time unit of
        ``purchases``.
    purchases : BetaGeoModel
        Fitted; predicts the purchases.
    spend : GammaGammaModel
        Fitted; predicts the spend per purchase.
    horizons_months : int or sequence of int
        Horizons in months of 365.25 / 12 days.
    discount_rate : float
        **Annual** discount rate (0.10 = 10 % a year); month k is discounted by
        ``(1 + discount_rate) ** (k / 12)``.

    Returns
    -------
    pandas.DataFrame
        One row per summary row (same index): ``customer_id`` (if the summary has it),
        ``p_alive``, ``expected_spend`` and, for each horizon h, ``expected_purchases_<h>m``
        and ``clv_<h>m``.

    Examples
    --------
    >>> from lifecycle.clv import calibration_holdout
    >>> from lifecycle.datasets import load_cdnow
    >>> ch = calibration_holdout(load_cdnow(), calibration_end="1997-09-30",
    ...                          observation_end="1998-06-30")
    >>> bg, gg = BetaGeoModel().fit(ch), GammaGammaModel().fit(ch)
    >>> lv = lifetime_value(ch, purchases=bg, spend=gg, horizons_months=12, discount_rate=0.1)
    >>> lv.set_index("customer_id").loc[["1", "2", "3"]].round(2)
                 p_alive  expected_spend  expected_purchases_12m  clv_12m
    customer_id
    1               0.73           24.65                    1.56    36.73
    2               0.21           18.91                    0.26     4.70
    3               1.00           35.17                    0.25     8.45
    """
    if not discount_rate > -1:
        raise ValueError(f"discount_rate is an annual rate > -1, not {discount_rate!r}")
    frame = _eager(summary)
    _check_unit(frame, _fitted_unit(purchases))
    hs, v = _horizons(horizons_months), _validate(frame, _ALL_COLUMNS)
    bg_params, gg_params = _fitted(purchases), _fitted(spend)
    # the hypergeometric part depends on (frequency, T) only: once per distinct pair
    pair, first = _group(v["frequency"], v["T"])
    alive, discounted = _discounted_purchases(
        bg_params, v["frequency"][first], v["T"][first], months=hs[-1],
        month=DAYS_PER_MONTH / _unit_days(purchases.time_unit_),
        monthly_factor=(1 + discount_rate) ** (-1 / 12))
    out = {name: np.empty(len(frame)) for name in
           ["p_alive", "expected_spend", *[f"{kind}_{h}m" for h in hs
                                            for kind in ("expected_purchases", "clv")]]}
    for start in range(0, len(frame), _BLOCK):  # in blocks: small temporaries at any size
        rows = slice(start, start + _BLOCK)
        x = v["frequency"][rows]
        p_alive = out["p_alive"][rows] = _p_alive(bg_params, x, v["recency"][rows], v["T"][rows])
        spend = out["expected_spend"][rows] = _gg_spend(gg_params, x, v["monetary_value"][rows])
        for h in hs:
            out[f"expected_purchases_{h}m"][rows] = p_alive * alive[pair[rows], h - 1]
            out[f"clv_{h}m"][rows] = spend * p_alive * discounted[pair[rows], h - 1]
    ids = _ids(frame)
    return pd.concat([ids, pd.DataFrame(out, index=frame.index, copy=False)], axis=1)


def total_value_interval(summary, *, purchases: BetaGeoModel, spend: GammaGammaModel,
                         horizon_months: int = 12, discount_rate: float = 0.10,
                         level: float = 0.95) -> pd.Series:
    """The customers' total CLV over ``horizon_months`` with an interval for the uncertainty
    of the fitted parameters.

    Delta method on the log-parameters: the gradient of the total by central differences
    (14 evaluations of :func:`lifetime_value`), the models' ``covariance_`` (the two fits are
    independent), a normal interval on the log of the total (so it stays positive). It covers
    the estimation error of the seven parameters, not the chance in who buys what.

    Returns
    -------
    pandas.Series
        ``total``, ``standard_error``, ``low``, ``high`` and ``level``.

    Examples
    --------
    >>> from lifecycle.clv import calibration_holdout
    >>> from lifecycle.datasets import load_cdnow
    >>> ch = calibration_holdout(load_cdnow(), calibration_end="1997-09-30",
    ...                          observation_end="1998-06-30")
    >>> bg, gg = BetaGeoModel().fit(ch), GammaGammaModel().fit(ch)
    >>> total_value_interval(ch, purchases=bg, spend=gg).round(0)
    total             72403.0
    standard_error     3778.0
    low               65365.0
    high              80199.0
    level                 1.0
    dtype: float64
    """
    from scipy import stats

    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")
    column = f"clv_{_horizons(horizon_months)[-1]}m"
    summary = _eager(summary)  # 15 valuations follow: an ibis summary is executed once
    models = (purchases, spend)
    theta = np.log(np.concatenate([_fitted(m) for m in models]))

    def total(log_params) -> float:
        moved, start = [], 0
        for model in models:
            k = len(model.params_)
            shifted = copy.copy(model)  # the fitted model with other parameters
            shifted.params_ = pd.Series(np.exp(log_params[start:start + k]),
                                        index=model.params_.index)
            moved.append(shifted)
            start += k
        return float(lifetime_value(summary, purchases=moved[0], spend=moved[1],
                                    horizons_months=horizon_months,
                                    discount_rate=discount_rate)[column].sum())

    value, step = total(theta), 1e-5
    gradient = np.array([(total(theta + step * e) - total(theta - step * e)) / (2 * step)
                         for e in np.eye(len(theta))])
    params = np.exp(theta)
    cov_log = np.zeros((len(theta), len(theta)))
    k = len(purchases.params_)
    for rows, model in ((slice(0, k), purchases), (slice(k, None), spend)):
        cov_log[rows, rows] = model.covariance_.to_numpy() / np.outer(params[rows], params[rows])
    se = float(np.sqrt(gradient @ cov_log @ gradient))
    z = stats.norm.ppf(0.5 + level / 2)
    spread = np.exp(z * se / value) if value > 0 else np.nan
    return pd.Series({"total": value, "standard_error": se, "low": value / spread,
                      "high": value * spread, "level": level})


def customer_value(transactions, *, as_of, horizons_months: int | Sequence[int] = (6, 12),
                   discount_rate: float = 0.10, time_unit: str = "W", penalizer: float = 0.0,
                   customer_col: str = "customer_id", ts_col: str = "ts",
                   amount_col: str = "amount") -> pd.DataFrame:
    """Transactions to predicted value per customer: summary, BG/NBD, Gamma-Gamma and CLV.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        Columns ``customer_col``, ``ts_col``, ``amount_col`` (see :func:`summary`).
    as_of : date-like
        Last observed day, inclusive (as in :func:`summary`).
    horizons_months, discount_rate
        As in :func:`lifetime_value` (``discount_rate`` is annual).
    time_unit : {"W", "D"}
        Time unit of the fit.
    penalizer : float
        Passed to both models.

    Returns
    -------
    pandas.DataFrame
        One row per buyer, sorted by ``customer_id``: the :func:`summary` columns and the
        :func:`lifetime_value` columns. ``attrs`` holds the fitted parameters (``"bgnbd"``, ``"gamma_gamma"``) and the
        time unit. An ibis input is summarised in its backend and executed once.

    Examples
    --------
    CDNOW, as of the end of the published calibration period, in weeks:

    >>> from lifecycle.datasets import load_cdnow
    >>> cv = customer_value(load_cdnow(), as_of="1997-09-30").set_index("customer_id")
    >>> cv.loc[["1", "2", "3"], ["frequency", "p_alive", "expected_spend", "clv_6m",
    ...                          "clv_12m"]].round(2)
                 frequency  p_alive  expected_spend  clv_6m  clv_12m
    customer_id
    1                    2     0.73           24.65   20.74    36.73
    2                    1     0.21           18.91    2.62     4.70
    3                    0     1.00           35.17    4.62     8.45
    """
    t, _ = lazy(transactions)
    require(t, "transactions", [customer_col, ts_col, amount_col])
    s = _collect(t, _summary_builder(t, as_of=as_of, time_unit=time_unit,
                                     customer_col=customer_col, ts_col=ts_col,
                                     amount_col=amount_col), time_unit)
    token = _IDS_UNIQUE.set(True)  # s is our own summary: one row per customer
    try:
        bg = BetaGeoModel(penalizer, time_unit=time_unit).fit(s)
        gg = GammaGammaModel(penalizer).fit(s)
        value = lifetime_value(s, purchases=bg, spend=gg, horizons_months=horizons_months,
                               discount_rate=discount_rate)
    finally:
        _IDS_UNIQUE.reset(token)
    out = pd.concat([s, value.drop(columns="customer_id")], axis=1)
    out.attrs.update(time_unit=time_unit, bgnbd=bg.params_.to_dict(),
                     gamma_gamma=gg.params_.to_dict())
    return out
