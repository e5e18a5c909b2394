"""The numeric kernels of the CLV models: summary validation and distinct rows, the BG/NBD and
Gamma-Gamma likelihoods with their gradients, the minimiser, and the closed-form predictions.

Private to :mod:`lifecycle.clv`; everything here works on numpy arrays.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import warnings
from typing import NamedTuple

import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import optimize, special

from lifecycle._frames import require
from lifecycle.schema import DataError, Problem

DAYS_PER_MONTH = 365.25 / 12
"""Length of the CLV month in days."""

_UNIT_DAYS = {"D": 1.0, "W": 7.0}
_RETRY_PENALIZER = 1e-3


class ConvergenceError(RuntimeError):
    """A model fit did not converge, even after a retry with a small penalizer."""


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit``."""


def _unit_days(time_unit: str) -> float:
    if time_unit not in _UNIT_DAYS:
        raise ValueError(f"time_unit must be 'D' (days) or 'W' (weeks), not {time_unit!r}")
    return _UNIT_DAYS[time_unit]


_BG_COLUMNS = ["frequency", "recency", "T"]
_GG_COLUMNS = ["frequency", "monetary_value"]
_ALL_COLUMNS = [*_BG_COLUMNS, "monetary_value"]


def _eager(summary) -> pd.DataFrame:
    """A summary as pandas (an ibis summary is executed)."""
    if isinstance(summary, ir.Table):
        return summary.execute()
    if isinstance(summary, pd.DataFrame):
        return summary
    raise TypeError(f"expected a pandas DataFrame or an ibis Table, got {type(summary).__name__}")


