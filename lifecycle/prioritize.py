"""Cross-campaign prioritization: which customer gets which communication today, when the
candidates of many campaigns compete for the same customers, budgets and contact policies.

:func:`optimize` takes the **candidates** (customer and cell pairs, e.g. the union of the
day's program selections), the **cells** with their campaign, group, channel, cost and
expected value per contact, priority and flags, the count and cost **limits** per cell,
campaign and group, the **contact policies** and the **contact history**, and allocates the
contacts in one of two modes.

**The priority mode** (``mode="priority"``) is the rule campaign tools apply:

1. A mandatory cell has priority 1 whatever its number. Cells are served in order of
   priority (1 first), ties by campaign id, then cell id.
2. Within a cell, candidates in descending ``score`` (default: their expected value), ties by
   customer id: the same input always gives the same output.
3. A candidate gets the contact unless it would break a contact policy (the contact
   history in the policy's window plus what this run already allocated) or a maximum count
   or cost of its cell, campaign or group. A cell **excluded from constraints** ignores the
   limits and its contacts do not count toward them; one **excluded from contact policies**
   ignores the policies and its contacts do not count toward them either; every eligible
   recipient of a cell excluded from both gets it.
4. A mandatory cell must reach every eligible recipient. When a limit or a policy makes that
   impossible, the run is **infeasible**: nothing is allocated, and the log names each
   mandatory cell and each limit or policy that stops it, with the numbers.

**The optimizing mode** (``mode="optimal"``) maximises the total expected value (or the
profit, value minus cost: ``objective="profit"``) under the same mandatory cells, limits,
policies and exclusions, as a binary program, with HiGHS (the solver scipy ships, through
:func:`scipy.optimize.linprog` and :func:`~scipy.optimize.milp`: no extra dependency). It
works in one of two ways, by size:

- Up to ``exact_pairs`` candidate pairs (200,000 by default) it is **exact**. The program
  has each cell's count as a variable: the pairs meet only their customer's policies and
  their cell's count, which makes the relaxation integral for whole cell counts, so limits
  on counts alone are solved by the relaxation. A cost limit over cells of different costs
  is counted in its costs' common unit (0.004 and 0.06 EUR: whole multiples of 0.004), and
  branch and bound branches on its count per cost: at 200,000 pairs it proves the best
  allocation in about a minute (see ``bench/bench_prioritize.py``).
- Beyond, by **Lagrangian decomposition**: a price on each limit splits the problem by
  customer, each customer's best contacts at given prices are found greedily (their
  policies nest: those on any channel cover those on one), any prices give an upper bound,
  and a cutting-plane method finds the prices that make it least, which is the linear
  relaxation's optimum. The allocation is the best mix of the customers' choices at the
  prices tried that keeps every limit, with the customers on whom they disagree decided by
  the relaxation restricted to them. On a million customers with five million pairs it
  ends within about 1e-6 of its bound (see ``bench/bench_prioritize.py``).

Either way the result carries the bound (``Allocation.bound``, ``Allocation.gap``).

**Contact policies** (the ``contact_policies`` table): at most ``max_contacts`` contacts per
customer on ``channel`` (null: any channel) within ``window_days`` (null: in this run). A
window counts the contact history planned in ``[as_of - window_days, as_of)``: a contact
exactly ``window_days`` before counts, one planned at ``as_of`` or later does not (it is
this run's or a later one's); held-out control cells (``control``, ``*_control``) and cells
excluded from policies never count. This run's allocations count toward every policy.

Nothing is sent or recorded: the result is what would be sent, for export or approval.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from lifecycle import campaigns
from lifecycle._frames import lazy, require
from lifecycle.formats import count
from lifecycle.schema import DataError, Problem

__all__ = ["MODES", "Allocation", "Plan", "day_rows", "export", "group_tables", "optimize",
           "plan", "recorded", "reopen", "summary"]

MODES = ("priority", "optimal")
OBJECTIVES = ("value", "profit")
_LOG_COLUMNS = ["cell_id", "constraint", "needed", "limit", "message"]


@dataclass
class Allocation:
    """What :func:`optimize` returns.

    ``status``: ``"optimal"``, ``"feasible"`` (the priority mode's allocation, or a solution
    not proven optimal) or ``"infeasible"``; ``contacts``: ``customer_id, cell_id`` (with
    ``campaign_id, channel, cost, expected_value``); ``counts``: per cell ``cell_id,
    eligible, selected, cost, expected_value``; ``log``: ``cell_id, constraint, needed,
    limit, message``; ``objective``: the total of what was maximised; ``bound``: an upper
    bound on it (the optimizing mode; ``objective`` itself is one when optimal);
    ``limits``: per count or cost limit ``constraint, limit, used, value_per_unit``, the
    last (optimizing mode) what one more unit of the limit would add to the objective,
    from the linear relaxation's duals: what the limit costs."""

    status: str
    contacts: pd.DataFrame
    counts: pd.DataFrame
    log: pd.DataFrame
    objective: float
    bound: float | None
    mode: str
    limits: pd.DataFrame | None = None

    @property
    def gap(self) -> float | None:
        """``(bound - objective) / |bound|``: how far from the best possible, at most."""
        if self.bound is None or not math.isfinite(self.bound):
            return None
        return (self.bound - self.objective) / max(abs(self.bound), 1e-12)


@dataclass
class _Limit:
    """A maximum count or cost over the pairs of some cells."""

    name: str
    cells: np.ndarray  # bool per cell (in service order): the cells it covers
    max_count: float
    max_cost: float


@dataclass
class _Policy:
    """At most ``limit`` contacts per customer over the pairs of some cells."""

    name: str
    cells: np.ndarray  # bool per cell: the cells it counts
    limit: int
    before: np.ndarray  # per customer code: contacts in the window before this run
    channel: str | None = None  # None: any channel


@dataclass
class _Problem:
    """The candidates as arrays: pair ``i`` is customer ``cust[i]`` in cell ``cell[i]``."""

    customers: np.ndarray  # customer id per code (sorted)
    cust: np.ndarray
    cell: np.ndarray  # position in ``cells`` (service order)
    value: np.ndarray  # expected value of the contact
    score: np.ndarray
    weight: np.ndarray  # what is maximised: value, or value minus cost
    cells: pd.DataFrame  # in service order
    limits: list[_Limit]
    policies: list[_Policy]

    @property
    def cost(self) -> np.ndarray:
        return self.cells.cost.to_numpy()[self.cell]

    def rows(self) -> list[tuple[str, np.ndarray, float]]:
        """Each finite maximum: its name, its coefficient per cell and its bound."""
        cost, out = self.cells.cost.to_numpy(float), []
        for limit in self.limits:
            for what, bound, per in (("contacts", limit.max_count, 1.0),
                                     ("cost", limit.max_cost, cost)):
                row = np.where(limit.cells, per, 0.0)
                if math.isfinite(bound) and row.any():
                    out.append((f"{limit.name}: maximum {what}", row, bound))
        return out


def _frame(table, name: str, columns=()) -> pd.DataFrame:
    """``table`` as a pandas frame, with the ``columns`` it must have (else a DataError)."""
    t, eager = lazy(table)
    frame = table.reset_index(drop=True) if eager else t.execute()
    require(frame, name, columns)
    return frame


