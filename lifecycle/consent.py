"""Permission to contact: the one rule of a valid consent.

A consent row grants contact on one ``channel`` (and, optionally, for one ``purpose``) from
``granted_at``. It ends at ``expires_at`` (null: open-ended; a store's "permission for two hours"
is ``granted_at + 2 h``) or at ``revoked_at``, whichever comes first.

**The boundary rule.** A consent is valid over the half-open interval
``[granted_at, min(expires_at, revoked_at))``: valid at the instant it is granted, no longer
valid at the instant it expires or is revoked. A consent that expires at 10:00 is not valid at
10:00; one granted at 10:00 is.

Every module that needs to know (selection, export, the KPIs' list size) asks here.

**Contactable** (:func:`contactable`) adds the address: a valid consent is not enough to send.
E-mail needs an address of the form ``local@domain.tld`` that is not suppressed: not on the
suppression list, never hard-bounced, and no spam complaint or unsubscribe since the consent
was granted (a new grant after an unsubscribe is a new permission). SMS and phone need a
number of 7 to 15 digits (spaces, dashes, dots and brackets allowed, an optional leading +).
Each customer who fails gets the first reason that applies, in the order of :data:`REASONS`.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from lifecycle._frames import finish, lazy, require

__all__ = ["REASONS", "contactable", "contactable_in", "valid", "valid_during",
           "valid_in_periods"]

_COLUMNS = ["customer_id", "channel", "granted_at"]


def _ends(t: ir.Table) -> ir.Value:
    """When each consent stops being valid (null: never)."""
    ends = [t[c] for c in ("expires_at", "revoked_at") if c in t.columns]
    if not ends:
        return ibis.null(t.granted_at.type())
    if len(ends) == 1:
        return ends[0]
    return ibis.coalesce(ibis.least(*ends), *ends)


def _scoped(consents, channel: str, purpose: str | None) -> tuple[ir.Table, bool]:
    t, eager = lazy(consents)
    require(t, "consents", _COLUMNS + (["purpose"] if purpose is not None else []))
    keep = t.channel == channel
    if purpose is not None:
        keep &= t.purpose == purpose
    return t.filter(keep), eager


def _stamp(value, like: ir.Column) -> ir.Value:
    return ibis.literal(pd.Timestamp(value)).cast(like.type())


def valid(consents, *, channel: str, at, purpose: str | None = None):
    """The consent rows of ``channel`` (and ``purpose``) valid at the instant ``at``.

    Parameters
    ----------
    consents : pandas.DataFrame or ibis.Table
        Columns ``customer_id``, ``channel``, ``granted_at``; optional ``expires_at``,
        ``revoked_at`` (null = not ended), ``purpose``.
    channel : str
        E.g. ``"email"``, ``"sms"``.
    at : timestamp-like
        The instant to check (a date means its midnight).
    purpose : str, optional
        Only consents given for this purpose.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        The valid rows, all columns kept: ``granted_at <= at < min(expires_at, revoked_at)``.
        pandas in, pandas out; ibis in, the unexecuted expression out.

    Examples
    --------
    >>> c = pd.DataFrame({"customer_id": ["a", "b", "c"], "channel": "email",
    ...                   "granted_at": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 08:00",
    ...                                                 "2024-01-01 10:00"]),
    ...                   "expires_at": pd.to_datetime([None, "2024-01-01 10:00", None])})
    >>> valid(c, channel="email", at="2024-01-01 10:00").customer_id.tolist()
    ['a', 'c']
    """
    t, eager = _scoped(consents, channel, purpose)
    moment = _stamp(at, t.granted_at)
    end = _ends(t)
    return finish(t.filter((t.granted_at <= moment) & (end.isnull() | (end > moment))), eager)


#: Why a customer cannot be contacted, in the order they are checked.
REASONS = ("no valid consent", "no address", "invalid address", "on the suppression list",
           "hard bounce", "spam complaint", "unsubscribed")

#: The customers column that holds each channel's address (channels absent need none).
ADDRESSES = {"email": "email", "sms": "phone", "phone": "phone"}
_EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
_PHONE = r"^\+?[0-9]{7,15}$"
_PHONE_NOISE = r"[\s().-]"


def contactable(customers, consents, *, channel: str, at, purpose: str | None = None,
                messages=None, suppressions=None):
    """Every customer with the channel's address and why they cannot be contacted, if so.

    Parameters
    ----------
    customers : pandas.DataFrame or ibis.Table
        ``customer_id`` and the channel's address column (:data:`ADDRESSES`: ``email`` for
        e-mail, ``phone`` for SMS and phone; absent means nobody has an address).
    consents : pandas.DataFrame or ibis.Table
        As for :func:`valid`; checked at ``at`` for ``channel`` and ``purpose``.
    channel : str
        ``"email"``, ``"sms"``, ...
    at : timestamp-like
        The instant of the contact.
    purpose : str, optional
        Only consents given for this purpose count.
    messages : pandas.DataFrame or ibis.Table, optional
        ``customer_id``, ``channel``, ``sent_at`` and any of ``bounce``, ``complained_at``,
        ``unsubscribed_at``: the channel's messages before ``at`` suppress as described in
        the module docstring.
    suppressions : pandas.DataFrame or ibis.Table, optional
        ``address``: addresses never to contact.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        One row per customer: ``customer_id``, ``address`` (the e-mail lower-cased, the phone
        number without separators), ``granted_at`` (of the latest valid consent, null if none)
        and ``reason`` (one of :data:`REASONS`; null when the customer can be contacted).

    Examples
    --------
    >>> people = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
    ...                        "email": ["a@shop.se", "b@shop.se", "no-at-sign", None]})
    >>> grants = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "channel": "email",
    ...                        "granted_at": pd.Timestamp("2024-01-01")})
    >>> sent = pd.DataFrame({"customer_id": ["b"], "channel": "email",
    ...                      "sent_at": pd.Timestamp("2024-02-01"), "bounce": ["hard"]})
    >>> contactable(people, grants, channel="email", at="2024-03-01", messages=sent)[
    ...     ["customer_id", "reason"]]
      customer_id           reason
    0           a              NaN
    1           b      hard bounce
    2           c  invalid address
    3           d       no address
    """
    people, eager = lazy(customers)
    require(people, "customers", ["customer_id"])
    column = ADDRESSES.get(channel)
    address = _address(people, column)
    ok = valid(lazy(consents)[0], channel=channel, at=at, purpose=purpose)
    granted = ok.group_by("customer_id").aggregate(_granted=ok.granted_at.max())
    j = people.select("customer_id", address=address).left_join(granted, "customer_id")
    checks = [(j._granted.isnull(), REASONS[0])]
    if column is not None:
        pattern = _EMAIL if channel == "email" else _PHONE
        checks += [(j.address.isnull(), REASONS[1]), (~j.address.re_search(pattern), REASONS[2])]
    if suppressions is not None and column is not None:
        listed = lazy(suppressions)[0]
        require(listed, "suppressions", ["address"])
        listed = listed.select(_listed=_normalised(listed.address, channel)).distinct()
        j = j.left_join(listed, j.address == listed._listed)
        checks.append((j._listed.notnull(), REASONS[3]))
    if messages is not None:
        j, since = _message_suppressions(j, lazy(messages)[0], channel, at)
        checks += since
    out = j.select("customer_id", "address", granted_at=j._granted, reason=ibis.cases(
        *checks, else_=ibis.null("string")))
    return finish(out.order_by("customer_id"), eager)


def contactable_in(workspace, *, channel: str, at, purpose: str | None = None,
                   among: ir.Table | None = None) -> ir.Table:
    """:func:`contactable` on a workspace's ``customers`` and ``consents``, with its
    ``messages`` and ``suppressions`` where it has them (an ibis expression); ``among``: only
    the customers of this table's ``customer_id`` (their rows alone are read)."""
    present = workspace.tables()

    def read(name):
        if name not in present:
            return None
        t = workspace.table(name)
        if among is None or "customer_id" not in t.columns:
            return t
        ids = among.select(_among="customer_id")
        return t.semi_join(ids, t.customer_id == ids._among)
    return contactable(read("customers"), read("consents"), channel=channel, at=at,
                       purpose=purpose, messages=read("messages"),
                       suppressions=read("suppressions"))


