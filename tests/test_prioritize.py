"""Cross-campaign prioritization: each rule of the priority mode on a hand-computed case, the
infeasible case with its log, and properties of both modes over random instances."""

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle import DataError, Workspace, prioritize
from lifecycle.cli import main
from lifecycle.prioritize import optimize

AS_OF = pd.Timestamp("2026-10-31 08:00")


def cells(*rows, **defaults):
    """Cells from ``(cell_id, campaign_id, priority)`` rows and shared columns."""
    base = {"group_id": "g", "cost": 1.0, "expected_value": 1.0, "channel": "email",
            "mandatory": False, "exclude_constraints": False, "exclude_policies": False}
    frame = pd.DataFrame(rows, columns=["cell_id", "campaign_id", "priority"])
    return frame.assign(**{**base, **defaults})


def pairs(spec: str) -> pd.DataFrame:
    """``"c1:a c1:b c2:b"`` -> candidates."""
    return pd.DataFrame([p.split(":") for p in spec.split()], columns=["customer_id",
                                                                       "cell_id"])


def got(result) -> list[tuple[str, str]]:
    return sorted(zip(result.contacts.customer_id, result.contacts.cell_id, strict=True))


ONCE = pd.DataFrame({"max_contacts": [1]})  # one contact per customer in this run


def test_a_mandatory_cell_comes_first_whatever_its_priority_and_ties_go_by_campaign():
    c = cells(("a", "z", 1), ("b", "y", 2), ("m", "x", 5))
    free = optimize(pairs("c1:a c1:b c1:m"), c, policies=ONCE, as_of=AS_OF)
    assert got(free) == [("c1", "a")]  # priority 1 first, though its campaign id is last
    tie = optimize(pairs("c1:a c1:b"), c.assign(priority=[1, 1, 9]), policies=ONCE,
                   as_of=AS_OF)
    assert got(tie) == [("c1", "b")]  # at equal priority, campaign y before z
    same = cells(("b2", "y", 1), ("b1", "y", 1))
    assert got(optimize(pairs("c1:b2 c1:b1"), same, policies=ONCE, as_of=AS_OF)) == [
        ("c1", "b1")]  # and in one campaign, cell b1 before b2
    must = optimize(pairs("c1:a c1:b c1:m"), c.assign(mandatory=[False, False, True]),
                    policies=ONCE, as_of=AS_OF)
    assert got(must) == [("c1", "m")]
    assert must.status == "feasible" and must.log.empty


def test_within_a_cell_the_highest_scores_first_ties_by_customer_id():
    c = cells(("a", "x", 1), max_count=2.0)
    cand = pairs("c3:a c1:a c2:a c0:a").assign(score=[5.0, 5.0, 9.0, 1.0])
    result = optimize(cand, c, as_of=AS_OF)
    assert result.contacts.customer_id.tolist() == ["c2", "c1"]
    again = optimize(cand.iloc[::-1], c, as_of=AS_OF)  # the input order does not matter
    pd.testing.assert_frame_equal(result.contacts, again.contacts)


@pytest.mark.parametrize(("level", "ident", "max_count", "max_cost", "expected"), [
    ("cell", "a", 1, None, 1 + 3),          # a: 1 of 3; b untouched
    ("campaign", "x", 2, None, 2),          # a and b share campaign x: 2 in all
    ("group", "g", None, 3.5, 3),           # 3.5 EUR at 1 EUR a contact: 3 contacts
])
def test_each_level_of_limit_holds(level, ident, max_count, max_cost, expected):
    c = cells(("a", "x", 1), ("b", "x", 2))
    limits = pd.DataFrame({"level": [level], "id": [ident], "max_count": [max_count],
                           "max_cost": [max_cost]})
    result = optimize(pairs("c1:a c2:a c3:a c4:b c5:b c6:b"), c, constraints=limits,
                      as_of=AS_OF)
    assert len(result.contacts) == expected
    assert result.counts.set_index("cell_id").eligible.tolist() == [3, 3]


