"""A/B and A/B/n tests of a program step: effect, interval, p-value, power and sample ratio.

Each variant is compared with the control on one outcome per recipient. The per-variant
aggregates (count and sum; for means also the sums of squared and cubed deviations from the
mean) are computed in the backend; only those few rows reach Python, where statsmodels and
scipy do the statistics. :func:`ab_test_from_stats` starts from such aggregates (an e-mail
tool's report of sends, opens and clicks per variant is one).

**Proportions** (opened, clicked, converted: 0/1 or bool). The effect is the difference of
the rates (variant minus control), with **Newcombe's hybrid score interval** (method 10 of
Newcombe 1998, statsmodels ``confint_proportions_2indep(method="newcomb")``) and the **score
test** (``test_proportions_2indep(method="score", correction=False)``: Pearson's chi-square
test of the 2 x 2 table). Why Newcombe: it joins the two groups' Wilson score intervals, so it
keeps its coverage at the low rates of clicks and conversions and near 0 or 1, where the Wald
interval ``d +- 1.96 se`` is too narrow and can leave [-1, 1]; it needs no continuity
correction (which would make it conservative) and is closed-form. The score test and the
interval are both built on score statistics, but they are different constructions: at the
margin (p-value within a hair of ``alpha``) one may call a result significant and the other
not; ``significant`` follows the p-value.

**Means** (revenue per recipient, zero for those who did not buy). The effect is the
difference of the means with **Welch's** t interval and test (scipy
``ttest_ind_from_stats(equal_var=False)``). Why Welch: a variant that changes how many buy
changes the spread as well as the mean, and Welch's test does not assume equal variances
(when they are equal it loses almost nothing). Revenue is heavy-tailed, and Welch rests on the
central limit theorem for the two means. What matters is the skewness of the *difference* of
the means: it shrinks with the square root of the group sizes and cancels between groups of
equal size, so at the thousands of recipients of an even e-mail split Welch keeps its
coverage even for very skewed revenue (the calibration test: 94.9 % coverage and 4.8 % false
positives for revenue that is zero for 90 % of recipients and lognormal otherwise, 2,000 per
group). It fails with an **uneven split of skewed revenue and a small group** (a 90/10
hold-out): the small group's few large orders skew the difference, the interval's tails become
unequal and its coverage drops. For that revenue at a 90/10 split a simulation gave 91.7 %
coverage with 400 in the small group, 93.3 % with 1,000, 94.4 % with 2,000 and 94.8 % with
6,000. The size rule below refuses the small ones. A bootstrap interval would not rescue them
(it shares the small-sample skewness problem) and needs every row in Python; the moments from
the database are enough for Welch.

**Groups too small to say anything** raise :class:`~lifecycle.schema.DataError` with the
minimum needed:

- proportions: at the pooled rate ``p`` of control and variant, each group expects at least 5
  successes and 5 failures (Cochran's rule for the normal approximation of the 2 x 2 test),
  i.e. at least ``5 / min(p, 1 - p)`` recipients per group;
- means: at least 30 recipients per group, and the skewness of the difference of the means
  at most 0.2 (Cochran's ``n > 25 G1**2`` for one mean, Sampling Techniques 1977, applied to
  the difference; in the simulation above it lets through splits that cover 94 % or more).
  The skewness is the one the difference would have if both groups had the metric's shape
  (their skewness pooled by size): 0 for equal groups, and growing with an uneven split.
  Each group's own sample skewness is too noisy on heavy-tailed data to decide on its own
  (equal groups would be refused by chance). The message names the group sizes that would
  pass at the same split.

**Sample-ratio mismatch**: a chi-square goodness-of-fit test of the group sizes of each test
against ``expected_split`` (default: equal), scipy's ``chisquare``; ``srm`` flags
``srm_p_value < 0.001``. A mismatch means the assignment or the logging is broken: the groups
are no longer comparable and the result should not be read.

**Minimum detectable effect** (``mde``): the smallest true increase that a two-sided test at
``alpha`` detects with 80 % power at these group sizes: for proportions from Cohen's ``h``
(statsmodels ``NormalIndPower``) at the control's rate, in the same units as ``effect``; for
means from ``TTestIndPower``'s ``d`` times the standard deviation that gives Welch's standard
error. A test that is not significant could still hide an effect smaller than its ``mde``.

**Several variants**: each is compared with the control. P-values are per comparison unless
``adjust`` names a statsmodels ``multipletests`` method (``"holm"``: Holm's step-down, which
controls the family-wise error rate over the variants of one test); then ``p_value`` and
``significant`` are adjusted. Intervals are always per comparison (``1 - alpha`` each).

**Windows**: tests are read over a period (the 3-4 month improvement cycle: filter the
recipients to it); with ``ts_col`` each row also says when its test's first and last
recipients were reached (``first_at``, ``last_at``) and over how many calendar days
(``days``).

**Overlapping tests**: two tests that run at the same time (their windows overlap) may share
recipients: the welcome program's thank-you and guide steps go to the same new customers.
That is harmless when each test assigns its variants independently, because the other test's
variants then fall evenly on both groups; it breaks the test when the assignments depend on
each other (the same customers get B in both), because each test's effect then carries part
of the other's. With ``by``, ``id_col`` and ``ts_col``, every row says how many of its test's
recipients are also in a test whose window overlaps (``overlap_n``) and which of those tests
it is **confounded** with (``confounded_with``, empty when none): among the shared
recipients, the two tests' variants are not independent (Pearson's chi-square test of the
variant-by-variant table, scipy ``chi2_contingency`` without continuity correction, flagged
at p < 0.001 like the sample ratio). A confounded test should not be read; :func:`verdict`
says so. Without ``ts_col`` the windows are unknown and every pair of tests is checked.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats import proportion
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from lifecycle import formats
from lifecycle._frames import lazy, require
from lifecycle.kpis._stats import (
    MAX_SKEW,
    MIN_N,
    difference_skew,
    examples,
    mean_size_problem,
    moments,
    refuse,
    welch,
)
from lifecycle.schema import DataError, Problem

__all__ = ["POWER", "SRM_ALPHA", "ab_test", "ab_test_from_stats", "minimum_detectable_effect",
           "sample_ratio_mismatch", "verdict"]

SRM_ALPHA = 0.001
"""Sample-ratio mismatch is flagged below this p-value."""

POWER = 0.8
"""The power at which ``mde`` is the minimum detectable effect."""

_MIN_EXPECTED = 5  # expected successes and failures per group (Cochran)
_KINDS = ("proportion", "mean")


def ab_test(recipients, *, variant_col: str = "variant", metric: str = "clicked",
            control="A", alpha: float = 0.05, kind: str | None = None,
            expected_split: Mapping | None = None, ts_col: str | None = None,
            by: str | Sequence[str] | None = None, id_col: str | None = None,
            adjust: str | None = None) -> pd.DataFrame:
    """Compare every variant of an A/B (or A/B/n) test with the control on one outcome.

    Parameters
    ----------
    recipients : pandas.DataFrame or ibis.Table
        One row per recipient: ``variant_col`` and the outcome ``metric`` (0/1 or bool for a
        proportion, a number such as revenue for a mean; no missing values: a recipient who
        did not click has 0).
    variant_col, metric : str
        The columns of the variant label and the outcome.
    control : label
        The control variant's label.
    alpha : float
        Significance level; intervals are ``1 - alpha``.
    kind : {"proportion", "mean"}, optional
        Default: a proportion when the outcome is bool or only 0 and 1, else a mean.
    expected_split : mapping, optional
        The planned share of each variant (``{"A": 0.5, "B": 0.5}``; any positive weights),
        for the sample-ratio check; default equal shares.
    ts_col : str, optional
        When each recipient was reached (``sent_at``): adds the test's window.
    by : str or list of str, optional
        Columns that tell tests apart (a program step, a campaign): each is its own test.
    id_col : str, optional
        The recipient id: checked to be in one row of one variant per test; with ``by``,
        also used to find tests that share recipients (see *Overlapping tests*).
    adjust : str, optional
        A statsmodels ``multipletests`` method (``"holm"``) to adjust the p-values of the
        variants of each test; default none.

    Returns
    -------
    pandas.DataFrame
        One row per test and non-control variant, ordered by ``by`` and variant: the ``by``
        columns, ``variant, n, control_n``, ``rate, control_rate`` (proportions) or ``mean,
        control_mean`` (means), ``effect`` (variant minus control), ``ci_low, ci_high``,
        ``p_value, significant``, ``mde``, ``srm_p_value, srm``, with ``ts_col``
        ``first_at, last_at, days`` and with ``by`` and ``id_col`` ``overlap_n,
        confounded_with`` (the other tests' ``by`` values joined by " / ", separated by
        "; ", in their order). The statistics are described in the module docstring.

    Raises
    ------
    DataError
        For table ``recipients``: a missing column, a non-numeric outcome, missing or
        infinite outcomes, values other than 0/1 for ``kind="proportion"``, a missing
        variant label, a test with one variant only or without recipients in the control
        group, a recipient in more than one row (``id_col``), and groups too small to compare
        (with the minimum needed).

    Examples
    --------
    >>> recipients = pd.DataFrame({"variant": ["A"] * 2000 + ["B"] * 2000,
    ...                            "clicked": [1] * 100 + [0] * 1900 + [1] * 140 + [0] * 1860})
    >>> result = ab_test(recipients)
    >>> result[["variant", "n", "rate", "control_rate", "effect", "ci_low", "ci_high"]].round(4)
      variant     n  rate  control_rate  effect  ci_low  ci_high
    0       B  2000  0.07          0.05    0.02  0.0053   0.0349
    >>> result[["p_value", "significant", "mde", "srm"]].round(4)
       p_value  significant     mde    srm
    0   0.0077         True  0.0210  False
    >>> verdict(result.iloc[0], metric="clicks")
    'variant B raises clicks by 2.0 points (5.0 % to 7.0 %), 95 % CI 0.5 to 3.5 points; significant (p = 0.008)'
    """
    _check_options(alpha, kind)
    t, _ = lazy(recipients)
    by = _names(by)
    keys = [*by, variant_col]
    require(t, "recipients", [*keys, metric, *filter(None, [ts_col, id_col])])
    groups = _groups(t, keys, metric, ts_col)
    _check_recipients(t, groups, keys, metric)
    if id_col is not None:
        _check_ids(t, by, variant_col, id_col)
    kind = _kind(kind, t, groups, keys, metric)
    if kind == "proportion":
        stats = groups[keys].assign(n=groups.n, successes=groups.total.round().astype("int64"))
    else:
        m = moments(t, keys, [metric])
        stats = m[keys].assign(n=m.n, mean=m[f"{metric}_mean"], sd=m[f"{metric}_sd"],
                               skewness=m[f"{metric}_skew"])
    out = _compare(stats, kind=kind, variant_col=variant_col, control=control, alpha=alpha,
                   by=by, expected_split=expected_split, adjust=adjust, table="recipients",
                   column=metric, who="recipients")
    if ts_col is not None:
        out = _with_window(out, groups, by)
    if by and id_col is not None:
        out = _with_overlaps(out, t, groups, by, variant_col, id_col, ts_col)
    return out


def ab_test_from_stats(stats: pd.DataFrame, *, variant_col: str = "variant", control="A",
                       alpha: float = 0.05, kind: str | None = None,
                       expected_split: Mapping | None = None,
                       by: str | Sequence[str] | None = None,
                       adjust: str | None = None) -> pd.DataFrame:
    """:func:`ab_test` from per-variant aggregates instead of one row per recipient.

    Parameters
    ----------
    stats : pandas.DataFrame
        One row per variant (per test with ``by``): ``variant_col``, ``n`` (recipients) and
        either ``successes`` (proportions) or ``mean`` and ``sd`` (means; ``sd`` with n - 1 in
        the denominator) with an optional ``skewness`` (moment skewness; without it the
        skewness part of the size rule is not checked).
    kind : {"proportion", "mean"}, optional
        Default: from the columns present.

    The other parameters and the result are those of :func:`ab_test` (without the window).
    Errors name table ``stats``.

    Examples
    --------
    Clicks per variant from an e-mail tool's report; B beats A on its own, but not once the
    two comparisons with A are adjusted for (Holm):

    >>> report = pd.DataFrame({"variant": ["A", "B", "C"], "n": [5000, 5000, 5000],
    ...                        "successes": [250, 300, 260]})
    >>> ab_test_from_stats(report)[["variant", "effect", "p_value", "significant"]]
      variant  effect   p_value  significant
    0       B   0.010  0.028295         True
    1       C   0.002  0.649433        False
    >>> ab_test_from_stats(report, adjust="holm")[["variant", "p_value", "significant"]]
      variant   p_value  significant
    0       B  0.056590        False
    1       C  0.649433        False
    """
    _check_options(alpha, kind)
    if not isinstance(stats, pd.DataFrame):
        raise TypeError(f"stats must be a pandas DataFrame, got {type(stats).__name__}")
    by = _names(by)
    if kind is None:
        kind = "proportion" if "successes" in stats.columns else "mean"
    value_cols = ["successes"] if kind == "proportion" else ["mean", "sd"]
    require(stats, "stats", [*by, variant_col, "n", *value_cols])
    if kind == "mean" and "skewness" not in stats.columns:
        stats = stats.assign(skewness=np.nan)
    _check_stats(stats, kind, [*by, variant_col])
    return _compare(stats, kind=kind, variant_col=variant_col, control=control, alpha=alpha,
                    by=by, expected_split=expected_split, adjust=adjust, table="stats",
                    column="n", who="recipients")


def sample_ratio_mismatch(counts: Mapping, expected_split: Mapping | None = None) -> float:
    """The p-value of the chi-square test that the group sizes follow the planned split.

    Below :data:`SRM_ALPHA` (0.001) the assignment is broken: do not read the test.

    Examples
    --------
    >>> round(sample_ratio_mismatch({"A": 5000, "B": 5210}), 4)
    0.0377
    >>> sample_ratio_mismatch({"A": 9000, "B": 1000}, {"A": 0.9, "B": 0.1})
    1.0
    """
    labels = list(counts)
    observed = np.array([counts[k] for k in labels], dtype="float64")
    share = _shares(expected_split, labels)
    return float(sps.chisquare(observed, observed.sum() * share).pvalue)


def minimum_detectable_effect(n_control: int, n_variant: int, *,
                              control_rate: float | None = None,
                              sd: float | tuple[float, float] | None = None,
                              alpha: float = 0.05, power: float = POWER) -> float:
    """The smallest true increase a two-sided test at ``alpha`` detects with ``power``.

    Give ``control_rate`` for a proportion (the result is in the rate's units: 0.01 = one
    point; NaN when no increase is possible to detect) or ``sd`` for a mean (one standard
    deviation for both groups, or ``(control, variant)``).

    Examples
    --------
    >>> round(minimum_detectable_effect(10_000, 10_000, control_rate=0.05), 4)
    0.009
    >>> round(minimum_detectable_effect(10_000, 10_000, sd=40.0), 2)
    1.58
    """
    if (control_rate is None) == (sd is None):
        raise ValueError("give either control_rate (a proportion) or sd (a mean)")
    if control_rate is not None:
        return float(_mde_rates(np.array([n_control]), np.array([n_variant]),
                                np.array([float(control_rate)]), alpha, power)[0])
    sd_c, sd_v = (sd, sd) if np.isscalar(sd) else sd
    return float(_mde_means(np.array([n_control]), np.array([n_variant]), np.array([sd_c]),
                            np.array([sd_v]), alpha, power)[0])


def verdict(row, *, metric: str | None = None, alpha: float = 0.05,
            currency: str | None = None) -> str:
    """One plain sentence for a row of :func:`ab_test`.

    Proportions read in percentage points, means as plain numbers (in ``currency`` when
    given). ``alpha`` should be the test's, for the interval's level.

    Examples
    --------
    >>> row = pd.Series({"variant": "B", "mean": 10.9, "control_mean": 10.0, "effect": 0.9,
    ...                  "ci_low": -0.3, "ci_high": 2.1, "p_value": 0.14, "significant": False,
    ...                  "mde": 1.7, "srm": False})
    >>> verdict(row, metric="revenue per recipient", currency="EUR")
    'variant B changes revenue per recipient by €0.90 (€10.00 to €10.90), 95 % CI -€0.30 to €2.10; not significant (p = 0.140): the test can detect €1.70 with 80 % power'
    """
    proportion = "rate" in row
    level = f"{round((1 - alpha) * 100, 1):g} %"
    if proportion:
        def num(v):
            return f"{round(v * 100, 1) + 0.0:.1f}"  # + 0.0: no "-0.0"

        before, after = (formats.percent(row[c]) for c in ("control_rate", "rate"))
        unit = " points"
    else:
        def num(v):
            v = round(v, 2) + 0.0
            return formats.money(v, currency, decimals=2) if currency else f"{v:,.2f}"

        before, after = num(row["control_mean"]), num(row["mean"])
        unit = ""
    effect = row["effect"]
    what = metric or ("the rate" if proportion else "the mean")
    if row["significant"]:
        verb = "raises" if effect > 0 else "lowers"
        size = num(abs(effect))
    else:
        verb, size = "changes", num(effect)
    p = row["p_value"]
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    text = (f"variant {row['variant']} {verb} {what} by {size}{unit} ({before} to {after}), "
            f"{level} CI {num(row['ci_low'])} to {num(row['ci_high'])}{unit}; ")
    if row["significant"]:
        text += f"significant ({p_text})"
    else:
        text += (f"not significant ({p_text}): the test can detect {num(row['mde'])}{unit} "
                 f"with {POWER * 100:.0f} % power")
    if row.get("confounded_with"):
        text += (f"; confounded with {row['confounded_with']}: the two tests' variants went "
                 "to the same recipients together, so this effect carries part of the other "
                 "test's")
    if row.get("srm", False):
        text += ("; sample-ratio mismatch: the groups are not the planned split, check the "
                 "assignment before reading this")
    return text


# -- the statistics, vectorised over comparisons ---------------------------------------------
def _compare(stats: pd.DataFrame, *, kind, variant_col, control, alpha, by, expected_split,
             adjust, table, column, who) -> pd.DataFrame:
    tests = by or ["_test"]
    stats = stats.assign(_test=0) if not by else stats.copy()
    stats = stats.sort_values([*tests, variant_col], kind="stable").reset_index(drop=True)
    _check_tests(stats, tests, variant_col, control, table, who)
    is_control = stats[variant_col] == control
    pairs = stats[~is_control].merge(stats[is_control], on=tests, suffixes=("", "_c"))
    n_v, n_c = pairs.n.to_numpy("int64"), pairs.n_c.to_numpy("int64")
    if kind == "proportion":
        x_v, x_c = pairs.successes.to_numpy("int64"), pairs.successes_c.to_numpy("int64")
        refuse(_proportion_size(pairs, tests, variant_col, table, column, who))
        rate, control_rate = x_v / n_v, x_c / n_c
        low, high = proportion.confint_proportions_2indep(x_v, n_v, x_c, n_c, method="newcomb",
                                                          alpha=alpha)
        with np.errstate(divide="ignore", invalid="ignore"):  # its odds ratio at a rate of 1
            p_value = proportion.test_proportions_2indep(  # a function, not a pytest test
                x_v, n_v, x_c, n_c, method="score", correction=False).pvalue
        effect = rate - control_rate
        mde = _mde_rates(n_c, n_v, control_rate, alpha, POWER)
        values = {"rate": rate, "control_rate": control_rate}
    else:
        refuse(_mean_size(pairs, tests, variant_col, table, column, who))
        effect, low, high, p_value = welch(pairs["mean"], pairs.sd, n_v, pairs.mean_c,
                                           pairs.sd_c, n_c, alpha)
        mde = _mde_means(n_c, n_v, pairs.sd_c.to_numpy(), pairs.sd.to_numpy(), alpha, POWER)
        values = {"mean": pairs["mean"].to_numpy(), "control_mean": pairs.mean_c.to_numpy()}
    p_value = np.atleast_1d(np.asarray(p_value, dtype="float64"))
    if adjust is not None:
        p_value = _adjusted(p_value, pairs[tests], adjust, alpha)
    srm_p = _srm(stats, tests, variant_col, expected_split, table).reindex(
        pd.MultiIndex.from_frame(pairs[tests])).to_numpy()
    out = pairs[[*by, variant_col]].assign(
        n=n_v, control_n=n_c, **values, effect=effect, ci_low=np.asarray(low, "float64"),
        ci_high=np.asarray(high, "float64"), p_value=p_value, significant=p_value < alpha,
        mde=mde, srm_p_value=srm_p, srm=srm_p < SRM_ALPHA)
    return out.rename(columns={variant_col: "variant"}).reset_index(drop=True)


def _proportion_size(pairs, tests, variant_col, table, column, who) -> list[Problem]:
    """Cochran's rule: at the pooled rate, 5 expected successes and failures per group."""
    pooled = (pairs.successes + pairs.successes_c) / (pairs.n + pairs.n_c)
    rarer = np.minimum(pooled, 1 - pooled)
    with np.errstate(divide="ignore"):
        needed = np.ceil(_MIN_EXPECTED / rarer.to_numpy() - 1e-9)
    small = np.minimum(pairs.n, pairs.n_c).to_numpy() < needed
    if not small.any():
        return []
    bad = pairs[small].assign(pooled_rate=pooled[small],
                              needed_per_group=needed[small].astype("int64"))
    first = bad.iloc[0]
    smallest = int(min(first.n, first.n_c))
    if first.pooled_rate in (0.0, 1.0):
        what = "successes" if first.pooled_rate == 0 else "failures"
        rule = (f"no {what} in variant {first[variant_col]!r} or the control: nothing to "
                f"compare (at least {_MIN_EXPECTED} expected {what} per group needed)")
    else:
        rule = (f"too few {who} to compare: at a pooled rate of {first.pooled_rate * 100:.2f} % each "
                f"group needs at least {int(first.needed_per_group):,} {who} "
                f"({_MIN_EXPECTED} expected successes and failures, Cochran's rule for the "
                f"test's normal approximation); the smaller group has {smallest:,}")
    shown = bad[[*tests, variant_col, "n", "n_c", "successes", "successes_c",
                 "needed_per_group"]].rename(columns={"n_c": "control_n",
                                                      "successes_c": "control_successes"})
    return [Problem(table, column, rule, int((bad.n + bad.n_c).sum()),
                    shown.drop(columns="_test", errors="ignore").head(5))]


