"""Bundled real data: the CDNOW transactions that the ``lifetimes`` package ships.

CDNOW is the classic data set of the lifetime-value literature (Fader, Hardie and Lee 2005): every
purchase of the 23,570 customers who made their first purchase at the CDNOW music store in the
first quarter of 1997, followed until the end of June 1998. ``CDNOW_sample.txt`` is the 1/10
sample of 2,357 customers on which the published BG/NBD and Gamma-Gamma parameters were estimated.

The files are read from the ``lifetimes`` installation without importing ``lifetimes`` (importing
it sets a global warnings filter, and ``lifetimes.datasets`` needs ``pkg_resources``): the package
folder is found with :func:`importlib.util.find_spec`, which does not execute the package.

File formats (whitespace separated, one row per transaction):

- ``CDNOW_master.txt``: a header line, then ``customer_id date number_of_cds dollar_value``.
- ``CDNOW_sample.txt``: no header; ``master_id sample_id date number_of_cds dollar_value``.
  The sample numbers its customers 1 to 2,357 (the ids of the published per-customer summaries
  and of ``lifetimes``' ``cdnow_customers_summary.csv``); the extra master id is dropped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

__all__ = ["load_cdnow"]

_SAMPLE = ("CDNOW_sample.txt", None, ["master_id", "customer_id", "date", "quantity", "amount"])
_MASTER = ("CDNOW_master.txt", 0, ["customer_id", "date", "quantity", "amount"])


def _lifetimes_datasets() -> Path:
    """The ``datasets`` folder of the installed ``lifetimes`` package, without importing it."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "load_cdnow reads the CDNOW files bundled with the 'lifetimes' package; "
            "install it (pip install lifetimes==0.11.3)")
    return Path(spec.origin).parent / "datasets"


def load_cdnow(sample: bool = True) -> pd.DataFrame:
    """CDNOW transactions: one row per purchase of a customer who first bought in Q1 1997.

    Parameters
    ----------
    sample : bool
        ``True`` (default) for the 2,357-customer sample on which the published BG/NBD and
        Gamma-Gamma parameters were estimated (6,919 rows); ``False`` for all 23,570 customers
        (69,659 rows).

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (str, the file's number without leading zeros), ``ts`` (datetime64, a
        date: the files have no time of day), ``quantity`` (int, CDs bought) and ``amount``
        (float, dollars), ordered by customer and date. Transactions run from 1997-01-01 to
        1998-06-30; a few purchases have amount 0.

    Examples
    --------
    >>> tx = load_cdnow()
    >>> tx.head(3)
      customer_id         ts  quantity  amount
    0           1 1997-01-01         2   29.33
    1           1 1997-01-18         2   29.73
    2           1 1997-08-02         1   14.96
    >>> tx["customer_id"].nunique()
    2357
    """
    name, header, names = _SAMPLE if sample else _MASTER
    raw = pd.read_csv(_lifetimes_datasets() / name, sep=r"\s+", header=header, names=names,
                      dtype={"master_id": str, "customer_id": str, "date": str})
    out = pd.DataFrame({
        "customer_id": raw["customer_id"].str.lstrip("0"),
        "ts": pd.to_datetime(raw["date"], format="%Y%m%d"),
        "quantity": raw["quantity"].astype("int64"),
        "amount": raw["amount"].astype("float64"),
    })
    order = pd.DataFrame({"id": raw["customer_id"].astype("int64"), "ts": out["ts"]})
    return out.loc[order.sort_values(["id", "ts"], kind="stable").index].reset_index(drop=True)
