"""Demo data with known ground truth: a Nordic consumer-electronics retailer.

:func:`generate` builds every canonical table of :mod:`lifecycle.schema` for a retailer that
sells phones, laptops, TVs, audio and accessories in a web shop and in stores around Helsinki,
Stockholm, Oslo and Copenhagen (amounts in EUR). It runs a loyalty club, a biweekly newsletter,
a three-step welcome program with A/B tests and a held-out control group, and sells phone
subscriptions. The generator knows what the data only implies, and returns it as :class:`Truth`
so that models can be checked against it:

* purchases follow BG/NBD (time unit: week) and spend per purchase follows Gamma-Gamma, both in
  the parametrisation of the ``lifetimes`` package (``Truth.bgnbd``, ``Truth.gamma_gamma``);
* web behaviour is generated backwards from purchases (Think browsing days before, Do
  cart / checkout / price / store look-ups hours to days before), so intent stages predict
  purchases (``Truth.intent``);
* marketing journeys convert according to known per-channel effects (``Truth.channels``);
* welcome-program variants have known open / click rates (``Truth.ab_tests``) and the program
  shifts treated customers' purchases into stores by a known amount (``Truth.control``);
* a known handful of e-mail addresses is dirty and some devices are shared (``Truth.emails``,
  ``Truth.shared_devices``).

The purchase process. Customer *i* makes the first purchase at ``created_at`` (acquisition). Repeat
purchases arrive as a Poisson process with rate ``lam_i ~ Gamma(r, alpha)`` per week; after each
repeat purchase the customer drops out with probability ``p_i ~ Beta(a, b)``. At most one purchase
per customer-day: a repeat purchase that falls on the calendar day of an earlier one is merged
into it (dropped) before the dropout draws, so every kept repeat purchase is a dropout
opportunity. The process runs 45 days past ``as_of``: those hidden future purchases drive the
research behaviour seen just before ``as_of`` and are reported in ``Truth.intent``. Each purchase
amount is ``Gamma(shape p, rate nu_i)`` with ``nu_i ~ Gamma(shape q, rate v)`` (mean ``p / nu_i``),
rounded to cents; returns are separate negative rows a few days later.

Everything is drawn from one ``numpy.random.default_rng(random_state)``: the same seed gives the
same tables. All work is vectorised numpy. Memory: ids with many values (customer, transaction,
message, anonymous, session, person) are pandas ``str`` (Arrow) columns; ids with few values
(product, campaign, cell, run, offer) and labels are categoricals of strings; timestamps are
naive UTC ``datetime64[us]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["TABLE_NAMES", "Demo", "Truth", "generate"]

TABLE_NAMES = ("customers", "transactions", "products", "events", "touchpoints", "messages",
               "consents", "feedback", "subscriptions", "contact_history")

# -- the truth parameters ---------------------------------------------------------------------
_BGNBD = {"r": 0.8, "alpha": 20.0, "a": 0.9, "b": 4.0}          # rates per week
_GG = {"p": 3.0, "q": 3.5, "v": 120.0}                           # mean order p*v/(q-1) = 144 EUR
_HORIZON = 45.0                   # days the purchase process runs past as_of (hidden)
_US_PER_DAY = 86_400_000_000
_MINUTE = 1 / 1440

# -- the retailer ---------------------------------------------------------------------------------
_REGIONS = [  # region, weight, stores
    ("Uusimaa", 0.16, ["Helsinki Kamppi", "Helsinki Itis", "Espoo Iso Omena"]),
    ("Pirkanmaa", 0.05, ["Tampere Ratina"]),
    ("Varsinais-Suomi", 0.04, ["Turku Skanssi"]),
    ("Stockholm", 0.17, ["Stockholm City", "Stockholm Kista"]),
    ("Västra Götaland", 0.08, ["Göteborg Nordstan"]),
    ("Skåne", 0.07, ["Malmö Triangeln"]),
    ("Oslo", 0.14, ["Oslo Sentrum", "Oslo Storo"]),
    ("Vestland", 0.05, ["Bergen Lagunen"]),
    ("Hovedstaden", 0.16, ["København Fisketorvet", "København Field's"]),
    ("Midtjylland", 0.08, ["Aarhus Bruuns Galleri"]),
]
_PHONES = ["iPhone 16", "iPhone 15", "iPhone 14", "Galaxy S24", "Galaxy A55", "Galaxy A35",
           "Pixel 9", "OnePlus 12", "Xiaomi 14", "Nokia G42", "Fairphone 5"]
_PHONE_W = [0.16, 0.14, 0.08, 0.12, 0.12, 0.08, 0.07, 0.06, 0.07, 0.06, 0.04]
_CATEGORIES = {  # name: n products, price range EUR, margin-rate range, return rate
    "phones": (40, 149, 1399, 0.06, 0.14, 0.06), "laptops": (30, 399, 2499, 0.06, 0.12, 0.07),
    "tablets": (15, 199, 1299, 0.08, 0.14, 0.06), "tv": (25, 299, 2999, 0.08, 0.16, 0.05),
    "audio": (35, 29, 499, 0.20, 0.38, 0.08), "wearables": (20, 49, 599, 0.15, 0.30, 0.07),
    "gaming": (25, 19, 699, 0.10, 0.25, 0.05), "smart_home": (25, 19, 349, 0.22, 0.40, 0.06),
    "cameras": (15, 149, 1999, 0.10, 0.20, 0.06), "accessories": (50, 5, 89, 0.40, 0.65, 0.04),
    "appliances": (20, 39, 899, 0.15, 0.30, 0.04), "services": (10, 19, 199, 0.55, 0.80, 0.0),
}
_CAT_POPULARITY = [0.16, 0.08, 0.05, 0.08, 0.14, 0.07, 0.09, 0.08, 0.04, 0.13, 0.06, 0.02]
_ACQ = {  # acquisition channel: (weight after a web / a store first purchase, mean cost EUR)
    "paid_search": (0.30, 0.05, 35.0), "organic_search": (0.22, 0.05, 6.0),
    "social": (0.14, 0.08, 28.0), "affiliate": (0.10, 0.0, 22.0), "display": (0.06, 0.06, 40.0),
    "direct": (0.13, 0.10, 2.0), "referral": (0.05, 0.06, 15.0), "store": (0.0, 0.60, 8.0),
}
_FIRST = ["aino", "eero", "emma", "elias", "sofia", "oliver", "ella", "leo", "maja", "noah",
          "ida", "lucas", "freja", "william", "nora", "oskar", "alma", "hugo", "saga", "emil",
          "linnea", "axel", "astrid", "mikael", "johanna", "lars", "ingrid", "magnus", "sanna",
          "jonas", "helmi", "ville", "kaisa", "tuomas", "anna", "erik", "liv", "henrik", "sara"]
_LAST = ["virtanen", "korhonen", "nieminen", "makinen", "hamalainen", "laine", "andersson",
         "johansson", "karlsson", "nilsson", "eriksson", "larsson", "hansen", "johansen", "olsen",
         "larsen", "andersen", "pedersen", "nielsen", "jensen", "christensen", "berg", "lund",
         "lindqvist", "heikkinen", "koskinen", "jarvinen", "lehtonen", "haugen", "dahl"]
_DOMAINS = {"gmail.com": 0.38, "hotmail.com": 0.12, "outlook.com": 0.10, "yahoo.com": 0.05,
            "icloud.com": 0.08, "live.se": 0.04, "telia.com": 0.04, "online.no": 0.04,
            "elisa.fi": 0.04, "mail.dk": 0.03, "protonmail.com": 0.03, "kolumbus.fi": 0.02,
            "jubii.dk": 0.03}
_DISPOSABLE = ["mailinator.com", "10minutemail.com", "guerrillamail.com", "yopmail.com",
               "trashmail.com", "tempmail.net"]
_ROLES = ["info", "sales", "admin", "office", "support", "myynti", "kontakt", "post"]
# share of customers per e-mail issue (each dirty customer has exactly one issue)
_EMAIL_ISSUES = {"missing": 0.03, "upper_case": 0.005, "whitespace": 0.005, "invalid": 0.004,
                 "role": 0.003, "disposable": 0.004, "duplicate": 0.004}

# -- web behaviour ---------------------------------------------------------------------------------
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

# -- marketing touches: channel, true effect, share of touches, P(impression, click, visit),
#    cost per (impression, click, visit) EUR, campaigns
_TOUCH = [
    ("paid_search", 0.16, 0.24, (0.15, 0.85, 0.0), (0.002, 0.55, 0.0), ["ps_brand", "ps_generic"]),
    ("email", 0.11, 0.15, (0.40, 0.60, 0.0), (0.001, 0.001, 0.0), ["newsletter", "welcome"]),
    ("organic_search", 0.08, 0.18, (0.0, 0.0, 1.0), (0.0, 0.0, 0.0), []),
    ("affiliate", 0.08, 0.06, (0.20, 0.80, 0.0), (0.001, 0.25, 0.0), ["aff_network"]),
    ("direct", 0.06, 0.12, (0.0, 0.0, 1.0), (0.0, 0.0, 0.0), []),
    ("social", 0.03, 0.15, (0.75, 0.25, 0.0), (0.006, 0.45, 0.0), ["so_brand", "so_retarget"]),
    ("display", 0.015, 0.10, (0.90, 0.10, 0.0), (0.003, 0.35, 0.0), ["dsp_prospect", "dsp_retarget"]),
]
_BASE_CONVERSION = 0.02

# -- messages ---------------------------------------------------------------------------------------
_WELCOME = [  # step, day, open rate A / B, click-to-open A / B, description A / B
    ("thank", 0, (0.45, 0.52), (0.15, 0.15),
     ("subject 'Welcome to the club'", "subject 'Your member benefits are here - thank you!'")),
    ("guide", 3, (0.40, 0.40), (0.20, 0.28),
     ("content: store list and FAQ links", "content: map of your nearest store and FAQ cards")),
    ("surprise", 7, (0.38, None), (0.18, None), ("content: surprise voucher and survey", None)),
]
_CONTROL_SHARE = 0.10
_STORE_SHIFT, _SHIFT_DAYS = 0.20, 90.0  # welcome: +20 points store share for 90 days
_NEWSLETTER = {"days": 180, "open": 0.24, "cto": 0.14, "unsub": 0.003, "complaint": 0.0006}
_CONSENTS = [  # channel, share granted at acquisition, purpose, lifetime days (inf), revoke share
    ("email", 0.75, "newsletter", np.inf, 0.04), ("sms", 0.35, "offers", np.inf, 0.05),
    ("push", 0.25, "app_notifications", np.inf, 0.08),
    ("ads", 0.55, "personalised_ads", 365.0, 0.10), ("phone", 0.10, "telemarketing", np.inf, 0.05),
]
_PLANS = [("Basic 5GB", 14.9), ("Plus 30GB", 24.9), ("Max unlimited", 34.9), ("Family", 44.9)]


@dataclass(frozen=True)
class Truth:
    """Everything the generator knows that the data only implies.

    Attributes
    ----------
    bgnbd : dict
        ``r, alpha, a, b`` of BG/NBD in ``lifetimes``' parametrisation, ``time_unit`` ``"W"``
        (``alpha`` in weeks: mean purchase rate ``r / alpha`` per week).
    gamma_gamma : dict
        ``p, q, v`` of Gamma-Gamma in ``lifetimes``' parametrisation (mean spend ``p / nu``).
    customers : DataFrame
        One row per ``customer_id``: ``lam`` (repeat purchases per week while alive), ``p_drop``,
        ``dropout_at`` (NaT = alive at as_of), ``nu``, ``spend_mean`` (``p / nu``), ``n_repeat``
        and ``T_weeks`` (repeat purchases observed and observation length), latent traits
        ``store_share``, ``email_engagement``, ``service_need`` (contacts per year),
        ``advocacy`` (0-1), ``innovator``, ``churn_risk``; ``welcome_group``
        (``treated`` / ``control`` / null = not eligible), ``email_issue``, ``n_devices``,
        ``churned`` (a contract ended without renewal), ``will_churn`` (latent outcome at the
        next contract end).
    channels : DataFrame
        Per marketing channel: ``effect`` (probability that one touch alone converts a journey:
        ``P(convert) = 1 - (1 - base) * prod_touches(1 - effect)``, base 0.02),
        ``share_of_touches``, ``removal_effect`` (share of expected conversions lost without the
        channel) and ``shapley_share`` (exact Shapley value of the expected conversions).
    ab_tests : DataFrame
        Welcome steps: ``step, cell_id, variant, metric, true_rate, winner, description``.
    control : dict
        Welcome control group and its store effect (treated customers' purchases in the 90 days
        after welcome go to a store with probability +0.20; the purchase process is unchanged):
        group sizes, expected and realised store-revenue lift per treated customer.
    intent : DataFrame
        ``person_id`` (customer id or anonymous id of a visitor who never buys), ``is_customer``,
        ``stage`` (latent ``see`` / ``think`` / ``do`` at as_of), ``next_purchase_at`` (hidden,
        within 45 days after as_of).
    emails : DataFrame
        The dirty e-mail addresses: ``customer_id, email, issue, duplicate_of``.
    shared_devices : DataFrame
        ``anonymous_id, customer_id`` of devices used by two customers.
    returns : DataFrame
        ``transaction_id`` of each return row and ``purchase_id`` of the purchase it returns.
    journeys : DataFrame
        The marketing journeys behind ``touchpoints``: ``person_id``, ``end_at`` (the purchase
        for a converted journey), ``converted``, ``n_touches`` (touches within the 30 days
        before ``end_at``). A non-converted journey of a customer has no purchase of that
        customer within 30 days before or after ``end_at``; visitors never buy.
    """

    bgnbd: dict
    gamma_gamma: dict
    customers: pd.DataFrame
    channels: pd.DataFrame
    ab_tests: pd.DataFrame
    control: dict
    intent: pd.DataFrame
    emails: pd.DataFrame = field(default_factory=pd.DataFrame)
    shared_devices: pd.DataFrame = field(default_factory=pd.DataFrame)
    returns: pd.DataFrame = field(default_factory=pd.DataFrame)
    journeys: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class Demo:
    """The demo tables (canonical names of :mod:`lifecycle.schema`), their truth and as-of date.

    The retailer is Nordic and keeps its books in euros (``currency``).
    """

    tables: dict[str, pd.DataFrame]
    truth: Truth
    as_of: pd.Timestamp
    currency: str = "EUR"


def generate(n_customers: int = 50_000, *, as_of="2026-10-31", years: float = 2.0,
             random_state: int = 0, progress: bool = False) -> Demo:
    """Generate the demo retailer's tables and their ground truth.

    Parameters
    ----------
    n_customers : int
        Customers acquired in the window (anonymous visitors who never buy come on top: as many
        again).
    as_of : timestamp-like
        End of the data, a date: the data runs up to its midnight (00:00, naive UTC); no event,
        purchase, message or planned contact lies after it.
    years : float
        Length of the window before ``as_of``; acquisitions spread over it.
    random_state : int
        Seed of the one random generator: the same seed gives identical tables.
    progress : bool
        Show a tqdm progress bar over the generation steps.

    Returns
    -------
    Demo
        ``tables`` (customers, transactions, products, events, touchpoints, messages, consents,
        feedback, subscriptions, contact_history), ``truth`` (:class:`Truth`) and ``as_of``.

    Examples
    --------
    >>> demo = generate(200, random_state=1)
    >>> demo.tables["customers"].shape
    (200, 8)
    >>> list(demo.tables) == list(TABLE_NAMES)
    True
    >>> bool((demo.tables["transactions"].ts < demo.as_of).all())
    True
    """
    w = _world(n_customers, as_of, years, random_state)
    steps = [_traits, _acquisition, _emails, _consent_plan, _products, _purchases, _devices,
             _sessions, _events, _messages, _touchpoints, _customer_table, _transactions,
             _feedback, _subscriptions, _consents, _contact_history, _truth]
    from tqdm.auto import tqdm

    for step in tqdm(steps, desc="demo data", disable=not progress):
        step(w)
    return Demo(tables={k: w.tables[k] for k in TABLE_NAMES}, truth=w.truth_obj, as_of=w.as_of)


# == small vectorised helpers ========================================================================
def _world(n, as_of, years, seed) -> SimpleNamespace:
    if n < 1:
        raise ValueError(f"n_customers must be at least 1, got {n}")
    as_of = pd.Timestamp(as_of).normalize()
    if as_of.tzinfo is not None:
        as_of = as_of.tz_convert("UTC").tz_localize(None)
    days = int(round(years * 365.25))
    start = as_of - pd.Timedelta(days=days)
    return SimpleNamespace(n=int(n), rng=np.random.default_rng(seed), as_of=as_of, start=start,
                           days=float(days), start_us=int(np.datetime64(start, "us").astype(np.int64)),
                           tables={})


def _ids(prefix: str, numbers, width: int) -> pa.Array:
    """``prefix`` + zero-padded numbers, as an Arrow string array."""
    text = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, text, "")


def _width(n: int, least: int = 6) -> int:
    return max(least, len(str(int(n))))


def _str(values: pa.Array, index=None) -> pd.arrays.ArrowStringArray:
    """A pandas ``str`` array from Arrow strings, optionally taken at ``index`` (-1 = null)."""
    if index is not None:
        index = np.asarray(index)
        values = values.take(pa.array(np.maximum(index, 0), mask=index < 0))
    return pd.array(values, dtype="str")


def _cat(codes, labels) -> pd.Categorical:
    """A categorical from integer codes (-1 = null) into ``labels``."""
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        codes = codes.astype(np.int32)
    return pd.Categorical.from_codes(codes, categories=list(labels))


def _ts(w, days) -> np.ndarray:
    """Days since the window start (NaN = missing) as naive UTC ``datetime64[us]``."""
    days = np.asarray(days, float)
    ok = np.isfinite(days)
    out = np.full(days.shape, np.iinfo(np.int64).min, np.int64)
    out[ok] = w.start_us + np.round(days[ok] * _US_PER_DAY).astype(np.int64)
    return out.view("datetime64[us]")


def _rank(groups) -> np.ndarray:
    """0-based position of each element within its run of equal values of a sorted array."""
    groups = np.asarray(groups)
    n = len(groups)
    if n == 0:
        return np.zeros(0, np.int64)
    first = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))


def _choice(rng, weights, size) -> np.ndarray:
    weights = np.asarray(weights, float)
    return rng.choice(len(weights), size=size, p=weights / weights.sum())


def _tod_store(rng, size) -> np.ndarray:
    """Time of day (days) of a store visit: opening hours 10-20 local = 08-18 UTC."""
    return (8 + 10 * rng.beta(2, 2, size)) / 24


def _tod_web(rng, size) -> np.ndarray:
    """Time of day (days) of a web purchase: peak in the evening (UTC)."""
    return np.mod(rng.normal(17.5, 4.0, size), 24) / 24


def _expand(rng, counts, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """For ``counts[i]`` draws each, uniform in ``[lo[i], hi[i])``: (owner index, value)."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, lo[owner] + rng.random(len(owner)) * (hi - lo)[owner]


