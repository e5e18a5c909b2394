"""Customers: latent traits, acquisition (when, where, through which channel), home places,
e-mail addresses with the known dirty ones, and the customers table."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._common import World, _cat, _choice, _numbered, _str, _tod_store, _tod_web, _ts, _width

# -- the truth parameters ---------------------------------------------------------------------
_BGNBD = {"r": 0.8, "alpha": 20.0, "a": 0.9, "b": 4.0}          # rates per week
_GG = {"p": 3.0, "q": 3.5, "v": 120.0}                           # mean order p*v/(q-1) = 144 EUR

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
_STORES = [s for r in _REGIONS for s in r[2]]
_PHONES = ["iPhone 16", "iPhone 15", "iPhone 14", "Galaxy S24", "Galaxy A55", "Galaxy A35",
           "Pixel 9", "OnePlus 12", "Xiaomi 14", "Nokia G42", "Fairphone 5"]
_PHONE_W = [0.16, 0.14, 0.08, 0.12, 0.12, 0.08, 0.07, 0.06, 0.07, 0.06, 0.04]
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
               "trashmail.com", "temp-mail.org"]
_ROLES = ["info", "sales", "admin", "office", "support", "myynti", "kontakt", "post"]
# share of customers per e-mail issue (each dirty customer has exactly one issue)
_EMAIL_ISSUES = {"missing": 0.03, "upper_case": 0.005, "whitespace": 0.005, "invalid": 0.004,
                 "role": 0.003, "disposable": 0.004, "duplicate": 0.004}
_ISSUES = list(_EMAIL_ISSUES)  # the labels of Emails.issue


class Traits(NamedTuple):
    """Each customer's latent traits (index = customer number)."""

    lam: np.ndarray  # repeat purchases per week while alive
    p_drop: np.ndarray  # dropout probability after each repeat purchase
    nu: np.ndarray  # Gamma-Gamma rate: mean spend p / nu
    store_share: np.ndarray  # probability that a purchase is made in a store
    engagement: np.ndarray  # e-mail engagement: opens relative to a typical reader (0.5)
    service_need: np.ndarray  # service contacts per year
    advocacy: np.ndarray  # 0-1: NPS, survey scores, referrals
    innovator: np.ndarray  # sends ideas
    churn_risk: np.ndarray  # probability of leaving at a contract end (_churn_risk)


class Acquisition(NamedTuple):
    """Who the customers are and how they came: one row per customer, in ``created`` order."""

    ids: pa.Array  # customer_id
    created: np.ndarray  # the first purchase (days since start)
    first_store: np.ndarray  # the first purchase was made in a store
    channel: np.ndarray  # codes into _ACQ
    cost: np.ndarray  # acquisition cost, EUR
    region: np.ndarray  # codes into _REGIONS
    home_store: np.ndarray  # codes into _STORES (-1 = none)
    phone: np.ndarray  # codes into _PHONES (-1 = unknown)


class Emails(NamedTuple):
    """Each customer's e-mail address and its known issue (``Truth.emails``)."""

    address: pa.Array  # null = missing
    issue: np.ndarray  # codes into _ISSUES (-1 = clean)
    duplicate_of: np.ndarray  # the customer whose address a duplicate copies (-1 = none)
    bounces: np.ndarray  # a disposable address hard-bounces
    first_name: pa.Array  # the name the address is made of


def traits(world: World) -> Traits:
    """Latent traits: BG/NBD and Gamma-Gamma draws, store affinity, engagement, advocacy..."""
    rng, n = world.rng, world.n
    traits = Traits(lam=rng.gamma(_BGNBD["r"], 1 / _BGNBD["alpha"], n),
                  p_drop=rng.beta(_BGNBD["a"], _BGNBD["b"], n),
                  nu=rng.gamma(_GG["q"], 1 / _GG["v"], n),
                  store_share=rng.beta(2.0, 2.5, n), engagement=rng.beta(4.0, 4.0, n),
                  service_need=rng.gamma(0.8, 0.6, n), advocacy=rng.beta(5.0, 2.0, n),
                  innovator=rng.random(n) < 0.05, churn_risk=rng.beta(2.0, 5.0, n))
    return traits._replace(churn_risk=_churn_risk(traits))


def _churn_risk(t: Traits) -> np.ndarray:
    """The probability of leaving at a contract end, on the logit scale a personal part (the
    beta draw) and what shows in the data: low e-mail engagement (few opens) and service need
    (service contacts, complaints) raise it, advocacy (NPS and survey scores) lowers it.
    Mean about 0.3."""
    personal = np.log(t.churn_risk / (1 - t.churn_risk))  # beta(2, 5): mean logit about -1.1
    z = (0.5 * personal - 0.35 + 5.0 * (0.5 - t.engagement) + 3.0 * (0.71 - t.advocacy)
         + 1.5 * (np.minimum(t.service_need, 2.0) - 0.45))
    return 1 / (1 + np.exp(-z))


