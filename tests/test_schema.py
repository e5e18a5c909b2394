import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle import DataError, validate
from lifecycle.schema import TABLES

AS_OF = "2025-06-30"


def customers(**overrides) -> pd.DataFrame:
    df = pd.DataFrame({
        "customer_id": ["C1", "C2", "C3"],
        "created_at": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
        "email": ["a@x.fi", "b@x.fi", "c@x.fi"],
        "acquisition_cost": [10.0, 0.0, 25.5],
    })
    return df.assign(**overrides)


def transactions(**overrides) -> pd.DataFrame:
    df = pd.DataFrame({
        "customer_id": ["C1", "C1", "C2"],
        "ts": pd.to_datetime(["2024-01-01 10:00", "2024-03-01 00:00", "2024-02-01 00:00"]),
        "amount": [100.0, -20.0, 55.0],
        "channel": ["web", "store", "web"],
    })
    return df.assign(**overrides)


def problem(excinfo) -> tuple[str, str, str, int]:
    err = excinfo.value
    return err.table, err.column, err.rule, err.rows


def test_valid_table_passes_with_types_and_all_columns():
    clean, repairs = validate(customers(), "customers", as_of=AS_OF)
    canonical = [c.name for c in TABLES["customers"].columns]
    assert list(clean.columns[:len(canonical)]) == canonical
    assert clean.customer_id.tolist() == ["C1", "C2", "C3"]
    assert clean.region.isna().all()  # optional column added as null
    assert set(repairs.repair) == {"optional column absent, filled with null"}


def test_missing_required_column_is_named():
    with pytest.raises(DataError) as excinfo:
        validate(customers().drop(columns="created_at"), "customers", as_of=AS_OF)
    assert excinfo.value.column == "created_at"
    assert "required column missing" in excinfo.value.rule
    assert "customer_id, email" in excinfo.value.rule  # the columns that are there


def test_uncastable_timestamp_reports_rows_and_examples():
    df = customers(created_at=["2024-01-01", "not a date", "2024-13-45"])
    with pytest.raises(DataError) as excinfo:
        validate(df, "customers", as_of=AS_OF)
    assert problem(excinfo)[:2] == ("customers", "created_at")
    assert excinfo.value.rule.startswith("cannot be read as timestamp: text timestamps must be ISO")
    assert excinfo.value.rows == 2
    examples = excinfo.value.examples
    assert examples.row.tolist() == [2, 3]
    assert examples.customer_id.tolist() == ["C2", "C3"]
    assert "not a date" in str(excinfo.value)


def test_uncastable_amount():
    with pytest.raises(DataError) as excinfo:
        validate(transactions(amount=["10.5", "ten", "3"]), "transactions", as_of=AS_OF)
    assert problem(excinfo) == ("transactions", "amount", "cannot be read as float", 1)


def test_duplicate_key_lists_all_duplicate_rows():
    df = customers(customer_id=["C1", "C2", "C1"])
    with pytest.raises(DataError) as excinfo:
        validate(df, "customers", as_of=AS_OF)
    assert problem(excinfo) == ("customers", "customer_id", "duplicate key", 2)
    assert sorted(excinfo.value.examples.row.tolist()) == [1, 3]


def test_duplicate_after_trimming_is_a_duplicate():
    with pytest.raises(DataError, match="duplicate key"):
        validate(customers(customer_id=["C1", "C2", " C1 "]), "customers", as_of=AS_OF)


def test_null_id():
    with pytest.raises(DataError) as excinfo:
        validate(transactions(customer_id=["C1", None, "C2"]), "transactions", as_of=AS_OF)
    assert problem(excinfo)[1:] == ("customer_id",
                                    "missing value (null, NaN or blank) in a required column", 1)