# == customers ===================================================================================
def _traits(w) -> None:
    """Latent traits: BG/NBD and Gamma-Gamma draws, store affinity, engagement, advocacy..."""
    rng, n = w.rng, w.n
    w.lam = rng.gamma(_BGNBD["r"], 1 / _BGNBD["alpha"], n)
    w.p_drop = rng.beta(_BGNBD["a"], _BGNBD["b"], n)
    w.nu = rng.gamma(_GG["q"], 1 / _GG["v"], n)
    w.store_share = rng.beta(2.0, 2.5, n)
    w.engagement = rng.beta(4.0, 4.0, n)
    w.service_need = rng.gamma(0.8, 0.6, n)
    w.advocacy = rng.beta(5.0, 2.0, n)
    w.innovator = rng.random(n) < 0.05
    w.churn_risk = rng.beta(2.0, 5.0, n)


def _acquisition(w) -> None:
    """created_at (= first purchase; seasonal, growing), first channel, where and how acquired."""
    rng, n = w.rng, w.n
    day = np.arange(int(w.days))
    doy = (w.start + pd.to_timedelta(day, unit="D")).day_of_year.to_numpy()
    weight = (1 + 0.3 * day / w.days) * (1 + 0.8 * np.exp(-(((doy - 335) / 18.0) ** 2)))
    created_day = np.sort(_choice(rng, weight, n))
    w.first_store = rng.random(n) < w.store_share
    tod = np.where(w.first_store, _tod_store(rng, n), _tod_web(rng, n))
    w.created = created_day + tod
    names = list(_ACQ)
    web = _choice(rng, [v[0] for v in _ACQ.values()], n)
    store = _choice(rng, [v[1] for v in _ACQ.values()], n)
    w.acq = np.where(w.first_store, store, web)
    cost = np.array([v[2] for v in _ACQ.values()])[w.acq] * rng.lognormal(-0.06, 0.35, n)
    w.acq_cost = np.round(cost, 2)
    w.acq_names = names
    w.cust_ids = _ids("C", np.arange(1, n + 1), _width(n))
    _places(w)