def _mean_size(pairs, tests, variant_col, table, column, who) -> list[Problem]:
    """At least 30 per group, the difference of the means skewed by at most 0.2, some spread."""
    skew = difference_skew(pairs.sd.to_numpy(), pairs.skewness.to_numpy(), pairs.n.to_numpy(),
                           pairs.sd_c.to_numpy(), pairs.skewness_c.to_numpy(),
                           pairs.n_c.to_numpy())
    n, n_c = pairs.n.to_numpy(), pairs.n_c.to_numpy()
    flat = ~((pairs.sd > 0) | (pairs.sd_c > 0)).to_numpy()
    suspect = np.flatnonzero((np.minimum(n, n_c) < MIN_N) | (np.abs(skew) > MAX_SKEW) | flat)
    shown = pairs[[*tests, variant_col, "n", "n_c", "mean", "mean_c"]].rename(
        columns={"n_c": "control_n", "mean_c": "control_mean"}).drop(columns="_test",
                                                                     errors="ignore")
    problems = []
    for i in suspect[:5]:
        label = pairs[variant_col].iloc[i]
        if flat[i]:
            problems.append(Problem(table, column, f"no variation: every one of the {who} of "
                                    f"variant {label!r} and the control has the same value "
                                    f"({pairs['mean'].iloc[i]:g})", int(n[i] + n_c[i]),
                                    shown.iloc[[i]]))
            continue
        problem = mean_size_problem(table, column, who, int(n[i]), int(n_c[i]), skew[i],
                                    shown.iloc[[i]], (f"variant {label!r}", "the control"))
        if problem is not None:
            problems.append(problem)
    return problems