def test_a_cell_excluded_from_constraints_ignores_them_and_does_not_use_them_up():
    c = cells(("a", "x", 1), ("b", "x", 2)).assign(exclude_constraints=[True, False])
    limits = pd.DataFrame({"level": ["campaign"], "id": ["x"], "max_count": [1.0],
                           "max_cost": [None]})
    result = optimize(pairs("c1:a c2:a c3:a c4:b c5:b"), c, constraints=limits, as_of=AS_OF)
    assert got(result) == [("c1", "a"), ("c2", "a"), ("c3", "a"), ("c4", "b")]


def test_a_cell_excluded_from_policies_ignores_them_and_is_not_counted():
    c = cells(("a", "x", 1), ("b", "y", 2)).assign(exclude_policies=[True, False])
    result = optimize(pairs("c1:a c1:b"), c, policies=ONCE, as_of=AS_OF)
    assert got(result) == [("c1", "a"), ("c1", "b")]


@pytest.mark.parametrize(("planned_at", "blocked"), [
    (AS_OF - pd.Timedelta(days=7), True),                           # exactly 7 days: counts
    (AS_OF - pd.Timedelta(days=7) - pd.Timedelta(microseconds=1), False),  # just before
    (AS_OF - pd.Timedelta(seconds=1), True),
    (AS_OF, False),                                                 # this run's own time
])
def test_a_window_counts_the_history_in_its_days_before_the_run(planned_at, blocked):
    weekly = pd.DataFrame({"max_contacts": [1], "channel": ["email"], "window_days": [7.0]})
    history = pd.DataFrame({"customer_id": ["c1", "c2"], "cell_id": ["old", "old_control"],
                            "channel": "email", "planned_at": [planned_at, AS_OF - pd.Timedelta(
                                days=1)]})
    result = optimize(pairs("c1:a c2:a"), cells(("a", "x", 1)), policies=weekly,
                      history=history, as_of=AS_OF)
    assert got(result) == ([] if blocked else [("c1", "a")]) + [("c2", "a")]  # control: no


def test_a_window_policy_on_one_channel_leaves_the_others_alone():
    c = cells(("a", "x", 1), ("b", "y", 2)).assign(channel=["email", "sms"])
    sms = pd.DataFrame({"max_contacts": [0], "channel": ["sms"], "window_days": [None]})
    assert got(optimize(pairs("c1:a c1:b"), c, policies=sms, as_of=AS_OF)) == [("c1", "a")]


def test_a_mandatory_cell_over_a_group_cap_is_infeasible_and_the_log_says_why():
    ids = [f"c{i:05d}" for i in range(30_000)]
    c = cells(("welcome", "w", 3), ("offer", "o", 1)).assign(mandatory=[True, False])
    cand = pd.DataFrame({"customer_id": ids * 2, "cell_id": ["welcome"] * 30_000 +
                         ["offer"] * 30_000})
    cap = pd.DataFrame({"level": ["group"], "id": ["g"], "max_count": [20_000.0],
                        "max_cost": [None]})
    for mode in ("priority", "optimal"):
        result = optimize(cand, c, constraints=cap, as_of=AS_OF, mode=mode)
        assert result.status == "infeasible" and result.contacts.empty
        assert result.counts.selected.sum() == 0
        row = result.log.iloc[0]
        assert (row.cell_id, row.needed, row.limit) == ("welcome", 30_000, 20_000)
        assert "group g" in row.constraint and "30,000" in row.message
        assert "20,000" in row.message and len(result.log) == 1


