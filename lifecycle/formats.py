"""How numbers read on a page: money in the workspace currency, counts, percentages.

The text helpers format one value for a card or a table; :func:`money_d3` and
:func:`money_affixes` give plotly the same money format for axes and hover texts, so a card
and the chart next to it read alike.
"""

from __future__ import annotations

import math

__all__ = ["SYMBOLS", "count", "money", "money_affixes", "money_d3", "percent"]

#: Currency codes written as a symbol before the amount; any other code follows it ("1,200 SEK").
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


def money_affixes(currency: str | None) -> tuple[str, str]:
    """The (prefix, suffix) that marks an amount in ``currency``.

    Examples
    --------
    >>> money_affixes("EUR"), money_affixes("SEK"), money_affixes(None)
    (('€', ''), ('', ' SEK'), ('', ''))
    """
    if not currency:
        return "", ""
    symbol = SYMBOLS.get(currency.upper())
    return (symbol, "") if symbol else ("", f" {currency.upper()}")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value, currency: str | None = None, *, decimals: int = 0) -> str:
    """An amount with thousands separators and its currency.

    Examples
    --------
    >>> money(16632876.4, "EUR"), money(-853.5, "EUR", decimals=2), money(1200, "SEK")
    ('€16,632,876', '-€853.50', '1,200 SEK')
    >>> money(float("nan"), "EUR")
    '–'
    """
    if _missing(value):
        return "–"
    prefix, suffix = money_affixes(currency)
    sign = "-" if value < 0 else ""
    return f"{sign}{prefix}{abs(value):,.{decimals}f}{suffix}"


def count(value) -> str:
    """A whole number with thousands separators.

    Examples
    --------
    >>> count(122024), count(3000.0)
    ('122,024', '3,000')
    """
    return "–" if _missing(value) else f"{round(value):,}"


def percent(share, *, decimals: int = 1) -> str:
    """A share (0.25) as a percentage ("25.0 %").

    Examples
    --------
    >>> percent(0.5834), percent(0.5834, decimals=0), percent(None)
    ('58.3 %', '58 %', '–')
    """
    return "–" if _missing(share) else f"{share * 100:.{decimals}f} %"


def money_d3(currency: str | None, *, decimals: int = 0) -> tuple[str, str, str]:
    """(prefix, d3 number format, suffix) for a plotly hover template or axis.

    Examples
    --------
    >>> money_d3("EUR")
    ('€', ',.0f', '')
    """
    prefix, suffix = money_affixes(currency)
    return prefix, f",.{decimals}f", suffix
