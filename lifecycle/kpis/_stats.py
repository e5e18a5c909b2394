"""What the experiment and lift statistics share (private to :mod:`lifecycle.kpis`).

Group moments are computed in the backend, the statistics on the few rows that come back:

- :func:`moments`: per group ``n``, mean, standard deviation and skewness of numeric columns,
  in two passes (the group means, then the sums of squared and cubed deviations from them), so
  that a large mean beside a small spread loses no digits the way raw sums of squares would;
- :func:`welch`: Welch's interval and t-test of a difference of two means from those moments,
  vectorised over many comparisons;
- :func:`mean_size_problem`: the rule that refuses groups too small for Welch's normal
  approximation (at least :data:`MIN_N` per group, and the difference of the means no more
  skewed than :data:`MAX_SKEW`).
"""

from __future__ import annotations

import math

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats

from lifecycle.schema import DataError, Problem

MIN_N = 30
"""Fewest observations per group for a comparison of means."""

MAX_SKEW = 0.2
"""Largest skewness of the estimated difference of means that Welch's interval is trusted with:
Cochran's rule ``n > 25 G1**2`` for one mean (Sampling Techniques, 1977, section 2.15) is a
skewness of the sample mean below 1/5; here it is applied to the difference of the two means."""


def moments(t: ir.Table, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Per group of ``keys``: ``n`` and, for each column ``c``, ``c_mean``, ``c_sd`` (n - 1 in
    the denominator; NaN for one row) and ``c_skew`` (the moment skewness m3 / m2**1.5; NaN
    without variation). One query; the table is read twice inside it."""
    means = t.group_by(keys).aggregate(
        _n=t.count(), **{f"_m{i}": t[c].cast("float64").mean() for i, c in enumerate(columns)})
    j = t.inner_join(means, keys)
    dev = {i: j[c].cast("float64") - j[f"_m{i}"] for i, c in enumerate(columns)}
    agg = j.group_by(keys).aggregate(
        n=j._n.max(), **{f"_m{i}": j[f"_m{i}"].max() for i in dev},
        **{f"_s2_{i}": (d * d).sum() for i, d in dev.items()},
        **{f"_s3_{i}": (d * d * d).sum() for i, d in dev.items()})
    raw = agg.execute().sort_values(keys, kind="stable").reset_index(drop=True)
    n = raw.n.to_numpy("float64")
    out = raw[keys].assign(n=raw.n.astype("int64"))
    for i, c in enumerate(columns):
        s2, s3 = raw[f"_s2_{i}"].to_numpy("float64"), raw[f"_s3_{i}"].to_numpy("float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            sd = np.sqrt(s2 / (n - 1))
            skew = np.where(s2 > 0, (s3 / n) / (s2 / n) ** 1.5, np.nan)
        out[f"{c}_mean"] = raw[f"_m{i}"].to_numpy("float64")
        out[f"{c}_sd"] = np.where(n > 1, sd, np.nan)
        out[f"{c}_skew"] = skew
    return out


def welch(mean1, sd1, n1, mean2, sd2, n2, alpha: float):
    """``(effect, ci_low, ci_high, p_value)`` of ``mean1 - mean2``: Welch's t interval and
    two-sided test (scipy's ``ttest_ind_from_stats(equal_var=False)``), array by array.

    The interval is ``effect +- t(1 - alpha/2, df) * se`` with the Welch-Satterthwaite ``df``:
    scipy's test on the same moments, inverted (its p-value is below ``alpha`` exactly when the
    interval leaves out 0). NaN where neither group varies.
    """
    mean1, sd1, n1, mean2, sd2, n2 = (np.asarray(a, dtype="float64") for a in
                                      (mean1, sd1, n1, mean2, sd2, n2))
    v1, v2 = sd1**2 / n1, sd2**2 / n2
    se = np.sqrt(v1 + v2)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
        half = stats.t.ppf(1 - alpha / 2, df) * se
        p_value = stats.ttest_ind_from_stats(mean1, sd1, n1, mean2, sd2, n2,
                                             equal_var=False).pvalue
    varies = se > 0
    effect = mean1 - mean2
    return (effect, np.where(varies, effect - half, np.nan), np.where(varies, effect + half, np.nan),
            np.where(varies, p_value, np.nan))


def difference_skew(sd1, skew1, n1, sd2, skew2, n2) -> np.ndarray:
    """Skewness of ``mean1 - mean2`` were both groups of one shape (the null hypothesis):
    ``g * (1 / n1**2 - 1 / n2**2) / (1 / n1 + 1 / n2) ** 1.5``.

    ``g`` is the groups' skewness pooled by size (a group without spread counts as 0). The
    result is 0 for groups of equal size, whose skewness cancels, and grows with an unequal
    split: that is where Welch's interval loses coverage on skewed data. Estimating each
    group's spread and skewness on its own would not do: on heavy-tailed data they are so
    noisy that equal groups would be refused by chance. NaN when a skewness is unknown.
    """
    sd1, skew1, n1, sd2, skew2, n2 = (np.asarray(a, dtype="float64") for a in
                                      (sd1, skew1, n1, sd2, skew2, n2))
    skew1, skew2 = (np.where(sd > 0, g, 0.0) for sd, g in ((sd1, skew1), (sd2, skew2)))
    pooled = (n1 * skew1 + n2 * skew2) / (n1 + n2)
    return pooled * (1 / n1**2 - 1 / n2**2) / (1 / n1 + 1 / n2) ** 1.5


def mean_size_problem(table: str, column: str, what: str, n1, n2, skew, examples: pd.DataFrame,
                      names: tuple[str, str]) -> Problem | None:
    """A :class:`Problem` when two groups are too small to compare their means, else None.

    Rule: at least :data:`MIN_N` in each group, and ``|skew| <= MAX_SKEW`` for the skewness of
    the difference of the means (NaN skew: not checked). The skewness shrinks as one over the
    square root of the sample size, so the groups needed keep the split and grow by
    ``(skew / MAX_SKEW) ** 2``.
    """
    factor = 1.0 if not np.isfinite(skew) else max(1.0, (abs(skew) / MAX_SKEW) ** 2)
    need1 = max(MIN_N, math.ceil(n1 * factor)) if factor > 1 else MIN_N
    need2 = max(MIN_N, math.ceil(n2 * factor)) if factor > 1 else MIN_N
    if n1 >= need1 and n2 >= need2:
        return None
    why = (f"the difference of the means is skewed ({skew:.2f}; at most {MAX_SKEW} for Welch's "
           "normal approximation, Cochran's rule)" if factor > 1 else
           f"at least {MIN_N} {what} per group")
    return Problem(table, column, f"too few {what} to compare means: {names[0]} has {n1:,}, "
                   f"{names[1]} {n2:,}; {why}: at least {need1:,} and {need2:,} needed",
                   int(min(n1, n2)), examples)


def examples(t: ir.Table, predicate, columns: list[str], n: int = 5) -> pd.DataFrame:
    """Up to ``n`` rows of ``columns`` that ``predicate`` selects."""
    rows = t if predicate is None else t.filter(predicate)
    return rows.select(*dict.fromkeys(columns)).limit(n).execute()


def refuse(problems: list[Problem]) -> None:
    if problems:
        raise DataError(problems)
