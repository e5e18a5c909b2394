"""Web and app behaviour: devices (some shared) and anonymous visitors, sessions generated
backwards from purchases (Think, Do, checkout) plus idle browsing, their events, the logins
that identify a device, and the intent stages they imply (``Truth.intent``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from ._common import _MINUTE, World, _cat, _choice, _expand, _numbered, _rank, _str, _ts, _width
from .purchases import _CATEGORIES, Purchases

_EVENTS = ["page_view", "product_view", "category_view", "search", "add_to_cart", "checkout",
           "store_locator", "price_check", "content_read", "newsletter_signup", "login"]
_PAGES = ["home", "product", "category", "search", "cart", "checkout", "store", "content",
          "newsletter", "account"]
_PAGE_CODE = np.array([0, 1, 2, 3, 4, 5, 6, 1, 7, 8, 9])  # page type of each event type
_HAS_CATEGORY = np.array([0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 0], bool)
_SEE, _THINK, _DO_WEB, _DO_STORE, _CHECKOUT = range(5)
_KIND_EVENTS = np.array([  # event-type probabilities per session kind (order of _EVENTS)
    [0.55, 0.20, 0.10, 0.08, 0.01, 0.0, 0.01, 0.0, 0.05, 0.0, 0.0],
    [0.05, 0.30, 0.28, 0.15, 0.0, 0.0, 0.0, 0.0, 0.20, 0.02, 0.0],
    [0.0, 0.35, 0.0, 0.10, 0.35, 0.0, 0.05, 0.15, 0.0, 0.0, 0.0],
    [0.0, 0.30, 0.0, 0.10, 0.05, 0.0, 0.30, 0.25, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
])
_KIND_LEN = [(1, 0.8), (2, 0.8), (2, 0.5), (2, 0.5), (3, 0.0)]   # events: base + Poisson(mean)
_SOURCES = [("google", "organic"), ("google", "cpc"), ("(direct)", "(none)"),
            ("newsletter", "email"), ("facebook", "paid_social"), ("instagram", "social"),
            ("adtraction", "affiliate"), ("criteo", "display")]
_SOURCE_W = np.array([[0.30, 0.15, 0.30, 0.08, 0.07, 0.05, 0.02, 0.03],
                      [0.30, 0.20, 0.20, 0.12, 0.06, 0.05, 0.04, 0.03],
                      [0.20, 0.25, 0.30, 0.10, 0.04, 0.02, 0.07, 0.02]])
_CAT_POPULARITY = [0.16, 0.08, 0.05, 0.08, 0.14, 0.07, 0.09, 0.08, 0.04, 0.13, 0.06, 0.02]


class Devices(NamedTuple):
    """Device entries, one per device and person using it: customers' by customer (primary
    device first, a shared one last), then one per anonymous visitor who never buys."""

    cust: np.ndarray  # customer of each entry (-1 = a visitor)
    dev: np.ndarray  # device of each entry: customers' own devices, then visitors'
    known: np.ndarray  # when the customer first logs in on it (days; inf = never)
    first: np.ndarray  # per customer: their first (primary) entry
    count: np.ndarray  # per customer: their entries (Truth n_devices)
    n_own: int  # customers' own devices: visitor k uses device n_own + k
    visitor0: int  # the entry of visitor 0
    anon_ids: pa.Array  # anonymous_id of each device
    shared: tuple[np.ndarray, np.ndarray]  # customer b[i] also uses a[i]'s primary device


class Leads(NamedTuple):
    """How many days before each purchase its Think and its Do phase begin."""

    think: np.ndarray
    do: np.ndarray


class Sessions(NamedTuple):
    """Web sessions of customers and visitors, in no particular order."""

    entry: np.ndarray  # device entry
    start: np.ndarray  # days; the end for an anchored session
    kind: np.ndarray  # _SEE, _THINK, _DO_WEB, _DO_STORE, _CHECKOUT
    cat: np.ndarray  # category looked at, codes into _CATEGORIES
    anchored: np.ndarray  # a checkout: its last event lies just before the purchase
    source: np.ndarray  # codes into _SOURCES


class _Events(NamedTuple):
    """Events in time order, logins included."""

    ts: np.ndarray
    sid: np.ndarray  # session
    etype: np.ndarray  # codes into _EVENTS
    cust: np.ndarray  # identified customer (-1 = anonymous)
    dev: np.ndarray  # device


def devices(world: World, created, first_store) -> Devices:
    """Device entries (device, customer, identification time); shared devices; visitors."""
    rng, n = world.rng, world.n
    u = rng.random(n)
    count = 1 + (u < 0.30) + (u < 0.06)
    cust = np.repeat(np.arange(n), count)
    slot = _rank(cust)
    web_first = ~first_store[cust]
    wait = np.where(slot == 0, rng.exponential(30.0, len(cust)), rng.exponential(60.0, len(cust)))
    known = np.where((slot == 0) & web_first, created[cust] - 5 * _MINUTE, created[cust] + wait)
    n_shared = int(round(0.005 * n)) if n > 1 else 0
    a, b = rng.choice(n, (2, n_shared), replace=False)  # b also uses a's primary device
    primary = np.flatnonzero(slot == 0)
    dev = np.r_[np.arange(len(cust)), primary[a]]
    cust = np.r_[cust, b]
    known = np.r_[known, created[b] + rng.exponential(60.0, n_shared)]
    order = np.lexsort((np.r_[slot, np.full(n_shared, 9)], cust))
    cust, dev, known = cust[order], dev[order], known[order]
    first = np.searchsorted(cust, np.arange(n))
    n_own = int(count.sum())
    return Devices(first=first, count=np.diff(np.r_[first, len(cust)]), n_own=n_own,
                   shared=(a, b), **_with_visitors(world, cust, dev, known, n_own))


def _with_visitors(world: World, cust, dev, known, n_own) -> dict:
    """Anonymous visitors who never buy: as many as customers, one device each."""
    rng, n_vis = world.rng, world.n
    total = n_own + n_vis
    return {"cust": np.r_[cust, np.full(n_vis, -1)], "dev": np.r_[dev, n_own + np.arange(n_vis)],
            "known": np.r_[known, np.full(n_vis, np.inf)], "visitor0": len(cust),
            "anon_ids": _numbered(world, "A", rng.permutation(total) + 1, _width(total, 8))}


def visitor_ids(devices: Devices, visitor) -> pa.Array:
    """The anonymous ids of visitors number ``visitor`` (0-based)."""
    return devices.anon_ids.take(pa.array(devices.n_own + visitor))


def _pick_entry(rng, devices: Devices, cust, primary_share=0.6) -> np.ndarray:
    """A device entry of each customer: the primary one or another of theirs."""
    u = rng.random(len(cust))
    count = devices.count[cust]
    other = 1 + np.floor(rng.random(len(cust)) * (count - 1)).astype(np.int64)
    return devices.first[cust] + np.where((u < primary_share) | (count == 1), 0, other)


def sessions(world: World, bought: Purchases, product_category, devices: Devices, created,
             dropout_at) -> tuple[Sessions, Leads]:
    """Sessions: pre-purchase journeys, customers' idle browsing, visitors' browsing.

    Returns the sessions and the research leads of each purchase (for ``Truth.intent``).
    """
    journeys, leads = _journey_sessions(world.rng, bought, product_category, devices)
    parts = [journeys, _idle_sessions(world, devices, created, dropout_at),
             _visitor_sessions(world, devices)]
    entry, start, kind, cat, anchored = (np.concatenate(x) for x in zip(*parts, strict=True))
    group = np.array([0, 1, 2, 2, 2])[kind]
    source = np.empty(len(kind), np.int64)
    for g in range(3):
        at = np.flatnonzero(group == g)
        source[at] = _choice(world.rng, _SOURCE_W[g], len(at))
    return Sessions(entry, start, kind, cat, anchored, source), leads


def _journey_sessions(rng, bought: Purchases, product_category, devices: Devices):
    """Think sessions days before each purchase, Do sessions hours to days before, checkout."""
    b, size = bought, len(bought.cust)
    leads = Leads(think=rng.uniform(7.0, 30.0, size), do=rng.uniform(2.0, 12.0, size))
    online = rng.random(size) < np.where(b.store, 0.55, 0.85)
    on = np.flatnonzero(online)
    i1, t1 = _expand(rng, online * rng.poisson(0.4, size), b.ts - leads.think, b.ts - leads.do)
    i2, t2 = _expand(rng, online * rng.poisson(0.7, size), b.ts - leads.do, b.ts - 1 / 24)
    i1, t1 = np.r_[on, i1], np.r_[b.ts[on] - leads.think[on], t1]  # a phase opens with a session
    i2, t2 = np.r_[on, i2], np.r_[b.ts[on] - leads.do[on], t2]
    i3 = np.flatnonzero(~b.store)
    idx = np.r_[i1, i2, i3]
    kind = np.r_[np.full(len(i1), _THINK), np.where(b.store[i2], _DO_STORE, _DO_WEB),
                 np.full(len(i3), _CHECKOUT)]
    cat = product_category[b.product[idx]]
    wander = (kind == _THINK) & (rng.random(len(idx)) < 0.2)
    cat = np.where(wander, _choice(rng, _CAT_POPULARITY, len(idx)), cat)
    entry = _pick_entry(rng, devices, b.cust[idx])
    first_web = (kind == _CHECKOUT) & (b.rank[idx] == 0)
    entry = np.where(first_web, devices.first[b.cust[idx]], entry)
    return (entry, np.r_[t1, t2, b.ts[i3]], kind, cat, kind == _CHECKOUT), leads


def _idle_sessions(world: World, devices: Devices, created, dropout_at):
    """Customers browsing without a purchase coming: while alive, and rarely after dropout."""
    rng, days = world.rng, world.days
    gone = np.where(np.isnan(dropout_at), days, dropout_at)
    c1, t1 = _expand(rng, rng.poisson(0.05 / 7 * (gone - created)), created, gone)
    c2, t2 = _expand(rng, rng.poisson(0.012 / 7 * (days - gone)), gone, np.full(world.n, days))
    cust, start = np.r_[c1, c2], np.r_[t1, t2]
    kind = _choice(rng, [0.70, 0.28, 0.02], len(cust))
    return (_pick_entry(rng, devices, cust, 0.5), start, kind,
            _choice(rng, _CAT_POPULARITY, len(cust)), np.zeros(len(cust), bool))


def _visitor_sessions(world: World, devices: Devices):
    rng, n_vis = world.rng, world.n
    count = 1 + rng.poisson(0.7, n_vis)
    vis, start = _expand(rng, count, np.zeros(n_vis), np.full(n_vis, world.days))
    kind = _choice(rng, [0.78, 0.20, 0.02], len(vis))
    return (devices.visitor0 + vis, start, kind, _choice(rng, _CAT_POPULARITY, len(vis)),
            np.zeros(len(vis), bool))


def events(world: World, browsing: Sessions, devices: Devices,
           customer_ids: pa.Array) -> pd.DataFrame:
    """Expand sessions into events, identify devices (login), build the events table."""
    # the events are the largest arrays: passed on as temporaries, so that each helper holds
    # the only reference and frees them as it goes
    return _event_table(
        world, _identify(_session_events(world, browsing), browsing.entry, devices),
        browsing, devices.anon_ids, customer_ids)


def _session_events(world: World, s: Sessions):
    """Each session's events (time, session, type) within the window."""
    rng = world.rng
    n_ev = (np.array([k[0] for k in _KIND_LEN])[s.kind]
            + rng.poisson(np.array([k[1] for k in _KIND_LEN])[s.kind])).astype(np.int32)
    head = np.cumsum(n_ev, dtype=np.int64) - n_ev
    sid = np.repeat(np.arange(len(n_ev), dtype=np.int32), n_ev)
    ts = np.cumsum(rng.exponential(1.5 * _MINUTE, len(sid)))
    ts -= np.repeat(ts[head], n_ev)
    last = ts[head + n_ev - 1]
    ts += np.where(s.anchored, s.start - last - 0.5 * _MINUTE, s.start)[sid]
    etype = _event_types(rng, s.kind, sid, head)
    keep = (ts >= 0) & (ts < world.days)
    return ts[keep], sid[keep], etype[keep]


