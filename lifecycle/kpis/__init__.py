"""Campaign results: message KPIs, open reach, A/B tests and the store lift of a control group.

- :mod:`~lifecycle.kpis.messages`: :func:`message_kpis` (sends, deliveries, unique opens and
  clicks, opt-outs, complaints and credited sales per campaign, cell, variant, send or period,
  every rate with its stated denominator), :func:`open_reach` (open rate next to the share
  of the list that opened anything), :func:`rollup` (coarser groups from finer KPIs),
  :func:`against_baseline` (programs against the newsletter, with intervals),
  :func:`responder_value` (the later value of responders next to non-responders') and
  :func:`ab_recipients` (the delivered messages of each A/B test, ready for :func:`ab_test`);
- :mod:`~lifecycle.kpis.experiments`: :func:`ab_test` (A/B/n tests on proportions such as
  opens, clicks and conversions, or on means such as revenue per recipient: effect, interval,
  p-value, minimum detectable effect, sample-ratio check), :func:`ab_test_from_stats` (the
  same from per-variant counts), :func:`sample_ratio_mismatch`,
  :func:`minimum_detectable_effect` and :func:`verdict` (a result in one sentence);
- :mod:`~lifecycle.kpis.lift`: :func:`store_lift` (store and web purchases of contacted
  customers against the held-out control group, in a window after contact).

Aggregates are computed in the backend (DuckDB or any ibis backend); only per-group counts
and moments come into Python, where statsmodels and scipy do the statistics. Results are
small pandas frames whatever the input.
"""

from lifecycle.kpis.experiments import (
    POWER,
    SRM_ALPHA,
    ab_test,
    ab_test_from_stats,
    minimum_detectable_effect,
    sample_ratio_mismatch,
    verdict,
)
from lifecycle.kpis.lift import MEASURES, Lift, store_lift
from lifecycle.kpis.messages import (
    ab_recipients,
    against_baseline,
    credited_sales,
    message_kpis,
    open_reach,
    responder_value,
    rollup,
)

__all__ = [
    "MEASURES",
    "POWER",
    "SRM_ALPHA",
    "Lift",
    "ab_recipients",
    "against_baseline",
    "credited_sales",
    "ab_test",
    "ab_test_from_stats",
    "message_kpis",
    "minimum_detectable_effect",
    "open_reach",
    "responder_value",
    "rollup",
    "sample_ratio_mismatch",
    "store_lift",
    "verdict",
]
