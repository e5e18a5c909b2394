"""lifecycle.datasets: the CDNOW files shipped with lifetimes, read without importing it."""

import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from lifecycle.datasets import load_cdnow


@pytest.fixture(scope="module")
def sample():
    return load_cdnow()


@pytest.fixture(scope="module")
def master():
    return load_cdnow(sample=False)


def test_sample_shape_and_types(sample):
    assert list(sample.columns) == ["customer_id", "ts", "quantity", "amount"]
    assert len(sample) == 6919
    assert sample["customer_id"].nunique() == 2357
    assert pd.api.types.is_string_dtype(sample["customer_id"])
    assert pd.api.types.is_datetime64_dtype(sample["ts"])
    assert sample["quantity"].dtype == "int64" and sample["amount"].dtype == "float64"


def test_master_shape(master):
    assert len(master) == 69659
    assert master["customer_id"].nunique() == 23570
    assert list(master.columns) == ["customer_id", "ts", "quantity", "amount"]


@pytest.mark.parametrize("which", ["sample", "master"])
def test_cohort_and_period(which, request):
    tx = request.getfixturevalue(which)
    assert tx["ts"].min() == pd.Timestamp("1997-01-01")
    assert tx["ts"].max() == pd.Timestamp("1998-06-30")
    first = tx.groupby("customer_id")["ts"].min()
    assert first.max() <= pd.Timestamp("1997-03-31")  # everyone first bought in Q1 1997
    assert (tx["ts"] == tx["ts"].dt.normalize()).all()  # dates, no time of day
    assert (tx["amount"] >= 0).all() and (tx["quantity"] >= 1).all()


def test_ids_are_the_files_numbers_without_padding(sample, master):
    assert sample["customer_id"].iloc[0] == "1" and sample["customer_id"].iloc[-1] == "2357"
    assert set(master["customer_id"]) == {str(i) for i in range(1, 23571)}


def test_first_rows_match_the_sample_file(sample):
    head = sample.head(3)
    assert head["customer_id"].tolist() == ["1", "1", "1"]
    assert head["ts"].dt.strftime("%Y-%m-%d").tolist() == ["1997-01-01", "1997-01-18",
                                                            "1997-08-02"]
    assert head["amount"].tolist() == [29.33, 29.73, 14.96]
    assert head["quantity"].tolist() == [2, 2, 1]


def test_ordered_by_customer_then_date(sample, master):
    for tx in (sample, master):
        key = tx["customer_id"].astype(int)
        assert key.is_monotonic_increasing
        assert tx.groupby(key)["ts"].apply(lambda s: s.is_monotonic_increasing).all()


@pytest.mark.parametrize("sample_file", [True, False])
def test_totals_match_the_raw_file(sample_file, sample, master):
    """Every row read: totals against a plain parse of the whitespace-separated file."""
    folder = Path(importlib.util.find_spec("lifetimes").origin).parent / "datasets"
    lines = (folder / ("CDNOW_sample.txt" if sample_file else "CDNOW_master.txt")).read_text()
    rows = [line.split() for line in lines.splitlines()[0 if sample_file else 1:] if line.strip()]
    tx = sample if sample_file else master
    assert len(rows) == len(tx)
    assert tx["amount"].sum() == pytest.approx(sum(float(r[-1]) for r in rows), abs=1e-6)
    assert tx["quantity"].sum() == sum(int(r[-2]) for r in rows)


def test_reading_leaves_warnings_and_lifetimes_alone():
    before = list(warnings.filters)
    load_cdnow()
    assert warnings.filters == before
    code = ("import sys; from lifecycle.datasets import load_cdnow; load_cdnow(); "
            "load_cdnow(sample=False); assert 'lifetimes' not in sys.modules, 'imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