def _places(w) -> None:
    rng, n = w.rng, w.n
    w.region = _choice(rng, [r[1] for r in _REGIONS], n)
    stores = [s for r in _REGIONS for s in r[2]]
    offset = np.cumsum([0] + [len(r[2]) for r in _REGIONS])
    count = np.diff(offset)
    pick = offset[w.region] + (rng.random(n) * count[w.region]).astype(int)
    w.home_store = np.where(w.store_share < 0.12, -1, pick)
    w.store_names = stores
    phone = _choice(rng, _PHONE_W, n)
    w.phone = np.where(rng.random(n) < 0.15, -1, phone)


def _emails(w) -> None:
    """Clean addresses first.last+number@domain, then the known dirty ones (Truth.emails)."""
    rng, n = w.rng, w.n
    number = pc.cast(pa.array(np.arange(1, n + 1)), pa.string())
    first = pa.array(_FIRST).take(pa.array(rng.integers(0, len(_FIRST), n)))
    last = pa.array(_LAST).take(pa.array(rng.integers(0, len(_LAST), n)))
    domain = pa.array(list(_DOMAINS)).take(pa.array(_choice(rng, list(_DOMAINS.values()), n)))
    local = pc.binary_join_element_wise(first, ".", last, number, "")
    email = pc.binary_join_element_wise(local, "@", domain, "")
    counts = {k: int(round(v * n)) for k, v in _EMAIL_ISSUES.items()}
    order = rng.permutation(n)
    ends = np.cumsum(list(counts.values()))
    groups = dict(zip(counts, np.split(order[: ends[-1]], ends[:-1]), strict=True))
    sources = order[ends[-1]: ends[-1] + counts["duplicate"]]
    issue = np.full(n, -1)
    for k, idx in enumerate(groups.values()):
        issue[idx] = k
    w.issue, w.issue_names = issue, list(counts)
    w.bounces = rng.random(n) < 0.6  # which disposable addresses hard-bounce
    w.dup_of = np.full(n, -1)
    w.dup_of[groups["duplicate"]] = sources
    w.email = _dirty(rng, email, local, number, groups, sources)


def _dirty(rng, email, local, number, groups, sources) -> pa.Array:
    """Replace the chosen customers' addresses by their dirty variant."""
    def put(arr, idx, values):
        order = np.argsort(idx)
        mask = np.zeros(len(arr), bool)
        mask[idx] = True
        return pc.replace_with_mask(arr, pa.array(mask), values.take(pa.array(order)))

    def at(idx):
        return email.take(pa.array(idx))

    g = groups
    email = put(email, g["upper_case"], pc.utf8_title(at(g["upper_case"])))
    email = put(email, g["whitespace"], pc.binary_join_element_wise("  ", at(g["whitespace"]), " ", ""))
    email = put(email, g["invalid"], _invalid(at(g["invalid"])))
    role = pa.array(_ROLES).take(pa.array(rng.integers(0, len(_ROLES), len(g["role"]))))
    tld = pa.array([".fi", ".se", ".no", ".dk"]).take(pa.array(rng.integers(0, 4, len(g["role"]))))
    company = pc.binary_join_element_wise("@company", number.take(pa.array(g["role"])), tld, "")
    email = put(email, g["role"], pc.binary_join_element_wise(role, company, ""))
    disposable = pa.array(_DISPOSABLE).take(
        pa.array(rng.integers(0, len(_DISPOSABLE), len(g["disposable"]))))
    email = put(email, g["disposable"], pc.binary_join_element_wise(
        local.take(pa.array(g["disposable"])), "@", disposable, ""))
    copy = at(sources)
    half = np.arange(len(sources)) % 2 == 1
    email = put(email, g["duplicate"], pc.if_else(pa.array(half), pc.utf8_title(copy), copy))
    missing = np.zeros(len(email), bool)
    missing[g["missing"]] = True
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), email)