@functools.lru_cache(maxsize=4096)
def _effect_size(n_control: int, n_variant: int, alpha: float, power: float, kind: str):
    """Cohen's h (proportions) or d (means) detectable at these sizes (statsmodels)."""
    solver = NormalIndPower() if kind == "proportion" else TTestIndPower()
    try:
        size = solver.solve_power(effect_size=None, nobs1=n_variant, alpha=alpha, power=power,
                                  ratio=n_control / n_variant, alternative="two-sided")
        return float(np.ravel(size)[0])
    except (ValueError, RuntimeError):
        return math.nan


def _effect_sizes(n_c, n_v, alpha, power, kind) -> np.ndarray:
    return np.array([_effect_size(int(c), int(v), float(alpha), float(power), kind)
                     for c, v in zip(n_c, n_v, strict=True)])


def _mde_rates(n_c, n_v, control_rate, alpha, power) -> np.ndarray:
    h = np.abs(_effect_sizes(n_c, n_v, alpha, power, "proportion"))
    angle = np.arcsin(np.sqrt(control_rate)) + h / 2  # h = 2 asin(sqrt p2) - 2 asin(sqrt p1)
    return np.where(angle <= np.pi / 2, np.sin(np.minimum(angle, np.pi / 2)) ** 2 - control_rate,
                    np.nan)