def _event_types(rng, kind, sid, head) -> np.ndarray:
    """Event types drawn per session kind; a See visit lands on a page view, a checkout
    session is product view, add to cart, checkout."""
    event_kind = kind[sid]
    out = np.empty(len(sid), np.int8)
    for k in range(len(_KIND_EVENTS)):
        at = np.flatnonzero(event_kind == k)
        out[at] = _choice(rng, _KIND_EVENTS[k], len(at))
    out[head[kind == _SEE]] = _EVENTS.index("page_view")
    out[head[kind == _CHECKOUT] + 1] = _EVENTS.index("add_to_cart")
    out[head[kind == _CHECKOUT] + 2] = _EVENTS.index("checkout")
    return out


def _identify(drawn, session_entry, devices: Devices) -> _Events:
    """customer_id is set from the first login of that customer on that device onwards."""
    ts, sid, etype = drawn
    del drawn
    order = np.argsort(ts, kind="stable")
    ts, sid, etype = ts[order], sid[order], etype[order]
    del order
    entry = session_entry[sid]
    known = ts >= devices.known[entry]
    at = np.flatnonzero(known)
    _, first = np.unique(entry[at], return_index=True)
    login = at[first]
    del at, first, entry
    ts = np.insert(ts, login, ts[login] - 1 / 86400)
    sid = np.insert(sid, login, sid[login])
    etype = np.insert(etype, login, _EVENTS.index("login"))
    known = np.insert(known, login, True)
    entry = session_entry[sid]
    return _Events(ts, sid, etype, cust=np.where(known, devices.cust[entry], -1).astype(np.int32),
                   dev=devices.dev[entry].astype(np.int32))