def _invalid(emails: pa.Array) -> pa.Array:
    """Four kinds of broken syntax: no @, double @, double dot, a space inside."""
    kind = np.arange(len(emails)) % 4
    variants = [pc.replace_substring(emails, "@", "", max_replacements=1),
                pc.replace_substring(emails, "@", "@@", max_replacements=1),
                pc.replace_substring(emails, ".", "..", max_replacements=1),
                pc.replace_substring(emails, ".", " ", max_replacements=1)]
    out = variants[0]
    for k in (1, 2, 3):
        out = pc.if_else(pa.array(kind == k), variants[k], out)
    return out


def _customer_table(w) -> None:
    w.tables["customers"] = pd.DataFrame({
        "customer_id": _str(w.cust_ids), "created_at": _ts(w, w.created),
        "email": _str(w.email), "phone_model": _cat(w.phone, _PHONES),
        "region": _cat(w.region, [r[0] for r in _REGIONS]),
        "home_store": _cat(w.home_store, w.store_names),
        "acquisition_channel": _cat(w.acq, w.acq_names), "acquisition_cost": w.acq_cost})


def _consent_plan(w) -> None:
    """Consent grants and preference-centre revocations; welcome eligibility and control group."""
    rng, n = w.rng, w.n
    has_email = pc.is_valid(w.email).to_numpy(zero_copy_only=False)
    w.consent = {}
    for channel, share, _, life, revoke in _CONSENTS:
        at_start = rng.random(n) < share
        later = ~at_start & (rng.random(n) < 0.05)
        granted = np.where(at_start, w.created, w.created + rng.exponential(120.0, n))
        granted = np.where((at_start | later) & (granted < w.days), granted, np.nan)
        if channel == "email":
            granted[~has_email] = np.nan
        revoked = granted + rng.exponential(300.0, n)
        revoked[(rng.random(n) >= revoke) | (revoked >= w.days)] = np.nan
        expires = granted + life
        revoked[revoked >= expires] = np.nan
        w.consent[channel] = (granted, revoked, expires)
    granted, revoked, _ = w.consent["email"]
    eligible = granted == w.created
    control = eligible & (rng.random(n) < _CONTROL_SHARE)
    w.welcome = np.where(control, 1, np.where(eligible, 0, -1))  # 0 treated, 1 control


# == purchases =======================================================================================
def _products(w) -> None:
    rng, rows = w.rng, []
    for name, (k, lo, hi, mlo, mhi, _) in _CATEGORIES.items():
        price = np.exp(rng.uniform(np.log(lo), np.log(hi), k))
        price = np.round(price) - 0.1 * (price > 20) - 0.01 * (price <= 20)
        rows.append(pd.DataFrame({"category": name, "price": price,
                                  "margin_rate": np.round(rng.uniform(mlo, mhi, k), 3)}))
    products = pd.concat(rows, ignore_index=True).sort_values("price", kind="stable")
    products = products.reset_index(drop=True)
    w.prod_price = products.price.to_numpy()
    w.prod_cat = pd.Index(list(_CATEGORIES)).get_indexer(products.category)
    w.prod_margin = products.margin_rate.to_numpy()
    w.prod_ids = _ids("P", np.arange(1, len(products) + 1), 4)
    w.tables["products"] = pd.DataFrame({
        "product_id": _str(w.prod_ids), "category": _cat(w.prod_cat, _CATEGORIES),
        "price": w.prod_price, "margin_rate": w.prod_margin})


def _purchases(w) -> None:
    """BG/NBD purchases to as_of + 45 days, Gamma-Gamma amounts, web / store, products."""
    rng, n = w.rng, w.n
    cust, day, rank = _repeat_days(w)
    cust = np.r_[np.arange(n), cust]
    rank = np.r_[np.zeros(n, np.int64), rank]
    order = np.lexsort((rank, cust))
    cust, rank, day = cust[order], rank[order], np.r_[np.floor(w.created), day][order]
    since = day - np.floor(w.created)[cust]
    shift = (w.welcome[cust] == 0) & (rank > 0) & (since <= _SHIFT_DAYS)
    u = rng.random(len(cust))
    store = np.where(rank == 0, w.first_store[cust], u < w.store_share[cust] + shift * _STORE_SHIFT)
    w.shift_gain = shift & ~(u < w.store_share[cust]) & store
    tod = np.where(store, _tod_store(rng, len(cust)), _tod_web(rng, len(cust)))
    ts = np.where(rank == 0, w.created[cust], day + tod)
    w.buy = SimpleNamespace(cust=cust, rank=rank, ts=ts, store=store)
    w.buy.amount = np.maximum(np.round(rng.gamma(_GG["p"], 1 / w.nu[cust]), 2), 0.01)
    price_rank = np.searchsorted(w.prod_price, w.buy.amount) + rng.integers(-4, 4, len(cust))
    w.buy.product = np.clip(price_rank, 0, len(w.prod_price) - 1)
    _dropout(w)


def _repeat_days(w):
    """Repeat purchases: Poisson(lam) days after created, one per day, Geometric(p) dropout."""
    rng = w.rng
    span = w.days + _HORIZON - w.created
    count = rng.poisson(w.lam * span / 7)
    cust, t = _expand(rng, count, w.created, w.created + span)
    order = np.lexsort((t, cust))
    cust, day = cust[order], np.floor(t[order])
    same = np.r_[False, (cust[1:] == cust[:-1]) & (day[1:] == day[:-1])]
    keep = ~same & (day != np.floor(w.created)[cust])
    cust, day = cust[keep], day[keep]
    rank = _rank(cust) + 1
    w.k_drop = rng.geometric(w.p_drop)
    alive = rank <= w.k_drop[cust]
    return cust[alive], day[alive], rank[alive]


def _dropout(w) -> None:
    b = w.buy
    seen = b.ts < w.days
    w.n_repeat = np.bincount(b.cust[seen & (b.rank > 0)], minlength=w.n)
    dropped = seen & (b.rank == w.k_drop[b.cust])
    w.dropout = np.full(w.n, np.nan)
    w.dropout[b.cust[dropped]] = b.ts[dropped]
    future = ~seen
    first = future & (np.r_[True, b.cust[1:] != b.cust[:-1]] | np.r_[True, seen[:-1]])
    w.next_buy = np.full(w.n, np.nan)
    w.next_buy[b.cust[first]] = b.ts[first]


def _transactions(w) -> None:
    """Observed purchases and their returns, in time order, with unique transaction ids."""
    rng, b = w.rng, w.buy
    seen = np.flatnonzero(b.ts < w.days)
    cat = w.prod_cat[b.product[seen]]
    rate = np.array([v[5] for v in _CATEGORIES.values()])[cat]
    ret = seen[rng.random(len(seen)) < rate]
    full = rng.random(len(ret)) < 0.75
    frac = np.where(full, 1.0, rng.uniform(0.1, 0.6, len(ret)))
    ret_ts = b.ts[ret] + 1 + rng.gamma(2.0, 3.0, len(ret))
    ok = ret_ts < w.days
    ret, frac, ret_ts = ret[ok], frac[ok], ret_ts[ok]
    idx = np.r_[seen, ret]
    amount = np.r_[b.amount[seen], -np.round(b.amount[ret] * frac, 2)]
    ts = np.r_[b.ts[seen], ret_ts]
    order = np.lexsort((idx, ts))
    tid = np.empty(len(idx), np.int64)
    tid[order] = np.arange(1, len(idx) + 1)
    w.n_tx = len(idx)
    w.returns = (tid[len(seen):], tid[: len(seen)][np.searchsorted(seen, ret)])
    _transaction_table(w, idx[order], amount[order], ts[order], tid[order])


def _transaction_table(w, idx, amount, ts, tid) -> None:
    b = w.buy
    product = b.product[idx]
    w.tables["transactions"] = pd.DataFrame({
        "customer_id": _str(w.cust_ids, b.cust[idx]), "ts": _ts(w, ts), "amount": amount,
        "transaction_id": _str(_ids("T", tid, _width(len(tid), 8))),
        "margin": np.round(amount * w.prod_margin[product], 2),
        "product_id": _cat(product, w.prod_ids.to_pylist()),
        "category": _cat(w.prod_cat[product], _CATEGORIES),
        "channel": _cat(b.store[idx].astype(int), ["web", "store"])})