def _mde_means(n_c, n_v, sd_c, sd_v, alpha, power) -> np.ndarray:
    d = np.abs(_effect_sizes(n_c, n_v, alpha, power, "mean"))  # the solver may land on -d
    n_c, n_v = np.asarray(n_c, "float64"), np.asarray(n_v, "float64")
    sigma = np.sqrt((sd_c**2 / n_c + sd_v**2 / n_v) / (1 / n_c + 1 / n_v))  # Welch's se
    return d * sigma


def _adjusted(p_value, tests: pd.DataFrame, method: str, alpha: float) -> np.ndarray:
    out = p_value.copy()
    for idx in tests.groupby(list(tests.columns), sort=False).indices.values():
        if len(idx) > 1:
            out[idx] = multipletests(p_value[idx], alpha=alpha, method=method)[1]
    return out


def _shares(expected_split: Mapping | None, labels: list) -> np.ndarray:
    if expected_split is None:
        return np.full(len(labels), 1 / len(labels))
    weights = np.array([float(expected_split.get(k, np.nan)) for k in labels])
    return weights / weights.sum()


def _srm(stats, tests, variant_col, expected_split, table) -> pd.Series:
    """Per test: the chi-square p-value of its group sizes against the planned split."""
    labels = list(dict.fromkeys(stats[variant_col]))
    if expected_split is not None:
        _check_split(stats, tests, variant_col, expected_split, labels, table)
    weight = (stats[variant_col].map(lambda v: float(expected_split[v])) if expected_split
              is not None else pd.Series(1.0, index=stats.index))
    key = pd.MultiIndex.from_frame(stats[tests])
    size = stats.groupby(tests, sort=False)[variant_col].transform("size").to_numpy()
    total = stats.groupby(tests, sort=False).n.transform("sum").to_numpy("float64")
    share = weight / weight.groupby(key).transform("sum").to_numpy()
    expected = total * share.to_numpy()
    p = pd.Series(np.nan, index=key)
    for k in np.unique(size):  # tests with k variants: one vectorised chi-square
        rows = np.flatnonzero(size == k)
        obs = stats.n.to_numpy("float64")[rows].reshape(-1, k)
        exp = expected[rows].reshape(-1, k)
        p.iloc[rows] = np.repeat(sps.chisquare(obs, exp, axis=1).pvalue, k)
    return p[~p.index.duplicated()]