def _event_table(world: World, ev: _Events, s: Sessions, anon_ids: pa.Array,
                 customer_ids: pa.Array) -> pd.DataFrame:
    order = np.argsort(s.start, kind="stable")
    number = np.empty(len(order), np.int64)
    number[order] = np.arange(1, len(order) + 1)
    session_ids = _numbered(world, "S", number, _width(len(order), 9))
    del order, number
    sources = list(dict.fromkeys(x[0] for x in _SOURCES))
    source_code = np.array([sources.index(x[0]) for x in _SOURCES])
    src = s.source[ev.sid]
    ts, sid, etype, cust, dev = ev
    del ev
    cols = {"ts": _ts(world, ts)}
    del ts
    cols["anonymous_id"] = _str(anon_ids, dev)
    cols["event_type"] = _cat(etype, _EVENTS)
    cols["customer_id"] = _str(customer_ids, cust)
    cols["page_type"] = _cat(_PAGE_CODE[etype], _PAGES)
    cols["category"] = _cat(np.where(_HAS_CATEGORY[etype], s.cat[sid], -1), _CATEGORIES)
    cols["session_id"] = _str(session_ids, sid)
    cols["source"] = _cat(source_code[src], sources)
    cols["medium"] = _cat(src, [x[1] for x in _SOURCES])
    return pd.DataFrame(cols, copy=False)


