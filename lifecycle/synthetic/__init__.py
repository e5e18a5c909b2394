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
  30 % of recipients read mail in an app that prefetches every message on delivery: their
  recorded opens are machine opens (``messages.machine_open``), and the true open rates hold for
  the others;
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

Each step draws from a random stream of its own, derived from ``random_state`` and the step's
name: the same seed gives the same tables, and changing one domain leaves the others' as they
were. All work is vectorised numpy. Memory: ids with many values (customer, transaction,
message, anonymous, session, person) are pandas ``str`` (Arrow) columns; ids with few values
(product, campaign, cell, run, offer) and labels are categoricals of strings; timestamps are
naive UTC ``datetime64[us]``.

The package has one module per domain, each step a function from its inputs to its results:
``customers`` (traits, acquisition, e-mail addresses), ``consent``, ``purchases`` (catalogue,
purchases, transactions and returns), ``web`` (devices, sessions, events), ``messages`` (the
welcome program and the newsletter), ``touches`` (marketing journeys and channel truth) and
``service`` (feedback, phone subscriptions); :func:`generate` feeds one step's results to the
next.
"""

from __future__ import annotations

import json
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import campaigns, consent, customers, messages, purchases, service, touches, web
from ._common import World, _cat, _str, _ts, for_step, make_world
from .customers import _BGNBD, _GG, _ISSUES
from .customers import _DISPOSABLE as _DISPOSABLE  # the tests check the dirty e-mails by them
from .customers import _EMAIL_ISSUES as _EMAIL_ISSUES

__all__ = ["PART_SIZE", "TABLE_NAMES", "Demo", "Part", "Truth", "generate", "join", "n_parts",
           "part", "truth", "write_parts"]

TABLE_NAMES = ("customers", "transactions", "products", "events", "touchpoints", "messages",
               "consents", "feedback", "subscriptions", "contact_history", "campaigns",
               "cells", "offers", "constraints", "contact_policies")


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
        ``advocacy`` (0-1), ``innovator``, ``churn_risk`` (the probability of leaving at a
        contract end: the learnable signal of a churn model, it rises as ``email_engagement``
        falls, seen in e-mail opens, and with ``service_need``, seen as service contacts and
        complaints, and falls with ``advocacy``, seen in NPS and survey scores; the purchase
        signal is ``lam`` and ``p_drop``); ``welcome_group``
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
        The rates are those of recipients whose opens are seen (not machine opens), per
        delivered message; ``click_rate`` holds for every recipient.
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


CURRENCY = Demo.currency  # the demo retailer's books


AS_OF = pd.Timestamp("2026-10-31")  # the demo's default as-of date
PART_SIZE = 100_000  # customers per part: a larger demo is made in parts (see :func:`part`)
TRUTH_FRAMES = ("customers", "intent", "emails", "shared_devices", "returns", "journeys")


@dataclass(frozen=True)
class Part:
    """One part of a demo made in parts (:func:`part`): its rows of every table and their truth.

    ``tables`` has the canonical tables' rows of the part's customers (the products and the
    campaign tables in part 0 only); ``truth`` the :class:`Truth` frames of those customers,
    and the pieces that :func:`join` adds up: ``patterns`` (the journeys' touch patterns) and
    ``control`` (the welcome control group's figures).
    """

    tables: dict[str, pd.DataFrame]
    truth: dict
    as_of: pd.Timestamp


def generate(n_customers: int = 50_000, *, as_of=AS_OF, years: float = 2.0,
             random_state: int = 0, progress: bool = False, part_size: int = PART_SIZE
             ) -> Demo:
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
        The seed: the same seed gives identical tables. Each step draws from a random stream
        of its own, derived from the seed and the step's name.
    progress : bool
        Show a tqdm progress bar over the generation steps.
    part_size : int
        Customers per part, at most 999,999 (see Notes).

    Returns
    -------
    Demo
        ``tables`` (customers, transactions, products, events, touchpoints, messages, consents,
        feedback, subscriptions, contact_history, and the campaign tables of
        :mod:`lifecycle.synthetic.campaigns`), ``truth`` (:class:`Truth`) and ``as_of``.

    Notes
    -----
    More than ``part_size`` customers are made in parts of at most that many, each with random
    streams of its own, and joined (:func:`part`, :func:`join`); up to that size the demo is
    one part, the same for a given seed as before parts existed. ``Workspace.demo`` writes a
    large demo part by part instead of holding it in memory.

    Examples
    --------
    >>> demo = generate(200, random_state=1)
    >>> demo.tables["customers"].shape
    (200, 10)
    >>> list(demo.tables) == list(TABLE_NAMES)
    True
    >>> bool((demo.tables["transactions"].ts < demo.as_of).all())
    True
    """
    return join([part(k, n_customers, as_of=as_of, years=years, random_state=random_state,
                      progress=progress, part_size=part_size)
                 for k in range(n_parts(n_customers, part_size))])


def n_parts(n_customers: int, part_size: int = PART_SIZE) -> int:
    """How many parts a demo of ``n_customers`` is made in."""
    return max(1, -(-int(n_customers) // part_size))


def part(k: int, n_customers: int, *, as_of=AS_OF, years: float = 2.0,
         random_state: int = 0, progress: bool = False, part_size: int = PART_SIZE) -> Part:
    """Part ``k`` of the demo of ``n_customers`` (:func:`generate`'s parameters; parts of
    at most ``part_size`` customers, at most 999,999).

    The customers are split into :func:`n_parts` parts of nearly equal size. Part ``k`` draws
    from streams of its own (derived from the seed, the step and ``k``; part 0 from those of a
    demo in one part) and numbers its ids after the part (``C3000017``: customer 17 of part 3),
    so the parts can be made apart, in any order, and never share an id. Every part has the
    same products; the products and the campaign tables come with part 0.

    Examples
    --------
    >>> second = part(1, 300, random_state=1, part_size=100)  # the second 100 of 300
    >>> second.tables["customers"].customer_id.iloc[0]  # part 1, customer 1
    'C1000001'
    >>> "products" in second.tables  # part 0 has them
    False
    """
    count = n_parts(n_customers, part_size)
    if not 0 < part_size < 10**6:
        raise ValueError(f"part_size must be 1 to 999,999 customers, got {part_size}")
    if not 0 <= k < count:
        raise ValueError(f"a demo of {n_customers} customers has parts 0 to {count - 1}, not {k}")
    size = int(n_customers) // count + (k < int(n_customers) % count)
    world = make_world(size, as_of, years, random_state)
    world = world._replace(part=k, part_digits=len(str(count - 1)) if count > 1 else 0)
    tables, truth = _part_tables(world, progress)
    if k == 0:
        tables.update(campaigns.action_tables(world.as_of, int(n_customers)))
    else:
        del tables["products"]
    return Part(tables=tables, truth=truth, as_of=world.as_of)


def write_parts(n_customers: int, folder, *, as_of=AS_OF, years: float = 2.0,
                random_state: int = 0, workers: int = 1, part_size: int = PART_SIZE
                ) -> Iterator[tuple[int, dict]]:
    """Make every part of a demo and write it as Parquet files into ``folder``, yielding
    ``(k, pieces)`` as each part is complete: its files are ``<table>/<k>.parquet`` and
    ``_truth_<frame>/<k>.parquet``, ``pieces`` its small truth pieces (``patterns``,
    ``control``) for :func:`truth`.

    With ``workers`` above 1 the parts are made that many at a time, each worker a Python
    process of its own (``python -m lifecycle.synthetic``: a part takes one core), while the
    caller takes in the parts done; they then come in the order they finish.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    options = {"n_customers": int(n_customers), "as_of": str(as_of), "years": years,
               "random_state": random_state, "part_size": part_size}
    count = n_parts(n_customers, part_size)
    if workers <= 1:
        for k in range(count):
            yield k, _write_part(folder, options, k)
        return
    done: queue.Queue = queue.Queue()
    jobs = []
    for w in range(min(workers, count)):
        log = open(folder / f"_worker_{w}.log", "w+")  # closed below
        job = subprocess.Popen([sys.executable, "-m", "lifecycle.synthetic", str(folder),
                                json.dumps(options), *map(str, range(w, count, workers))],
                               stdout=subprocess.PIPE, stderr=log, text=True)
        threading.Thread(target=_report_parts, args=(job, done), daemon=True).start()
        jobs.append((job, log))
    try:
        for _ in range(count):
            k = done.get()
            if k is None:  # a worker ended before its parts were done
                break
            yield k, pickle.loads((folder / f"_pieces_{k}.pickle").read_bytes())
    finally:
        for job, log in jobs:
            stopped = job.poll() is None  # the caller stopped early: not the worker's fault
            if stopped:
                job.kill()
            job.wait()
            log.seek(0)
            error = log.read()
            log.close()
            if job.returncode and not stopped:  # an error, or killed from outside (memory)
                raise RuntimeError(f"a demo worker failed (exit {job.returncode}):\n"
                                   f"{error[-2000:]}")


def _report_parts(job, done: queue.Queue) -> None:
    """Pass on each part number a worker prints when the part is written; None at its end
    when it ended with an error."""
    for line in job.stdout:
        done.put(int(line))
    if job.wait():
        done.put(None)


def _write_part(folder: Path, options: dict, k: int) -> dict:
    """Make part ``k`` and write it (:func:`write_parts`); return its truth pieces."""
    options = dict(options)
    made = part(k, options.pop("n_customers"), **options)
    frames = {**made.tables, **{f"_truth_{name}": made.truth[name] for name in TRUTH_FRAMES}}
    for name, frame in frames.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / name / f"{k}.parquet", index=False)
    pieces = {"patterns": made.truth["patterns"], "control": made.truth["control"]}
    (folder / f"_pieces_{k}.pickle").write_bytes(pickle.dumps(pieces))
    return pieces


def join(parts: list[Part]) -> Demo:
    """The demo of its parts (:func:`part`), in memory."""
    first = parts[0]
    if len(parts) == 1:
        tables = first.tables
    else:
        tables = {name: pd.concat([p.tables[name] for p in parts if name in p.tables],
                                  ignore_index=True) for name in TABLE_NAMES}
    return Demo(tables={k: tables[k] for k in TABLE_NAMES},
                truth=truth([p.truth for p in parts]), as_of=first.as_of)


def truth(pieces: list[dict], frames: dict | None = None) -> Truth:
    """The :class:`Truth` of a demo from its parts' ``truth`` pieces; ``frames``, when given,
    replaces the per-customer frames (a workspace keeps those as tables)."""
    if frames is None:
        frames = {name: _concat_frames([p[name] for p in pieces]) for name in TRUTH_FRAMES}
    return Truth(bgnbd={**_BGNBD, "time_unit": "W"}, gamma_gamma=dict(_GG),
                 channels=touches.channel_truth(pd.concat([p["patterns"] for p in pieces])),
                 ab_tests=messages.ab_tests(),
                 control=purchases.combine_control([p["control"] for p in pieces]), **frames)


def _concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _part_tables(world: World, progress: bool) -> tuple[dict, dict]:
    """The tables of one part and its truth pieces: every step, each one's results fed to
    the next."""
    from tqdm.auto import tqdm

    tables = {}
    with tqdm(total=_N_STEPS, desc="demo data", disable=not progress) as bar:
        def step(make, *args, **kwargs):
            if args and args[0] is world:  # each step draws from a stream of its own
                args = (for_step(world, make), *args[1:])
            out = make(*args, **kwargs)
            bar.update()
            return out

        latent = step(customers.traits, world)
        acquired = step(customers.acquisition, world, latent.store_share)
        created, ids = acquired.created, acquired.ids
        email = step(customers.emails, world)
        tables["customers"] = step(customers.customer_table, world, acquired, email)
        consents = step(consent.consent_plan, world, created, email.address)
        email_consent = consents["email"]
        groups = step(messages.welcome_groups, world, created, email_consent)
        # every part has the same catalogue: drawn from the stream of part 0
        products = step(purchases.catalogue,
                        for_step(world._replace(part=0), purchases.catalogue))
        tables["products"] = step(purchases.product_table, products)
        bought = step(purchases.purchase_history, world, latent, acquired, groups, products.price)
        devices = step(web.devices, world, created, acquired.first_store)
        browsing, leads = step(web.sessions, world, bought, products.category, devices, created,
                               bought.dropout_at)
        tables["events"] = step(web.events, world, browsing, devices, ids)
        del browsing  # the largest intermediate: not kept while the rest is made
        welcome = step(messages.welcome_sends, world, groups, created, email_consent)
        tables["messages"], unsubscribed = step(messages.email_messages, world, welcome, groups,
                                                created, email_consent, email, latent.engagement,
                                                ids)
        tables["touchpoints"], patterns, journeys = step(touches.touchpoints, world, bought,
                                                         created, ids, devices)
        tables["transactions"], returns = step(purchases.transactions, world, bought, products,
                                               ids)
        tables["feedback"] = step(service.feedback, world, latent, created,
                                  email_consent.granted, email.issue, ids)
        tables["subscriptions"], churned, will_churn = step(
            service.subscriptions, world, acquired.phone, created, latent.churn_risk, ids)
        tables["consents"] = step(consent.consent_table, world, consents, unsubscribed, bought,
                                  ids)
        tables["contact_history"] = step(messages.contact_history, world, welcome, groups,
                                         created, ids)
        pieces = step(dict,
            customers=_customer_truth(world, latent, acquired, bought, groups, email.issue,
                                      devices.count, churned, will_churn),
            patterns=patterns,
            control=purchases.control_truth(world, bought, latent, created, groups),
            intent=web.intent_truth(world, bought, leads, ids, devices),
            emails=customers.email_truth(ids, email),
            shared_devices=web.shared_devices_truth(devices, ids), returns=returns,
            journeys=journeys)
    return tables, pieces


_N_STEPS = 21  # the step(...) calls of _part_tables, for the progress bar


def _customer_truth(world: World, latent: customers.Traits, acquired: customers.Acquisition,
                    bought: purchases.Purchases, groups, email_issue, n_devices, churned,
                    will_churn) -> pd.DataFrame:
    """``Truth.customers``: each customer's latent traits and what the process made of them."""
    return pd.DataFrame({
        "customer_id": _str(acquired.ids), "lam": latent.lam, "p_drop": latent.p_drop,
        "dropout_at": _ts(world, bought.dropout_at), "nu": latent.nu,
        "spend_mean": _GG["p"] / latent.nu, "n_repeat": bought.n_repeat,
        "T_weeks": (world.days - acquired.created) / 7, "store_share": latent.store_share,
        "email_engagement": latent.engagement, "service_need": latent.service_need,
        "advocacy": latent.advocacy, "innovator": latent.innovator,
        "churn_risk": latent.churn_risk, "welcome_group": _cat(groups, ["treated", "control"]),
        "email_issue": _cat(email_issue, _ISSUES), "n_devices": n_devices,
        "churned": churned, "will_churn": will_churn})