# -- the checks --------------------------------------------------------------------------------
def _check_options(alpha, kind) -> None:
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(_KINDS)} or None, not {kind!r}")


def _names(by) -> list[str]:
    return [] if by is None else [by] if isinstance(by, str) else list(by)


def _groups(t: ir.Table, keys, metric, ts_col) -> pd.DataFrame:
    """Per group: rows, missing / infinite / non-0-1 outcomes, the outcome's sum, the window."""
    x = t[metric]
    if not (x.type().is_numeric() or x.type().is_boolean()):
        raise DataError([Problem("recipients", metric, f"outcome must be numeric or bool, not "
                                 f"{x.type()}", int(t.count().execute()),
                                 examples(t, None, [*keys, metric]))])
    v = x.cast("float64")
    missing, ok, aggs = x.isnull(), x.notnull(), {"n": t.count()}
    if x.type().is_floating():
        missing = missing | v.isnan()
        ok = ~missing & ~v.isinf()
        aggs["infinite"] = (~missing & v.isinf()).cast("int64").sum()
    aggs |= {"missing": missing.cast("int64").sum(), "total": v.sum(where=ok),
             "other": (ok & ~v.isin([0.0, 1.0])).cast("int64").sum()}
    if ts_col is not None:
        aggs |= {"first_at": t[ts_col].min(), "last_at": t[ts_col].max()}
    out = t.group_by(keys).aggregate(**aggs).execute()
    out = out.assign(infinite=out.get("infinite", 0)).fillna({"total": 0.0, "infinite": 0})
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def _check_recipients(t: ir.Table, groups: pd.DataFrame, keys, metric) -> None:
    if groups.n.sum() == 0:
        raise DataError([Problem("recipients", "*", "empty table: no recipients", 0)])
    problems = []
    for col in keys:
        blank = groups[col].isna()
        if blank.any():
            problems.append(Problem("recipients", col, f"missing {col} label",
                                    int(groups.n[blank].sum()),
                                    examples(t, t[col].isnull(), [*keys, metric])))
    for count, rule, pred in [
            ("missing", "missing outcome (null or NaN): give 0 where there was none",
             lambda x: x.isnull() | x.cast("float64").isnan()),
            ("infinite", "infinite outcome", lambda x: x.cast("float64").isinf())]:
        if groups[count].sum():
            problems.append(Problem("recipients", metric, rule, int(groups[count].sum()),
                                    examples(t, pred(t[metric]), [*keys, metric])))
    refuse(problems)