def _problem(candidates, cells, constraints, policies, history, as_of, objective
             ) -> _Problem:
    cand = _frame(candidates, "candidates", ["customer_id", "cell_id"])
    cells = _frame(cells, "cells", ["cell_id", "campaign_id", "group_id", "cost",
                                    "expected_value", "priority"])
    cells = cells.assign(**{flag: cells[flag].fillna(False).astype(bool) if flag in cells
                            else False for flag in ("mandatory", "exclude_constraints",
                                                    "exclude_policies")})
    _check_cells(cells)
    cells = cells.assign(_rank=np.where(cells.mandatory, 1.0, cells.priority.astype(float)))
    cells = cells.sort_values(["_rank", "campaign_id", "cell_id"], kind="stable"
                              ).reset_index(drop=True)
    position = pd.Series(np.arange(len(cells)), index=cells.cell_id.astype(str))
    cand = cand.assign(customer_id=cand.customer_id.astype(str),
                       cell_id=cand.cell_id.astype(str))
    _check_candidates(cand, position)
    codes, customers = pd.factorize(cand.customer_id, sort=True)
    cell = position[cand.cell_id].to_numpy()
    value = cells.expected_value.to_numpy(float)[cell]
    if "expected_value" in cand:
        value = np.where(cand.expected_value.notna(), cand.expected_value, value)
    score = cand.score.to_numpy(float) if "score" in cand else value
    cost = cells.cost.to_numpy(float)[cell]
    weight = value - cost if objective == "profit" else value
    n = len(customers)
    return _Problem(customers=np.asarray(customers), cust=codes.astype(np.int64), cell=cell,
                    value=value, score=np.nan_to_num(score, nan=-np.inf), weight=weight,
                    cells=cells, limits=_limits(cells, constraints),
                    policies=_policies(cells, policies, history, as_of, customers, n))