# == messages =======================================================================================
def _messages(w) -> None:
    """Welcome series (A/B variants, control held out) and the biweekly newsletter."""
    m = _concat(_welcome_plan(w), _newsletter_plan(w))
    order = np.lexsort((m.sent, m.cust))
    m = SimpleNamespace(**{k: v[order] for k, v in vars(m).items()})
    _outcomes(w, m)
    stop = m.hard | np.isfinite(m.unsub) | np.isfinite(m.complaint)
    before = np.cumsum(stop) - stop
    first = np.flatnonzero(np.r_[True, m.cust[1:] != m.cust[:-1]])
    before -= np.repeat(before[first], np.diff(np.r_[first, len(stop)]))
    m = SimpleNamespace(**{k: v[before == 0] for k, v in vars(m).items()})
    for col in ("opened", "clicked", "unsub", "complaint"):
        getattr(m, col)[getattr(m, col) >= w.days] = np.nan
    gone = np.fmin(m.unsub, m.complaint)
    stopped = np.isfinite(gone)
    w.unsub_at = np.full(w.n, np.nan)
    w.unsub_at[m.cust[stopped]] = gone[stopped]
    _message_table(w, m)


def _concat(a: SimpleNamespace, b: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(**{k: np.r_[getattr(a, k), getattr(b, k)] for k in vars(a)})


def _welcome_plan(w) -> SimpleNamespace:
    rng = w.rng
    treated = np.flatnonzero(w.welcome == 0)
    variant = rng.integers(0, 2, (len(treated), 2))
    cust = np.repeat(treated, 3)
    step = np.tile(np.arange(3), len(treated))
    sent = np.floor(w.created[cust]) + 1 + np.array([s[1] for s in _WELCOME])[step] + 8 / 24
    var = np.c_[variant, np.full(len(treated), -1)].ravel()
    _, revoked, _ = w.consent["email"]
    keep = (sent < w.days) & ~(sent >= revoked[cust])
    w.welcome_sched = (cust, step, var, sent, keep)  # the plan, for contact_history
    cell = np.where(var < 0, 4, step * 2 + var)  # thank_A, thank_B, guide_A, guide_B, surprise
    return SimpleNamespace(cust=cust[keep].astype(np.int32), sent=sent[keep],
                           cell=cell[keep].astype(np.int16), var=var[keep].astype(np.int8),
                           step=step[keep].astype(np.int8))


def _newsletter_plan(w) -> SimpleNamespace:
    as_of = w.as_of
    back = (as_of.weekday() - 3) % 7 or 7                      # the last Thursday before as_of
    last = w.days - back + 7 / 24
    sends = np.sort(np.arange(last, w.days - _NEWSLETTER["days"], -14.0))
    granted, revoked, _ = w.consent["email"]
    welcome_done = np.where(w.welcome == 0, w.created + 9, w.created)
    lo = np.searchsorted(sends, np.fmax(granted, welcome_done))
    hi = np.searchsorted(sends, np.where(np.isnan(revoked), np.inf, revoked))
    lo = np.where(np.isnan(granted), len(sends), lo)
    count = np.maximum(hi - lo, 0)
    cust = np.repeat(np.arange(w.n), count)
    k = lo[cust] + _rank(cust)
    w.send_dates = sends
    return SimpleNamespace(cust=cust.astype(np.int32), sent=sends[k],
                           cell=(5 + k).astype(np.int16), var=np.full(len(k), -1, np.int8),
                           step=np.full(len(k), 3, np.int8))


def _outcomes(w, m) -> None:
    """Bounces, opens, clicks, unsubscribes and complaints of each message."""
    rng, size = w.rng, len(m.cust)
    issue = w.issue[m.cust]
    names = w.issue_names
    bad = (issue == names.index("invalid")) | ((issue == names.index("disposable"))
                                               & w.bounces[m.cust])
    m.hard = rng.random(size) < np.where(bad, 1.0, 0.0015)
    soft = ~m.hard & (rng.random(size) < 0.012)
    m.bounce = np.where(m.hard, 0, np.where(soft, 1, -1)).astype(np.int8)
    open_rate, cto = _rates(m)
    delivered = m.bounce < 0
    opened = delivered & (rng.random(size) < open_rate * w.engagement[m.cust] / 0.5)
    m.opened = np.where(opened, m.sent + rng.lognormal(np.log(2 / 24), 1.2, size), np.nan)
    clicked = opened & (rng.random(size) < cto)
    m.clicked = np.where(clicked, m.opened + rng.exponential(3 * _MINUTE, size), np.nan)
    news = m.step == 3
    role = issue == names.index("role")
    unsub = delivered & (rng.random(size) < np.where(news, _NEWSLETTER["unsub"], 0.002))
    complaint = delivered & (rng.random(size) < _NEWSLETTER["complaint"] * (1 + 9 * role))
    later = rng.lognormal(np.log(0.25), 1.0, size)
    m.unsub = np.where(unsub & ~complaint, m.sent + later, np.nan)
    m.complaint = np.where(complaint, m.sent + later, np.nan)


def _rates(m):
    """Open rate and click-to-open rate of each message's cell (welcome cells, newsletter)."""
    opens = np.array([x for s in _WELCOME for x in s[2] if x is not None] + [_NEWSLETTER["open"]])
    ctos = np.array([x for s in _WELCOME for x in s[3] if x is not None] + [_NEWSLETTER["cto"]])
    cell = np.minimum(m.cell, 5)
    return opens[cell], ctos[cell]


def _message_table(w, m) -> None:
    order = np.lexsort((m.cust, m.sent))
    m = SimpleNamespace(**{k: v[order] for k, v in vars(m).items()})
    dates = pd.DatetimeIndex(_ts(w, w.send_dates)).strftime("%Y%m%d")
    cells = ["welcome_thank_A", "welcome_thank_B", "welcome_guide_A", "welcome_guide_B",
             "welcome_surprise", *("newsletter_" + dates)]
    w.tables["messages"] = pd.DataFrame({
        "message_id": _str(_ids("M", np.arange(1, len(m.cust) + 1), _width(len(m.cust), 9))),
        "customer_id": _str(w.cust_ids, m.cust), "channel": _cat(np.zeros(len(m.cust)), ["email"]),
        "sent_at": _ts(w, m.sent), "campaign_id": _cat(m.step == 3, ["welcome", "newsletter"]),
        "cell_id": _cat(m.cell, cells), "variant": _cat(m.var, ["A", "B"]),
        "delivered": m.bounce < 0, "bounce": _cat(m.bounce, ["hard", "soft"]),
        "opened_at": _ts(w, m.opened), "clicked_at": _ts(w, m.clicked),
        "unsubscribed_at": _ts(w, m.unsub), "complained_at": _ts(w, m.complaint)})


# == web and app behaviour ======================================================================
def _devices(w) -> None:
    """Device entries (device, customer, identification time); shared devices; visitors."""
    rng, n = w.rng, w.n
    u = rng.random(n)
    count = 1 + (u < 0.30) + (u < 0.06)
    cust = np.repeat(np.arange(n), count)
    slot = _rank(cust)
    web_first = ~w.first_store[cust]
    wait = np.where(slot == 0, rng.exponential(30.0, len(cust)), rng.exponential(60.0, len(cust)))
    known = np.where((slot == 0) & web_first, w.created[cust] - 5 * _MINUTE, w.created[cust] + wait)
    n_shared = int(round(0.005 * n)) if n > 1 else 0
    a, b = rng.choice(n, (2, n_shared), replace=False)  # b also uses a's primary device
    primary = np.flatnonzero(slot == 0)
    dev = np.r_[np.arange(len(cust)), primary[a]]
    cust = np.r_[cust, b]
    known = np.r_[known, w.created[b] + rng.exponential(60.0, n_shared)]
    order = np.lexsort((np.r_[slot, np.full(n_shared, 9)], cust))
    w.ent = SimpleNamespace(cust=cust[order], dev=dev[order], known=known[order])
    w.ent_first = np.searchsorted(w.ent.cust, np.arange(n))
    w.ent_count = np.diff(np.r_[w.ent_first, len(w.ent.cust)])
    w.shared = (a, b)
    w.n_dev = int(count.sum())  # customers' own devices
    _visitor_devices(w)


def _visitor_devices(w) -> None:
    """Anonymous visitors who never buy: as many as customers, one device each."""
    n_vis = w.n
    e = w.ent
    w.vis_entry0 = len(e.cust)
    e.cust = np.r_[e.cust, np.full(n_vis, -1)]
    e.dev = np.r_[e.dev, w.n_dev + np.arange(n_vis)]
    e.known = np.r_[e.known, np.full(n_vis, np.inf)]
    total = w.n_dev + n_vis
    w.anon_ids = _ids("A", w.rng.permutation(total) + 1, _width(total, 8))


def _pick_entry(w, cust, primary_share=0.6) -> np.ndarray:
    """A device entry of each customer: the primary one or another of theirs."""
    u = w.rng.random(len(cust))
    count = w.ent_count[cust]
    other = 1 + np.floor(w.rng.random(len(cust)) * (count - 1)).astype(np.int64)
    return w.ent_first[cust] + np.where((u < primary_share) | (count == 1), 0, other)


def _sessions(w) -> None:
    """Sessions: pre-purchase journeys, customers' idle browsing, visitors' browsing."""
    parts = [_journey_sessions(w), _idle_sessions(w), _visitor_sessions(w)]
    s = _concat(_concat(parts[0], parts[1]), parts[2])
    group = np.array([0, 1, 2, 2, 2])[s.kind]
    src = np.empty(len(s.kind), np.int64)
    for g in range(3):
        at = np.flatnonzero(group == g)
        src[at] = _choice(w.rng, _SOURCE_W[g], len(at))
    s.source = src
    w.ses = s


def _journey_sessions(w) -> SimpleNamespace:
    """Think sessions days before each purchase, Do sessions hours to days before, checkout."""
    rng, b = w.rng, w.buy
    size = len(b.cust)
    b.t_think = rng.uniform(7.0, 30.0, size)
    b.t_do = rng.uniform(2.0, 12.0, size)
    online = rng.random(size) < np.where(b.store, 0.55, 0.85)
    on = np.flatnonzero(online)
    i1, t1 = _expand(rng, online * rng.poisson(0.4, size), b.ts - b.t_think, b.ts - b.t_do)
    i2, t2 = _expand(rng, online * rng.poisson(0.7, size), b.ts - b.t_do, b.ts - 1 / 24)
    i1, t1 = np.r_[on, i1], np.r_[b.ts[on] - b.t_think[on], t1]  # a phase opens with a session
    i2, t2 = np.r_[on, i2], np.r_[b.ts[on] - b.t_do[on], t2]
    i3 = np.flatnonzero(~b.store)
    idx = np.r_[i1, i2, i3]
    kind = np.r_[np.full(len(i1), _THINK), np.where(b.store[i2], _DO_STORE, _DO_WEB),
                 np.full(len(i3), _CHECKOUT)]
    cat = w.prod_cat[b.product[idx]]
    wander = (kind == _THINK) & (rng.random(len(idx)) < 0.2)
    cat = np.where(wander, _choice(rng, _CAT_POPULARITY, len(idx)), cat)
    entry = _pick_entry(w, b.cust[idx])
    first_web = (kind == _CHECKOUT) & (b.rank[idx] == 0)
    entry = np.where(first_web, w.ent_first[b.cust[idx]], entry)
    return SimpleNamespace(entry=entry, start=np.r_[t1, t2, b.ts[i3]], kind=kind, cat=cat,
                           anchored=kind == _CHECKOUT)



def _idle_sessions(w) -> SimpleNamespace:
    """Customers browsing without a purchase coming: while alive, and rarely after dropout."""
    rng = w.rng
    gone = np.where(np.isnan(w.dropout), w.days, w.dropout)
    c1, t1 = _expand(rng, rng.poisson(0.05 / 7 * (gone - w.created)), w.created, gone)
    c2, t2 = _expand(rng, rng.poisson(0.012 / 7 * (w.days - gone)), gone, np.full(w.n, w.days))
    cust, start = np.r_[c1, c2], np.r_[t1, t2]
    kind = _choice(rng, [0.70, 0.28, 0.02], len(cust))
    return SimpleNamespace(entry=_pick_entry(w, cust, 0.5), start=start, kind=kind,
                           cat=_choice(rng, _CAT_POPULARITY, len(cust)),
                           anchored=np.zeros(len(cust), bool))


def _visitor_sessions(w) -> SimpleNamespace:
    rng, n_vis = w.rng, w.n
    count = 1 + rng.poisson(0.7, n_vis)
    vis, start = _expand(rng, count, np.zeros(n_vis), np.full(n_vis, w.days))
    kind = _choice(rng, [0.78, 0.20, 0.02], len(vis))
    return SimpleNamespace(entry=w.vis_entry0 + vis, start=start, kind=kind,
                           cat=_choice(rng, _CAT_POPULARITY, len(vis)),
                           anchored=np.zeros(len(vis), bool))


def _events(w) -> None:
    """Expand sessions into events, identify devices (login), build the events table."""
    rng, s = w.rng, w.ses
    n_ev = (np.array([k[0] for k in _KIND_LEN])[s.kind]
            + rng.poisson(np.array([k[1] for k in _KIND_LEN])[s.kind])).astype(np.int32)
    head = np.cumsum(n_ev, dtype=np.int64) - n_ev
    sid = np.repeat(np.arange(len(n_ev), dtype=np.int32), n_ev)
    ts = np.cumsum(rng.exponential(1.5 * _MINUTE, len(sid)))
    ts -= np.repeat(ts[head], n_ev)
    last = ts[head + n_ev - 1]
    ts += np.where(s.anchored, s.start - last - 0.5 * _MINUTE, s.start)[sid]
    etype = _event_types(rng, s.kind, sid, head)
    keep = (ts >= 0) & (ts < w.days)
    ev = SimpleNamespace(ts=ts[keep], sid=sid[keep], etype=etype[keep])
    del ts, sid, etype, keep
    _identify(w, ev)
    _event_table(w, ev)
    del w.ses


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


def _identify(w, ev) -> None:
    """customer_id is set from the first login of that customer on that device onwards."""
    order = np.argsort(ev.ts, kind="stable")
    for k in vars(ev):
        setattr(ev, k, getattr(ev, k)[order])
    del order
    entry = w.ses.entry[ev.sid]
    known = ev.ts >= w.ent.known[entry]
    at = np.flatnonzero(known)
    _, first = np.unique(entry[at], return_index=True)
    login = at[first]
    del at, first, entry
    ev.ts = np.insert(ev.ts, login, ev.ts[login] - 1 / 86400)
    ev.sid = np.insert(ev.sid, login, ev.sid[login])
    ev.etype = np.insert(ev.etype, login, _EVENTS.index("login"))
    known = np.insert(known, login, True)
    entry = w.ses.entry[ev.sid]
    ev.cust = np.where(known, w.ent.cust[entry], -1).astype(np.int32)
    ev.dev = w.ent.dev[entry].astype(np.int32)


def _event_table(w, ev) -> None:
    s = w.ses
    order = np.argsort(s.start, kind="stable")
    number = np.empty(len(order), np.int64)
    number[order] = np.arange(1, len(order) + 1)
    session_ids = _ids("S", number, _width(len(order), 9))
    del order, number
    sources = list(dict.fromkeys(x[0] for x in _SOURCES))
    source_code = np.array([sources.index(x[0]) for x in _SOURCES])
    src = s.source[ev.sid]
    cols = {"ts": _ts(w, ev.ts)}
    del ev.ts
    cols["anonymous_id"] = _str(w.anon_ids, ev.dev)
    cols["event_type"] = _cat(ev.etype, _EVENTS)
    cols["customer_id"] = _str(w.cust_ids, ev.cust)
    cols["page_type"] = _cat(_PAGE_CODE[ev.etype], _PAGES)
    cols["category"] = _cat(np.where(_HAS_CATEGORY[ev.etype], s.cat[ev.sid], -1), _CATEGORIES)
    cols["session_id"] = _str(session_ids, ev.sid)
    cols["source"] = _cat(source_code[src], sources)
    cols["medium"] = _cat(src, [x[1] for x in _SOURCES])
    w.tables["events"] = pd.DataFrame(cols, copy=False)


# == marketing touches ============================================================================
def _touchpoints(w) -> None:
    """A pool of journeys converts by the true channel effects; converting journeys end at real
    purchases, the others at people and times without a purchase."""
    rng = w.rng
    seen = np.flatnonzero(w.buy.ts < w.days)
    n_j = int(round(0.9 * len(seen)))
    length = np.minimum(1 + rng.poisson(1.8, n_j), 10)
    owner = np.repeat(np.arange(n_j), length)
    channel = _choice(rng, [t[2] for t in _TOUCH], len(owner))
    counts = np.bincount(owner * len(_TOUCH) + channel, minlength=n_j * len(_TOUCH))
    counts = counts.reshape(n_j, len(_TOUCH))
    effect = np.array([t[1] for t in _TOUCH])
    prob = 1 - (1 - _BASE_CONVERSION) * np.exp(counts @ np.log1p(-effect))
    converts = rng.random(n_j) < prob
    w.touch_truth = _channel_truth(counts, effect)
    person, end, converts = _journey_ends(w, converts, seen)
    lag = np.maximum(30.0 * rng.random(len(owner)) ** 1.5, _MINUTE)
    ts = end[owner] - lag
    keep = ts >= 0
    _touch_table(w, person[owner][keep], ts[keep], channel[keep])
    w.journeys = pd.DataFrame({
        "person_id": _str(_person_ids(w, person)), "end_at": _ts(w, end),
        "converted": converts, "n_touches": np.bincount(owner[keep], minlength=n_j)})


def _journey_ends(w, converts, seen):
    """Person (customer k >= 0, visitor k as -1-k), end time and conversion of each journey."""
    rng, b = w.rng, w.buy
    n_j = len(converts)
    conv = np.flatnonzero(converts)[: len(seen)]
    converts = np.zeros(n_j, bool)
    converts[conv] = True
    hit = rng.choice(seen, len(conv), replace=False)
    person, end = np.empty(n_j, np.int64), np.empty(n_j)
    person[conv], end[conv] = b.cust[hit], b.ts[hit]
    other = np.flatnonzero(~converts)
    e = rng.uniform(30.0, w.days, len(other))
    known = np.searchsorted(w.created, e - 30.0)
    cand = np.floor(rng.random(len(other)) * known).astype(np.int64)
    ok = (rng.random(len(other)) < 0.5) & (known > 0) & ~_buys_near(w, cand, e)
    visitor = -1 - rng.integers(0, w.n, len(other))
    person[other], end[other] = np.where(ok, cand, visitor), e
    return person, end, converts


def _person_ids(w, person) -> pa.Array:
    """Customer ids for ``person >= 0``, visitors' anonymous ids for ``person = -1 - k``."""
    return pc.if_else(pa.array(person >= 0),
                      w.cust_ids.take(pa.array(np.maximum(person, 0))),
                      w.anon_ids.take(pa.array(w.n_dev + np.maximum(-1 - person, 0))))


def _buys_near(w, cust, t) -> np.ndarray:
    """Whether each customer has a purchase within 30 days before or after ``t``."""
    b = w.buy
    span = w.days + _HORIZON + 100.0
    key = b.cust * span + b.ts
    pos = np.minimum(np.searchsorted(key, cust * span + t - 30.0), len(key) - 1)
    return (b.cust[pos] == cust) & (b.ts[pos] <= t + 30.0)


def _touch_table(w, person, ts, channel) -> None:
    rng = w.rng
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
    ids = _person_ids(w, person)
    w.tables["touchpoints"] = pd.DataFrame({
        "ts": _ts(w, ts), "person_id": _str(ids), "channel": _cat(channel, [t[0] for t in _TOUCH]),
        "campaign_id": _cat(camp, names),
        "interaction": _cat(inter, ["impression", "click", "visit"]),
        "cost": np.round(cost, 4)})


def _channel_truth(counts, effect) -> pd.DataFrame:
    """Exact removal effects and Shapley values of the expected conversions of the pool."""
    k = len(effect)
    code = counts @ (11 ** np.arange(k))
    uniq, weight = np.unique(code, return_counts=True)
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
    share = counts.sum(axis=0) / counts.sum()
    return pd.DataFrame({"channel": [t[0] for t in _TOUCH], "effect": effect,
                         "share_of_touches": share, "removal_effect": removal / (weight @ full),
                         "shapley_share": shapley / shapley.sum()})


# == feedback, subscriptions, consents, contact history ===========================================
def _feedback(w) -> None:
    """Service contacts, complaints, ideas, referrals (Poisson over tenure), NPS and surveys."""
    rng, n = w.rng, w.n
    years = (w.days - w.created) / 365.25
    rates = [w.service_need, 0.04 * (1 + w.service_need), np.where(w.innovator, 0.8, 0.02),
             0.6 * w.advocacy**4]
    parts = []
    for kind, rate in enumerate(rates):
        cust, ts = _expand(rng, rng.poisson(rate * years), w.created, np.full(n, w.days))
        parts.append((cust, ts, np.full(len(cust), kind)))
    nps = np.flatnonzero((rng.random(n) < 0.25) & (w.days - w.created > 31))
    at = w.created[nps] + 30 + rng.random(len(nps)) * (w.days - w.created[nps] - 31)
    parts.append((nps, at, np.full(len(nps), 4)))
    granted, _, _ = w.consent["email"]
    asked = np.isfinite(granted) & (w.issue < 0) & (w.created + 95 < w.days)
    survey = np.flatnonzero(asked & (rng.random(n) < 0.2))
    parts.append((survey, w.created[survey] + 91 + rng.exponential(1.5, len(survey)),
                  np.full(len(survey), 5)))
    cust, ts, kind = (np.concatenate(x) for x in zip(*parts, strict=True))
    keep = ts < w.days
    _feedback_table(w, cust[keep], ts[keep], kind[keep])


def _feedback_table(w, cust, ts, kind) -> None:
    rng = w.rng
    adv = w.advocacy[cust]
    nps = np.clip(np.round(rng.normal(10.5 * adv, 1.5)), 0, 10)
    survey = np.clip(np.round(rng.normal(1 + 4.4 * adv, 0.8)), 1, 5)
    score = np.where(kind == 4, nps, np.where(kind == 5, survey, np.nan))
    u = rng.random(len(cust))
    service = np.where(u < 0.2 + 0.1 * (w.service_need[cust] > 1), 0, np.where(u < 0.8, 1, 2))
    senti = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
        [service, 0, np.where(u < 0.6, 2, 1), 2,
         np.where(nps >= 9, 2, np.where(nps <= 6, 0, 1))],
        np.where(survey >= 4, 2, np.where(survey <= 2, 0, 1)))
    order = np.lexsort((cust, ts))
    kinds = ["service_contact", "complaint", "idea", "referral", "nps", "survey"]
    w.tables["feedback"] = pd.DataFrame({
        "customer_id": _str(w.cust_ids, cust[order]), "ts": _ts(w, ts[order]),
        "kind": _cat(kind[order], kinds), "score": score[order],
        "sentiment": _cat(senti[order], ["negative", "neutral", "positive"])})