def _check_ids(t: ir.Table, by, variant_col, id_col) -> None:
    per = t.group_by([*by, id_col]).aggregate(_rows=t.count(), _variants=t[variant_col].nunique())
    dup = per.filter(per._rows > 1)
    counts = dup.aggregate(ids=dup.count(), mixed=(dup._variants > 1).cast("int64").sum(),
                           rows=dup._rows.sum()).execute().iloc[0]
    if counts.ids:
        shown = t.inner_join(dup.select(*by, id_col).limit(5), [*by, id_col])
        raise DataError([Problem(
            "recipients", id_col, f"recipient in more than one row of a test (one row per "
            f"recipient; {int(counts.mixed):,} of the {int(counts.ids):,} recipients are in "
            f"more than one variant)", int(counts.rows),
            shown.select(*dict.fromkeys([*by, id_col, variant_col])).order_by(
                [*by, id_col]).limit(10).execute())])


def _kind(kind, t: ir.Table, groups: pd.DataFrame, keys, metric) -> str:
    if t[metric].type().is_boolean():
        return kind or "proportion"
    binary = groups.other.sum() == 0
    if kind == "proportion" and not binary:
        x = t[metric].cast("float64")
        raise DataError([Problem("recipients", metric, "a proportion's outcome must be 0 or 1",
                                 int(groups.other.sum()),
                                 examples(t, x.notnull() & ~x.isin([0.0, 1.0]),
                                          [*keys, metric]))])
    return kind or ("proportion" if binary else "mean")


