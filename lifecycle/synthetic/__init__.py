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

from dataclasses import dataclass, field

import pandas as pd

from . import campaigns, consent, customers, messages, purchases, service, touches, web
from ._common import World, _cat, _str, _ts, for_step, make_world
from .customers import _BGNBD, _GG, _ISSUES
from .customers import _DISPOSABLE as _DISPOSABLE  # the tests check the dirty e-mails by them
from .customers import _EMAIL_ISSUES as _EMAIL_ISSUES

__all__ = ["TABLE_NAMES", "Demo", "Truth", "generate"]

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
        The seed: the same seed gives identical tables. Each step draws from a random stream
        of its own, derived from the seed and the step's name.
    progress : bool
        Show a tqdm progress bar over the generation steps.

    Returns
    -------
    Demo
        ``tables`` (customers, transactions, products, events, touchpoints, messages, consents,
        feedback, subscriptions, contact_history, and the campaign tables of
        :mod:`lifecycle.synthetic.campaigns`), ``truth`` (:class:`Truth`) and ``as_of``.

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
    world = make_world(n_customers, as_of, years, random_state)
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
        products = step(purchases.catalogue, world)
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
        tables["touchpoints"], channels, journeys = step(touches.touchpoints, world, bought,
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
        tables.update(campaigns.action_tables(world.as_of, len(tables["customers"])))
        truth = step(
            Truth, bgnbd={**_BGNBD, "time_unit": "W"}, gamma_gamma=dict(_GG),
            customers=_customer_truth(world, latent, acquired, bought, groups, email.issue,
                                      devices.count, churned, will_churn),
            channels=channels, ab_tests=messages.ab_tests(),
            control=purchases.control_truth(world, bought, latent, created, groups),
            intent=web.intent_truth(world, bought, leads, ids, devices),
            emails=customers.email_truth(ids, email),
            shared_devices=web.shared_devices_truth(devices, ids), returns=returns,
            journeys=journeys)
    return Demo(tables={k: tables[k] for k in TABLE_NAMES}, truth=truth, as_of=world.as_of)


_N_STEPS = 21  # the step(...) calls of generate, for the progress bar


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