def _subscriptions(w) -> None:
    """Phone contracts of 12 or 24 months; at each end the customer renews or churns."""
    rng, n = w.rng, w.n
    has = rng.random(n) < np.where(w.phone >= 0, 0.30, 0.05)
    start = np.where(has, w.created + rng.exponential(60.0, n), np.nan)
    w.churned = np.zeros(n, bool)
    w.will_churn = np.zeros(n, bool)
    rows = []
    device = np.where(w.phone >= 0, w.phone, _choice(rng, _PHONE_W, n))
    for _ in range(4):
        live = np.flatnonzero(np.isfinite(start) & (start < w.days))
        months = np.where(rng.random(len(live)) < 0.4, 12, 24)
        end = start[live] + months * 30.4375
        plan = _choice(rng, [0.30, 0.35, 0.25, 0.10], len(live))
        rows.append((live, start[live], end, plan))
        leaves = rng.random(len(live)) < w.churn_risk[live]
        ended = end < w.days
        w.churned[live[ended & leaves]] = True
        w.will_churn[live[~ended]] = leaves[~ended]
        start = np.full(n, np.nan)
        start[live[ended & ~leaves]] = end[ended & ~leaves]
    cust, begin, end, plan = (np.concatenate(x) for x in zip(*rows, strict=True))
    order = np.lexsort((begin, cust))
    fee = np.array([p[1] for p in _PLANS])[plan[order]]
    w.tables["subscriptions"] = pd.DataFrame({
        "customer_id": _str(w.cust_ids, cust[order]), "start_at": _ts(w, begin[order]),
        "end_at": _ts(w, end[order]), "plan": _cat(plan[order], [p[0] for p in _PLANS]),
        "monthly_fee": fee, "device_model": _cat(device[cust[order]], _PHONES)})