def _check_tests(stats, tests, variant_col, control, table, who) -> None:
    """Every test has a control group and at least one other variant."""
    grouped = stats.groupby(tests, sort=False)
    k = grouped[variant_col].transform("size")
    has_control = (stats[variant_col] == control).groupby(
        [stats[c] for c in tests], sort=False).transform("any")
    shown_cols = [c for c in [*tests, variant_col, "n"] if c != "_test"]
    problems = []
    one = (k < 2) & has_control
    if one.any():
        labels = ", ".join(repr(v) for v in stats.loc[one, variant_col].unique()[:5])
        problems.append(Problem(table, variant_col, f"only one variant in a test ({labels}): "
                                "nothing to compare", int(stats.n[one].sum()),
                                stats.loc[one, shown_cols].head(5)))
    missing = ~has_control
    if missing.any():
        present = ", ".join(repr(v) for v in stats.loc[missing, variant_col].unique()[:5])
        problems.append(Problem(table, variant_col, f"no {who} in the control group "
                                f"{control!r} (variants present: {present})",
                                int(stats.n[missing].sum()),
                                stats.loc[missing, shown_cols].head(5)))
    refuse(problems)


def _check_split(stats, tests, variant_col, expected_split, labels, table) -> None:
    unknown = [v for v in labels if v not in expected_split]
    bad = [k for k, w in expected_split.items() if not (np.isfinite(w) and w > 0)]
    problems = []
    if unknown:
        rows = stats[variant_col].isin(unknown)
        problems.append(Problem(table, variant_col, f"variants not in expected_split: "
                                f"{', '.join(map(repr, unknown))}", int(stats.n[rows].sum()),
                                stats.loc[rows, [variant_col, "n"]].head(5)))
    if bad:
        problems.append(Problem(table, variant_col, f"expected_split must give every variant a "
                                f"positive share: {', '.join(map(repr, bad))}", 0))
    present = stats.groupby(tests, sort=False)[variant_col].agg(set)
    absent = sorted({k for k in expected_split for s in present if k not in s}, key=str)
    if absent:
        problems.append(Problem(table, variant_col, f"no recipients in variant(s) "
                                f"{', '.join(map(repr, absent))} of expected_split", 0))
    refuse(problems)


