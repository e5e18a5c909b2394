"""Marketing touches: a pool of journeys that convert by known per-channel effects, ending at
real purchases or at people and times without one, their touchpoints, and the channels' true
removal effects and Shapley values (``Truth.channels``)."""

from __future__ import annotations

from math import factorial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._common import _MINUTE, World, _cat, _choice, _str, _ts
from .purchases import _HORIZON, Purchases
from .web import Devices, visitor_ids

# channel, true effect, share of touches, P(impression, click, visit),
# cost per (impression, click, visit) EUR, campaigns. Effect and exposure are set apart on
# purpose: the channel bought most (display) converts least, the most effective one (email)
# is among the least seen, so a model that credits touches by position or by their share of
# the paths over-credits display, and only one that measures each channel's marginal effect
# recovers the true shares.
_TOUCH = [
    ("paid_search", 0.08, 0.14, (0.15, 0.85, 0.0), (0.002, 0.55, 0.0), ["ps_brand", "ps_generic"]),
    ("email", 0.16, 0.08, (0.40, 0.60, 0.0), (0.001, 0.001, 0.0), ["newsletter", "welcome"]),
    ("organic_search", 0.08, 0.18, (0.0, 0.0, 1.0), (0.0, 0.0, 0.0), []),
    ("affiliate", 0.06, 0.06, (0.20, 0.80, 0.0), (0.001, 0.25, 0.0), ["aff_network"]),
    ("direct", 0.06, 0.12, (0.0, 0.0, 1.0), (0.0, 0.0, 0.0), []),
    ("social", 0.03, 0.14, (0.75, 0.25, 0.0), (0.006, 0.45, 0.0), ["so_brand", "so_retarget"]),
    ("display", 0.01, 0.28, (0.90, 0.10, 0.0), (0.003, 0.35, 0.0), ["dsp_prospect", "dsp_retarget"]),
]
_BASE_CONVERSION = 0.02


def touchpoints(world: World, bought: Purchases, created, customer_ids: pa.Array,
                devices: Devices) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A pool of journeys converts by the true channel effects; converting journeys end at real
    purchases, the others at people and times without a purchase.

    Returns the touchpoints table, the journeys' touch patterns (:func:`channel_truth`
    makes ``Truth.channels`` of them) and ``Truth.journeys``.
    """
    rng = world.rng
    seen = np.flatnonzero(bought.ts < world.days)
    n_j = int(round(0.9 * len(seen)))
    length = np.minimum(1 + rng.poisson(1.8, n_j), 10)
    owner = np.repeat(np.arange(n_j), length)
    channel = _choice(rng, [t[2] for t in _TOUCH], len(owner))
    counts = np.bincount(owner * len(_TOUCH) + channel, minlength=n_j * len(_TOUCH))
    counts = counts.reshape(n_j, len(_TOUCH))
    effect = np.array([t[1] for t in _TOUCH])
    prob = 1 - (1 - _BASE_CONVERSION) * np.exp(counts @ np.log1p(-effect))
    converts = rng.random(n_j) < prob
    person, end, converts = _journey_ends(world, bought, created, converts, seen)
    lag = np.maximum(30.0 * rng.random(len(owner)) ** 1.5, _MINUTE)
    ts = end[owner] - lag
    keep = ts >= 0
    table = _touch_table(world, person[owner][keep], ts[keep], channel[keep], customer_ids,
                         devices)
    journeys = pd.DataFrame({
        "person_id": _str(_person_ids(customer_ids, devices, person)), "end_at": _ts(world, end),
        "converted": converts, "n_touches": np.bincount(owner[keep], minlength=n_j)})
    code, journeys_with = np.unique(counts @ (11 ** np.arange(len(_TOUCH))), return_counts=True)
    return table, pd.DataFrame({"code": code, "journeys": journeys_with}), journeys


def _journey_ends(world: World, bought: Purchases, created, converts, seen):
    """Person (customer k >= 0, visitor k as -1-k), end time and conversion of each journey."""
    rng = world.rng
    n_j = len(converts)
    conv = np.flatnonzero(converts)[: len(seen)]
    converts = np.zeros(n_j, bool)
    converts[conv] = True
    hit = rng.choice(seen, len(conv), replace=False)
    person, end = np.empty(n_j, np.int64), np.empty(n_j)
    person[conv], end[conv] = bought.cust[hit], bought.ts[hit]
    other = np.flatnonzero(~converts)
    e = rng.uniform(30.0, world.days, len(other))
    known = np.searchsorted(created, e - 30.0)
    cand = np.floor(rng.random(len(other)) * known).astype(np.int64)
    ok = (rng.random(len(other)) < 0.5) & (known > 0) & ~_buys_near(world, bought, cand, e)
    visitor = -1 - rng.integers(0, world.n, len(other))
    person[other], end[other] = np.where(ok, cand, visitor), e
    return person, end, converts


def _person_ids(customer_ids: pa.Array, devices: Devices, person) -> pa.Array:
    """Customer ids for ``person >= 0``, visitors' anonymous ids for ``person = -1 - k``."""
    return pc.if_else(pa.array(person >= 0),
                      customer_ids.take(pa.array(np.maximum(person, 0))),
                      visitor_ids(devices, np.maximum(-1 - person, 0)))


