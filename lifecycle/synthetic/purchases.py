"""Purchases: the product catalogue, BG/NBD purchases with Gamma-Gamma amounts (web or store,
shifted to stores by the welcome program), dropout, and the transactions with their returns."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from ._common import (
    World,
    _cat,
    _expand,
    _ids,
    _numbered,
    _rank,
    _str,
    _tod_store,
    _tod_web,
    _ts,
    _width,
)
from .customers import _GG, Acquisition, Traits
from .messages import _CONTROL_SHARE

_CATEGORIES = {  # name: n products, price range EUR, margin-rate range, return rate
    "phones": (40, 149, 1399, 0.06, 0.14, 0.06), "laptops": (30, 399, 2499, 0.06, 0.12, 0.07),
    "tablets": (15, 199, 1299, 0.08, 0.14, 0.06), "tv": (25, 299, 2999, 0.08, 0.16, 0.05),
    "audio": (35, 29, 499, 0.20, 0.38, 0.08), "wearables": (20, 49, 599, 0.15, 0.30, 0.07),
    "gaming": (25, 19, 699, 0.10, 0.25, 0.05), "smart_home": (25, 19, 349, 0.22, 0.40, 0.06),
    "cameras": (15, 149, 1999, 0.10, 0.20, 0.06), "accessories": (50, 5, 89, 0.40, 0.65, 0.04),
    "appliances": (20, 39, 899, 0.15, 0.30, 0.04), "services": (10, 19, 199, 0.55, 0.80, 0.0),
}
_HORIZON = 45.0                   # days the purchase process runs past as_of (hidden)
_STORE_SHIFT, _SHIFT_DAYS = 0.20, 90.0  # welcome: +20 points store share for 90 days


class Products(NamedTuple):
    """The catalogue, in price order."""

    ids: pa.Array  # product_id
    category: np.ndarray  # codes into _CATEGORIES
    price: np.ndarray
    margin: np.ndarray  # margin rate


class Purchases(NamedTuple):
    """Every purchase up to as_of + 45 days, by customer and rank (0 = the first purchase),
    and what the process implies for each customer."""

    cust: np.ndarray
    rank: np.ndarray
    ts: np.ndarray  # days since start; ts >= days: hidden future purchase
    store: np.ndarray  # made in a store (else on the web)
    amount: np.ndarray
    product: np.ndarray  # row of Products
    shift_gain: np.ndarray  # in a store only because of the welcome program
    dropout_at: np.ndarray  # per customer: the last purchase before dropping out (NaN = alive)
    n_repeat: np.ndarray  # per customer: repeat purchases before as_of


def catalogue(world: World) -> Products:
    """Log-uniform prices per category, ending in .90 (.99 under 20 EUR), and margin rates."""
    rng, rows = world.rng, []
    for name, (k, lo, hi, mlo, mhi, _) in _CATEGORIES.items():
        price = np.exp(rng.uniform(np.log(lo), np.log(hi), k))
        price = np.round(price) - 0.1 * (price > 20) - 0.01 * (price <= 20)
        rows.append(pd.DataFrame({"category": name, "price": price,
                                  "margin_rate": np.round(rng.uniform(mlo, mhi, k), 3)}))
    products = pd.concat(rows, ignore_index=True).sort_values("price", kind="stable")
    products = products.reset_index(drop=True)
    return Products(ids=_ids("P", np.arange(1, len(products) + 1), 4),
                    category=pd.Index(list(_CATEGORIES)).get_indexer(products.category),
                    price=products.price.to_numpy(), margin=products.margin_rate.to_numpy())


def product_table(products: Products) -> pd.DataFrame:
    """The products table."""
    return pd.DataFrame({
        "product_id": _str(products.ids), "category": _cat(products.category, _CATEGORIES),
        "price": products.price, "margin_rate": products.margin})


def purchase_history(world: World, latent: Traits, acquired: Acquisition, welcome,
                     prices) -> Purchases:
    """BG/NBD purchases to as_of + 45 days, Gamma-Gamma amounts, web / store, products.

    ``welcome`` is each customer's welcome group (0 = treated), ``prices`` the catalogue's.
    """
    rng, n, created = world.rng, world.n, acquired.created
    cust, day, rank, k_drop = _repeat_days(world, created, latent.lam, latent.p_drop)
    cust = np.r_[np.arange(n), cust]
    rank = np.r_[np.zeros(n, np.int64), rank]
    order = np.lexsort((rank, cust))
    cust, rank, day = cust[order], rank[order], np.r_[np.floor(created), day][order]
    since = day - np.floor(created)[cust]
    shift = (welcome[cust] == 0) & (rank > 0) & (since <= _SHIFT_DAYS)
    u = rng.random(len(cust))
    share = latent.store_share[cust]
    store = np.where(rank == 0, acquired.first_store[cust], u < share + shift * _STORE_SHIFT)
    tod = np.where(store, _tod_store(rng, len(cust)), _tod_web(rng, len(cust)))
    ts = np.where(rank == 0, created[cust], day + tod)
    amount = np.maximum(np.round(rng.gamma(_GG["p"], 1 / latent.nu[cust]), 2), 0.01)
    price_rank = np.searchsorted(prices, amount) + rng.integers(-4, 4, len(cust))
    return Purchases(cust=cust, rank=rank, ts=ts, store=store, amount=amount,
                     product=np.clip(price_rank, 0, len(prices) - 1),
                     shift_gain=shift & ~(u < share) & store,
                     **_dropout(world, cust, rank, ts, k_drop))


def _repeat_days(world: World, created, lam, p_drop):
    """Repeat purchases: Poisson(lam) days after created, one per day, Geometric(p) dropout."""
    rng = world.rng
    span = world.days + _HORIZON - created
    count = rng.poisson(lam * span / 7)
    cust, t = _expand(rng, count, created, created + span)
    order = np.lexsort((t, cust))
    cust, day = cust[order], np.floor(t[order])
    same = np.r_[False, (cust[1:] == cust[:-1]) & (day[1:] == day[:-1])]
    keep = ~same & (day != np.floor(created)[cust])
    cust, day = cust[keep], day[keep]
    rank = _rank(cust) + 1
    k_drop = rng.geometric(p_drop)
    alive = rank <= k_drop[cust]
    return cust[alive], day[alive], rank[alive], k_drop


def _dropout(world: World, cust, rank, ts, k_drop) -> dict[str, np.ndarray]:
    """Per customer: when the last purchase before dropout was seen, repeat purchases seen."""
    seen = ts < world.days
    dropped = seen & (rank == k_drop[cust])
    dropout_at = np.full(world.n, np.nan)
    dropout_at[cust[dropped]] = ts[dropped]
    return {"dropout_at": dropout_at,
            "n_repeat": np.bincount(cust[seen & (rank > 0)], minlength=world.n)}


def transactions(world: World, bought: Purchases, products: Products,
                 customer_ids: pa.Array) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observed purchases and their returns, in time order, with unique transaction ids.

    Returns the transactions table and ``Truth.returns``.
    """
    rng = world.rng
    seen = np.flatnonzero(bought.ts < world.days)
    cat = products.category[bought.product[seen]]
    rate = np.array([v[5] for v in _CATEGORIES.values()])[cat]
    ret = seen[rng.random(len(seen)) < rate]
    full = rng.random(len(ret)) < 0.75
    frac = np.where(full, 1.0, rng.uniform(0.1, 0.6, len(ret)))
    ret_ts = bought.ts[ret] + 1 + rng.gamma(2.0, 3.0, len(ret))
    ok = ret_ts < world.days
    ret, frac, ret_ts = ret[ok], frac[ok], ret_ts[ok]
    idx = np.r_[seen, ret]
    amount = np.r_[bought.amount[seen], -np.round(bought.amount[ret] * frac, 2)]
    ts = np.r_[bought.ts[seen], ret_ts]
    order = np.lexsort((idx, ts))
    tid = np.empty(len(idx), np.int64)
    tid[order] = np.arange(1, len(idx) + 1)
    width = _width(len(tid), 8)
    returns = pd.DataFrame({
        "transaction_id": _str(_numbered(world, "T", tid[len(seen):], width)),
        "purchase_id": _str(_numbered(world, "T", tid[: len(seen)][np.searchsorted(seen, ret)],
                                      width))})
    table = _transaction_table(world, bought, products, customer_ids, idx[order], amount[order],
                               ts[order], _numbered(world, "T", tid[order], width))
    return table, returns