def _consents(w) -> None:
    """Per channel: granted, expires (null = open-ended), revoked; 2-hour SMS at store visits."""
    rng, b = w.rng, w.buy
    parts = []
    for k, (channel, *_rest) in enumerate(_CONSENTS):
        granted, revoked, expires = w.consent[channel]
        if channel == "email":
            revoked = np.fmin(revoked, np.where(w.unsub_at >= granted, w.unsub_at, np.nan))
        cust = np.flatnonzero(np.isfinite(granted))
        parts.append((cust, granted[cust], expires[cust], revoked[cust],
                      np.full(len(cust), k)))
    visit = np.flatnonzero(b.store & (b.ts < w.days) & (rng.random(len(b.ts)) < 0.08))
    parts.append((b.cust[visit], b.ts[visit], b.ts[visit] + 2 / 24, np.full(len(visit), np.nan),
                  np.full(len(visit), len(_CONSENTS))))
    cust, granted, expires, revoked, kind = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((kind, granted, cust))
    channel = np.array([0, 1, 2, 3, 4, 1])[kind[order]]
    purposes = [c[2] for c in _CONSENTS] + ["store_visit"]
    w.tables["consents"] = pd.DataFrame({
        "customer_id": _str(w.cust_ids, cust[order]),
        "channel": _cat(channel, [c[0] for c in _CONSENTS]),
        "granted_at": _ts(w, granted[order]), "expires_at": _ts(w, expires[order]),
        "revoked_at": _ts(w, revoked[order]), "purpose": _cat(kind[order], purposes)})