def test_a_mandatory_contact_the_history_forbids_is_infeasible():
    weekly = pd.DataFrame({"max_contacts": [1], "channel": ["email"], "window_days": [7.0]})
    history = pd.DataFrame({"customer_id": ["c2"], "cell_id": ["old"], "channel": "email",
                            "planned_at": [AS_OF - pd.Timedelta(days=2)]})
    c = cells(("must", "x", 1)).assign(mandatory=True)
    result = optimize(pairs("c1:must c2:must"), c, policies=weekly, history=history,
                      as_of=AS_OF)
    assert result.status == "infeasible"
    row = result.log.iloc[0]
    assert (row.cell_id, row.needed, row.limit) == ("must", 2, 1) and "c2" in row.message
    exempt = optimize(pairs("c1:must c2:must"), c.assign(exclude_policies=True),
                      policies=weekly, history=history, as_of=AS_OF)
    assert exempt.status == "feasible" and len(exempt.contacts) == 2


def test_the_optimizing_mode_takes_the_better_mix():
    c = cells(("a", "x", 1), ("b", "y", 2)).assign(expected_value=[2.0, 5.0])
    cand = pairs("c1:a c1:b c2:a c3:b")
    priority = optimize(cand, c, policies=ONCE, as_of=AS_OF)
    best = optimize(cand, c, policies=ONCE, as_of=AS_OF, mode="optimal")
    assert priority.objective == 2 + 2 + 5 and best.objective == 5 + 2 + 5
    assert best.status == "optimal" and best.gap == pytest.approx(0, abs=1e-9)
    profit = optimize(cand, c.assign(cost=[3.0, 1.0]), policies=ONCE, as_of=AS_OF,
                      mode="optimal", objective="profit")
    assert got(profit) == [("c1", "b"), ("c3", "b")]  # a loses money: never sent


@pytest.mark.parametrize("exact_pairs", [200_000, 0])
def test_each_limit_says_what_one_more_unit_of_it_is_worth(exact_pairs):
    c = cells(("a", "x", 1), ("b", "y", 1))
    cand = pairs("c1:a c2:a c3:a c4:b").assign(expected_value=[5.0, 4.0, 3.0, 1.0])
    limits = pd.DataFrame({"level": ["campaign", "campaign"], "id": ["x", "y"],
                           "max_count": [None, 5], "max_cost": [2.5, None]})
    result = optimize(cand, c, constraints=limits, as_of=AS_OF, mode="optimal",
                      exact_pairs=exact_pairs)
    assert result.objective == 5 + 4 + 1
    # exact: proven best; the decomposition: the relaxation's 5 + 4 + half of 3
    assert result.bound == pytest.approx(10.0 if exact_pairs else 11.5)
    worth = result.limits.set_index("constraint")
    # half a contact more of budget buys half of c3's 3.0: the last unit of x is worth 3
    assert worth.value_per_unit.to_dict() == pytest.approx({
        "campaign x: maximum cost": 3.0, "campaign y: maximum contacts": 0.0}, abs=1e-6)
    assert worth.used.tolist() == [2.0, 1.0] and worth.limit.tolist() == [2.5, 5.0]


def test_a_cost_limit_counts_in_the_common_unit_of_its_costs():
    from lifecycle.prioritize import _integer_row

    assert _integer_row(np.array([0.004, 0.06, 0.0]), 159.9456) == (250.0, 39_986)
    assert _integer_row(np.array([1.0, 1.0]), 17_993.88) == (1.0, 17_993)
    assert _integer_row(np.array([0.1, 0.3]), 0.9) == (10.0, 9)  # 0.1 * 9 is 0.8999...
    assert _integer_row(np.array([1 / 3, 0.5]), 2.0) == (6.0, 12)
    assert _integer_row(np.array([np.pi, 1.0]), 10.0) == (1.0, 10.0)  # no small unit: as is