def test_timestamp_after_as_of():
    df = transactions(ts=pd.to_datetime(["2024-01-01 00:00", "2025-07-01 00:00", "2025-06-30 23:00"]))
    with pytest.raises(DataError) as excinfo:
        validate(df, "transactions", as_of="2025-06-30")
    assert excinfo.value.column == "ts"
    assert excinfo.value.rule == "timestamp after as_of 2025-06-30 00:00:00"
    assert excinfo.value.rows == 1  # a date as_of includes the whole day
    assert excinfo.value.examples.row.tolist() == [2]


def test_future_end_dates_are_allowed():
    df = pd.DataFrame({"customer_id": ["C1"], "start_at": ["2024-01-01"],
                       "end_at": ["2026-01-01"]})
    clean, _ = validate(df, "subscriptions", as_of=AS_OF)
    assert clean.end_at.iloc[0] == pd.Timestamp("2026-01-01")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinite_amounts(bad):
    with pytest.raises(DataError) as excinfo:
        validate(transactions(amount=[1.0, bad, 2.0]), "transactions", as_of=AS_OF)
    assert excinfo.value.column == "amount"
    assert excinfo.value.rows == 1
    assert excinfo.value.examples.row.tolist() == [2]


def test_negative_cost_is_an_error_but_negative_amount_is_a_return():
    validate(transactions(amount=[10.0, -10.0, 5.0]), "transactions", as_of=AS_OF)
    with pytest.raises(DataError) as excinfo:
        validate(customers(acquisition_cost=[1.0, -5.0, 2.0]), "customers", as_of=AS_OF)
    assert problem(excinfo) == ("customers", "acquisition_cost", "negative value", 1)


def test_empty_table():
    with pytest.raises(DataError) as excinfo:
        validate(customers().iloc[:0], "customers", as_of=AS_OF)
    assert excinfo.value.rule == "empty table"
    clean, _ = validate(customers().iloc[:0], "customers", as_of=AS_OF, allow_empty=True)
    assert len(clean) == 0


def test_mixed_timezones_in_python_objects():
    values = [pd.Timestamp("2024-01-01", tz="Europe/Helsinki"), pd.Timestamp("2024-01-02"),
              pd.Timestamp("2024-01-03")]
    with pytest.raises(DataError) as excinfo:
        validate(customers(created_at=pd.Series(values, dtype=object)), "customers",
                 as_of=AS_OF)
    assert excinfo.value.column == "created_at"
    assert "mixed" in excinfo.value.rule


def test_mixed_timezones_in_text():
    df = customers(created_at=["2024-01-01T10:00:00+02:00", "2024-01-02 10:00", "2024-01-03"])
    with pytest.raises(DataError) as excinfo:
        validate(df, "customers", as_of=AS_OF)
    assert problem(excinfo) == ("customers", "created_at",
                                "mixed timestamps with and without a timezone", 1)
    assert excinfo.value.examples.row.tolist() == [1]


def test_aware_timestamps_become_naive_utc_and_are_counted():
    ts = pd.to_datetime(["2024-01-01 12:00"] * 3).tz_localize("Europe/Helsinki")
    clean, repairs = validate(customers(created_at=ts), "customers", as_of=AS_OF)
    assert clean.created_at.iloc[0] == pd.Timestamp("2024-01-01 10:00")
    assert clean.created_at.dt.tz is None
    row = repairs[repairs.column == "created_at"].iloc[0]
    assert "naive UTC" in row.repair and row.rows == 3


def test_zoned_text_timestamps_are_converted_to_utc():
    df = customers(created_at=["2024-01-01T12:00:00+02:00", "2024-01-02T00:30:00Z",
                               "2024-01-03T00:00:00-05:00"])
    clean, _ = validate(df, "customers", as_of=AS_OF)
    assert clean.created_at.tolist() == pd.to_datetime(
        ["2024-01-01 10:00", "2024-01-02 00:30", "2024-01-03 05:00"]).tolist()