def _contact_history(w) -> None:
    """The welcome program's daily runs: every treated step planned, and the control group."""
    cust, step, var, sent, keep = w.welcome_sched
    control = np.flatnonzero(w.welcome == 1)
    c_at = np.floor(w.created[control]) + 1 + 8 / 24
    control, c_at = control[c_at < w.days], c_at[c_at < w.days]
    cell = np.r_[np.where(var < 0, 4, step * 2 + var)[keep], np.full(len(control), 5)]
    cust = np.r_[cust[keep], control]
    at = np.r_[sent[keep], c_at]
    step = np.r_[step[keep], np.full(len(control), 3)]
    order = np.lexsort((cust, at))
    cell, cust, at, step = cell[order], cust[order], at[order], step[order]
    day = np.floor(at).astype(np.int64)
    first = int(day.min()) if len(day) else 0
    runs = "welcome-" + pd.date_range(w.start + pd.Timedelta(days=first),
                                      periods=int(w.days) - first + 1).strftime("%Y-%m-%d")
    cells = ["welcome_thank_A", "welcome_thank_B", "welcome_guide_A", "welcome_guide_B",
             "welcome_surprise", "control"]
    offers = ["member_benefits", "store_guide", "surprise_voucher"]
    w.tables["contact_history"] = pd.DataFrame({
        "run_id": _cat(day - first, runs), "campaign_id": _cat(np.zeros(len(cust)), ["welcome"]),
        "cell_id": _cat(cell, cells), "customer_id": _str(w.cust_ids, cust),
        "channel": _cat(np.zeros(len(cust)), ["email"]), "planned_at": _ts(w, at),
        "offer_id": _cat(np.where(step < 3, step, -1), offers),
        "cost": np.where(step < 3, 0.002, 0.0),
        "expected_value": np.array([1.2, 0.8, 1.5, 0.0])[step]})


# == the truth ===================================================================================
def _truth(w) -> None:
    w.truth_obj = Truth(
        bgnbd={**_BGNBD, "time_unit": "W"}, gamma_gamma=dict(_GG),
        customers=_truth_customers(w), channels=w.touch_truth, ab_tests=_ab_tests(),
        control=_control_truth(w), intent=_intent_truth(w), emails=_email_truth(w),
        shared_devices=_shared_truth(w), returns=_returns_truth(w), journeys=w.journeys)


def _truth_customers(w) -> pd.DataFrame:
    groups = np.where(w.welcome < 0, -1, w.welcome)
    return pd.DataFrame({
        "customer_id": _str(w.cust_ids), "lam": w.lam, "p_drop": w.p_drop,
        "dropout_at": _ts(w, w.dropout), "nu": w.nu, "spend_mean": _GG["p"] / w.nu,
        "n_repeat": w.n_repeat, "T_weeks": (w.days - w.created) / 7,
        "store_share": w.store_share, "email_engagement": w.engagement,
        "service_need": w.service_need, "advocacy": w.advocacy, "innovator": w.innovator,
        "churn_risk": w.churn_risk, "welcome_group": _cat(groups, ["treated", "control"]),
        "email_issue": _cat(w.issue, w.issue_names), "n_devices": w.ent_count,
        "churned": w.churned, "will_churn": w.will_churn})


def _ab_tests() -> pd.DataFrame:
    """True open and click rates (per delivered message) of every welcome cell; ``winner``
    marks the variant whose true rate is strictly the highest of its step on that metric."""
    rows = []
    for step, _, opens, ctos, texts in _WELCOME:
        for v, text in enumerate(texts):
            if opens[v] is None:
                continue
            variant = "AB"[v] if opens[1] is not None else None
            cell = f"welcome_{step}" + (f"_{variant}" if variant else "")
            rows += [(step, cell, variant, "open_rate", opens[v], text),
                     (step, cell, variant, "click_rate", opens[v] * ctos[v], text)]
    out = pd.DataFrame(rows, columns=["step", "cell_id", "variant", "metric", "true_rate",
                                      "description"])
    rates = out.groupby(["step", "metric"]).true_rate
    best = rates.transform("max")
    unique = out.groupby(["step", "metric", "true_rate"]).true_rate.transform("size") == 1
    out.insert(5, "winner", (out.true_rate == best) & unique & (rates.transform("size") > 1))
    return out


def _control_truth(w) -> dict:
    """The welcome program moves treated customers' purchases to stores for 90 days."""
    b, window = w.buy, _SHIFT_DAYS
    full = w.created + window + 1 < w.days
    treated = np.flatnonzero((w.welcome == 0) & full)
    control = np.flatnonzero((w.welcome == 1) & full)
    weeks = window / 7
    expected = (1 - np.exp(-w.lam * w.p_drop * weeks)) / w.p_drop
    gain = np.minimum(w.store_share + _STORE_SHIFT, 1) - w.store_share
    lift = expected * gain * _GG["p"] / w.nu
    in_window = (b.rank > 0) & (np.floor(b.ts) - np.floor(w.created)[b.cust] <= window)
    store_rev = np.bincount(b.cust[in_window & b.store], b.amount[in_window & b.store], w.n)
    moved = np.bincount(b.cust[w.shift_gain], b.amount[w.shift_gain], w.n)
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


def _intent_truth(w) -> pd.DataFrame:
    """Latent stage at as_of from each customer's next purchase; visitors never buy (see)."""
    b = w.buy
    nxt = np.full(w.n, -1)
    future = np.flatnonzero(b.ts >= w.days)
    first = future[np.r_[True, b.cust[future][1:] != b.cust[future][:-1]]] if len(future) else future
    nxt[b.cust[first]] = first
    has = nxt >= 0
    lead = np.where(has, b.ts[np.maximum(nxt, 0)] - w.days, np.inf)
    stage = np.where(lead <= b.t_do[np.maximum(nxt, 0)], 2,
                     np.where(lead <= b.t_think[np.maximum(nxt, 0)], 1, 0))
    stage = np.where(has, stage, 0)
    vis = w.anon_ids.take(pa.array(w.n_dev + np.arange(w.n)))
    return pd.DataFrame({
        "person_id": _str(pa.concat_arrays([w.cust_ids, vis])),
        "is_customer": np.r_[np.ones(w.n, bool), np.zeros(w.n, bool)],
        "stage": _cat(np.r_[stage, np.zeros(w.n, np.int64)], ["see", "think", "do"]),
        "next_purchase_at": _ts(w, np.r_[np.where(has, w.days + lead, np.nan),
                                         np.full(w.n, np.nan)])})


def _email_truth(w) -> pd.DataFrame:
    dirty = np.flatnonzero(w.issue >= 0)
    return pd.DataFrame({
        "customer_id": _str(w.cust_ids, dirty), "email": _str(w.email, dirty),
        "issue": _cat(w.issue[dirty], w.issue_names),
        "duplicate_of": _str(w.cust_ids, w.dup_of[dirty])})


def _shared_truth(w) -> pd.DataFrame:
    a, b = w.shared
    dev = w.ent.dev[w.ent_first[a]]
    return pd.DataFrame({"anonymous_id": _str(w.anon_ids, np.r_[dev, dev]),
                         "customer_id": _str(w.cust_ids, np.r_[a, b])})


def _returns_truth(w) -> pd.DataFrame:
    ret, purchase = w.returns
    width = _width(w.n_tx, 8)
    return pd.DataFrame({"transaction_id": _str(_ids("T", ret, width)),
                         "purchase_id": _str(_ids("T", purchase, width))})