def acquisition(world: World, store_share) -> Acquisition:
    """created_at (= first purchase; seasonal, growing), first channel, where and how acquired."""
    rng, n = world.rng, world.n
    day = np.arange(int(world.days))
    doy = (world.start + pd.to_timedelta(day, unit="D")).day_of_year.to_numpy()
    weight = (1 + 0.3 * day / world.days) * (1 + 0.8 * np.exp(-(((doy - 335) / 18.0) ** 2)))
    created_day = np.sort(_choice(rng, weight, n))
    first_store = rng.random(n) < store_share
    tod = np.where(first_store, _tod_store(rng, n), _tod_web(rng, n))
    web = _choice(rng, [v[0] for v in _ACQ.values()], n)
    store = _choice(rng, [v[1] for v in _ACQ.values()], n)
    channel = np.where(first_store, store, web)
    cost = np.array([v[2] for v in _ACQ.values()])[channel] * rng.lognormal(-0.06, 0.35, n)
    return Acquisition(ids=_numbered(world, "C", np.arange(1, n + 1), _width(n)), created=created_day + tod,
                       first_store=first_store, channel=channel, cost=np.round(cost, 2),
                       **_places(rng, n, store_share))


def _places(rng, n, store_share) -> dict[str, np.ndarray]:
    """Region, home store (none for those who seldom visit a store) and phone model."""
    region = _choice(rng, [r[1] for r in _REGIONS], n)
    offset = np.cumsum([0] + [len(r[2]) for r in _REGIONS])
    count = np.diff(offset)
    pick = offset[region] + (rng.random(n) * count[region]).astype(int)
    phone = _choice(rng, _PHONE_W, n)
    return {"region": region, "home_store": np.where(store_share < 0.12, -1, pick),
            "phone": np.where(rng.random(n) < 0.15, -1, phone)}


def emails(world: World) -> Emails:
    """Clean addresses first.last+number@domain, then the known dirty ones (Truth.emails)."""
    rng, n = world.rng, world.n
    number = _numbered(world, "", np.arange(1, n + 1), 0)  # unique across parts too
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
    bounces = rng.random(n) < 0.6  # which disposable addresses hard-bounce
    duplicate_of = np.full(n, -1)
    duplicate_of[groups["duplicate"]] = sources
    return Emails(address=_dirty(rng, email, local, number, groups, sources), issue=issue,
                  duplicate_of=duplicate_of, bounces=bounces,
                  first_name=pc.utf8_capitalize(first))


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


#: Country calling code and mobile number pattern of each region's country (# = a digit).
_MOBILE = {"358": "+358 4# ### ####", "46": "+46 7# ### ## ##", "47": "+47 4## ## ###",
           "45": "+45 2# ## ## ##"}
_COUNTRY = ["358"] * 3 + ["46"] * 3 + ["47"] * 2 + ["45"] * 2  # by _REGIONS
_PHONE_SHARE = 0.8  # customers who gave a mobile number


def _mobiles(rng, region: np.ndarray) -> pa.Array:
    """A mobile number in the customer's country for the customers who gave one, else null."""
    country = np.asarray(_COUNTRY)[region]
    given = rng.random(len(region)) < _PHONE_SHARE
    numbers = np.full(len(region), None, dtype=object)
    for code, pattern in _MOBILE.items():
        rows = np.flatnonzero((country == code) & given)
        digits = iter(rng.integers(0, 10, (pattern.count("#"), len(rows))).astype(str))
        parts = [pa.array(next(digits)) if ch == "#" else pa.scalar(ch) for ch in pattern]
        numbers[rows] = pc.binary_join_element_wise(*parts, "").to_numpy(zero_copy_only=False)
    return pa.array(numbers, pa.string())


def customer_table(world: World, acquired: Acquisition, email: Emails) -> pd.DataFrame:
    """The customers table."""
    return pd.DataFrame({
        "customer_id": _str(acquired.ids), "created_at": _ts(world, acquired.created),
        "first_name": _str(email.first_name), "email": _str(email.address),
        "phone": _str(_mobiles(world.rng, acquired.region)),
        "phone_model": _cat(acquired.phone, _PHONES),
        "region": _cat(acquired.region, [r[0] for r in _REGIONS]),
        "home_store": _cat(acquired.home_store, _STORES),
        "acquisition_channel": _cat(acquired.channel, _ACQ),
        "acquisition_cost": acquired.cost})


def email_truth(customer_ids: pa.Array, email: Emails) -> pd.DataFrame:
    """``Truth.emails``: the dirty addresses, their issue and the address a duplicate copies."""
    dirty = np.flatnonzero(email.issue >= 0)
    return pd.DataFrame({
        "customer_id": _str(customer_ids, dirty), "email": _str(email.address, dirty),
        "issue": _cat(email.issue[dirty], _ISSUES),
        "duplicate_of": _str(customer_ids, email.duplicate_of[dirty])})