def test_safe_repairs_are_counted():
    df = customers(customer_id=[1, 2, 3], email=[" A@X.fi", "b@x.fi", "C@x.fi "])
    clean, repairs = validate(df, "customers", as_of=AS_OF)
    assert clean.customer_id.tolist() == ["1", "2", "3"]
    assert clean.email.tolist() == ["a@x.fi", "b@x.fi", "c@x.fi"]
    counts = dict(zip(repairs.repair, repairs.rows, strict=True))
    assert counts["cast from int64 to text"] == 3
    assert counts["e-mail trimmed and lower-cased"] == 2


def test_float_ids_become_integer_text():
    df = transactions(customer_id=[1.0, 1.0, 2.0])
    clean, _ = validate(df, "transactions", as_of=AS_OF)
    assert clean.customer_id.tolist() == ["1", "1", "2"]


def test_unknown_category_value():
    with pytest.raises(DataError) as excinfo:
        validate(transactions(channel=["web", "Store ", "phone"]), "transactions", as_of=AS_OF)
    assert problem(excinfo) == ("transactions", "channel", "value not one of web, store", 1)
    assert excinfo.value.examples.channel.tolist() == ["phone"]


def test_end_before_start():
    df = pd.DataFrame({"customer_id": ["C1", "C2"], "start_at": ["2024-01-01", "2024-05-01"],
                       "end_at": ["2025-01-01", "2024-04-01"]})
    with pytest.raises(DataError) as excinfo:
        validate(df, "subscriptions", as_of=AS_OF)
    assert problem(excinfo) == ("subscriptions", "end_at", "end_at before start_at", 1)


def test_every_problem_is_reported_at_once():
    df = transactions(amount=[np.inf, 1.0, 2.0], channel=["web", "fax", "web"])
    with pytest.raises(DataError) as excinfo:
        validate(df, "transactions", as_of=AS_OF)
    assert {p.column for p in excinfo.value.problems} == {"amount", "channel"}


def test_caller_column_names():
    df = transactions().rename(columns={"customer_id": "cust", "ts": "order_time"})
    clean, _ = validate(df, "transactions", as_of=AS_OF,
                        columns={"cust": "customer_id", "order_time": "ts"})
    assert {"customer_id", "ts"} <= set(clean.columns)
    lazy, _ = validate(ibis.memtable(df), "transactions", as_of=AS_OF,
                       columns={"cust": "customer_id", "order_time": "ts"})
    assert {"customer_id", "ts"} <= set(lazy.columns) and "cust" not in lazy.columns


def test_ibis_in_ibis_out_and_input_untouched():
    df = customers(customer_id=[" C1", "C2", "C3"])
    before = df.copy()
    clean, _ = validate(ibis.memtable(df), "customers", as_of=AS_OF)
    assert isinstance(clean, ibis.Table)
    assert clean.execute().customer_id.tolist() == ["C1", "C2", "C3"]
    pd.testing.assert_frame_equal(df, before)


def test_csv_read_by_duckdb(tmp_path):
    path = tmp_path / "transactions.csv"
    path.write_text("customer_id,ts,amount,channel\n1,2024-01-01,10.5,web\n"
                    "2,2024-01-02,inf,store\n")
    con = ibis.duckdb.connect()
    with pytest.raises(DataError) as excinfo:
        validate(con.read_csv(path), "transactions", as_of=AS_OF)
    assert problem(excinfo) == ("transactions", "amount", "NaN or infinite value", 1)


ids = st.text(alphabet="abc123 ", min_size=1, max_size=6).filter(lambda s: s.strip())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(ids, st.floats(-1e6, 1e6), st.integers(0, 10_000)),
                min_size=1, max_size=30))
def test_validation_never_loses_or_invents_rows(rows):
    df = pd.DataFrame(rows, columns=["customer_id", "amount", "minutes"])
    df["ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(df.pop("minutes"), unit="min")
    clean, repairs = validate(df, "transactions", as_of=AS_OF)
    assert len(clean) == len(df)
    assert clean.customer_id.tolist() == df.customer_id.str.strip().tolist()
    assert np.allclose(clean.amount, df.amount)
    assert (repairs.rows <= len(df)).all()