def _address(people: ir.Table, column: str | None) -> ir.StringValue:
    if column is None or column not in people.columns:
        return ibis.null("string")
    return _normalised(people[column].cast("string"), "email" if column == "email" else "sms")


def _normalised(address: ir.StringValue, channel: str) -> ir.StringValue:
    text = address.cast("string").strip()
    text = text.lower() if channel == "email" else text.re_replace(_PHONE_NOISE, "")
    return (text == "").ifelse(ibis.null("string"), text)


def _message_suppressions(j: ir.Table, messages: ir.Table, channel: str, at):
    """Join each customer's last hard bounce, complaint and unsubscribe before ``at``."""
    require(messages, "messages", ["customer_id", "channel", "sent_at"])
    m = messages.filter(messages.channel == channel,
                        messages.sent_at < _stamp(at, messages.sent_at))
    events = {"_bounced": ("bounce", lambda c: (c == "hard").ifelse(m.sent_at, None)),
              "_complained": ("complained_at", lambda c: c),
              "_unsubscribed": ("unsubscribed_at", lambda c: c)}
    present = {name: when(m[col]).max() for name, (col, when) in events.items()
               if col in m.columns}
    if not present:
        return j, []
    last = m.group_by(_m_customer=m.customer_id).aggregate(**present)
    j = j.left_join(last, j.customer_id == last._m_customer)
    checks = []
    for name, reason in (("_bounced", REASONS[4]), ("_complained", REASONS[5]),
                         ("_unsubscribed", REASONS[6])):
        if name in present:
            since = j[name].notnull() if name == "_bounced" else j[name] >= j._granted
            checks.append((since.fill_null(False), reason))
    return j, checks