def test_a_budget_split_between_sms_and_email_is_proven_best():
    # 7 contacts at most and 0.56 of budget: 2 SMS (0.25) and 5 e-mails (0.01) leave 0.01,
    # for which the relaxation swaps 1/24 of an e-mail for 1/24 of an SMS
    sms = [f"s{i}" for i in range(3)]
    mail = [f"m{i}" for i in range(8)]
    c = cells(("sms", "x", 1), ("mail", "x", 1)).assign(channel=["sms", "email"],
                                                         cost=[0.25, 0.01])
    cand = pd.DataFrame({"customer_id": sms + mail, "cell_id": ["sms"] * 3 + ["mail"] * 8,
                         "expected_value": [9.0, 8.5, 8.0] + [2.0 - 0.1 * i for i in range(8)]})
    limits = pd.DataFrame({"level": ["group", "group"], "id": ["g", "g"],
                           "max_count": [7, None], "max_cost": [None, 0.56]})
    rules = Rules(cand, c, limits, pd.DataFrame(columns=["max_contacts"]), None)
    value = cand.expected_value.to_numpy()
    brute = max(value[chosen].sum() for chosen in map(np.array, itertools.product(
        [False, True], repeat=len(cand))) if not rules.breaks(chosen))
    best = optimize(cand, c, constraints=limits, as_of=AS_OF, mode="optimal")
    assert best.status == "optimal" and best.objective == pytest.approx(brute)
    assert best.bound == pytest.approx(brute) and rules.breaks(rules.chosen(best)) == []


def test_a_budget_a_hair_under_the_cost_is_read_alike_by_both_modes():
    c = cells(("m", "x", 1)).assign(mandatory=True, cost=0.004)
    limits = pd.DataFrame({"level": ["group"], "id": ["g"], "max_count": [None],
                           "max_cost": [0.0039999995]})  # within the modes' 1e-9 of money
    for mode in ("priority", "optimal"):
        result = optimize(pairs("c1:m"), c, constraints=limits, as_of=AS_OF, mode=mode)
        assert result.status != "infeasible" and len(result.contacts) == 1, mode


def test_bad_input_names_the_table_and_column():
    c = cells(("a", "x", 1))
    with pytest.raises(DataError, match="'candidates', column 'cell_id': cell not in"):
        optimize(pairs("c1:zz"), c, as_of=AS_OF)
    with pytest.raises(DataError, match="a customer twice in one cell"):
        optimize(pairs("c1:a c1:a"), c, as_of=AS_OF)
    with pytest.raises(DataError, match="'cells', column 'cost'"):
        optimize(pairs("c1:a"), c.assign(cost=-1.0), as_of=AS_OF)
    with pytest.raises(DataError, match="'cells', column 'priority'"):
        optimize(pairs("c1:a"), c.drop(columns="priority"), as_of=AS_OF)
    with pytest.raises(ValueError, match="mode must be one of priority, optimal"):
        optimize(pairs("c1:a"), c, as_of=AS_OF, mode="best")


def test_beyond_exact_pairs_the_decomposition_comes_near_the_exact_best():
    rng = np.random.default_rng(7)
    c = cells(*[(f"k{i}", f"x{i // 4}", 1 + i % 3) for i in range(8)]).assign(
        channel=["sms" if i % 4 == 3 else "email" for i in range(8)],
        cost=[0.06 if i % 4 == 3 else 0.004 for i in range(8)],
        expected_value=rng.uniform(0.5, 6.0, 8).round(2))
    chosen = {(f"c{i:04d}", f"k{k}") for i in range(3000)
              for k in rng.choice(8, rng.integers(1, 5), replace=False)}
    cand = pd.DataFrame(sorted(chosen), columns=["customer_id", "cell_id"])
    cand["expected_value"] = (c.set_index("cell_id").expected_value[cand.cell_id].to_numpy()
                              * rng.lognormal(0, 0.5, len(cand))).round(3)
    limits = pd.DataFrame({"level": ["cell", "campaign", "group", "group"],
                           "id": ["k0", "x1", "g", "g"], "max_count": [300, None, 1500, None],
                           "max_cost": [None, 10.0, None, 16.0]})
    policies = pd.DataFrame({"max_contacts": [1, 1], "channel": [None, "sms"],
                             "window_days": [None, 7.0]})
    history = pd.DataFrame({"customer_id": [f"c{i:04d}" for i in range(0, 3000, 5)],
                            "cell_id": "old", "channel": "sms",
                            "planned_at": AS_OF - pd.Timedelta(days=2)})
    inputs = dict(constraints=limits, policies=policies, history=history, as_of=AS_OF,
                  mode="optimal")
    exact = optimize(cand, c, **inputs)
    large = optimize(cand, c, **inputs, exact_pairs=0)
    rules = Rules(cand, c, limits, policies, history)
    assert exact.status == "optimal" and rules.breaks(rules.chosen(large)) == []
    assert large.bound >= exact.objective - 1e-6
    assert large.objective >= exact.objective * (1 - 1e-3) and large.gap < 1e-3


