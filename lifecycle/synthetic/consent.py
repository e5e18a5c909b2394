"""Marketing consents: grants at and after acquisition, preference-centre revocations, expiry,
the unsubscribes of the e-mail channel, and the 2-hour SMS consents of store visits."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._common import World, _cat, _str, _ts

_CONSENTS = [  # channel, share granted at acquisition, purpose, lifetime days (inf), revoke share
    ("email", 0.75, "newsletter", np.inf, 0.04), ("sms", 0.35, "offers", np.inf, 0.05),
    ("push", 0.25, "app_notifications", np.inf, 0.08),
    ("ads", 0.55, "personalised_ads", 365.0, 0.10), ("phone", 0.10, "telemarketing", np.inf, 0.05),
]


class Consent(NamedTuple):
    """One channel's consent of each customer, in days since start (NaN = never)."""

    granted: np.ndarray
    revoked: np.ndarray  # in the preference centre; e-mail unsubscribes come on top
    expires: np.ndarray  # inf = open-ended


def consent_plan(world: World, created, email: pa.Array) -> dict[str, Consent]:
    """Consent grants and preference-centre revocations, per channel of ``_CONSENTS``."""
    rng, n = world.rng, world.n
    has_email = pc.is_valid(email).to_numpy(zero_copy_only=False)
    plan = {}
    for channel, share, _, life, revoke in _CONSENTS:
        at_start = rng.random(n) < share
        later = ~at_start & (rng.random(n) < 0.05)
        granted = np.where(at_start, created, created + rng.exponential(120.0, n))
        granted = np.where((at_start | later) & (granted < world.days), granted, np.nan)
        if channel == "email":
            granted[~has_email] = np.nan
        revoked = granted + rng.exponential(300.0, n)
        revoked[(rng.random(n) >= revoke) | (revoked >= world.days)] = np.nan
        expires = granted + life
        revoked[revoked >= expires] = np.nan
        plan[channel] = Consent(granted, revoked, expires)
    return plan


def consent_table(world: World, plan: dict[str, Consent], unsubscribed, bought,
                  customer_ids: pa.Array) -> pd.DataFrame:
    """Per channel: granted, expires (null = open-ended), revoked; 2-hour SMS at store visits.

    ``unsubscribed`` is each customer's e-mail unsubscribe or complaint (NaN = none);
    ``bought`` the purchases (``cust``, ``ts``, ``store``).
    """
    rng = world.rng
    parts = []
    for k, (channel, *_rest) in enumerate(_CONSENTS):
        granted, revoked, expires = plan[channel]
        if channel == "email":
            revoked = np.fmin(revoked, np.where(unsubscribed >= granted, unsubscribed, np.nan))
        cust = np.flatnonzero(np.isfinite(granted))
        parts.append((cust, granted[cust], expires[cust], revoked[cust],
                      np.full(len(cust), k)))
    visit = np.flatnonzero(bought.store & (bought.ts < world.days)
                           & (rng.random(len(bought.ts)) < 0.08))
    parts.append((bought.cust[visit], bought.ts[visit], bought.ts[visit] + 2 / 24,
                  np.full(len(visit), np.nan), np.full(len(visit), len(_CONSENTS))))
    cust, granted, expires, revoked, kind = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((kind, granted, cust))
    channel = np.array([0, 1, 2, 3, 4, 1])[kind[order]]
    purposes = [c[2] for c in _CONSENTS] + ["store_visit"]
    return pd.DataFrame({
        "customer_id": _str(customer_ids, cust[order]),
        "channel": _cat(channel, [c[0] for c in _CONSENTS]),
        "granted_at": _ts(world, granted[order]), "expires_at": _ts(world, expires[order]),
        "revoked_at": _ts(world, revoked[order]), "purpose": _cat(kind[order], purposes)})
