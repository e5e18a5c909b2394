"""lifecycle.sales: revenue per period, totals, new customers, customer restriction."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle import DataError, sales

METRICS = ["gross", "returns", "net", "orders", "customers"]


def _ts(*values: str) -> pd.Series:
    return pd.to_datetime(pd.Series(values), format="ISO8601")


@pytest.fixture
def tx() -> pd.DataFrame:
    """Two months, two channels, a return, an order of two lines."""
    return pd.DataFrame({
        "transaction_id": ["o1", "o1", "o2", "o3", "o4", "o5"],
        "customer_id": ["a", "a", "b", "a", "c", "b"],
        "ts": _ts("2024-01-02 10:00", "2024-01-02 10:00", "2024-01-15", "2024-01-31 23:59",
                  "2024-02-01", "2024-02-20"),
        "amount": [10.0, 5.0, 20.0, -4.0, 7.5, 2.5],
        "channel": ["web", "web", "store", "web", "store", "web"],
    })


@pytest.fixture
def customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "created_at": _ts("2023-12-30", "2024-01-10", "2024-01-31", "2024-03-05"),
        "region": ["north", "south", "north", "north"],
    })


def _expected(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    if "period" in frame:
        frame["period"] = pd.to_datetime(frame["period"])
    return frame


def _assert_equal(result: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(result, expected, check_dtype=False)


def test_revenue_by_month(tx):
    expected = _expected(
        [("2024-01-01", 35.0, 4.0, 31.0, 2, 2), ("2024-02-01", 10.0, 0.0, 10.0, 2, 2)],
        ["period", *METRICS],
    )
    _assert_equal(sales.revenue_by_period(tx), expected)


def test_revenue_by_month_and_channel(tx):
    expected = _expected(
        [
            ("2024-01-01", "store", 20.0, 0.0, 20.0, 1, 1),
            ("2024-01-01", "web", 15.0, 4.0, 11.0, 1, 1),
            ("2024-02-01", "store", 7.5, 0.0, 7.5, 1, 1),
            ("2024-02-01", "web", 2.5, 0.0, 2.5, 1, 1),
        ],
        ["period", "channel", *METRICS],
    )
    _assert_equal(sales.revenue_by_period(tx, by="channel"), expected)
    _assert_equal(sales.revenue_by_period(tx, by=["channel"]), expected)


def test_weeks_start_on_monday(tx):
    result = sales.revenue_by_period(tx, freq="week")
    assert (result["period"].dt.day_of_week == 0).all()
    # 2024-01-31 (Wednesday) and 2024-02-01 (Thursday) share the week of Monday 2024-01-29.
    week = result.set_index("period").loc[pd.Timestamp("2024-01-29")]
    assert (week["gross"], week["returns"], week["orders"]) == (7.5, 4.0, 1)


@pytest.mark.parametrize(("freq", "n_periods"), [("day", 5), ("D", 5), ("quarter", 1),
                                                 ("year", 1), ("M", 2)])
def test_frequencies(tx, freq, n_periods):
    result = sales.revenue_by_period(tx, freq=freq)
    assert len(result) == n_periods
    assert result["net"].sum() == pytest.approx(tx["amount"].sum())


def test_unknown_frequency_is_rejected(tx):
    with pytest.raises(ValueError, match="freq must be one of"):
        sales.revenue_by_period(tx, freq="fortnight")


def test_half_open_date_range(tx):
    result = sales.revenue_by_period(tx, start="2024-01-15", end="2024-02-01")
    _assert_equal(result, _expected([("2024-01-01", 20.0, 4.0, 16.0, 1, 1)],
                                    ["period", *METRICS]))


def test_rows_count_as_orders_without_an_order_column(tx):
    result = sales.revenue_totals(tx.drop(columns="transaction_id"))
    assert result.loc[0, "orders"] == 5  # the five sale lines; the return is not an order


def test_custom_column_names(tx):
    renamed = tx.rename(columns={"customer_id": "cid", "ts": "when", "amount": "value",
                                 "transaction_id": "order"})
    result = sales.revenue_by_period(renamed, ts_col="when", amount_col="value",
                                     customer_col="cid", order_col="order")
    _assert_equal(result, sales.revenue_by_period(tx))


def test_missing_column_is_named(tx):
    with pytest.raises(DataError, match="required column missing") as error:
        sales.revenue_by_period(tx, by="region")
    assert (error.value.table, error.value.column) == ("transactions", "region")


def test_input_is_not_mutated(tx):
    before = tx.copy()
    sales.revenue_by_period(tx, by="channel")
    sales.revenue_totals(tx)
    pd.testing.assert_frame_equal(tx, before)


def test_totals(tx):
    _assert_equal(sales.revenue_totals(tx), _expected([(45.0, 4.0, 41.0, 4, 3)], METRICS))


def test_totals_of_an_empty_range_are_zero(tx):
    result = sales.revenue_totals(tx, start="2030-01-01")
    assert len(result) == 1
    assert result.loc[0, METRICS].tolist() == [0, 0, 0, 0, 0]


def test_new_customers_by_month(customers):
    expected = _expected(
        [("2023-12-01", 1, 1), ("2024-01-01", 2, 3), ("2024-03-01", 1, 4)],
        ["period", "new_customers", "cumulative_customers"],
    )
    _assert_equal(sales.new_customers_by_period(customers), expected)


def test_new_customers_by_region_and_range(customers):
    result = sales.new_customers_by_period(customers, by="region", start="2024-01-01")
    expected = _expected(
        [("2024-01-01", "north", 1, 1), ("2024-01-01", "south", 1, 1),
         ("2024-03-01", "north", 1, 2)],
        ["period", "region", "new_customers", "cumulative_customers"],
    )
    _assert_equal(result, expected)


def test_restrict_to_customers_pandas_keeps_order_and_index(tx, customers):
    north = customers[customers["region"] == "north"]
    result = sales.restrict_to_customers(tx, north)
    pd.testing.assert_frame_equal(result, tx.iloc[[0, 1, 3, 4]])


def test_ibis_in_gives_lazy_ibis_out(tx, customers):
    t, c = ibis.memtable(tx), ibis.memtable(customers)
    lazy = {
        "by_period": sales.revenue_by_period(t, by="channel"),
        "totals": sales.revenue_totals(t),
        "new": sales.new_customers_by_period(c),
        "restricted": sales.restrict_to_customers(t, c.filter(c.region == "north")),
    }
    assert all(isinstance(expr, ir.Table) for expr in lazy.values())
    _assert_equal(lazy["by_period"].execute(), sales.revenue_by_period(tx, by="channel"))
    _assert_equal(lazy["totals"].execute(), sales.revenue_totals(tx))
    _assert_equal(lazy["new"].execute(), sales.new_customers_by_period(customers))
    ids = sorted(lazy["restricted"].execute()["transaction_id"])
    assert ids == ["o1", "o1", "o3", "o4"]


def test_rejects_other_inputs():
    with pytest.raises(TypeError, match="pandas DataFrame or an ibis Table"):
        sales.revenue_totals([{"customer_id": "a"}])


_amounts = st.lists(
    st.floats(min_value=-100, max_value=100, allow_nan=False).map(lambda v: round(v, 2)),
    min_size=1, max_size=30,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(amounts=_amounts, seed=st.integers(0, 2**16))
def test_periods_add_up_to_the_totals(amounts, seed):
    rng = np.random.default_rng(seed)
    n = len(amounts)
    frame = pd.DataFrame({
        "customer_id": rng.choice(["a", "b", "c"], n),
        "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 120, n), unit="D"),
        "amount": amounts,
    })
    monthly = sales.revenue_by_period(frame)
    totals = sales.revenue_totals(frame).iloc[0]
    assert np.allclose(monthly["net"], monthly["gross"] - monthly["returns"])
    assert (monthly[["gross", "returns"]] >= 0).all().all()
    for column in ["gross", "returns", "net", "orders"]:
        assert monthly[column].sum() == pytest.approx(totals[column])
    assert totals["net"] == pytest.approx(sum(amounts))