# -- properties over random instances -----------------------------------------------------
@st.composite
def instances(draw):
    n_cells = draw(st.integers(1, 4))
    c = pd.DataFrame({
        "cell_id": [f"k{i}" for i in range(n_cells)],
        "campaign_id": [f"x{draw(st.integers(0, 1))}" for _ in range(n_cells)],
        "group_id": "g",
        "channel": [draw(st.sampled_from(["email", "sms"])) for _ in range(n_cells)],
        "cost": [draw(st.sampled_from([0.0, 0.004, 0.06, 1.0, 2.5])) for _ in range(n_cells)],
        "expected_value": [float(draw(st.integers(0, 9))) for _ in range(n_cells)],
        "priority": [draw(st.integers(1, 3)) for _ in range(n_cells)],
        "mandatory": [draw(st.booleans()) and draw(st.booleans()) for _ in range(n_cells)],
        "exclude_constraints": [draw(st.booleans()) and draw(st.booleans())
                                for _ in range(n_cells)],
        "exclude_policies": [draw(st.booleans()) and draw(st.booleans())
                             for _ in range(n_cells)]})
    people = [f"c{i}" for i in range(draw(st.integers(1, 5)))]
    chosen = draw(st.lists(st.tuples(st.sampled_from(people), st.sampled_from(
        list(c.cell_id))), min_size=1, max_size=9, unique=True))
    cand = pd.DataFrame(chosen, columns=["customer_id", "cell_id"]).assign(
        expected_value=[float(draw(st.integers(0, 9))) for _ in chosen])
    limits = pd.DataFrame([(level, ident, draw(st.one_of(st.none(), st.integers(0, 6))),
                            draw(st.one_of(st.none(), st.sampled_from(
                                [0.0, 0.07, 0.124, 1.0, 2.6, 4.5, 12.0]))))
                           for level, ident in [("cell", "k0"), ("campaign", "x0"),
                                                ("group", "g")] if draw(st.booleans())],
                          columns=["level", "id", "max_count", "max_cost"])
    policies = pd.DataFrame([(draw(st.integers(0, 2)), ch, w) for ch, w in
                             [(None, None), ("email", 7.0)] if draw(st.booleans())],
                            columns=["max_contacts", "channel", "window_days"])
    history = pd.DataFrame({"customer_id": people[:1], "cell_id": "old", "channel": "email",
                            "planned_at": [AS_OF - pd.Timedelta(days=1)]})
    return cand, c, limits, policies, history