def _check_stats(stats: pd.DataFrame, kind, keys) -> None:
    problems = []
    for col in keys:
        blank = stats[col].isna()
        if blank.any():
            problems.append(Problem("stats", col, f"missing {col} label", int(blank.sum()),
                                    stats.loc[blank, [*keys, "n"]].head(5)))
    value_cols = ["n", "successes"] if kind == "proportion" else ["n", "mean", "sd"]
    for col in value_cols:
        values = pd.to_numeric(stats[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.astype("float64"))
        if col in ("n", "successes"):
            bad |= (values < 0) | (values % 1 != 0)
        if col == "sd":
            bad |= values < 0
        if bad.any():
            problems.append(Problem("stats", col, "must be a finite number" +
                                    (" (a whole number, not negative)" if col in
                                     ("n", "successes") else "") +
                                    (", not negative" if col == "sd" else ""), int(bad.sum()),
                                    stats.loc[bad, [*keys, col]].head(5)))
    if not problems and kind == "proportion":
        over = stats.successes > stats.n
        if over.any():
            problems.append(Problem("stats", "successes", "more successes than recipients n",
                                    int(over.sum()), stats.loc[over, [*keys, "n", "successes"]]
                                    .head(5)))
    if not problems and (stats.n == 0).any():
        empty = stats.n == 0
        problems.append(Problem("stats", "n", "a variant without recipients (n = 0)",
                                int(empty.sum()), stats.loc[empty, [*keys, "n"]].head(5)))
    refuse(problems)


def _with_overlaps(out, t: ir.Table, groups: pd.DataFrame, by, variant_col, id_col,
                   ts_col) -> pd.DataFrame:
    """``overlap_n`` and ``confounded_with`` per test (see *Overlapping tests*)."""
    tests = groups.groupby(by, sort=False)
    tests = (tests.agg(first_at=("first_at", "min"), last_at=("last_at", "max")) if ts_col
             else tests.size().to_frame("n")).reset_index()
    other = {c: f"_o_{c}" for c in by}
    pairs = tests.merge(tests.rename(columns=other | {"first_at": "_o_first",
                                                      "last_at": "_o_last"}), how="cross")
    pairs = pairs[pairs[by].ne(pairs[list(other.values())].set_axis(by, axis=1)).any(axis=1)]
    if ts_col:
        pairs = pairs[(pairs.first_at <= pairs._o_last) & (pairs._o_first <= pairs.last_at)]
    result = out.assign(overlap_n=0, confounded_with="")
    if pairs.empty:
        return result
    r = t.select(*by, _v=t[variant_col].cast("string"), _id=t[id_col])
    o = r.rename({new: old for old, new in other.items()} | {"_ov": "_v", "_oid": "_id"})
    key = ibis.memtable(pairs[[*by, *other.values()]])
    shared = r.inner_join(key, by).inner_join(
        o, [*(key[v] == o[v] for v in other.values()), r._id == o._oid])
    counts = shared.group_by(by).aggregate(overlap_n=shared._id.nunique()).execute()
    cross = shared.group_by([*by, *other.values(), "_v", "_ov"]).aggregate(
        n=shared.count()).execute().sort_values([*by, *other.values()], kind="stable")
    confounded = {}
    for names, table in cross.groupby([*by, *other.values()], sort=False):
        crosstab = table.pivot_table(index="_v", columns="_ov", values="n", fill_value=0)
        if min(crosstab.shape) > 1 and sps.chi2_contingency(
                crosstab.to_numpy(), correction=False).pvalue < SRM_ALPHA:
            confounded.setdefault(names[:len(by)], []).append(
                " / ".join(map(str, names[len(by):])))
    counts = counts.assign(confounded_with=[
        "; ".join(confounded.get(tuple(row), [])) for row in counts[by].itertuples(index=False)])
    result = result.drop(columns=["overlap_n", "confounded_with"]).merge(
        counts, on=by, how="left")
    return result.assign(overlap_n=result.overlap_n.fillna(0).astype("int64"),
                         confounded_with=result.confounded_with.fillna(""))


def _with_window(out: pd.DataFrame, groups: pd.DataFrame, by) -> pd.DataFrame:
    if by:
        window = groups.groupby(by, sort=False).agg(first_at=("first_at", "min"),
                                                    last_at=("last_at", "max")).reset_index()
        out = out.merge(window, on=by, how="left")
    else:
        out = out.assign(first_at=groups.first_at.min(), last_at=groups.last_at.max())
    first, last = pd.to_datetime(out.first_at), pd.to_datetime(out.last_at)
    return out.assign(days=((last.dt.normalize() - first.dt.normalize()).dt.days + 1)
                      .astype("int64"))