def _ids(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``customer_id`` column of a summary, as a frame (no columns if it has none)."""
    return frame.loc[:, frame.columns.intersection(["customer_id"])]


def _numbers(column: pd.Series) -> np.ndarray:
    """A numeric column as a numpy array, without a copy when it already is one."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iuf":
        return column.to_numpy()
    return column.to_numpy(dtype="float64", na_value=np.nan)


#: Set while the library fits and values a summary it has just built (ids unique by its
#: GROUP BY): checking a million unsorted ids costs ~0.3 s each time a model reads them.
_IDS_UNIQUE = contextvars.ContextVar("lifecycle_clv_ids_unique", default=False)


def _validate(frame: pd.DataFrame, columns: list[str]) -> dict[str, np.ndarray]:
    """The columns as numeric arrays; :class:`DataError` for anything a model cannot take."""
    require(frame, "summary", columns)
    if len(frame) == 0:
        raise DataError([Problem("summary", columns[0], "no customers", 0)])
    v = {c: _numbers(frame[c]) for c in columns}
    problems = []

    def check(column, bad, rule):
        if bad.any():
            examples = frame[bad].head(5)
            problems.append(Problem("summary", column, rule, int(bad.sum()), examples))

    if "customer_id" in frame.columns and not _IDS_UNIQUE.get():
        check("customer_id", _duplicated(frame["customer_id"]),
              "duplicate customer id: one row per customer")

    for c, a in v.items():
        check(c, ~(a >= 0) | (np.isinf(a) if a.dtype.kind == "f" else False),
              "must be a finite number >= 0")
    x = v["frequency"]
    if x.dtype.kind == "f":
        check("frequency", np.floor(x) != x, "must be a whole number")
    if "recency" in v:
        recency, T = v["recency"], v["T"]
        late = recency > T
        if late.any():  # tolerate rounding noise
            late &= recency > T * (1 + 1e-9) + 1e-12
        check("recency", late, "must not exceed T")
        check("recency", (x == 0) & (recency != 0), "must be 0 when frequency is 0")
    if problems:
        raise DataError(problems)
    return v


def _duplicated(ids: pd.Series) -> np.ndarray:
    """Rows whose id occurs more than once. A summary sorted by id (as :func:`summary` gives
    it) is checked by comparing neighbours in Arrow, in milliseconds; others by hashing."""
    if len(ids) > 1:
        try:
            values = pa.array(ids)
            if pc.all(pc.less(values[:-1], values[1:])).as_py():
                return np.zeros(len(ids), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
    return ids.duplicated(keep=False).to_numpy()


_CHUNK = 1 << 20
_BLOCK = 1 << 18


def _group(*arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the distinct rows of ``arrays`` (0 .. k-1, numbered in the rows' lexicographic
    order, first array first) and one row position per code.

    Packs the rows into one int64 key: a few million customers cost two arrays of temporaries.
    Each array's codes are its values' ranks, so the packed key orders the rows as a lexsort
    would, without one.
    """
    n = len(arrays[0])
    key, size = np.zeros(n, dtype=np.int64), 1
    for a in arrays:
        codes, n_values = _ranks(a)
        if size * n_values >= 2**62:
            key = pd.factorize(key, sort=True)[0]
            size = int(key.max()) + 1
        key *= n_values
        key += codes
        size *= n_values
        del codes
    if size <= min(2**24, 16 * max(n, 1)):  # a flag per combination (<= 80 MB): no hash
        present = np.zeros(size, dtype=bool)
        present[key] = True
        rank = np.cumsum(present, dtype=np.int32)
        rank -= 1
        key = rank[key]
        del present, rank
    else:
        key = pd.factorize(key, sort=True)[0]
    rows = np.empty(int(key.max()) + 1 if n else 0, dtype=np.int64)
    for start in range(0, n, _CHUNK):  # any row of a group represents it
        stop = min(start + _CHUNK, n)
        rows[key[start:stop]] = np.arange(start, stop)
    return key, rows


def _ranks(a: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's rank among the distinct values of ``a`` (int64), and how many there are.

    Whole numbers in a range below 2**22 (frequencies, and recency and T in days) are ranked
    by counting, without hashing: a fifth of ``pd.factorize``'s time at millions of rows.
    """
    if len(a) and a.dtype.kind in "iuf":
        low, high = a.min(), a.max()
        if np.isfinite(low) and np.isfinite(high) and int(high) - int(low) < 2**22:
            codes = a.astype(np.int64) - np.int64(low)
            if a.dtype.kind != "f" or np.array_equal(codes + np.int64(low), a):
                present = np.bincount(codes, minlength=int(high - low) + 1) > 0
                rank = np.cumsum(present) - 1
                return np.take(rank, codes, out=codes), int(rank[-1]) + 1
    codes, uniques = pd.factorize(a, sort=True, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), len(uniques)


def _value_order(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Positions that sort the rows by frequency ``x``, then by ``m``.

    Two plain sorts, half the time of ``np.lexsort``: rows tied in ``m`` are sorted by ``x``
    next (stably, by radix for frequencies below 2**16), so only identical rows stay tied.
    """
    by_m = np.argsort(m)
    x = x[by_m]
    return by_m[np.argsort(x.astype(np.uint16) if x.max(initial=0) < 2**16 else x, kind="stable")]


def _distinct(summary, columns: list[str], *, repeat_only: bool = False):
    """Distinct rows of ``columns`` (validated arrays), how many customers share each, and the
    summary's time unit (None if it does not say).

    An ibis summary is reduced in its backend; only the distinct rows come into Python. For
    the repeat buyers' (frequency, monetary value) of a pandas summary, the rows themselves
    with weight 1. The rows come sorted by their values, so a fit sees the same numbers in the
    same order whatever the summary's row order: two fits are bit-identical.
    """
    if isinstance(summary, ir.Table):
        s = summary.filter((summary.frequency > 0) & (summary.monetary_value > 0)) \
            if repeat_only else summary
        keys = [*columns, *(["time_unit"] if "time_unit" in s.columns else [])]
        rows = s.group_by(keys).aggregate(_weight=s.count()).execute()
        v = {c: a.astype("float64", copy=False) for c, a in _validate(rows, columns).items()}
        unit = _unit_of(rows)  # one unit, so the rows stay distinct over ``columns``
        order = np.argsort(_group(*v.values())[0])  # distinct rows: their ranks
        return {c: a[order] for c, a in v.items()}, rows["_weight"].to_numpy("float64")[order], unit
    frame = _eager(summary)
    v, unit = _validate(frame, columns), _unit_of(frame)
    if repeat_only:  # spend is continuous: nearly every pair is distinct, and hashing
        keep = (v["frequency"] > 0) & (v["monetary_value"] > 0)  # millions of floats
        v = {c: a[keep].astype("float64") for c, a in v.items()}  # costs ~100 MB
        order = _value_order(v["frequency"], v["monetary_value"])
        return {c: a[order] for c, a in v.items()}, np.ones(len(order)), unit
    key, first = _group(*v.values())  # codes in the rows' order: the rows come sorted
    w = np.bincount(key).astype("float64")
    return {c: a[first].astype("float64") for c, a in v.items()}, w, unit


def _unit_of(frame: pd.DataFrame) -> str | None:
    """The time unit a summary frame states in its ``time_unit`` column (None without one)."""
    if "time_unit" not in frame.columns:
        return None
    units = pd.unique(frame["time_unit"].dropna())
    if len(units) != 1:
        raise DataError([Problem("summary", "time_unit", "one time unit for all rows, found "
                                 f"{sorted(map(str, units)) or 'none'}", len(frame))])
    unit = str(units[0])
    _unit_days(unit)
    return unit


def _resolve_unit(summary_unit: str | None, model_unit: str | None) -> str:
    """The unit a model works in: the summary's, which must agree with the model's if set."""
    if model_unit is not None:
        _unit_days(model_unit)
    if summary_unit is None and model_unit is None:
        raise ValueError("the summary does not say its time unit (no time_unit column): set "
                         "the model's time_unit ('W' or 'D') or build the summary with "
                         "lifecycle.clv.summary")
    if summary_unit is not None and model_unit is not None and summary_unit != model_unit:
        raise ValueError(f"the summary's durations are in {summary_unit!r} but the model's "
                         f"time_unit is {model_unit!r}: build the summary with "
                         f"time_unit={model_unit!r} or leave the model's time_unit unset")
    return summary_unit or model_unit


def _check_unit(frame: pd.DataFrame, fitted_unit: str) -> None:
    """A summary to predict on is in the unit the model was fitted in."""
    unit = _unit_of(frame)
    if unit is not None and unit != fitted_unit:
        raise ValueError(f"the summary's durations are in {unit!r} but the model was fitted in "
                         f"{fitted_unit!r}: build the summary with time_unit={fitted_unit!r}")


# --------------------------------------------------------------------------------------------
# Likelihoods (exactly lifetimes' objectives) and their minimisation
# --------------------------------------------------------------------------------------------


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product without BLAS (whose threads spin for ms per call on a busy machine)."""
    return float(np.einsum("i,i->", a, b))


class _BgData(NamedTuple):
    x: np.ndarray
    tx: np.ndarray
    T: np.ndarray
    w: np.ndarray
    ux: np.ndarray  # distinct frequencies
    wx: np.ndarray  # total weight of each distinct frequency
    positive: np.ndarray


def _bg_data(x, tx, T, w) -> _BgData:
    ix, ux = pd.factorize(x)
    return _BgData(x, tx, T, w, ux, np.bincount(ix, weights=w, minlength=len(ux)), x > 0)


def _bg_nll(theta: np.ndarray, d: _BgData, penalizer: float) -> tuple[float, np.ndarray]:
    """BG/NBD weighted negative log-likelihood (FHL 2005 eq. 6) and its gradient in log-params."""
    params = np.exp(theta)
    r, alpha, a, b = params
    ux, gl, psi = d.ux, special.gammaln, special.digamma
    per_x = (gl(r + ux) - gl(r) + r * np.log(alpha) + gl(a + b) + gl(b + ux) - gl(b)
             - gl(a + b + ux))
    d_per_x = np.array([psi(r + ux) - psi(r) + np.log(alpha), np.full_like(ux, r / alpha),
                        psi(a + b) - psi(a + b + ux),
                        psi(a + b) + psi(b + ux) - psi(b) - psi(a + b + ux)])
    d_per_x = np.einsum("ij,j->i", d_per_x, d.wx)
    rx = r + d.x
    log_t, log_tx = np.log(alpha + d.T), np.log(alpha + d.tx)
    a3 = -rx * log_t
    a4 = np.where(d.positive, np.log(a) - np.log(b + np.maximum(d.x, 1) - 1) - rx * log_tx,
                  -np.inf)
    # log(exp(a3) + exp(a4)) and the share of the a4 term, without logaddexp (6x slower) and
    # without subnormal numbers (|a4 - a3| capped at 500: exp(-500) is below double precision)
    diff = np.clip(a4 - a3, -500.0, 500.0)
    lse = np.maximum(a3, a4) + np.log1p(np.exp(-np.abs(diff)))
    share4 = special.expit(diff) * d.positive
    w3, w4 = d.w * (1 - share4), d.w * share4
    grad = d_per_x + np.array([
        -_dot(w3, log_t) - _dot(w4, log_tx),
        -_dot(w3, rx / (alpha + d.T)) - _dot(w4, rx / (alpha + d.tx)),
        w4.sum() / a,
        -_dot(w4, 1 / (b + np.maximum(d.x, 1) - 1)),
    ])
    value = -(_dot(d.wx, per_x) + _dot(d.w, lse)) + penalizer * _dot(params, params)
    return value, -grad * params + 2 * penalizer * params**2


class _GgData(NamedTuple):
    x: np.ndarray
    xm: np.ndarray  # x * m
    w: np.ndarray
    ux: np.ndarray
    wx: np.ndarray
    s1: float  # sum of w * x * log(m)
    s0: float  # sum of w * log(m)


def _gg_data(x, m, w) -> _GgData:
    ix, ux = pd.factorize(x)
    log_m = np.log(m)
    wx = np.bincount(ix, weights=w, minlength=len(ux))
    return _GgData(x, x * m, w, ux, wx, _dot(w, x * log_m), _dot(w, log_m))


def _gg_nll(theta: np.ndarray, d: _GgData, penalizer: float) -> tuple[float, np.ndarray]:
    """Gamma-Gamma weighted negative log-likelihood (Fader-Hardie note 025) and its gradient."""
    params = np.exp(theta)
    p, q, v = params
    ux, gl, psi = d.ux, special.gammaln, special.digamma
    px = p * ux
    per_x = gl(px + q) - gl(px) - gl(q) + q * np.log(v) + px * np.log(ux)
    xmv = d.xm + v
    log_xmv = np.log(xmv)
    pxq = d.x * p
    pxq += q
    inv_xmv = np.reciprocal(xmv, out=xmv)
    grad = np.array([
        _dot(d.wx, ux * (psi(px + q) - psi(px) + np.log(ux))) + d.s1
        - np.einsum("i,i,i->", d.w, d.x, log_xmv),
        _dot(d.wx, psi(px + q) - psi(q) + np.log(v)) - _dot(d.w, log_xmv),
        q / v * d.wx.sum() - np.einsum("i,i,i->", d.w, pxq, inv_xmv),
    ])
    value = (-(_dot(d.wx, per_x) + p * d.s1 - d.s0 - np.einsum("i,i,i->", d.w, pxq, log_xmv))
             + penalizer * _dot(params, params))
    return value, -grad * params + 2 * penalizer * params**2


_WARM_ROWS = 50_000


def _minimise(nll, data_for, n: int, penalizer: float, size: int) -> np.ndarray | None:
    """lifetimes' optimisation: BFGS on the log-parameters to tol 1e-7 from log-parameters 0.1.
    The parameters, or None if it fails.

    ``data_for(rows)`` builds the objective's data for a selection of the ``n`` rows. On more
    than 100,000 rows BFGS first runs on an evenly spaced sample of about 50,000 of them, and
    the full fit starts there with that run's inverse-Hessian estimate: a handful of
    evaluations on all rows instead of ~25, to the same optimum (if that fails, from
    lifetimes' start).
    """
    starts, cold = [], np.full(size, 0.1)
    if n > 2 * _WARM_ROWS:
        warm = _bfgs(nll, cold, data_for(slice(None, None, n // _WARM_ROWS)), penalizer, 1e-5)
        if warm is not None:
            h = (warm.hess_inv + warm.hess_inv.T) / 2
            starts.append((warm.x, {"hess_inv0": h} if np.linalg.eigvalsh(h).min() > 0 else {}))
    data = data_for(slice(None))
    for x0, options in [*starts, (cold, {})]:
        res = _bfgs(nll, x0, data, penalizer, 1e-7, options)
        if res is not None and not (x0 is cold and res.nit == 0):  # never left the start
            return np.exp(res.x)
    return None


class _Uncertainty:
    """``covariance_`` and ``standard_errors_`` of a fitted model, computed on first use from
    the objective the fit kept (``_objective``: the likelihood, the fitted parameters in its
    scale, how to build its data, the penalty, the customers, the way back to ``params_``'
    scale): a pipeline that never asks pays nothing."""

    @property
    def covariance_(self) -> pd.DataFrame:
        """Asymptotic covariance of ``params_`` (see :func:`_covariance`)."""
        if "_cov" not in self.__dict__:
            if "_objective" not in self.__dict__:
                raise NotFittedError(f"this {type(self).__name__} has no fit to take standard "
                                     f"errors from: call fit(summary) first")
            nll, params, data_for, penalizer, n, unscale = self._objective
            cov = _covariance(nll, params, data_for(slice(None)), penalizer, n)
            cov *= np.outer(unscale, unscale)
            self._cov = pd.DataFrame(cov, index=self.params_.index, columns=self.params_.index)
        return self._cov

    @property
    def standard_errors_(self) -> pd.Series:
        """Asymptotic standard errors of ``params_``."""
        return pd.Series(np.sqrt(np.diag(self.covariance_)), index=self.params_.index,
                         name="standard error")


def _covariance(nll, params: np.ndarray, data, penalizer: float, n: float) -> np.ndarray:
    """Asymptotic covariance of the fitted parameters, as ``lifetimes`` estimates it.

    The Hessian of the mean negative log-likelihood in log-parameters (central differences of
    the analytic gradient), inverted and divided by the ``n`` customers, is the covariance of
    the log-parameters; the delta method turns it into the parameters' own. NaN where the
    Hessian is not positive definite (a parameter the data does not identify).
    """
    theta, step = np.log(params), 1e-5
    hessian = np.empty((len(theta), len(theta)))
    for j in range(len(theta)):
        shift = np.zeros(len(theta))
        shift[j] = step
        hessian[:, j] = (nll(theta + shift, data, penalizer)[1]
                         - nll(theta - shift, data, penalizer)[1]) / (2 * step)
    hessian = (hessian + hessian.T) / 2
    if not np.all(np.isfinite(hessian)) or np.linalg.eigvalsh(hessian).min() <= 0:
        return np.full_like(hessian, np.nan)
    return np.outer(params, params) * np.linalg.inv(hessian) / n


def _bfgs(nll, x0, data, penalizer: float, tol: float, options: dict | None = None):
    """One BFGS run; the result if it converged to finite values, else None."""
    with np.errstate(all="ignore"):
        res = optimize.minimize(nll, x0, args=(data, penalizer), jac=True, method="BFGS",
                                tol=tol, options=options or {})
    converged = res.success or (res.status == 2 and np.max(np.abs(res.jac)) < 1e-5)
    return res if converged and np.all(np.isfinite(res.x)) else None


def _lifetimes_fit(fitter: str, penalizer: float, *arrays, weights) -> np.ndarray | None:
    """``lifetimes``' own fitter on weighted distinct rows; None if it does not converge."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        import lifetimes
        from lifetimes.utils import ConvergenceError as LifetimesConvergenceError

        try:
            model = getattr(lifetimes, fitter)(penalizer_coef=penalizer)
            return model.fit(*arrays, weights=weights).params_.to_numpy()
        except LifetimesConvergenceError:
            return None


def _fit_with_retry(fit_once, penalizer: float, name: str, advice: str):
    """Fit; on failure refit once with a small penalizer; then raise with what to try."""
    params = fit_once(penalizer)
    if params is not None:
        return params, penalizer
    retry = max(_RETRY_PENALIZER, 10 * penalizer)
    params = fit_once(retry)
    if params is None:
        raise ConvergenceError(f"the {name} fit did not converge, neither with penalizer="
                               f"{penalizer} nor with {retry}. Try {advice}")
    warnings.warn(f"the {name} fit did not converge with penalizer={penalizer}; refitted with "
                  f"penalizer={retry} (parameters shrink slightly towards 0)",
                  RuntimeWarning, stacklevel=3)
    return params, retry


def _check_engine(engine: str) -> None:
    if engine not in ("numpy", "lifetimes"):
        raise ValueError(f"engine must be 'numpy' or 'lifetimes', not {engine!r}")


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


def _alive_purchases(params, t, x, T) -> np.ndarray:
    """Expected purchases in ``(T, T + t]`` of a customer alive at ``T`` with ``x`` repeats.

    The BG/NBD conditional expectation (FHL 2005 eq. 10) is this times P(alive); with x = 0 and
    T = 0 it is the expectation for a new customer (eq. 9). It depends on (x, T), not recency.
    Where the Gauss hypergeometric function overflows (large x), Euler's transformation
    2F1(A, B; C; z) = (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z) is used instead.
    """
    r, alpha, a, b = params
    if abs(a - 1) < 1e-6:  # removable singularities (a = 1; a + b = 1 at x = 0): evaluate
        a = 1 + np.copysign(1e-6, a - 1)  # next to them
    if abs(a + b - 1) < 1e-6:
        b = 1 - a + np.copysign(1e-6, a + b - 1)
    big_a, big_b, c = r + x, b + x, a + b + x - 1
    z = t / (alpha + T + t)
    log_1mz = -np.log1p(t / (alpha + T))
    with np.errstate(all="ignore"):
        bracket = _one_minus(big_a * log_1mz, special.hyp2f1(big_a, big_b, c, z))
        bad = ~np.isfinite(bracket)
        if np.any(bad):
            alt = _one_minus((a - 1) * log_1mz, special.hyp2f1(c - big_a, c - big_b, c, z))
            bracket = np.where(bad, alt, bracket)
        out = c / (a - 1) * bracket
        bad = ~np.isfinite(out)
        if np.any(bad):  # scipy's hyp2f1 fails for some large arguments: integrate instead
            out = np.where(bad, 0.0, out)
            shape = np.broadcast(t, x, T).shape
            out[bad] = _alive_purchases_quadrature(
                (r, alpha, a, b), *(np.broadcast_to(v, shape)[bad] for v in (t, x, T)))
    return np.maximum(out, 0.0)


_NODES = 96


def _alive_purchases_quadrature(params, t, x, T) -> np.ndarray:
    """The same expectation as an integral over the drop-out probability: for a customer alive
    at T, p ~ Beta(a, b + x) and lambda ~ Gamma(r + x, alpha + T) independently, and the
    expected purchases in the next t are E[(1 - ((alpha + T) / (alpha + T + p t))^(r + x)) / p].
    Gauss-Jacobi quadrature; slower than the closed form, used only where it fails."""
    r, alpha, a, b = params
    out = np.empty(len(t))
    for xv in np.unique(x):
        rows = x == xv
        p, w = _beta_nodes(a, b + xv)
        scale = (t[rows] / (alpha + T[rows]))[:, None]
        g = -np.expm1(-(r + xv) * np.log1p(p[None, :] * scale)) / p[None, :]
        out[rows] = np.einsum("ij,j->i", g, w)
    return out


def _beta_nodes(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and probability weights of a Gauss quadrature for p ~ Beta(a, b)."""
    with np.errstate(all="ignore"):  # the normalising constant overflows for large b
        u, w = special.roots_jacobi(_NODES, b - 1, a - 1)
        w = w / w.sum()
    if np.all(np.isfinite(w)):
        return (1 + u) / 2, w
    g, w = special.roots_genlaguerre(_NODES, a - 1)  # b in the thousands: p ~ Gamma(a) / b
    return np.minimum(g / b, 1.0), w / w.sum()


def _one_minus(log_scale, h):
    """``1 - exp(log_scale) * h``, accurate when the product is close to 1 (``h`` > 0); the
    hypergeometric factor ``h`` is negative when a + b + x - 1 < 0."""
    positive = h > 0
    logged = -np.expm1(log_scale + np.log(np.where(positive, h, 1.0)))
    return np.where(positive, logged, 1 - np.exp(log_scale) * h)


def _p_alive(params, x, tx, T) -> np.ndarray:
    """P(alive at T | x, t_x, T) (Fader, Hardie and Lee 2008, note 021); 1 when x = 0."""
    r, alpha, a, b = params
    x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype="float64") for v in (x, tx, T)))
    odds = np.log(alpha + tx)  # in place from here: this runs on millions of customers
    np.subtract(np.log(alpha + T), odds, out=odds)
    odds *= r + x
    odds += np.log(a) - np.log(b + np.maximum(x, 1) - 1)
    odds = special.expit(np.negative(odds, out=odds), out=odds)
    odds[x == 0] = 1.0
    return odds


def _fitted_unit(model) -> str:
    """The time unit a fitted BG/NBD model works in."""
    _fitted(model)
    return model.time_unit_


def _fitted(model) -> np.ndarray:
    if not hasattr(model, "params_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted yet: call "
                             f"fit(summary) before predicting")
    return model.params_.to_numpy()


def _gg_spend(params, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Conditional expected spend per purchase (note 025 eq. 5): ``m - d * (m - mean)`` with
    the population weight ``d = (q - 1) / (p x + q - 1)``, in place (millions of rows)."""
    p, q, v = params
    mean = p * v / (q - 1)
    d = x * p
    d += q - 1
    np.divide(q - 1, d, out=d)
    out = m - mean
    out *= d
    return np.subtract(m, out, out=out)


def _discounted_purchases(params, x, T, *, months: int, month: float, monthly_factor: float):
    """Per customer alive at T: cumulative expected purchases after 1..months months, and the
    same with month k's purchases discounted by ``monthly_factor ** k``. Two (n, months) arrays.
    """
    k = np.arange(1, months + 1)
    alive = _alive_purchases(params, k[None, :] * month, x[:, None], T[:, None])
    increments = np.maximum(np.diff(alive, axis=1, prepend=0.0), 0.0)
    return alive, np.cumsum(increments * monthly_factor ** k, axis=1)