class Rules:
    """An instance's limits and policies as arrays over its candidate pairs, to check any
    allocation (a boolean per pair) independently of the library."""

    def __init__(self, cand, c, limits, policies, history):
        cell = c.set_index("cell_id").loc[cand.cell_id]
        self.keys = list(zip(cand.customer_id, cand.cell_id, strict=True))
        self.cost = cell.cost.to_numpy()
        self.must = cell.mandatory.to_numpy()
        customer = pd.factorize(cand.customer_id)[0]
        free_of_limits = ~cell.exclude_constraints.to_numpy()
        free_of_policies = ~cell.exclude_policies.to_numpy()
        self.limits = []
        for row in limits.itertuples():
            column = {"cell": cell.index.to_numpy(), "campaign": cell.campaign_id.to_numpy(),
                      "group": cell.group_id.to_numpy()}[row.level]
            self.limits.append((f"{row.level} {row.id}", (column == row.id) & free_of_limits,
                                row.max_count, row.max_cost))
        self.policies = []
        for row in policies.itertuples():
            counted = free_of_policies.copy()
            before = np.zeros(customer.max() + 1)
            if isinstance(row.channel, str):
                counted &= cell.channel.to_numpy() == row.channel
            if pd.notna(row.window_days):
                past = history[history.channel == row.channel].customer_id
                for i, who in enumerate(pd.factorize(cand.customer_id)[1]):
                    before[i] = (past == who).sum()
            self.policies.append((row.max_contacts, counted, customer, before))

    def chosen(self, result) -> np.ndarray:
        sent = set(got(result))
        return np.array([k in sent for k in self.keys])

    def breaks(self, chosen: np.ndarray) -> list[str]:
        out = []
        for name, members, max_count, max_cost in self.limits:
            mine = chosen & members
            if pd.notna(max_count) and mine.sum() > max_count:
                out.append(f"{name} count")
            if pd.notna(max_cost) and self.cost[mine].sum() > max_cost + 1e-9:
                out.append(f"{name} cost")
        for limit, counted, customer, before in self.policies:
            mine = np.bincount(customer[chosen & counted], minlength=len(before))
            if ((mine + before > limit) & (mine > 0)).any():  # the history alone may be over
                out.append(f"policy at most {limit}")
        return out


@settings(max_examples=150, deadline=None)
@given(instances())
def test_no_limit_or_policy_is_broken_and_mandatory_means_everyone(instance):
    cand, c, limits, policies, history = instance
    rules = Rules(*instance)
    results = {mode: optimize(cand, c, constraints=limits, policies=policies, history=history,
                              as_of=AS_OF, mode=mode) for mode in ("priority", "optimal")}
    assert {r.status == "infeasible" for r in results.values()} in ({True}, {False})
    for mode, result in results.items():
        if result.status == "infeasible":
            assert result.contacts.empty and len(result.log) > 0
            continue
        chosen = rules.chosen(result)
        assert rules.breaks(chosen) == [], mode
        assert chosen[rules.must].all(), mode
    if results["priority"].status != "infeasible":
        assert results["optimal"].objective >= results["priority"].objective - 1e-9


@settings(max_examples=100, deadline=None)
@given(instances())
def test_the_optimizing_mode_is_the_best_of_every_allocation(instance):
    cand, c, limits, policies, history = instance
    rules = Rules(*instance)
    best = optimize(cand, c, constraints=limits, policies=policies, history=history,
                    as_of=AS_OF, mode="optimal")
    value = cand.expected_value.to_numpy()
    totals = [value[chosen].sum() for chosen in map(np.array, itertools.product(
        [False, True], repeat=len(cand))) if chosen[rules.must].all() and not
        rules.breaks(chosen)]
    # the decomposition, as beyond exact_pairs: an allocation that keeps every rule, whose
    # bound is never below the best
    large = optimize(cand, c, constraints=limits, policies=policies, history=history,
                     as_of=AS_OF, mode="optimal", exact_pairs=0)
    if not totals:
        assert best.status == large.status == "infeasible"
    else:
        assert best.status == "optimal" and best.objective == pytest.approx(max(totals))
        chosen = rules.chosen(large)
        assert rules.breaks(chosen) == [] and chosen[rules.must].all()
        assert large.objective <= max(totals) + 1e-9 <= large.bound + 1e-6


# -- a day of the demo: plan, record, reopen, export, the command line -------------------
@pytest.fixture(scope="module")
def day_demo(tmp_path_factory):
    """A demo to prioritize (its stored limits bind on its last day) and write runs into."""
    return Workspace.demo(tmp_path_factory.mktemp("prioritize") / "demo.duckdb",
                          n_customers=3000, random_state=5)


