"""After the sale: service contacts, complaints, ideas, referrals, NPS and surveys (feedback),
and phone subscriptions that renew or churn at each contract end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ._common import World, _cat, _choice, _expand, _str, _ts
from .customers import _PHONE_W, _PHONES, Traits

_PLANS = [("Basic 5GB", 14.9), ("Plus 30GB", 24.9), ("Max unlimited", 34.9), ("Family", 44.9)]
_FEEDBACK_KINDS = ["service_contact", "complaint", "idea", "referral", "nps", "survey"]


def feedback(world: World, latent: Traits, created, email_granted, email_issue,
             customer_ids: pa.Array) -> pd.DataFrame:
    """Service contacts, complaints, ideas, referrals (Poisson over tenure), NPS and surveys.

    Surveys go to customers with a clean, consented e-mail address (``email_issue`` -1,
    ``email_granted`` finite).
    """
    rng, n, days = world.rng, world.n, world.days
    years = (days - created) / 365.25
    rates = [latent.service_need, 0.04 * (1 + latent.service_need),
             np.where(latent.innovator, 0.8, 0.02), 0.6 * latent.advocacy**4]
    parts = []
    for kind, rate in enumerate(rates):
        cust, ts = _expand(rng, rng.poisson(rate * years), created, np.full(n, days))
        parts.append((cust, ts, np.full(len(cust), kind)))
    nps = np.flatnonzero((rng.random(n) < 0.25) & (days - created > 31))
    at = created[nps] + 30 + rng.random(len(nps)) * (days - created[nps] - 31)
    parts.append((nps, at, np.full(len(nps), 4)))
    asked = np.isfinite(email_granted) & (email_issue < 0) & (created + 95 < days)
    survey = np.flatnonzero(asked & (rng.random(n) < 0.2))
    parts.append((survey, created[survey] + 91 + rng.exponential(1.5, len(survey)),
                  np.full(len(survey), 5)))
    cust, ts, kind = (np.concatenate(x) for x in zip(*parts, strict=True))
    keep = ts < days
    return _feedback_table(world, latent, customer_ids, cust[keep], ts[keep], kind[keep])


def _feedback_table(world: World, latent: Traits, customer_ids, cust, ts, kind) -> pd.DataFrame:
    rng = world.rng
    adv = latent.advocacy[cust]
    nps = np.clip(np.round(rng.normal(10.5 * adv, 1.5)), 0, 10)
    survey = np.clip(np.round(rng.normal(1 + 4.4 * adv, 0.8)), 1, 5)
    score = np.where(kind == 4, nps, np.where(kind == 5, survey, np.nan))
    u = rng.random(len(cust))
    service = np.where(u < 0.2 + 0.1 * (latent.service_need[cust] > 1), 0, np.where(u < 0.8, 1, 2))
    senti = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
        [service, 0, np.where(u < 0.6, 2, 1), 2,
         np.where(nps >= 9, 2, np.where(nps <= 6, 0, 1))],
        np.where(survey >= 4, 2, np.where(survey <= 2, 0, 1)))
    order = np.lexsort((cust, ts))
    return pd.DataFrame({
        "customer_id": _str(customer_ids, cust[order]), "ts": _ts(world, ts[order]),
        "kind": _cat(kind[order], _FEEDBACK_KINDS), "score": score[order],
        "sentiment": _cat(senti[order], ["negative", "neutral", "positive"])})


def subscriptions(world: World, phone, created, churn_risk,
                  customer_ids: pa.Array) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Phone contracts of 12 or 24 months; at each end the customer renews or churns.

    Returns the subscriptions table and, per customer, ``churned`` (a contract ended without
    renewal) and ``will_churn`` (the latent outcome at the next contract end).
    """
    rng, n = world.rng, world.n
    has = rng.random(n) < np.where(phone >= 0, 0.30, 0.05)
    start = np.where(has, created + rng.exponential(60.0, n), np.nan)
    churned = np.zeros(n, bool)
    will_churn = np.zeros(n, bool)
    rows = []
    device = np.where(phone >= 0, phone, _choice(rng, _PHONE_W, n))
    for _ in range(4):
        live = np.flatnonzero(np.isfinite(start) & (start < world.days))
        months = np.where(rng.random(len(live)) < 0.4, 12, 24)
        end = start[live] + months * 30.4375
        plan = _choice(rng, [0.30, 0.35, 0.25, 0.10], len(live))
        rows.append((live, start[live], end, plan))
        leaves = rng.random(len(live)) < churn_risk[live]
        ended = end < world.days
        churned[live[ended & leaves]] = True
        will_churn[live[~ended]] = leaves[~ended]
        start = np.full(n, np.nan)
        start[live[ended & ~leaves]] = end[ended & ~leaves]
    cust, begin, end, plan = (np.concatenate(x) for x in zip(*rows, strict=True))
    order = np.lexsort((begin, cust))
    fee = np.array([p[1] for p in _PLANS])[plan[order]]
    table = pd.DataFrame({
        "customer_id": _str(customer_ids, cust[order]), "start_at": _ts(world, begin[order]),
        "end_at": _ts(world, end[order]), "plan": _cat(plan[order], [p[0] for p in _PLANS]),
        "monthly_fee": fee, "device_model": _cat(device[cust[order]], _PHONES)})
    return table, churned, will_churn