def _check_cells(cells: pd.DataFrame) -> None:
    problems = []
    dup = cells.cell_id.duplicated(keep=False)
    if dup.any():
        problems.append(Problem("cells", "cell_id", "duplicate cell id", int(dup.sum()),
                                cells[dup].head(5)))
    for column in ("cost", "expected_value", "priority"):
        values = pd.to_numeric(cells[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(float)) & ~(cells.mandatory & (column == "priority"))
        if column == "cost":
            bad |= (values < 0).to_numpy()
        if bad.any():
            problems.append(Problem("cells", column, "must be a finite number" + (
                " of at least 0" if column == "cost" else ""), int(bad.sum()),
                cells.loc[bad, ["cell_id", column]].head(5)))
    if problems:
        raise DataError(problems)


def _check_candidates(cand: pd.DataFrame, position: pd.Series) -> None:
    problems = []
    unknown = ~cand.cell_id.isin(position.index)
    if unknown.any():
        problems.append(Problem("candidates", "cell_id", "cell not in the cells table",
                                int(unknown.sum()), cand[unknown].head(5)))
    twice = cand.duplicated(["customer_id", "cell_id"], keep=False)
    if twice.any():
        problems.append(Problem("candidates", "customer_id", "a customer twice in one cell",
                                int(twice.sum()), cand[twice].head(5)))
    for column in ("expected_value", "score"):
        if column in cand:
            values = pd.to_numeric(cand[column], errors="coerce")
            bad = cand[column].notna() & ~np.isfinite(values.to_numpy(float))
            if bad.any():
                problems.append(Problem("candidates", column, "must be a finite number",
                                        int(bad.sum()), cand[bad].head(5)))
    if problems:
        raise DataError(problems)


def _limits(cells: pd.DataFrame, constraints) -> list[_Limit]:
    table = campaigns.limits(cells, None if constraints is None else _frame(constraints,
                                                                            "constraints"))
    open_ = ~cells.exclude_constraints.to_numpy()
    columns = {"cell": "cell_id", "campaign": "campaign_id", "group": "group_id"}
    out = []
    for row in table.itertuples():
        covered = (cells[columns[row.level]].astype(str) == str(row.id)).to_numpy() & open_
        out.append(_Limit(f"{row.level} {row.id}", covered,
                          math.inf if pd.isna(row.max_count) else float(row.max_count),
                          math.inf if pd.isna(row.max_cost) else float(row.max_cost)))
    return out


def _policies(cells, policies, history, as_of, customers, n) -> list[_Policy]:
    if policies is None:
        return []
    table = _frame(policies, "contact_policies", ["max_contacts"])
    table = table.reindex(columns=[*table.columns, *(c for c in ("channel", "window_days")
                                                     if c not in table)])
    if table.channel.notna().any():
        require(cells, "cells", ["channel"])
    as_of = pd.Timestamp(as_of)
    excluded = set(cells.cell_id[cells.exclude_policies].astype(str))
    past = None
    if history is not None and table.window_days.notna().any():
        past = _frame(history, "contact_history", [
            "customer_id", "cell_id", "planned_at",
            *(["channel"] if table.channel.notna().any() else [])])
        cell_ids = past.cell_id.astype(str)
        past = past[~cell_ids.isin(excluded) & ~_is_control(cell_ids)]
    index = pd.Index(customers)
    out = []
    for row in table.itertuples():
        applies = ~cells.exclude_policies.to_numpy()
        on = f"on {row.channel}" if isinstance(row.channel, str) else "on any channel"
        if isinstance(row.channel, str):
            applies &= (cells.channel == row.channel).to_numpy()
        before = np.zeros(n, np.int64)
        if pd.isna(row.window_days):
            when = "in this run"
        else:
            days = float(row.window_days)
            when = f"in {days:g} days"
            if past is not None:
                h = past[(past.planned_at >= as_of - pd.Timedelta(days=days))
                         & (past.planned_at < as_of)]
                if isinstance(row.channel, str):
                    h = h[h.channel == row.channel]
                codes = index.get_indexer(h.customer_id.astype(str))
                before = np.bincount(codes[codes >= 0], minlength=n).astype(np.int64)
        limit = int(row.max_contacts)
        out.append(_Policy(f"at most {limit} contact{'s' * (limit != 1)} per customer {on} "
                           f"{when}", applies, limit, before,
                           row.channel if isinstance(row.channel, str) else None))
    return out


def _is_control(cell_ids: pd.Series) -> pd.Series:
    """Held-out control cells (not contacted): ``control`` and ``<name>_control``."""
    return (cell_ids == "control") | cell_ids.str.endswith("_control")


def _by_cell(p: _Problem) -> list[np.ndarray]:
    """Per cell (service order): its pairs in descending score, ties by customer id."""
    order = np.lexsort((p.cust, -p.score, p.cell))
    bounds = np.searchsorted(p.cell[order], np.arange(len(p.cells) + 1))
    return [order[bounds[c]:bounds[c + 1]] for c in range(len(p.cells))]


def _mandatory_log(p: _Problem, groups: list[np.ndarray]) -> pd.DataFrame:
    """Why the mandatory cells cannot all reach every eligible recipient (empty: they can).

    The mandatory contacts alone are checked against every limit and policy: the other
    contacts can always be dropped, so the run is feasible exactly when these fit."""
    mandatory = np.flatnonzero(p.cells.mandatory.to_numpy())
    if not len(mandatory):
        return pd.DataFrame(columns=_LOG_COLUMNS)
    rows, cost = [], p.cells.cost.to_numpy(float)
    need = {c: len(groups[c]) for c in mandatory}
    for limit in p.limits:
        under = [c for c in mandatory if limit.cells[c] and need[c]]
        for what, total, bound in (
                ("contacts", sum(need[c] for c in under), limit.max_count),
                ("cost", sum(need[c] * cost[c] for c in under), limit.max_cost)):
            if total > bound + 1e-9:
                for c in under:
                    rows.append(_breach(p, c, f"{limit.name}: maximum {what}", total, bound,
                                        what, need[c] * (cost[c] if what == "cost" else 1)))
    for policy in p.policies:
        counted = [c for c in mandatory if policy.cells[c]]
        if not counted:
            continue
        per = policy.before.copy()
        for c in counted:
            np.add.at(per, p.cust[groups[c]], 1)
        over = per > policy.limit
        for c in counted:
            hit = over[p.cust[groups[c]]]
            if hit.any():
                who = p.customers[p.cust[groups[c]][hit]]
                rows.append({"cell_id": p.cells.cell_id[c], "constraint": policy.name,
                             "needed": int(per[p.cust[groups[c]]].max()),
                             "limit": policy.limit, "message": (
                        f"{count(int(hit.sum()))} of the {count(need[c])} eligible recipients "
                        f"of mandatory cell {p.cells.cell_id[c]} would get more contacts than "
                        f"the policy allows ({policy.name}; e.g. {', '.join(who[:3])})")})
    return pd.DataFrame(rows, columns=_LOG_COLUMNS)


def _breach(p, c, constraint, total, bound, what, own) -> dict:
    fmt = (lambda v: f"{v:,.2f}") if what == "cost" else (lambda v: count(int(v)))
    return {"cell_id": p.cells.cell_id[c], "constraint": constraint, "needed": float(total),
            "limit": float(bound), "message": (
                f"mandatory cell {p.cells.cell_id[c]} needs {fmt(own)} {what} for all its "
                f"eligible recipients; with the other mandatory cells under it, "
                f"{constraint} needs {fmt(total)} where the limit is {fmt(bound)}")}


def _priority(p: _Problem, groups: list[np.ndarray]) -> np.ndarray:
    """The pairs the priority mode contacts (a boolean per pair); mandatory cells first."""
    take = np.zeros(len(p.cust), bool)
    used = [policy.before.copy() for policy in p.policies]
    room_count = [limit.max_count for limit in p.limits]
    room_cost = [limit.max_cost for limit in p.limits]
    cost = p.cells.cost.to_numpy(float)
    mandatory = p.cells.mandatory.to_numpy()
    for c in [*np.flatnonzero(mandatory), *np.flatnonzero(~mandatory)]:
        pairs = groups[c]
        if not mandatory[c]:
            ok = np.ones(len(pairs), bool)
            for policy, counts in zip(p.policies, used, strict=True):
                if policy.cells[c]:
                    ok &= counts[p.cust[pairs]] < policy.limit
            room = math.inf
            for k, limit in enumerate(p.limits):
                if limit.cells[c]:
                    room = min(room, room_count[k], room_cost[k] / cost[c] + 1e-9
                               if cost[c] > 0 else math.inf)
            pairs = pairs[ok][:None if room == math.inf else max(int(room), 0)]
        take[pairs] = True
        for policy, counts in zip(p.policies, used, strict=True):
            if policy.cells[c]:
                counts[p.cust[pairs]] += 1  # a customer is in a cell once
        for k, limit in enumerate(p.limits):
            if limit.cells[c]:
                room_count[k] -= len(pairs)
                room_cost[k] -= len(pairs) * cost[c]
    return take


def _model(p: _Problem):
    """The binary program over the pairs worth considering: ``index`` (those pairs),
    ``matrix`` and ``upper`` (the limits and, per customer who has more candidates than
    room, each policy), ``lower`` (1 for a mandatory pair)."""
    from scipy import sparse

    mandatory = p.cells.mandatory.to_numpy()[p.cell]
    index = np.flatnonzero(mandatory | (p.weight > 0))  # a contact worth nothing never helps
    rows, cols, coef, upper = [], [], [], []
    for _, row, bound in p.rows():  # first: the limits, in order
        weights = row[p.cell[index]]
        members = np.flatnonzero(weights)
        rows.append(np.full(len(members), len(upper)))
        cols.append(members)
        coef.append(weights[members])
        upper.append(bound)
    for policy in p.policies:
        members = np.flatnonzero(policy.cells[p.cell[index]])
        who = p.cust[index[members]]
        room = np.maximum(policy.limit - policy.before, 0)  # a full customer: no more
        binding = np.bincount(who, minlength=len(p.customers))[who] > room[who]
        members, who = members[binding], who[binding]
        codes, local = np.unique(who, return_inverse=True)
        rows.append(len(upper) + local)
        cols.append(members)
        coef.append(np.ones(len(members)))
        upper.extend(room[codes].astype(float))
    matrix = sparse.csr_array(
        (np.concatenate(coef) if coef else [], (np.concatenate(rows) if rows else [],
                                                np.concatenate(cols) if cols else [])),
        shape=(len(upper), len(index)))
    return index, matrix, np.asarray(upper, float), mandatory[index].astype(float)


def _integer_row(row: np.ndarray, bound: float) -> tuple[float, float]:
    """``(scale, bound)``: a limit over cell counts as whole numbers. With costs that are
    multiples of a common unit (0.004 and 0.06 EUR: 0.004) the row times ``scale`` has whole
    coefficients, so its bound rounds down to a whole number (159.9456 EUR: 39,986 units).
    Costs without a small common unit keep the row as it is (scale 1, bound unchanged)."""
    values = [Fraction(v).limit_denominator(10**6) for v in row[row > 0]]
    if not values or any(abs(float(f) - v) > 1e-12 * v for f, v in zip(values, row[row > 0],
                                                                           strict=True)):
        return 1.0, bound
    unit = Fraction(math.gcd(*(f.numerator for f in values)),
                    math.lcm(*(f.denominator for f in values)))
    scale = float(1 / unit)
    if max(row) * scale > 1e6:
        return 1.0, bound
    return scale, math.floor((bound + 1e-9) * scale)  # the modes' tolerance: 1e-9 of money


@dataclass
class _Program:
    """The binary program with each cell's count ``N`` and each cost limit's count per cost
    ``S`` as variables (``x`` the pairs, then ``N``, then ``S``).

    The pairs meet only two families of rows: each customer's policies (nested) and their
    cell (``sum x = N``). Rows of two nested families make a totally unimodular matrix, so
    for whole ``N`` the best ``x`` is whole. Limits are rows over ``N``: cost limits mix
    cells of different costs, and their whole-number counts per cost (``S``) are what
    branch and bound needs to branch on (the relaxation moves a fraction of a contact from
    an SMS to e-mails, which branching on single pairs or cells chases around for ever)."""

    n: int  # pairs
    k: int  # cells
    g: int  # counts per cost
    c: np.ndarray  # to minimise: minus the weights
    upper_rows: object  # limits (over N), then policies (over x)
    upper: np.ndarray
    equal_rows: object  # sum x - N = 0 per cell, then G N - S = 0
    lower_bounds: np.ndarray
    upper_bounds: np.ndarray
    scale: np.ndarray  # per limit (``_Problem.rows()``): units per unit of the limit


def _program(p: _Problem, index: np.ndarray, matrix, upper: np.ndarray, lower: np.ndarray
             ) -> _Program:
    from scipy import sparse

    n, k, limits = len(index), len(p.cells), p.rows()
    cell = p.cell[index]
    scaled = [_integer_row(row, bound) for _, row, bound in limits]
    rows = np.array([row * f for (_, row, _), (f, _) in zip(limits, scaled, strict=True)]
                    ).reshape(len(limits), k)
    by_cost = []  # a cost limit over cells of several costs: one count per cost
    for scaled_row in rows:
        costs = np.unique(scaled_row[scaled_row > 0])
        if len(costs) > 1:
            by_cost += [(scaled_row == cost).astype(float) for cost in costs]
    g = len(by_cost)
    n_policy = matrix.shape[0] - len(limits)
    upper_rows = sparse.vstack([
        sparse.hstack([sparse.csr_array((len(limits), n)), sparse.csr_array(rows),
                       sparse.csr_array((len(limits), g))]),
        sparse.hstack([matrix[len(limits):], sparse.csr_array((n_policy, k + g))])]).tocsr()
    members = sparse.csr_array((np.ones(n), (cell, np.arange(n))), shape=(k, n))
    counts = np.bincount(cell, minlength=k).astype(float)
    groups = np.array(by_cost).reshape(g, k)
    equal_rows = sparse.vstack([
        sparse.hstack([members, -sparse.eye_array(k), sparse.csr_array((k, g))]),
        sparse.hstack([sparse.csr_array((g, n)), sparse.csr_array(groups),
                       -sparse.eye_array(g)])]).tocsr()
    return _Program(n=n, k=k, g=g, c=np.concatenate([-p.weight[index], np.zeros(k + g)]),
                    upper_rows=upper_rows,
                    upper=np.concatenate([[b for _, b in scaled], upper[len(limits):]]),
                    equal_rows=equal_rows, lower_bounds=np.concatenate([lower, np.zeros(k + g)]),
                    upper_bounds=np.concatenate([np.ones(n), counts, groups @ counts]),
                    scale=np.array([f for f, _ in scaled]))


def _solved(q: _Program, whole: np.ndarray, time_limit: float, fix=None):
    """HiGHS' branch and bound on ``q`` with ``whole`` variables integer (``fix``: values
    the ``S`` are held at)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    lower, upper = q.lower_bounds.copy(), q.upper_bounds.copy()
    if fix is not None:
        lower[q.n + q.k:] = upper[q.n + q.k:] = fix
    zeros = np.zeros(q.equal_rows.shape[0])
    return milp(q.c, integrality=whole.astype(int), bounds=Bounds(lower, upper),
                constraints=[LinearConstraint(q.upper_rows, -np.inf, q.upper),
                             LinearConstraint(q.equal_rows, zeros, zeros)],
                options={"mip_rel_gap": 1e-9, "time_limit": max(time_limit, 1.0)})


def _optimal(p: _Problem, *, time_limit: float, exact_pairs: int
             ) -> tuple[np.ndarray, str, float, np.ndarray]:
    """A best allocation (a boolean per pair), its status, an upper bound and the price of
    each limit (:meth:`_Problem.rows`: the value one more unit of it would add, from the
    linear relaxation's duals).

    Over ``exact_pairs`` pairs: :func:`_decomposed`. Else :class:`_Program`: its linear
    relaxation (HiGHS) gives the prices and, when no cost limit binds, the answer. Else
    branch and bound with only the counts per cost ``S`` whole: a relaxation of the
    program, so its optimum bounds it, and its allocation is whole whenever its cell counts
    are (then it is the program's optimum). When they are not, the ``S`` are held and branch
    and bound makes the cell counts whole too. Each allocation tried (the relaxation's too)
    has any fraction left rounded down and the room refilled; the best is returned, with
    the smallest bound found. Both searches share ``time_limit``."""
    from scipy.optimize import linprog

    if len(p.cust) > exact_pairs:
        take, bound, prices = _decomposed(p)
        return take, _status(float(p.weight[take].sum()), bound), bound, prices
    take = np.zeros(len(p.cust), bool)
    index, matrix, upper, lower = _model(p)
    prices = np.zeros(len(p.rows()))
    if not len(index):
        return take, "optimal", 0.0, prices
    started = time.perf_counter()
    q = _program(p, index, matrix, upper, lower)
    lp = linprog(q.c, A_ub=q.upper_rows, b_ub=q.upper, A_eq=q.equal_rows,
                 b_eq=np.zeros(q.equal_rows.shape[0]),
                 bounds=np.column_stack([q.lower_bounds, q.upper_bounds]), method="highs")
    if lp.status == 2:
        return take, "infeasible", math.nan, prices
    prices = np.maximum(-lp.ineqlin.marginals[:len(prices)], 0.0) * q.scale
    bound, tried = -lp.fun, [lp.x]
    if not _whole(lp.x[:q.n]):
        kinds = np.zeros(len(q.c), bool)
        kinds[q.n + q.k:] = True
        left = time_limit - (time.perf_counter() - started)
        result = _solved(q, kinds if q.g else _cells(q), left)
        dual = getattr(result, "mip_dual_bound", None)
        if result.status == 0 and result.fun is not None:
            bound = min(bound, -result.fun)
        elif dual is not None and np.isfinite(dual):
            bound = min(bound, -dual)
        if result.x is not None:
            tried.append(result.x)
            if not _whole(result.x[:q.n]) and q.g:  # whole counts per cost: whole cells too
                left = time_limit - (time.perf_counter() - started)
                held = _solved(q, _cells(q), left, fix=np.round(result.x[q.n + q.k:]))
                if held.x is not None:
                    tried.append(held.x)
    weight = p.weight[index]
    x = max((_rounded(t[:q.n], lower, weight, matrix, upper) for t in tried),
            key=lambda a: float(weight @ a))  # the best of what was tried, each made whole
    value = float(weight @ x)
    take[index] = x > 0.5
    return take, _status(value, bound), float(max(bound, value)), prices


def _whole(x: np.ndarray) -> bool:
    return bool(np.all(np.minimum(x, 1 - x) <= 1e-9))  # as :func:`_rounded` reads it


def _cells(q: _Program) -> np.ndarray:
    """The cell counts and the counts per cost as the integer variables."""
    whole = np.zeros(len(q.c), bool)
    whole[q.n:] = True
    return whole


def _status(value: float, bound: float) -> str:
    """``"optimal"`` when ``value`` is within 1e-6 of the ``bound``, else ``"feasible"``."""
    return "optimal" if bound - value <= 1e-6 * max(abs(bound), 1e-12) else "feasible"


@dataclass
class _Split:
    """The optimizing problem split by customer, for :func:`_decomposed`.

    The free pairs (worth something, not mandatory) ``cust``, ``cell``, ``weight``; the
    limits as a matrix over cells, ``usage`` (a row per finite maximum, each scaled to a
    largest coefficient of 1) with the ``room`` the mandatory contacts leave; and each
    customer's room per contact policy. The policies of one customer form a laminar family
    (those on any channel cover those on one channel), so the best choice of one customer's
    contacts at given prices is greedy: most valuable first, where every policy has room."""

    pairs: np.ndarray  # position of each free pair among the candidates
    cust: np.ndarray
    cell: np.ndarray
    weight: np.ndarray
    usage: np.ndarray  # limits x cells
    room: np.ndarray  # per limit
    scale: np.ndarray  # per limit: its largest coefficient (usage and room are divided by it)
    channel: np.ndarray  # per free pair: its channel's policy key (-1: none on its channel,
    # -2: its cell is excluded from policies)
    any_room: np.ndarray | None  # per customer: room on any channel (None: no such policy)
    channel_room: np.ndarray  # customers x channel keys
    blocks: list[np.ndarray]  # free pairs as (customers x k) matrices, by their count k
    fixed: float  # the weight of the mandatory pairs


def _split(p: _Problem) -> _Split:
    mandatory = p.cells.mandatory.to_numpy()[p.cell]
    free = np.flatnonzero(~mandatory & (p.weight > 0))
    n_cells = len(p.cells)
    taken = np.bincount(p.cell[mandatory], minlength=n_cells)
    rows = p.rows()
    scale = np.array([row.max() for _, row, _ in rows])
    usage = np.array([row for _, row, _ in rows]).reshape(len(rows), n_cells) / scale[:, None]
    room = np.array([max(bound - row @ taken, 0.0) for _, row, bound in rows]) / scale
    keys = {}  # policy channel (None: any) -> key
    n = len(p.customers)
    rooms: dict = {}
    for policy in p.policies:
        key = policy.channel
        counted = policy.cells[p.cell] & mandatory
        left = policy.limit - policy.before - np.bincount(p.cust[counted], minlength=n)
        rooms[key] = np.minimum(rooms.get(key, left), left)
        if key is not None:
            keys.setdefault(key, len(keys))
    counted = ~p.cells.exclude_policies.to_numpy()
    if "channel" in p.cells and keys:
        code = p.cells.channel.map(keys).fillna(-1).to_numpy(int)
    else:
        code = np.full(n_cells, -1)
    channel = np.where(counted[p.cell[free]], code[p.cell[free]], -2)
    channel_room = np.full((n, max(len(keys), 1)), np.iinfo(np.int64).max // 2)
    for key, k in keys.items():
        channel_room[:, k] = np.maximum(rooms[key], 0)
    any_room = np.maximum(rooms[None], 0) if None in rooms else None
    cust = p.cust[free]
    order = np.argsort(cust, kind="stable")
    per = np.bincount(cust, minlength=n)
    start = np.concatenate([[0], np.cumsum(per)])[:-1]
    blocks = []
    for k in np.unique(per[per > 0]):
        first = start[per == k]
        blocks.append(order[first[:, None] + np.arange(k)])
    return _Split(free, cust, p.cell[free], p.weight[free], usage, room, scale, channel,
                  any_room, channel_room, blocks, float(p.weight[mandatory].sum()))


def _choose(s: _Split, adjusted: np.ndarray) -> np.ndarray:
    """Each customer's best contacts at the given adjusted weights (a boolean per free pair):
    most valuable first, those worth more than nothing, where every policy has room."""
    take = np.zeros(len(s.cust), bool)
    for block in s.blocks:
        a = adjusted[block]
        order = np.argsort(-a, axis=1, kind="stable")
        pairs = np.take_along_axis(block, order, axis=1)
        ok = np.take_along_axis(a, order, axis=1) > 0
        who = s.cust[pairs[:, 0]]
        channel = s.channel[pairs]
        for k in range(s.channel_room.shape[1] if (channel >= 0).any() else 0):
            on = ok & (channel == k)
            ok &= ~on | (np.cumsum(on, axis=1) <= s.channel_room[who, k][:, None])
        if s.any_room is not None:
            on = ok & (channel != -2)
            ok &= ~on | (np.cumsum(on, axis=1) <= s.any_room[who][:, None])
        take[pairs[ok]] = True
    return take


def _decomposed(p: _Problem, *, tolerance: float = 1e-6, iterations: int = 200,
                exact: int = 300_000) -> tuple[np.ndarray, float, np.ndarray]:
    """A near-best allocation, an upper bound and the limits' prices, by Lagrangian
    decomposition.

    Pricing the limits (a price per unit of each limit's room) splits the problem by
    customer, and each customer's best choice at given prices is greedy (see
    :class:`_Split`). Any prices give an upper bound; the prices that minimise it (the
    Lagrangian dual, whose minimum is the linear relaxation's optimum) are found by a
    cutting-plane method in a trust region. The allocation: the best mix of the customers'
    choices at the prices tried that keeps every limit (a linear program over a handful of
    allocations); where they disagree (up to ``exact`` pairs) the linear relaxation
    restricted to those pairs decides, and its few fractional pairs are dropped and the room
    they leave filled again (:func:`_repaired`)."""
    from scipy.optimize import linprog

    s = _split(p)
    m = len(s.room)
    chosen = p.cells.mandatory.to_numpy()[p.cell]
    if not m:  # no limits: each customer's best choice is the best allocation
        chosen[s.pairs[_choose(s, s.weight)]] = True
        return chosen, float(p.weight[chosen].sum()), np.zeros(0)
    takes = [np.zeros(len(s.cust), bool)]  # taking nothing keeps every limit
    cuts_value, cuts_used = [0.0], [np.zeros(m)]

    def evaluate(lam):
        take = _choose(s, s.weight - (lam @ s.usage)[s.cell])
        used = s.usage @ np.bincount(s.cell[take], minlength=s.usage.shape[1])
        value = float(s.weight[take].sum())
        takes.append(take)
        cuts_value.append(value)
        cuts_used.append(used)
        return s.fixed + value + lam @ (s.room - used)

    best_price = np.zeros(m)
    best = evaluate(best_price)
    width = max(float(np.abs(s.weight).max(initial=1.0)), 1.0)
    for _ in range(iterations):
        # the model: min over prices of max over cuts (value - price . used) + price . room
        box = [(max(0.0, x - width), x + width) for x in best_price] + [(None, None)]
        lp = linprog(np.r_[s.room, 1.0], A_ub=np.column_stack([-np.array(cuts_used),
                                                                -np.ones(len(cuts_value))]),
                     b_ub=-np.array(cuts_value), bounds=box, method="highs")
        model = lp.fun + s.fixed
        if best - model <= tolerance * max(abs(best), 1.0):
            break
        price = lp.x[:m]
        bound = evaluate(price)
        if bound <= best - 0.1 * (best - model):  # a serious step: the centre moves
            if np.abs(price - best_price).max() > 0.99 * width:
                width *= 2
            best, best_price = bound, price
        else:
            width = max(width * 0.7, 1e-9)
    mix = linprog(-np.array(cuts_value), A_ub=np.array(cuts_used).T, b_ub=s.room,
                  A_eq=np.ones((1, len(takes))), b_eq=[1.0], bounds=(0, None), method="highs")
    share = mix.x if mix.status == 0 else np.eye(len(takes))[0]
    mixed = sum(w * t for w, t in zip(share, takes, strict=True) if w > 1e-12)
    x = mixed >= 1 - 1e-9
    open_ = np.flatnonzero((mixed > 1e-9) & ~x)
    if 0 < len(open_) <= exact:
        x = _relaxed(s, x, open_)
    x = _repaired(s, x, s.weight - (best_price @ s.usage)[s.cell])
    chosen[s.pairs[x]] = True
    return chosen, best, best_price / s.scale


def _relaxed(s: _Split, fixed: np.ndarray, free: np.ndarray) -> np.ndarray:
    """``fixed`` with the ``free`` pairs the linear relaxation (HiGHS) takes whole, under
    the room the fixed pairs leave (its fractional pairs are left out)."""
    from scipy import sparse
    from scipy.optimize import linprog

    n_cells = s.usage.shape[1]
    room = s.room - s.usage @ np.bincount(s.cell[fixed], minlength=n_cells)
    coef = s.usage[:, s.cell[free]]
    rows, cols = np.nonzero(coef)
    rows, cols, coef, upper = [rows], [cols], [coef[rows, cols]], [room]
    n = len(s.channel_room)
    codes, local = np.unique(s.cust[free], return_inverse=True)
    groups = []
    if s.any_room is not None:
        counted = fixed & (s.channel != -2)
        groups.append((s.channel[free] != -2, s.any_room - np.bincount(s.cust[counted],
                                                                        minlength=n)))
    for k in range(s.channel_room.shape[1]):
        on = fixed & (s.channel == k)
        groups.append((s.channel[free] == k, s.channel_room[:, k] - np.bincount(
            s.cust[on], minlength=n)))
    for on, left in groups:
        rows.append(sum(len(u) for u in upper) + local[on])
        cols.append(np.flatnonzero(on))
        coef.append(np.ones(int(on.sum())))
        upper.append(np.maximum(left[codes], 0).astype(float))
    matrix = sparse.csr_array((np.concatenate(coef), (np.concatenate(rows),
                                                      np.concatenate(cols))),
                              shape=(sum(len(u) for u in upper), len(free)))
    lp = linprog(-s.weight[free], A_ub=matrix, b_ub=np.concatenate(upper), bounds=(0, 1),
                 method="highs")
    out = fixed.copy()
    if lp.status == 0:
        out[free[lp.x > 1 - 1e-9]] = True
    return out


def _repaired(s: _Split, take: np.ndarray, adjusted: np.ndarray) -> np.ndarray:
    """``take`` within every limit (the contacts worth least per unit of an exceeded limit
    dropped), then the room left filled, most valuable first, where policies allow."""
    take = take.copy()
    n_cells = s.usage.shape[1]
    for k in range(len(s.room)):
        used = s.usage @ np.bincount(s.cell[take], minlength=n_cells)
        excess = used[k] - s.room[k]
        if excess <= 1e-9:
            continue
        members = np.flatnonzero(take & (s.usage[k, s.cell] > 0))
        members = members[np.argsort(adjusted[members] / s.usage[k, s.cell[members]],
                                     kind="stable")]
        per = s.usage[k, s.cell[members]]
        take[members[np.cumsum(per) - per < excess - 1e-9]] = False  # until it fits
    n = len(s.channel_room)
    for _ in range(50):
        used = s.usage @ np.bincount(s.cell[take], minlength=n_cells)
        slack = s.room - used
        fits = np.all(s.usage <= slack[:, None] + 1e-9, axis=0)  # per cell
        open_ = ~take & fits[s.cell]
        if s.any_room is not None:
            counted = take & (s.channel != -2)
            left = s.any_room - np.bincount(s.cust[counted], minlength=n)
            open_ &= (s.channel == -2) | (left[s.cust] > 0)
        for k in range(s.channel_room.shape[1]):
            on = take & (s.channel == k)
            left = s.channel_room[:, k] - np.bincount(s.cust[on], minlength=n)
            open_ &= (s.channel != k) | (left[s.cust] > 0)
        candidates = np.flatnonzero(open_)
        if not len(candidates):
            break
        candidates = candidates[np.lexsort((-adjusted[candidates], s.cust[candidates]))]
        first = np.r_[True, s.cust[candidates[1:]] != s.cust[candidates[:-1]]]
        picks = candidates[first]
        picks = picks[np.argsort(-adjusted[picks], kind="stable")]
        running = np.cumsum(s.usage[:, s.cell[picks]], axis=1)
        fit = np.all(running <= slack[:, None] + 1e-9, axis=0)
        if not fit.any():
            break
        take[picks[fit]] = True
    return take


def _rounded(x, lower, weight, matrix, upper) -> np.ndarray:
    """The LP solution with its fractional pairs dropped, then each added back (most
    valuable first) where every limit and policy still has room."""
    out = np.where(x > 1 - 1e-9, 1.0, 0.0)
    out = np.maximum(out, lower)
    fractional = np.flatnonzero((x > 1e-9) & (x < 1 - 1e-9) & (lower == 0))
    used = matrix @ out if len(upper) else np.zeros(0)
    for j in fractional[np.argsort(-weight[fractional], kind="stable")]:
        column = matrix[:, [j]].toarray().ravel() if len(upper) else np.zeros(0)
        if np.all(used + column <= upper + 1e-9):
            out[j], used = 1.0, used + column
    return out


def optimize(candidates, cells, *, constraints=None, policies=None, history=None, as_of,
             mode: str = "priority", objective: str = "value",
             time_limit: float = 600.0, exact_pairs: int = 200_000) -> Allocation:
    """Allocate the day's contacts across campaigns (see the module docstring).

    Parameters
    ----------
    candidates : pandas.DataFrame or ibis.Table
        ``customer_id, cell_id``, optionally ``expected_value`` (of the pair; default the
        cell's) and ``score`` (the order within a cell in the priority mode; default the
        expected value). A customer is in a cell at most once.
    cells : pandas.DataFrame or ibis.Table
        ``cell_id, campaign_id, group_id, cost, expected_value, priority`` (1 = first),
        optionally ``channel`` (needed by channel policies), ``mandatory``,
        ``exclude_constraints``, ``exclude_policies``, ``max_count``, ``max_cost``.
    constraints : table, optional
        ``level`` (cell, campaign, group), ``id``, ``max_count``, ``max_cost`` (null: no
        limit); with the cells' own limits, the smaller one holds.
    policies : table, optional
        ``max_contacts``, optionally ``channel`` (null: any) and ``window_days`` (null: in
        this run).
    history : table, optional
        The ``contact_history`` the windows count (``customer_id, cell_id, channel,
        planned_at``).
    as_of : timestamp-like
        The moment of the run: windows end there.
    mode : {"priority", "optimal"}
    objective : {"value", "profit"}
        Maximise the expected value, or the expected value minus the cost.
    time_limit : float
        Seconds the optimizing mode's branch and bound may search; past it, the best
        allocation found is returned as ``"feasible"`` with its bound.
    exact_pairs : int
        Up to this many candidate pairs the optimizing mode proves its allocation best
        (branch and bound after the relaxation); beyond, it decomposes by customer and
        reports how close it came to the relaxation's bound (``Allocation.gap``).

    Returns
    -------
    Allocation

    Examples
    --------
    >>> cells = pd.DataFrame({"cell_id": ["a", "b"], "campaign_id": ["x", "y"],
    ...                       "group_id": "g", "cost": 1.0, "expected_value": [2.0, 5.0],
    ...                       "priority": [1, 2], "channel": "email"})
    >>> candidates = pd.DataFrame({"customer_id": ["c1", "c1", "c2"],
    ...                            "cell_id": ["a", "b", "b"]})
    >>> once = pd.DataFrame({"max_contacts": [1]})  # one contact per customer in this run
    >>> first = optimize(candidates, cells, policies=once, as_of="2026-10-31")
    >>> first.contacts[["customer_id", "cell_id"]].values.tolist(), first.objective
    ([['c1', 'a'], ['c2', 'b']], 7.0)
    >>> best = optimize(candidates, cells, policies=once, as_of="2026-10-31", mode="optimal")
    >>> best.contacts[["customer_id", "cell_id"]].values.tolist(), best.objective, best.status
    ([['c1', 'b'], ['c2', 'b']], 10.0, 'optimal')
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    p = _problem(candidates, cells, constraints, policies, history, as_of, objective)
    groups = _by_cell(p)
    log = _mandatory_log(p, groups)
    if len(log):
        return _result(p, np.zeros(len(p.cust), bool), "infeasible", log, None, mode)
    if mode == "priority":
        return _result(p, _priority(p, groups), "feasible", log, None, mode)
    take, status, bound, prices = _optimal(p, time_limit=time_limit, exact_pairs=exact_pairs)
    if status == "infeasible" and not len(log):  # only the limits and policies together
        log = pd.DataFrame([{"cell_id": None, "constraint": "limits and policies together",
                             "needed": math.nan, "limit": math.nan,
                             "message": "the mandatory cells cannot all reach every eligible "
                                        "recipient under the limits and policies together"}],
                           columns=_LOG_COLUMNS)
    return _result(p, take, status, log, bound, mode, prices)


def _result(p: _Problem, take: np.ndarray, status: str, log: pd.DataFrame,
            bound: float | None, mode: str, prices: np.ndarray | None = None) -> Allocation:
    cells = p.cells
    chosen = np.flatnonzero(take)
    chosen = chosen[np.lexsort((p.cust[chosen], -p.score[chosen], p.cell[chosen]))]
    contacts = pd.DataFrame({
        "customer_id": p.customers[p.cust[chosen]],
        "cell_id": cells.cell_id.to_numpy()[p.cell[chosen]],
        "campaign_id": cells.campaign_id.to_numpy()[p.cell[chosen]],
        "channel": (cells.channel.to_numpy()[p.cell[chosen]] if "channel" in cells
                    else None),
        "cost": p.cost[chosen], "expected_value": p.value[chosen]})
    n_cells = len(cells)
    counts = pd.DataFrame({
        "cell_id": cells.cell_id.to_numpy(),
        "eligible": np.bincount(p.cell, minlength=n_cells),
        "selected": np.bincount(p.cell[chosen], minlength=n_cells),
        "cost": np.bincount(p.cell[chosen], weights=p.cost[chosen], minlength=n_cells),
        "expected_value": np.bincount(p.cell[chosen], weights=p.value[chosen],
                                      minlength=n_cells)})
    objective = float(p.weight[chosen].sum())
    if status == "optimal" and (bound is None or not math.isfinite(bound)):
        bound = objective
    rows = p.rows()
    selected = counts.selected.to_numpy()
    limits = pd.DataFrame({
        "constraint": [name for name, _, _ in rows],
        "limit": [bound_ for _, _, bound_ in rows],
        "used": [float(row @ selected) for _, row, _ in rows],
        "value_per_unit": prices if prices is not None and len(prices) == len(rows)
        else np.nan})
    return Allocation(status, contacts, counts, log.reset_index(drop=True), objective,
                      bound, mode, limits)


# -- a day's prioritization over a workspace ----------------------------------------------
@dataclass
class Plan:
    """A prioritization run over a workspace (:func:`plan`): its id (a row of ``runs``), its
    inputs, the :class:`Allocation`, the programs' rows it keeps for export (the chosen
    contacts and the held-out control rows) and, in the optimizing mode, the priority
    mode's allocation of the same input (``baseline``: what optimizing gains)."""

    run_id: str | None
    group: str
    as_of: pd.Timestamp
    inputs: dict
    allocation: Allocation
    selection: pd.DataFrame
    baseline: Allocation | None = None

    @property
    def gain(self) -> float | None:
        """The optimizing mode's objective over the priority mode's, minus 1."""
        if self.baseline is None or self.baseline.status == "infeasible":
            return None
        return self.allocation.objective / max(self.baseline.objective, 1e-12) - 1


def group_tables(workspace, group: str) -> dict[str, pd.DataFrame]:
    """The campaign group's ``cells`` (with ``group_id``, control cells left out: they are
    held out, not sent), ``constraints`` (those on the group, its campaigns and cells) and
    the ``contact_policies``, as stored in ``workspace``."""
    have = set(workspace.tables())
    missing = [t for t in ("campaigns", "cells") if t not in have]
    if missing:
        raise ValueError(f"the workspace has no {' or '.join(missing)} table: define the "
                         f"campaigns first (lifecycle.campaigns.define)")
    found = workspace.table("campaigns").execute()
    mine = found[found.group_id == group]
    if mine.empty:
        raise ValueError(f"no campaign group {group!r}; the workspace has "
                         f"{', '.join(sorted(found.group_id.unique())) or 'none'}")
    cells = workspace.table("cells").execute()
    cells = cells[cells.campaign_id.isin(mine.campaign_id) & ~_is_control(cells.cell_id)]
    cells = cells.assign(group_id=group).reset_index(drop=True)
    empty = pd.DataFrame(columns=["level", "id", "max_count", "max_cost"])
    constraints = workspace.table("constraints").execute() if "constraints" in have else empty
    ids = {"cell": set(cells.cell_id), "campaign": set(mine.campaign_id), "group": {group}}
    constraints = constraints[np.array([str(i) in ids.get(level, ()) for level, i in zip(
        constraints.level, constraints.id, strict=True)], dtype=bool)]
    policies = (workspace.table("contact_policies").execute() if "contact_policies" in have
                else None)
    return {"cells": cells, "constraints": constraints.reset_index(drop=True),
            "policies": policies}


def _programs_of(campaign_ids) -> list:
    """The lifecycle programs of these campaigns."""
    from lifecycle import programs

    return [p for p, _ in programs.PROGRAMS.values() if p.campaign_id in set(campaign_ids)]


def day_rows(workspace, campaign_ids, *, as_of) -> pd.DataFrame:
    """The day's selections of the programs of ``campaign_ids`` (treated and control rows,
    :func:`lifecycle.programs.evaluate`), in one frame."""
    from lifecycle import programs

    day = pd.Timestamp(as_of).normalize()
    rows = [r for r in (programs.evaluate(workspace, p, as_of=day)
                        for p in _programs_of(campaign_ids)) if len(r)]
    if rows:
        return pd.concat(rows, ignore_index=True)
    return pd.DataFrame(columns=["customer_id", "campaign_id", "cell_id", "channel",
                                 "control"])


def plan(workspace, group: str, *, as_of, mode: str = "priority", objective: str = "value",
         cells=None, constraints=None, policies=None, record: bool = True,
         rows: pd.DataFrame | None = None) -> Plan:
    """Prioritize the day's selections of a campaign group's programs, and record the run.

    The candidates are the treated rows of every program of the group for the day
    (:func:`lifecycle.programs.evaluate`); their held-out control rows are kept as they are.
    A program draws its control group at random from everyone it selects, so a limit that
    trims the treated rows leaves the control group a fair sample of the selection, not of
    those contacted: compare the control group with everyone selected for treatment
    (contacted or not, the cell's ``eligible`` count), and divide that difference by the
    share contacted (``selected / eligible``) for the effect per contact.
    ``cells``, ``constraints`` and ``policies`` replace the stored ones (as edited in the
    prioritization dashboard; default :func:`group_tables`). With ``record``, the run is a
    row of ``runs`` (kind ``prioritize``, status ``dry-run``, or ``failed`` when
    infeasible) holding its inputs and its result, so that it can be reopened
    (:func:`reopen`); nothing is sent or written to the contact history until
    :func:`export`. ``rows``: the day's selections when already drawn (:func:`day_rows`).
    """
    import uuid

    day = pd.Timestamp(as_of).normalize()
    if workspace.as_of is not None and day > workspace.as_of:
        raise ValueError(f"the workspace's data ends {workspace.as_of:%Y-%m-%d}: load the data "
                         f"up to {day:%Y-%m-%d} before prioritizing that day")
    stored = group_tables(workspace, group)
    inputs = {"mode": mode, "objective": objective,
              "cells": stored["cells"] if cells is None else _frame(cells, "cells"),
              "constraints": (stored["constraints"] if constraints is None
                              else _frame(constraints, "constraints")),
              "policies": stored["policies"] if policies is None else _frame(policies,
                                                                           "policies")}
    chosen = _programs_of(inputs["cells"].campaign_id)
    if rows is None:
        rows = day_rows(workspace, inputs["cells"].campaign_id, as_of=day)
    control = rows.control.fillna(False).astype(bool)
    send_at = day + pd.Timedelta(hours=max((p.send_hour for p in chosen), default=8))
    history = (workspace.table("contact_history") if "contact_history" in workspace.tables()
               else None)
    started = pd.Timestamp.now("UTC").tz_convert(None)
    def allocate(how):
        return optimize(rows.loc[~control, ["customer_id", "cell_id"]], inputs["cells"],
                        constraints=inputs["constraints"], policies=inputs["policies"],
                        history=history, as_of=send_at, mode=how, objective=objective)

    allocation = allocate(mode)
    baseline = allocate("priority") if mode == "optimal" else None
    keep = rows[~control].merge(allocation.contacts[["customer_id", "cell_id"]],
                                on=["customer_id", "cell_id"])
    selection = pd.concat([keep, rows[control]], ignore_index=True)
    run_id = f"prioritize-{group}-{day:%Y-%m-%d}-{uuid.uuid4().hex[:8]}" if record else None
    done = Plan(run_id, group, day, inputs, allocation, selection, baseline)
    if record:
        _record_plan(workspace, done, started)
    return done


def _records(frame: pd.DataFrame | None) -> list[dict] | None:
    if frame is None:
        return None
    return json.loads(frame.to_json(orient="records", date_format="iso"))


_INPUTS = ("cells", "constraints", "policies")
_RESULTS = ("counts", "log", "limits", "baseline")


def summary(plan: Plan) -> dict:
    """A plan as :func:`reopen` gives it back once recorded: ``run_id, group, as_of, mode,
    objective``, the inputs ``cells, constraints, policies``, and the result ``status,
    objective_value, bound, gain, counts, log, limits, baseline`` (the priority mode's
    counts in the optimizing mode, else None)."""
    a = plan.allocation
    return {"run_id": plan.run_id, "group": plan.group, "as_of": plan.as_of,
            "mode": plan.inputs["mode"], "objective": plan.inputs["objective"],
            **{k: plan.inputs[k] for k in _INPUTS}, "status": a.status,
            "objective_value": a.objective, "bound": a.bound, "gain": plan.gain,
            "counts": a.counts, "log": a.log, "limits": a.limits,
            "baseline": None if plan.baseline is None else plan.baseline.counts}


def _record_plan(workspace, plan: Plan, started) -> None:
    allocation, about = plan.allocation, summary(plan)
    parameters = {"group": plan.group, "mode": about["mode"], "objective": about["objective"],
                  **{k: _records(about[k]) for k in _INPUTS}}
    counts = {"status": allocation.status, "objective": allocation.objective,
              "bound": allocation.bound, "contacts": len(allocation.contacts),
              "gain": plan.gain, **{k: _records(about[k]) for k in _RESULTS}}
    run = pd.DataFrame([{
        "run_id": plan.run_id, "kind": "prioritize", "as_of": plan.as_of,
        "started_at": started,
        "finished_at": pd.Timestamp.now("UTC").tz_convert(None),
        "status": "failed" if allocation.status == "infeasible" else "dry-run",
        "parameters": json.dumps(parameters), "counts": json.dumps(counts)}])
    workspace.append("runs", run)


def recorded(workspace, group: str) -> pd.DataFrame:
    """The group's recorded prioritization runs, newest first: ``run_id, started_at, mode,
    status``."""
    columns = ["run_id", "started_at", "mode", "status"]
    if "runs" not in workspace.tables():
        return pd.DataFrame(columns=columns)
    runs = workspace.table("runs")
    found = runs.filter((runs.kind == "prioritize")
                        & runs.run_id.startswith(f"prioritize-{group}-")).execute()
    found = found.assign(mode=[json.loads(p)["mode"] for p in found.parameters],
                         status=[json.loads(c)["status"] for c in found.counts])
    return found.sort_values("started_at", ascending=False)[columns].reset_index(drop=True)


def reopen(workspace, run_id: str) -> dict:
    """A recorded prioritization run as it was, in the shape of :func:`summary`."""
    runs = workspace.table("runs")
    found = runs.filter((runs.run_id == run_id) & (runs.kind == "prioritize")).execute()
    if found.empty:
        raise ValueError(f"no prioritization run {run_id!r} in the workspace")
    row = found.iloc[0]
    parameters, counts = json.loads(row.parameters), json.loads(row.counts)

    def frame(records):
        return None if records is None else pd.DataFrame(records)

    return {"run_id": run_id, "group": parameters["group"], "as_of": row.as_of,
            "mode": parameters["mode"], "objective": parameters["objective"],
            **{k: frame(parameters[k]) for k in _INPUTS},
            "status": counts["status"], "objective_value": counts["objective"],
            "bound": counts["bound"], "gain": counts["gain"],
            **{k: frame(counts.get(k)) for k in _RESULTS}}


def export(workspace, plan: Plan, out, *, format: str = "csv") -> pd.DataFrame:
    """Write the plan's contacts, one consent-checked file per campaign and channel
    (:func:`lifecycle.export.write`: manifest, contact history and a run row each, whose
    ``source_run`` is the plan's run). Returns per file ``campaign_id, channel, selected,
    exported, control, file``."""
    from pathlib import Path

    from lifecycle import export as exporting
    from lifecycle import programs

    if plan.allocation.status == "infeasible":
        raise ValueError("an infeasible plan has nothing to export: see its log")
    by_campaign = {p.campaign_id: p for p, _ in programs.PROGRAMS.values()}
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    with programs._run_lock(workspace):
        for (campaign, channel), part in plan.selection.groupby(["campaign_id", "channel"],
                                                                sort=True):
            program = by_campaign[campaign]
            name = f"{plan.run_id or 'prioritize'}-{campaign}-{channel}"
            manifest = exporting.write(
                part, folder / f"{name}.{format}", workspace=workspace, channel=channel,
                as_of=plan.as_of + pd.Timedelta(hours=program.send_hour),
                fields=[f for f in program.fields if f in part.columns],
                purpose=program.purpose, run_id=name, kind="prioritize",
                source_run=plan.run_id)
            rows.append({"campaign_id": campaign, "channel": channel,
                         "selected": manifest["selected"], "exported": manifest["rows"],
                         "control": manifest["control"], "file": manifest["path"]})
    return pd.DataFrame(rows, columns=["campaign_id", "channel", "selected", "exported",
                                       "control", "file"])
