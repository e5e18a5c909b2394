"""Campaigns as data: campaign groups, campaigns, cells, offers, limits and contact policies.

A **campaign** belongs to a campaign group (a program, a season) and is made of **cells**:
communication packages of one channel and, optionally, one offer, with a cost and an expected
value per contact, a priority, a mandatory flag, limits (``max_count``, ``max_cost``), flags
that exempt it from the limits or from the contact policies, and the **control-group share**
held out of it. **Constraints** limit a cell, a campaign or a group by count and cost; a
**contact policy** caps how many contacts a customer gets (on one channel or any) within a
number of days. All of them are workspace tables validated like the canonical ones
(:data:`lifecycle.schema.TABLES`), loaded from frames or CSV files with
:meth:`lifecycle.Workspace.load`, or all at once, cross-checked, with :func:`define`.

**The control group** of a cell is drawn by hashing, not by a random call: a customer is in
it when the MD5 digest of ``"<campaign_id>:<customer_id>"`` read as a fraction in [0, 1) (its
first eight hex digits over 16^8) is below the cell's ``control_share``. The same customer is
held out of the same campaign on every run, on every backend and in any program that computes
it again (``hashlib.md5`` gives the same answer), and the groups of two campaigns are drawn
independently of each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

from lifecycle._frames import lazy, require
from lifecycle.schema import DataError, Problem

__all__ = ["ACTION_TABLES", "check", "control_threshold", "define", "in_control", "limits",
           "split_control"]

#: The campaign-side tables, in the order :func:`define` loads them.
ACTION_TABLES = ("offers", "campaigns", "cells", "constraints", "contact_policies",
                 "suppressions")
_HEX_DIGITS = 8


def control_threshold(share: float) -> str:
    """The hex prefix below which a digest falls in a control group of ``share``.

    Examples
    --------
    >>> control_threshold(0.1), control_threshold(0.0), control_threshold(0.5)
    ('1999999a', '00000000', '80000000')
    """
    if not (isinstance(share, int | float) and math.isfinite(share) and 0 <= share < 1):
        raise ValueError(f"control share must be in [0, 1), got {share!r}")
    return f"{math.ceil(share * 16 ** _HEX_DIGITS):0{_HEX_DIGITS}x}"


def in_control(customer_id: ir.Value, campaign_id: ir.Value | str,
               threshold: ir.StringValue | str) -> ir.BooleanValue:
    """Whether each customer is in the campaign's control group (see the module docstring).

    ``threshold`` is :func:`control_threshold` of the share (a column of them, or one). The
    comparison is on fixed-length lower-case hex text, so it orders as the numbers do.

    Examples
    --------
    >>> import hashlib
    >>> ids = [f"c{i}" for i in range(1000)]
    >>> t = ibis.memtable({"customer_id": ids})
    >>> held = t.filter(in_control(t.customer_id, "welcome", control_threshold(0.2)))
    >>> held = sorted(held.customer_id.execute())
    >>> len(held)
    207
    >>> held == sorted(c for c in ids if hashlib.md5(f"welcome:{c}".encode()).digest()[:4]
    ...                < bytes.fromhex(control_threshold(0.2)))
    True
    """
    campaign = ibis.literal(campaign_id) if isinstance(campaign_id, str) else campaign_id
    digest = (campaign.cast("string") + ":" + customer_id.cast("string")).hexdigest("md5")
    return digest.substr(0, _HEX_DIGITS) < threshold


def split_control(selection, cells):
    """The selection with ``control``: whether each row is held out of its cell.

    ``selection`` has ``customer_id`` and ``cell_id``; ``cells`` has ``cell_id``,
    ``campaign_id`` and ``control_share`` (null or 0: nobody held out). The control group is
    drawn per campaign (:func:`in_control`), so a customer held out of one cell of a campaign
    is held out of its other cells with the same share too. pandas in, pandas out; ibis in,
    ibis out.

    Examples
    --------
    >>> cells = pd.DataFrame({"cell_id": ["w1", "w2"], "campaign_id": "welcome",
    ...                       "control_share": [0.5, None]})
    >>> sel = pd.DataFrame({"customer_id": [f"c{i}" for i in range(6)], "cell_id": "w1"})
    >>> split_control(sel, cells).control.tolist()
    [True, True, True, True, False, False]
    """
    eager = isinstance(selection, pd.DataFrame)
    t, _ = lazy(selection.assign(_pos=range(len(selection))) if eager else selection)
    require(t, "selection", ["customer_id", "cell_id"])
    c, _ = lazy(cells)
    require(c, "cells", ["cell_id", "campaign_id", "control_share"])
    shares = c.select("cell_id", "campaign_id", "control_share").execute()
    bad = shares.control_share.notna() & ~shares.control_share.between(0, 1, inclusive="left")
    if bad.any():
        raise DataError([Problem("cells", "control_share", "must be in [0, 1)", int(bad.sum()),
                                 shares[bad].head(5))])
    thresholds = shares.assign(_threshold=[control_threshold(float(s)) if pd.notna(s) else
                                           control_threshold(0.0) for s in shares.control_share])
    key = ibis.memtable(thresholds[["cell_id", "campaign_id", "_threshold"]].rename(
        columns={"campaign_id": "_campaign"}))
    j = t.left_join(key, "cell_id")
    missing = j.filter(j._campaign.isnull())
    if n := missing.count().execute():
        raise DataError([Problem("selection", "cell_id", "cell not in the cells table", n,
                                 missing.select(*(c for c in t.columns if c != "_pos")
                                                ).limit(5).execute())])
    out = j.select(*t.columns, control=in_control(j.customer_id, j._campaign, j._threshold))
    if eager:  # back in the frame's order
        return out.order_by("_pos").drop("_pos").execute().reset_index(drop=True)
    return out


def check(tables: Mapping[str, object]) -> None:
    """Cross-table rules of the action tables: every cell's campaign and offer exist, and every
    constraint names a cell, campaign or group that exists.

    ``tables`` maps names of :data:`ACTION_TABLES` to frames or ibis tables (those absent are
    not checked). Raises :class:`~lifecycle.schema.DataError` naming the table, the column and
    example rows.

    Examples
    --------
    >>> check({"campaigns": pd.DataFrame({"campaign_id": ["welcome"], "group_id": ["life"]}),
    ...        "cells": pd.DataFrame({"cell_id": ["w1"], "campaign_id": ["welcom"],
    ...                               "channel": ["email"]})})
    Traceback (most recent call last):
    ...
    lifecycle.schema.DataError: table 'cells', column 'campaign_id': campaign not in the campaigns table (1 rows)...
    """
    t = {name: lazy(table)[0] for name, table in tables.items() if table is not None}
    refs = [("cells", "campaign_id", None, "campaigns", "campaign_id", "campaign"),
            ("cells", "offer_id", None, "offers", "offer_id", "offer"),
            ("constraints", "id", "cell", "cells", "cell_id", "cell"),
            ("constraints", "id", "campaign", "campaigns", "campaign_id", "campaign"),
            ("constraints", "id", "group", "campaigns", "group_id", "group")]
    problems = [_orphans(t[table], column, level, t[target].select(_known=key), target, what,
                         table)
                for table, column, level, target, key, what in refs
                if table in t and target in t and column in t[table].columns]
    if any(problems):
        raise DataError([p for p in problems if p is not None])


def _orphans(rows: ir.Table, column: str, level: str | None, known: ir.Table, target: str,
             what: str, table: str) -> Problem | None:
    """The rows of ``rows`` whose ``column`` names nothing in ``known._known``."""
    named = rows.filter(rows[column].notnull(), *([rows.level == level] if level else []))
    orphans = named.anti_join(known, named[column] == known._known)
    if n := orphans.count().execute():
        return Problem(table, column, f"{what} not in the {target} table", n,
                       orphans.limit(5).execute())
    return None


def define(workspace, **tables) -> pd.DataFrame:
    """Load action tables into the workspace in one write, after :func:`check`.

    Keywords are :data:`ACTION_TABLES` names; values are frames, ibis tables or CSV / Parquet
    paths. Tables not given keep their current version (and are checked against the new ones).
    Returns the repairs made, as :meth:`~lifecycle.Workspace.load` does.
    """
    unknown = sorted(set(tables) - set(ACTION_TABLES))
    if unknown:
        raise ValueError(f"not an action table: {', '.join(unknown)}; "
                         f"action tables: {', '.join(ACTION_TABLES)}")
    repairs = []
    with workspace.writing() as con:  # the new versions are read back through the write
        for name in ACTION_TABLES:
            if name in tables:
                repairs.append(workspace.load(name, tables[name]))
        present = con.list_tables()
        check({name: con.table(name) for name in ACTION_TABLES if name in present})
    return (pd.concat(repairs, ignore_index=True) if repairs else
            pd.DataFrame(columns=["table", "column", "repair", "rows"]))


def limits(cells, constraints=None) -> pd.DataFrame:
    """Every count and cost limit as ``level, id, max_count, max_cost`` rows: the cells' own
    ``max_count`` / ``max_cost`` and the constraints table's; where both limit one cell, the
    smaller wins.

    Examples
    --------
    >>> cells = pd.DataFrame({"cell_id": ["w1", "w2"], "campaign_id": "welcome",
    ...                       "max_count": [100.0, None], "max_cost": [None, None]})
    >>> limits(cells, pd.DataFrame({"level": ["cell", "campaign"], "id": ["w1", "welcome"],
    ...                             "max_count": [80.0, None], "max_cost": [None, 500.0]}))
          level       id  max_count  max_cost
    0  campaign  welcome        NaN     500.0
    1      cell       w1       80.0       NaN
    """
    c, _ = lazy(cells)
    own = c.select(*[x for x in ("cell_id", "max_count", "max_cost") if x in c.columns]
                   ).execute()
    own = own.reindex(columns=["cell_id", "max_count", "max_cost"]).rename(
        columns={"cell_id": "id"}).assign(level="cell")
    frames = [own]
    if constraints is not None:
        frames.append(lazy(constraints)[0].execute())
    every = pd.concat(frames, ignore_index=True)[["level", "id", "max_count", "max_cost"]]
    every = every.groupby(["level", "id"], as_index=False)[["max_count", "max_cost"]].min()
    return every.dropna(subset=["max_count", "max_cost"], how="all").reset_index(drop=True)