def intent_truth(world: World, bought: Purchases, leads: Leads, customer_ids: pa.Array,
                 devices: Devices) -> pd.DataFrame:
    """Latent stage at as_of from each customer's next purchase; visitors never buy (see)."""
    b, n = bought, world.n
    nxt = np.full(n, -1)
    future = np.flatnonzero(b.ts >= world.days)
    first = future[np.r_[True, b.cust[future][1:] != b.cust[future][:-1]]] if len(future) else future
    nxt[b.cust[first]] = first
    has = nxt >= 0
    lead = np.where(has, b.ts[np.maximum(nxt, 0)] - world.days, np.inf)
    stage = np.where(lead <= leads.do[np.maximum(nxt, 0)], 2,
                     np.where(lead <= leads.think[np.maximum(nxt, 0)], 1, 0))
    stage = np.where(has, stage, 0)
    return pd.DataFrame({
        "person_id": _str(pa.concat_arrays([customer_ids, visitor_ids(devices, np.arange(n))])),
        "is_customer": np.r_[np.ones(n, bool), np.zeros(n, bool)],
        "stage": _cat(np.r_[stage, np.zeros(n, np.int64)], ["see", "think", "do"]),
        "next_purchase_at": _ts(world, np.r_[np.where(has, world.days + lead, np.nan),
                                             np.full(n, np.nan)])})


def shared_devices_truth(devices: Devices, customer_ids: pa.Array) -> pd.DataFrame:
    """``Truth.shared_devices``: both customers of each shared device."""
    a, b = devices.shared
    dev = devices.dev[devices.first[a]]
    return pd.DataFrame({"anonymous_id": _str(devices.anon_ids, np.r_[dev, dev]),
                         "customer_id": _str(customer_ids, np.r_[a, b])})