def _transaction_table(world, bought, products, customer_ids, idx, amount, ts, tids):
    product = bought.product[idx]
    return pd.DataFrame({
        "customer_id": _str(customer_ids, bought.cust[idx]), "ts": _ts(world, ts),
        "amount": amount, "transaction_id": _str(tids),
        "margin": np.round(amount * products.margin[product], 2),
        "product_id": _cat(product, products.ids.to_pylist()),
        "category": _cat(products.category[product], _CATEGORIES),
        "channel": _cat(bought.store[idx].astype(int), ["web", "store"])})


def combine_control(parts: list[dict]) -> dict:
    """``Truth.control`` of a demo made in parts: the parts' means weighted by their groups."""
    if len(parts) == 1:
        return parts[0]
    out = dict(parts[0])
    for group in ("treated", "control"):
        n = np.array([p[f"n_{group}"] for p in parts])
        out[f"n_{group}"] = int(n.sum())
        for key in [k for k in out if k.endswith(f"_per_{group}") or k == f"{group}_store_"
                    "revenue_mean"]:
            out[key] = float(n @ [p[key] for p in parts] / n.sum()) if n.sum() else 0.0
    return out


def control_truth(world: World, bought: Purchases, latent: Traits, created, welcome) -> dict:
    """The welcome program moves treated customers' purchases to stores for 90 days."""
    window = _SHIFT_DAYS
    full = created + window + 1 < world.days
    treated = np.flatnonzero((welcome == 0) & full)
    control = np.flatnonzero((welcome == 1) & full)
    weeks = window / 7
    expected = (1 - np.exp(-latent.lam * latent.p_drop * weeks)) / latent.p_drop
    gain = np.minimum(latent.store_share + _STORE_SHIFT, 1) - latent.store_share
    lift = expected * gain * _GG["p"] / latent.nu
    in_window = (bought.rank > 0) & (np.floor(bought.ts) - np.floor(created)[bought.cust] <= window)
    at_store = in_window & bought.store
    store_rev = np.bincount(bought.cust[at_store], bought.amount[at_store], world.n)
    moved = np.bincount(bought.cust[bought.shift_gain], bought.amount[bought.shift_gain], world.n)
    return {
        "metric": "store revenue (EUR) per customer from repeat purchases in the 90 days "
                  "after acquisition (welcome day 0), customers with the full window observed",
        "window_days": int(window), "store_share_shift": _STORE_SHIFT,
        "control_share": _CONTROL_SHARE, "total_purchases_lift": 0.0,
        "n_treated": int(len(treated)), "n_control": int(len(control)),
        "expected_store_revenue_lift_per_treated": float(lift[treated].mean())
        if len(treated) else 0.0,
        "realised_store_revenue_lift_per_treated": float(moved[treated].mean())
        if len(treated) else 0.0,
        "treated_store_revenue_mean": float(store_rev[treated].mean()) if len(treated) else 0.0,
        "control_store_revenue_mean": float(store_rev[control].mean()) if len(control) else 0.0,
    }