def test_a_day_is_planned_recorded_reopened_and_exported(day_demo, tmp_path):
    ws, day = day_demo, day_demo.as_of
    before = ws.table("contact_history").count().execute()
    plan = prioritize.plan(ws, "lifecycle", as_of=day, mode="optimal")
    a, budget = plan.allocation, 12 * 3  # EUR 12 per thousand customers
    assert a.status == "optimal" and a.counts.cost.sum() <= budget + 1e-9
    assert (a.counts.selected < a.counts.eligible).any()  # the limits bind: a real choice
    assert plan.gain >= 0 and plan.baseline.counts.cost.sum() <= budget + 1e-9
    assert ws.table("contact_history").count().execute() == before  # nothing sent yet
    again = prioritize.reopen(ws, plan.run_id)
    assert (again["group"], again["mode"], again["status"]) == ("lifecycle", "optimal",
                                                                "optimal")
    pd.testing.assert_frame_equal(again["counts"], a.counts, check_dtype=False)
    assert again["objective_value"] == pytest.approx(a.objective)
    assert again["gain"] == pytest.approx(plan.gain)
    assert set(again["cells"].cell_id) == set(plan.inputs["cells"].cell_id)
    files = prioritize.export(ws, plan, tmp_path / "out")
    assert files.exported.sum() == len(a.contacts)  # every allocated contact is sent
    treated = ws.table("contact_history").count().execute() - before
    assert treated == files.exported.sum() + files.control.sum()
    sources = ws.table("runs").filter(ws.table("runs").kind == "prioritize").execute()
    assert {json.loads(p)["source_run"] for p in sources.parameters
            if "source_run" in json.loads(p)} == {plan.run_id}
    # the same day again: who was just contacted is not selected again
    second = prioritize.plan(ws, "lifecycle", as_of=day, mode="priority", record=False)
    assert second.allocation.counts.eligible.sum() < a.counts.eligible.sum()


def test_an_infeasible_day_is_recorded_as_failed_with_its_log(day_demo):
    ws = day_demo
    cells = prioritize.group_tables(ws, "lifecycle")["cells"]
    cells = cells.assign(mandatory=cells.cell_id == "reactivation_no_opens")
    plan = prioritize.plan(ws, "lifecycle", as_of=ws.as_of, cells=cells,
                           constraints=pd.DataFrame({"level": ["campaign"],
                                                     "id": ["reactivation"],
                                                     "max_count": [1], "max_cost": [None]}))
    assert plan.allocation.status == "infeasible" and plan.allocation.contacts.empty
    again = prioritize.reopen(ws, plan.run_id)
    assert again["status"] == "infeasible" and "reactivation_no_opens" in set(
        again["log"].cell_id)
    assert ws.table("runs").filter(ws.table("runs").run_id == plan.run_id).status.execute(
    ).tolist() == ["failed"]
    with pytest.raises(ValueError, match="infeasible plan has nothing to export"):
        prioritize.export(ws, plan, "unused")


def test_the_command_line_prioritizes_a_day_and_says_what_is_wrong(day_demo, capsys):
    path, day = str(day_demo.path), f"{day_demo.as_of:%Y-%m-%d}"
    assert main(["prioritize", "--path", path, "--group", "lifecycle", "--as-of", day,
                 "--mode", "optimal"]) == 0
    out = capsys.readouterr().out
    assert "optimizing mode: optimal" in out and "so optimizing gains +" in out
    assert re.search(r"maximum (cost|contacts): one more (EUR of budget|contact) would add "
                     r"\d+\.\d\d EUR", out)  # what a binding limit costs
    assert main(["prioritize", "--path", path, "--group", "nope", "--as-of", day]) == 1
    assert "no campaign group 'nope'; the workspace has lifecycle" in capsys.readouterr().err
    assert main(["prioritize", "--path", path, "--as-of", day]) == 2
    assert "--group" in capsys.readouterr().err