def _buys_near(world: World, bought: Purchases, cust, t) -> np.ndarray:
    """Whether each customer has a purchase within 30 days before or after ``t``."""
    span = world.days + _HORIZON + 100.0
    key = bought.cust * span + bought.ts
    pos = np.minimum(np.searchsorted(key, cust * span + t - 30.0), len(key) - 1)
    return (bought.cust[pos] == cust) & (bought.ts[pos] <= t + 30.0)


def _touch_table(world: World, person, ts, channel, customer_ids: pa.Array,
                 devices: Devices) -> pd.DataFrame:
    rng = world.rng
    order = np.argsort(ts, kind="stable")
    person, ts, channel = person[order], ts[order], channel[order]
    u = rng.random(len(ts))
    mix = np.cumsum(np.array([t[3] for t in _TOUCH]), axis=1)[channel]
    inter = (u[:, None] >= mix[:, :2]).sum(axis=1)
    cost = np.array([t[4] for t in _TOUCH])[channel, inter] * rng.lognormal(-0.08, 0.4, len(ts))
    names = [c for t in _TOUCH for c in t[5]]
    first = np.cumsum([0] + [len(t[5]) for t in _TOUCH])
    n_c = np.diff(first)[channel]
    camp = np.where(n_c > 0, first[channel] + np.floor(rng.random(len(ts)) * n_c), -1)
    return pd.DataFrame({
        "ts": _ts(world, ts), "person_id": _str(_person_ids(customer_ids, devices, person)),
        "channel": _cat(channel, [t[0] for t in _TOUCH]), "campaign_id": _cat(camp, names),
        "interaction": _cat(inter, ["impression", "click", "visit"]),
        "cost": np.round(cost, 4)})


def channel_truth(patterns: pd.DataFrame) -> pd.DataFrame:
    """``Truth.channels``: the exact removal effects and Shapley values of the expected
    conversions of the pool of journeys, from its touch ``patterns`` (``code``: touches per
    channel in base 11; ``journeys`` with it; the parts of a demo made in parts add up)."""
    effect = np.array([t[1] for t in _TOUCH])
    k = len(effect)
    summed = patterns.groupby("code").journeys.sum()
    uniq, weight = summed.index.to_numpy(), summed.to_numpy()
    pattern = (uniq[:, None] // (11 ** np.arange(k))) % 11
    g = pattern * np.log1p(-effect)
    masks = (np.arange(2**k)[:, None] >> np.arange(k)) & 1
    value = 1 - (1 - _BASE_CONVERSION) * np.exp(g @ masks.T)          # patterns x subsets
    size = masks.sum(axis=1)
    fact = np.array([factorial(i) for i in range(k + 1)])
    shapley = np.zeros(k)
    removal = np.zeros(k)
    full = value[:, -1]
    for c in range(k):
        without = masks[:, c] == 0
        sub = np.flatnonzero(without)
        coef = fact[size[sub]] * fact[k - size[sub] - 1] / fact[k]
        gain = value[:, sub + (1 << c)] - value[:, sub]
        shapley[c] = weight @ (gain @ coef)
        removal[c] = weight @ (full - value[:, (2**k - 1) ^ (1 << c)])
    touches = weight @ pattern
    share = touches / touches.sum()
    return pd.DataFrame({"channel": [t[0] for t in _TOUCH], "effect": effect,
                         "share_of_touches": share, "removal_effect": removal / (weight @ full),
                         "shapley_share": shapley / shapley.sum()})

