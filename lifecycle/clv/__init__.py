"""Customer lifetime value: purchase summaries, BG/NBD, Gamma-Gamma and discounted CLV.

The only module that imports ``lifetimes``, and only inside functions (``lifetimes`` sets a global
warnings filter at import).

**Purchase days** are those of :mod:`lifecycle.purchases`, the library's one definition:
counted once per customer-day at the day's net spend; a return booked on a later day is not
spread back over the days before. Customers without any purchase day are absent.

**Summary** (one row per customer, the lifetimes / Fader-Hardie sense), for an ``as_of`` day that
is the last observed day, inclusive (later transactions are ignored; a timestamp ``as_of`` cuts at
that instant like everywhere in the library, ``ts < schema.end_of(as_of)``):

- ``frequency``: purchase days after the first one (repeat purchases);
- ``recency``: first to last purchase day; ``T``: first purchase day to ``as_of``;
- ``monetary_value``: mean spend of the repeat purchase days (0 when frequency is 0).

Durations are in the *time unit* of the analysis: ``"D"`` (days) or ``"W"`` (weeks = days / 7),
which the summary states in its ``time_unit`` column. A model takes its unit from the summary
(a unit given to the model must agree) and predicts in it. ``customer_id`` is a column and the
rows come in a defined order (see :func:`summary`).

**Fitting.** Both likelihoods depend on the data only through distinct (frequency, recency, T)
triples, and (frequency, monetary value) pairs for Gamma-Gamma: the fits run on the distinct ones
with counts as weights (Gamma-Gamma on a pandas summary takes the repeat buyers' rows as they
are: spend is continuous, nearly every pair is distinct), sorted by value so that the
summary's row order cannot change a single bit of the fit. Gamma-Gamma fits amounts divided
by their mean (any money unit gives the same relative parameters). The objective is exactly ``lifetimes``'
(mean negative log-likelihood per customer plus ``penalizer * sum(params**2)``, BG/NBD durations
rescaled so that the largest T is 1). By default (``engine="numpy"``) it is minimised here with
analytic gradients, from ``lifetimes``' starting point with its optimiser settings;
``engine="lifetimes"`` runs ``lifetimes``' own fitters on the same weighted rows. Both reach the
same optimum (tests and ``bench/bench_clv.py`` check it); the numpy engine is the fast one
(``lifetimes`` also evaluates an autograd Hessian over all rows: seconds at millions of rows;
here the standard errors come from a numerical Hessian of the analytic gradient, on first use).

**CLV.** ``clv_<h>m = expected spend per purchase * sum over months k = 1..h of the expected
purchases in month k / (1 + discount_rate) ** (k / 12)``. ``discount_rate`` is an **annual**
rate (0.10 = 10 % a year), applied monthly at each month's end; ``lifetimes``' monthly 0.01 is an
annual 1.01**12 - 1 = 12.7 %. A month is 365.25 / 12 days (30.44), converted into the fit's time
unit (``lifetimes`` uses 30 days for daily data and 4.345 weeks for weekly data).

Modules: :mod:`~lifecycle.clv.summaries` (transactions to summaries), :mod:`~lifecycle.clv.bgnbd`
and :mod:`~lifecycle.clv.gamma_gamma` (the models), :mod:`~lifecycle.clv.value` (discounted
CLV), :mod:`~lifecycle.clv.diagnostics` (frames for the diagnostic plots) and the private
numeric kernels they share.
"""

from lifecycle.clv._kernels import DAYS_PER_MONTH, ConvergenceError, NotFittedError
from lifecycle.clv.bgnbd import BetaGeoModel
from lifecycle.clv.diagnostics import (
                                       cumulative_repeat_purchases,
                                       holdout_by_frequency,
                                       p_alive_matrix,
)
from lifecycle.clv.gamma_gamma import GammaGammaModel
from lifecycle.clv.summaries import calibration_holdout, summary
from lifecycle.clv.value import customer_value, lifetime_value, total_value_interval

__all__ = [
    "DAYS_PER_MONTH",
    "BetaGeoModel",
    "ConvergenceError",
    "GammaGammaModel",
    "NotFittedError",
    "calibration_holdout",
    "customer_value",
    "cumulative_repeat_purchases",
    "holdout_by_frequency",
    "lifetime_value",
    "p_alive_matrix",
    "summary",
    "total_value_interval",
]