def valid_during(consents, *, channel: str, start, end, purpose: str | None = None):
    """The consent rows of ``channel`` valid at some instant of ``[start, end)``.

    Parameters
    ----------
    consents : pandas.DataFrame or ibis.Table
        As for :func:`valid`.
    channel : str
        E.g. ``"email"``.
    start, end : timestamp-like
        The period, half-open like the consents themselves.
    purpose : str, optional
        Only consents given for this purpose.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        The rows whose validity interval overlaps the period: ``granted_at < end`` and
        ``min(expires_at, revoked_at) > start``.

    Examples
    --------
    >>> c = pd.DataFrame({"customer_id": ["a", "b"], "channel": "email",
    ...                   "granted_at": pd.to_datetime(["2024-01-01", "2024-02-01"]),
    ...                   "revoked_at": pd.to_datetime(["2024-01-10", None])})
    >>> valid_during(c, channel="email", start="2024-01-05", end="2024-02-01").customer_id.tolist()
    ['a']
    """
    t, eager = _scoped(consents, channel, purpose)
    period = {"period_start": _stamp(start, t.granted_at), "period_end": _stamp(end, t.granted_at)}
    return finish(t.filter(_overlaps(t, period)), eager)


def valid_in_periods(consents, periods: ir.Table, *, channel: str,
                     purpose: str | None = None) -> ir.Table:
    """Each period joined with the consent rows valid at some instant of it.

    ``periods`` has ``period_start`` and ``period_end`` (half-open); the result has the periods'
    columns and the consents'. The rule is :func:`valid_during`'s, as one range join.
    """
    t, _ = _scoped(consents, channel, purpose)
    return t.join(periods, _overlaps(t, periods))


def _overlaps(t: ir.Table, period) -> ir.BooleanValue:
    """``[granted_at, end)`` and the period share an instant: both start before the other
    ends (a consent revoked at the instant it was granted was never valid)."""
    end = _ends(t)
    return (t.granted_at < period["period_end"]) & (
        end.isnull() | ((end > period["period_start"]) & (end > t.granted_at)))
