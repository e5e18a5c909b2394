"""Campaigns as data: the action tables, their cross-checks, limits and the control group."""

import hashlib

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle import DataError, Workspace, campaigns

CAMPAIGNS = pd.DataFrame({"campaign_id": ["welcome", "xsell"], "group_id": ["life", "life"],
                          "program": ["welcome", "cross-sell"]})
OFFERS = pd.DataFrame({"offer_id": ["case", "none"], "name": ["Phone case", "No offer"],
                       "discount": [0.2, 0.0]})
CELLS = pd.DataFrame({"cell_id": ["welcome_thank", "xsell_case"],
                      "campaign_id": ["welcome", "xsell"], "channel": ["email", "sms"],
                      "offer_id": [None, "case"], "cost": [0.01, 0.08],
                      "expected_value": [0.5, 2.0], "priority": [1, 2],
                      "mandatory": [True, False], "control_share": [0.1, 0.2]})


@pytest.fixture
def ws(tmp_path):
    return Workspace.open(tmp_path / "w.duckdb", create=True, as_of="2026-10-31")


def test_define_loads_the_tables_in_one_write_and_checks_references(ws):
    campaigns.define(ws, campaigns=CAMPAIGNS, offers=OFFERS, cells=CELLS)
    assert ws.table("cells").count().execute() == 2
    assert ws.table("cells").mandatory.execute().tolist() == [True, False]
    before = ws.version
    orphan = CELLS.assign(offer_id=[None, "mug"])
    with pytest.raises(DataError) as err:
        campaigns.define(ws, cells=orphan)
    problem = err.value.problems[0]
    assert (problem.table, problem.column) == ("cells", "offer_id")
    assert problem.rule == "offer not in the offers table" and problem.rows == 1
    assert problem.examples.cell_id.tolist() == ["xsell_case"]
    assert ws.version == before  # nothing of the refused write is kept
    assert ws.table("cells").offer_id.execute().fillna("-").tolist() == ["-", "case"]


def test_constraints_must_name_what_exists_at_their_level(ws):
    limits = pd.DataFrame({"level": ["campaign", "group", "cell", "Cell"],
                           "id": ["welcome", "lfe", "xsell_case", "nope"],
                           "max_count": [1000, 5000, 10, 1]})
    with pytest.raises(DataError) as err:
        campaigns.define(ws, campaigns=CAMPAIGNS, offers=OFFERS, cells=CELLS,
                         constraints=limits)
    found = {(p.rule, tuple(p.examples.id)) for p in err.value.problems}
    assert found == {("group not in the campaigns table", ("lfe",)),
                     ("cell not in the cells table", ("nope",))}  # "Cell" is lower-cased


@pytest.mark.parametrize(("table", "frame", "column", "rule"), [
    ("cells", CELLS.assign(control_share=[0.1, 1.0]), "control_share", "below 1"),
    ("cells", CELLS.assign(cost=[0.01, -1.0]), "cost", "negative"),
    ("cells", CELLS.assign(max_count=[10.5, None]), "max_count", "not a whole number"),
    ("cells", pd.concat([CELLS, CELLS.head(1)]), "cell_id", "duplicate key"),
    ("cells", CELLS.drop(columns="channel"), "channel", "required column missing"),
    ("constraints", pd.DataFrame({"level": ["shop"], "id": ["x"]}), "level", "not one of"),
    ("contact_policies", pd.DataFrame({"policy_id": ["p"], "max_contacts": [-1]}),
     "max_contacts", "negative"),
])
def test_bad_action_tables_are_refused_with_examples(ws, table, frame, column, rule):
    with pytest.raises(DataError) as err:
        ws.load(table, frame)
    problem = err.value.problems[0]
    assert (problem.table, problem.column) == (table, column)
    assert rule in problem.rule


def test_limits_take_the_smaller_of_the_cell_and_the_constraints_table():
    cells = CELLS.assign(max_count=[100, None], max_cost=[None, 50.0])
    constraints = pd.DataFrame({"level": ["cell", "cell", "group"],
                                "id": ["welcome_thank", "xsell_case", "life"],
                                "max_count": [150, 20, None], "max_cost": [None, 80.0, 900.0]})
    got = campaigns.limits(cells, constraints).set_index(["level", "id"])
    assert got.max_count.to_dict() == {("cell", "welcome_thank"): 100, ("cell", "xsell_case"): 20,
                                       ("group", "life"): pytest.approx(np.nan, nan_ok=True)}
    assert got.max_cost[("cell", "xsell_case")] == 50.0
    assert got.max_cost[("group", "life")] == 900.0


def _md5_share(campaign, customer):
    return int(hashlib.md5(f"{campaign}:{customer}".encode()).hexdigest()[:8], 16) / 16**8


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text("abc0123456789-", min_size=1, max_size=8), min_size=1, max_size=30,
                unique=True),
       st.floats(0, 0.99), st.sampled_from(["welcome", "xsell", "Ret 2026"]))
def test_control_group_is_the_md5_rule_on_every_run_and_backend(ids, share, campaign):
    cells = pd.DataFrame({"cell_id": ["c"], "campaign_id": [campaign], "control_share": [share]})
    selection = pd.DataFrame({"customer_id": ids, "cell_id": "c"})
    got = campaigns.split_control(selection, cells)
    assert got.customer_id.tolist() == ids  # a frame comes back in its order
    assert got.control.tolist() == [_md5_share(campaign, c) < share for c in ids]
    lazy = campaigns.split_control(ibis.memtable(selection), cells).execute()
    assert lazy.set_index("customer_id").control.sort_index().equals(
        got.set_index("customer_id").control.sort_index())


def test_control_share_is_kept_and_campaigns_draw_independently():
    ids = [f"C{i:06d}" for i in range(40_000)]
    cells = pd.DataFrame({"cell_id": ["w", "x"], "campaign_id": ["welcome", "xsell"],
                          "control_share": [0.1, 0.1]})
    held = {cell: campaigns.split_control(pd.DataFrame({"customer_id": ids, "cell_id": cell}),
                                          cells).control.to_numpy() for cell in ("w", "x")}
    for flags in held.values():
        assert abs(flags.mean() - 0.1) < 4 * np.sqrt(0.1 * 0.9 / len(ids))
    both = (held["w"] & held["x"]).mean()  # independent: 1 % are held out of both
    assert abs(both - 0.01) < 4 * np.sqrt(0.01 * 0.99 / len(ids))


def test_a_selection_naming_an_unknown_cell_is_refused():
    cells = pd.DataFrame({"cell_id": ["w"], "campaign_id": ["welcome"], "control_share": [0.1]})
    with pytest.raises(DataError, match="cell not in the cells table") as err:
        campaigns.split_control(pd.DataFrame({"customer_id": ["a", "b"],
                                              "cell_id": ["w", "v"]}), cells)
    assert err.value.problems[0].examples.cell_id.tolist() == ["v"]
