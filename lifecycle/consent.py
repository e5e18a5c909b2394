"""Permission to contact: the one rule of a valid consent.

A consent row grants contact on one ``channel`` (and, optionally, for one ``purpose``) from
``granted_at``. It ends at ``expires_at`` (null: open-ended; a store's "permission for two hours"
is ``granted_at + 2 h``) or at ``revoked_at``, whichever comes first.

**The boundary rule.** A consent is valid over the half-open interval
``[granted_at, min(expires_at, revoked_at))``: valid at the instant it is granted, no longer
valid at the instant it expires or is revoked. A consent that expires at 10:00 is not valid at
10:00; one granted at 10:00 is.

Every module that needs to know (selection, export, the KPIs' list size) asks here.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from lifecycle._frames import finish, lazy, require

__all__ = ["valid", "valid_during", "valid_in_periods"]

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
