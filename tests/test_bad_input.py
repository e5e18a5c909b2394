"""The bad-input corpus: every canonical table, every input path (pandas frame, CSV file, Parquet
file, and the command line for a sample).

Each case is one bad (or doubtful) column or table, loaded into a workspace that already holds a
valid version of the table. Its outcome must be one of:

- ``Reject``: a DataError with a problem naming the table and the column (and, when it counts
  rows, example rows), and the workspace's previous table unchanged;
- ``Repair``: loaded, with the repair counted in ``ws.quality()`` for that table and column;
- ``Kept``: loaded exactly as written (a CSV file is text: ``007`` or ``1.5`` are ids as they
  stand, nothing is rounded or guessed).

Anything else (another exception, a silent change) fails the case.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import ibis
import numpy as np
import pandas as pd
import pytest

from lifecycle import DataError, Workspace
from lifecycle.cli import main
from lifecycle.schema import TABLES, Column, TableSpec

AS_OF = "2025-06-30"
PATHS = ("frame", "csv", "parquet")


@dataclass(frozen=True)
class Reject:
    rule: str
    rows: int | None = None


@dataclass(frozen=True)
class Repair:
    repair: str
    rows: int


@dataclass(frozen=True)
class Kept:
    values: tuple


@dataclass(frozen=True)
class Case:
    """One bad input: how to build it from the valid table, and the outcome per path."""

    name: str
    kind: str
    column: str
    build: Callable[[pd.DataFrame], pd.DataFrame]
    outcomes: dict = field(default_factory=dict)  # path -> outcome; a path absent: not possible
    columns: dict | None = None  # source name -> canonical name, as Workspace.load takes it


def every(outcome) -> dict:
    return dict.fromkeys(PATHS, outcome)


def by(frame=None, csv=None, parquet=None) -> dict:
    return {k: v for k, v in {"frame": frame, "csv": csv, "parquet": parquet}.items() if v}


# -- the valid table ------------------------------------------------------------------------
STARTS = pd.to_datetime(["2024-01-01 10:00", "2024-01-02 10:00", "2024-01-03 10:00"])
ENDS = STARTS + pd.Timedelta(days=60)  # columns that must not lie before another
TIMES = STARTS + pd.Timedelta(days=30)  # what the cases put in any timestamp column


def _ends(spec: TableSpec) -> set[str]:
    return {end for _, end in spec.ordered}


def _valid_values(col: Column, spec: TableSpec) -> list:
    if col.kind == "id":
        return [f"{spec.name[:2].upper()}-{col.name[:3]}-{i}" for i in range(3)]
    if col.kind == "timestamp":
        return list(ENDS if col.name in _ends(spec) else STARTS)
    if col.kind == "float":
        return [1.0, 2.0, 3.0]
    if col.kind == "bool":
        return [True, False, True]
    if col.choices:
        return [col.choices[0]] * 3
    return [f"a{i}@example.com" for i in range(3)] if col.name == "email" else ["x", "y", "z"]


def valid(kind: str) -> pd.DataFrame:
    spec = TABLES[kind]
    out = pd.DataFrame({c.name: _valid_values(c, spec) for c in spec.columns})
    if kind == "messages":  # delivered, not bounced, and the second one never opened: the
        out = out.assign(delivered=True, bounce=pd.Series([None] * 3, dtype="str"))  # cases
        out.loc[1, ["opened_at", "clicked_at", "complained_at"]] = pd.NaT  # put False there
    if kind == "cells":
        out = out.assign(control_share=[0.1, 0.2, 0.0])
    return out


def column(name: str, values) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def build(df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out[name] = pd.Series(values, dtype=object) if isinstance(values, list) else values
        return out
    return build


# -- the cases --------------------------------------------------------------------------------
def _single_key(spec: TableSpec, col: Column) -> bool:
    return spec.key == (col.name,)


def id_cases(spec: TableSpec, col: Column):
    req = col.required
    missing = Reject("missing value")
    yield "fractional float", [1.5, 2.5, 3.0], by(
        frame=Reject("fractional part", 2), parquet=Reject("fractional part", 2),
        csv=Kept(("1.5", "2.5", "3.0")))
    yield "2^63 and more", np.array([2**63, 2**63 + 1, 5], dtype=np.uint64), by(
        frame=Repair("cast from uint64 to text", 3), parquet=Repair("cast from uint64 to text", 3),
        csv=Kept(("9223372036854775808", "9223372036854775809", "5")))
    yield "2^63 and more as Python ints", [2**63, 2**63 + 1, 5], by(
        frame=Repair("cast from uint64 to text", 3),
        csv=Kept(("9223372036854775808", "9223372036854775809", "5")))
    yield "2^64 and more", [2**64, 2**64 + 1, 5], by(
        frame=Reject("64-bit range", 2), csv=Kept(("18446744073709551616",
                                                     "18446744073709551617", "5")))
    yield "float of 2^60", [2.0**60, 1.0, 2.0], by(
        frame=Reject("2^53", 1), parquet=Reject("2^53", 1),
        csv=Kept(("1.152921504606847e+18", "1.0", "2.0")))
    yield "infinite float", [np.inf, 1.0, 2.0], by(
        frame=Reject("2^53", 1), parquet=Reject("2^53", 1), csv=Kept(("inf", "1.0", "2.0")))
    yield "blank", ["", "   ", "X"], every(missing) if req else by(
        frame=Repair("blank text read as null", 2), parquet=Repair("blank text read as null", 2),
        csv=Repair("blank text read as null", 1))  # CSV reads an empty field as null already
    yield "lists", [[1], [2], [3]], by(
        frame=Reject("lists or dicts", 3), parquet=Reject("cannot be read as id: array", 3),
        csv=Kept(("[1]", "[2]", "[3]")))
    yield "dicts", [{"a": 1}, {"a": 2}, {"a": 3}], by(
        frame=Reject("lists or dicts", 3), parquet=Reject("cannot be read as id: struct", 3),
        csv=Kept(("{'a': 1}", "{'a': 2}", "{'a': 3}")))
    yield "7 beside '007'", [7, "007", "X"], by(
        frame=Reject("mixed value types", 1), csv=Kept(("7", "007", "X")))
    yield "timestamp beside text", [pd.Timestamp("2024-01-01"), "X", "Y"], by(
        frame=Reject("mixed value types", 1), csv=Kept(("2024-01-01 00:00:00", "X", "Y")))
    yield "bytes", [b"a", b"b", b"c"], by(
        frame=Reject("cannot be read as id: binary", 3),
        parquet=Reject("cannot be read as id: binary", 3), csv=Kept(("b'a'", "b'b'", "b'c'")))
    if not _single_key(spec, col):
        yield "booleans", [True, False, True], by(
            frame=Reject("cannot be read as id: boolean", 3),
            parquet=Reject("cannot be read as id: boolean", 3), csv=Kept(("True", "False", "True")))
    yield "padded", [" A1 ", "A2", "A3"], every(Repair("whitespace trimmed", 1))
    yield "integers", [1, 2, 3], by(
        frame=Repair("cast from int64 to text", 3), parquet=Repair("cast from int64 to text", 3),
        csv=Kept(("1", "2", "3")))
    yield "whole floats", [1.0, 2.0, 3.0], by(
        frame=Repair("cast from float64 to text", 3), parquet=Repair("cast from float64 to text",
                                                                     3),
        csv=Kept(("1.0", "2.0", "3.0")))
    yield "decimals", [Decimal("1"), Decimal("2.0"), Decimal("30")], by(
        frame=Repair("cast from int64 to text", 3), parquet=Repair("cast from decimal", 3),
        csv=Kept(("1", "2.0", "30")))
    yield "decimals with a None", [Decimal("1"), None, Decimal("3")], every(missing) if req else by(
        frame=Repair("cast from int64 to text", 2), parquet=Repair("cast from decimal", 2),
        csv=Kept(("1", None, "3")))
    yield "fractional decimal", [Decimal("1.5"), Decimal("2"), Decimal("3")], by(
        frame=Reject("fractional part", 1), parquet=Reject("fractional part", 1),
        csv=Kept(("1.5", "2", "3")))
    if req:
        yield "null", [None, "X", "Y"], every(missing)
        yield "NaN float", [1.0, np.nan, 3.0], every(missing)
    if _single_key(spec, col):
        yield "duplicate key", ["A", "A", "B"], every(Reject("duplicate key", 2))
        yield "duplicate after trimming", ["A", " A", "B"], every(Reject("duplicate key", 2))


def timestamp_cases(spec: TableSpec, col: Column):
    iso = Reject("ISO 8601")
    cannot = Reject("cannot be read as timestamp")
    yield "day first (01/05/2024)", ["01/05/2024", "13/05/2024", "2024-02-01"], every(
        Reject("ISO 8601", 2))
    yield "named zone", ["2024-02-05 12:00:00", "2024-02-05 12:00:00 Europe/Helsinki",
                         "2024-02-05 12:00:00"], every(Reject("timezone name", 1))
    yield "offset beside naive text", ["2024-02-05 12:00:00+02:00", "2024-02-05 12:00:00",
                                       "2024-02-06 12:00:00"], every(
        Reject("mixed timestamps with and without a timezone", 1))
    helsinki = pd.Timestamp("2024-02-05 12:00", tz="Europe/Helsinki")
    yield "aware beside naive objects", [helsinki, pd.Timestamp("2024-02-05 12:00"),
                                         pd.Timestamp("2024-02-06")], by(
        frame=Reject("mixed timestamps with and without a timezone", 1),
        csv=Reject("mixed timestamps with and without a timezone", 1))
    yield "aware column", TIMES.tz_localize("Europe/Helsinki"), by(
        frame=Repair("naive UTC", 3), parquet=Repair("naive UTC", 3),
        csv=Repair("cast from string to timestamp", 3))
    yield "not a date", ["soon", "2024-02-01", "2024-02-02"], every(Reject("ISO 8601", 1))
    yield "30 February", ["2024-02-30", "2024-02-01", "2024-02-02"], every(iso)
    yield "numbers", [20240105, 20240106, 20240107], by(
        frame=Reject("cannot be read as timestamp: int64", 3),
        parquet=Reject("cannot be read as timestamp: int64", 3), csv=iso)
    yield "booleans", [True, False, True], by(
        frame=Reject("cannot be read as timestamp: boolean", 3),
        parquet=Reject("cannot be read as timestamp: boolean", 3), csv=iso)
    yield "durations", pd.to_timedelta([1, 2, 3], unit="D"), by(frame=cannot, parquet=cannot,
                                                               csv=iso)
    yield "dates", [datetime.date(2024, 2, d) for d in (1, 2, 3)], by(
        frame=Repair("cast from date to timestamp", 3),
        parquet=Repair("cast from date to timestamp", 3),
        csv=Repair("cast from string to timestamp", 3))
    if col.past:
        yield "after as_of", ["2024-02-01", "2030-01-01", "2024-02-02"], every(
            Reject("after as_of", 1))
    if col.required:
        yield "null", [None, "2024-02-01", "2024-02-02"], every(Reject("missing value", 1))
    else:
        yield "blank", ["", "   ", "2024-02-01"], by(
            frame=Repair("blank text read as null", 2),
            parquet=Repair("blank text read as null", 2),
            csv=Repair("blank text read as null", 1))
    for start, end in spec.ordered:
        if end == col.name:
            yield "before its start", ["2023-01-01", "2024-02-02", "2024-02-03"], \
                every(Reject(f"before {start}", 1))


def float_cases(spec: TableSpec, col: Column):
    cannot = Reject("cannot be read as float", 1)
    yield "text", ["ten", "1.5", "2"], every(cannot)
    yield "decimal comma", ["1,5", "2", "3"], every(cannot)
    yield "infinite", [np.inf, 1.0, 2.0], every(Reject("NaN or infinite", 1))
    yield "1e400", ["1e400", "1", "2"], every(Reject("NaN or infinite", 1))
    yield "booleans", [True, False, True], by(
        frame=Reject("cannot be read as float: boolean", 3),
        parquet=Reject("cannot be read as float: boolean", 3),
        csv=Reject("cannot be read as float", 3))
    yield "number beside text", [1.0, "x", 2.0], by(
        frame=Reject("mixed value types", 1), csv=cannot)
    yield "timestamps", list(TIMES), by(
        frame=Reject("cannot be read as float: timestamp", 3),
        parquet=Reject("cannot be read as float: timestamp", 3),
        csv=Reject("cannot be read as float", 3))
    yield "lists", [[1], [2], [3]], by(
        frame=Reject("lists or dicts", 3), parquet=Reject("cannot be read as float: array", 3),
        csv=Reject("cannot be read as float", 3))
    if col.whole:
        yield "fraction", [1.5, 2.0, 3.0], every(Reject("not a whole number", 1))
    whole = "" if col.whole else ".5"
    yield "padded text", [f" 1{whole} ", "2", "3"], every(
        Repair("cast from string to float", 3))
    yield "decimals with a None", [Decimal(f"10{whole or '.'}0"), None, Decimal("3")], every(
        Reject("missing value", 1) if col.required else Kept((float(f"10{whole}"), None, 3.0)))
    if col.nonnegative:
        yield "negative", [-1.0, 1.0, 2.0], every(Reject("negative value", 1))
    if col.required:
        yield "blank", ["", "1", "2"], every(Reject("missing value", 1))
    else:
        yield "blank", ["", "   ", "2"], by(
            frame=Repair("blank text read as null", 2),
            parquet=Repair("blank text read as null", 2),
            csv=Repair("blank text read as null", 1))


def string_cases(spec: TableSpec, col: Column):
    if col.choices:
        first = col.choices[0]
        yield "unknown value", ["fax", first, first], every(Reject("value not one of", 1))
        yield "upper case, padded", [f" {first.upper()} ", first, first], every(
            Repair("trimmed and lower-cased", 1))
    elif col.name == "email":
        yield "upper case, padded", [" A0@Example.com", "a1@example.com", "a2@example.com"], \
            every(Repair("e-mail trimmed and lower-cased", 1))
    else:
        yield "padded", [" x ", "y", "z"], every(Repair("whitespace trimmed", 1))
    yield "lists", [[1], [2], [3]], by(
        frame=Reject("lists or dicts", 3), parquet=Reject("cannot be read as string: array", 3),
        csv=Kept(("[1]", "[2]", "[3]")) if not col.choices else Reject("value not one of", 3))
    yield "number beside text", [1, "a", "b"], by(
        frame=Reject("mixed value types", 1),
        csv=Kept(("1", "a", "b")) if not col.choices else Reject("value not one of", 3))


def bool_cases(spec: TableSpec, col: Column):
    yield "text", ["maybe", "true", "false"], every(Reject("cannot be read as bool", 1))
    yield "integer 2", [2, 0, 1], by(frame=Reject("other than 0 or 1", 1),
                                     parquet=Reject("other than 0 or 1", 1),
                                     csv=Reject("cannot be read as bool", 1))
    yield "upper-case text", ["TRUE", "false", "true"], every(Repair("cast from string to bool",
                                                                      3))
    yield "timestamps", list(TIMES), by(frame=Reject("cannot be read as bool: timestamp", 3),
                                        parquet=Reject("cannot be read as bool: timestamp", 3),
                                        csv=Reject("cannot be read as bool", 3))


CASES_BY_KIND = {"id": id_cases, "timestamp": timestamp_cases, "float": float_cases,
                 "string": string_cases, "bool": bool_cases}


def table_cases(spec: TableSpec):
    """Cases on the whole table: structure, column mapping, emptiness."""
    first = spec.required[0]
    for name in spec.required:
        yield Case("required column missing", spec.name, name,
                   lambda df, n=name: df.drop(columns=n), every(Reject("required column missing")))
    yield Case("misspelt mapping", spec.name, first, lambda df: df,
               every(Reject("the source has no column 'membr_no'")), {"membr_no": first})
    yield Case("mapping onto an existing column", spec.name, first,
               lambda df: df.assign(member_no=df[first]),
               every(Reject("two source columns would both be named")), {"member_no": first})
    yield Case("mapping to an unknown column", spec.name, "custmer_id",
               lambda df: df.rename(columns={first: "member_no"}),
               every(Reject("not a column of")), {"member_no": "custmer_id"})
    yield Case("empty table", spec.name, "*", lambda df: df.iloc[:0],
               every(Reject("empty table")))
    yield Case("a column twice", spec.name, first,
               lambda df: pd.concat([df, df[[first]]], axis=1),
               by(frame=Reject("would both be named"), csv=Reject("names a column twice")))
    yield Case("complex numbers beside", spec.name, "extra",
               lambda df: df.assign(extra=[1 + 2j, 3j, 1]),
               by(frame=Reject("cannot be stored"), csv=Kept(("(1+2j)", "3j", "(1+0j)"))))


def _role(spec: TableSpec, col: Column) -> tuple:
    """What decides how a column is read and checked (two columns of one role behave alike)."""
    return (col.kind, col.required, bool(col.choices), col.name == "email",
            _single_key(spec, col), col.past, col.name in _ends(spec), col.nonnegative)


def representatives() -> list[tuple[TableSpec, Column]]:
    """One column per role, spread over the tables (each run costs a load: 0.1-0.3 s)."""
    by_role: dict[tuple, list] = {}
    for spec in TABLES.values():
        for col in spec.columns:
            by_role.setdefault(_role(spec, col), []).append((spec, col))
    picked, per_table = [], dict.fromkeys(TABLES, 0)
    for candidates in sorted(by_role.values(), key=len):
        spec, col = min(candidates, key=lambda sc: per_table[sc[0].name])
        per_table[spec.name] += 1
        picked.append((spec, col))
    return picked


def corpus() -> list[Case]:
    cases = []
    for spec, col in representatives():
        for name, values, outcomes in CASES_BY_KIND[col.kind](spec, col):
            cases.append(Case(name, spec.name, col.name, column(col.name, values), outcomes))
    for spec in TABLES.values():
        cases += list(table_cases(spec))
    return cases


CORPUS = corpus()
RUNS = [pytest.param(case, path, id=f"{case.kind}.{case.column}.{case.name}.{path}")
        for case in CORPUS for path in PATHS if path in case.outcomes]


# -- running a case -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ws():
    """A workspace in memory holding the ten valid tables.

    In memory because a file workspace spends most of a load on copying and syncing the file
    (three times as long here); the file's all-or-nothing write is tested in test_workspace
    and, with this corpus, by the command-line sample below.
    """
    ws = Workspace.connect(ibis.duckdb.connect())
    with ws.writing() as con:
        con.insert("_meta", pd.DataFrame({"key": ["as_of"], "value": [f'"{AS_OF}"']}))
    for kind in TABLES:
        ws.load(kind, valid(kind))
    return ws


def source_of(frame: pd.DataFrame, path: str, folder):
    if path == "frame":
        return frame
    file = folder / f"source.{path}"
    if path == "csv":
        frame.to_csv(file, index=False)
    else:
        frame.to_parquet(file, index=False)
    return file


def outcome_of(ws: Workspace, case: Case, source) -> str:
    """Load the case and check its outcome; return which of the three it was."""
    expected = case.outcomes[case_path(source)]
    before = ws.table(case.kind).execute()
    if isinstance(expected, Reject):
        with pytest.raises(DataError) as excinfo:
            ws.load(case.kind, source, columns=case.columns)
        assert_names(excinfo.value, case, expected)
        pd.testing.assert_frame_equal(ws.table(case.kind).execute(), before)
        return "DataError"
    ws.load(case.kind, source, columns=case.columns)
    loaded = ws.table(case.kind).execute()
    assert len(loaded) == 3  # nothing dropped
    if isinstance(expected, Repair):
        quality = ws.quality()
        counted = quality[(quality.table == case.kind) & (quality.column == case.column) &
                          quality.repair.str.contains(expected.repair, regex=False)]
        assert counted.rows.tolist() == [expected.rows], quality.to_string()
        return "counted repair"
    stored = tuple(None if pd.isna(v) else v for v in loaded[case.column])
    assert stored == expected.values
    return "kept as written"


def case_path(source) -> str:
    return "frame" if isinstance(source, pd.DataFrame) else source.suffix[1:]


def assert_names(error: DataError, case: Case, expected: Reject) -> None:
    text = str(error)
    matching = [p for p in error.problems
                if p.table == case.kind and p.column == case.column and expected.rule in p.rule]
    assert matching, f"expected {expected} on {case.kind}.{case.column}, got:\n{text}"
    problem = matching[0]
    assert f"table {case.kind!r}" in text and f"column {case.column!r}" in text
    if expected.rows is not None:
        assert problem.rows == expected.rows
    if problem.rows:
        assert 0 < len(problem.examples) <= 5  # the broken rows, shown


@pytest.mark.parametrize(("case", "path"), RUNS)
def test_bad_input_is_rejected_repaired_or_kept(ws, case, path, tmp_path):
    source = source_of(case.build(valid(case.kind)), path, tmp_path)
    outcome_of(ws, case, source)


def test_corpus_covers_every_table_role_and_path():
    roles = {_role(spec, col) for spec in TABLES.values() for col in spec.columns}
    assert {_role(spec, col) for spec, col in representatives()} == roles
    assert {spec.name for spec, _ in representatives()} == set(TABLES)
    for path in PATHS:
        assert {case.kind for case in CORPUS if path in case.outcomes} == set(TABLES)


# -- files only a CSV can be -------------------------------------------------------------------
CSV_FILES = {
    "ragged row": ("customer_id,created_at\n" + "C1,2024-01-01\n" * 3000 +
                   "C9,2024-01-02,extra\n", "*", Reject("cannot read")),
    "binary": (bytes(range(256)) * 40, "*", Reject("cannot read")),
    "header only": ("customer_id,created_at\n", "*", Reject("empty table")),
    "semicolons, day first": ("customer_id;created_at\nC1;01.05.2024\nC2;02.05.2024\n",
                              "created_at", Reject("ISO 8601", 2)),
    "quoted blank id": ('customer_id,created_at\n"",2024-01-01\nC2,2024-01-02\n',
                        "customer_id", Reject("missing value", 1)),
    "leading zeros": ("customer_id,created_at\n007,2024-01-01\n008,2024-01-02\n",
                      "customer_id", Kept(("007", "008"))),
}


@pytest.mark.parametrize("name", CSV_FILES)
def test_csv_files(ws, tmp_path, name):
    text, col, expected = CSV_FILES[name]
    file = tmp_path / "customers.csv"
    file.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = ws.table("customers").execute()
    if isinstance(expected, Reject):
        with pytest.raises(DataError) as excinfo:
            ws.load("customers", file)
        assert_names(excinfo.value, Case(name, "customers", col, None), expected)
        pd.testing.assert_frame_equal(ws.table("customers").execute(), before)
    else:
        ws.load("customers", file)
        assert tuple(ws.table("customers").execute()[col]) == expected.values


def test_named_zone_does_not_shift_other_rows_of_a_valid_file(ws, tmp_path):
    """DuckDB carries a named zone over to later rows; offsets are read per row."""
    file = tmp_path / "transactions.csv"
    file.write_text("customer_id,ts,amount\nC1,2024-01-05 12:00:00+02:00,1\n"
                    "C2,2024-07-05 12:00:00+03:00,1\nC3,2024-01-05 12:00:00Z,1\n")
    ws.load("transactions", file)
    assert ws.table("transactions").order_by("customer_id").ts.execute().tolist() == \
        pd.to_datetime(["2024-01-05 10:00", "2024-07-05 09:00", "2024-01-05 12:00"]).tolist()


# -- the command line -----------------------------------------------------------------------
CLI_SAMPLE = [case for case in CORPUS if "csv" in case.outcomes and case.name in (
    "fractional float", "day first (01/05/2024)", "named zone", "offset beside naive text",
    "text", "misspelt mapping", "required column missing", "a column twice")][::7]


@pytest.mark.parametrize("case", CLI_SAMPLE, ids=lambda c: f"{c.kind}.{c.column}.{c.name}")
def test_cli_load(case, tmp_path, capsys):
    path = tmp_path / "ws.duckdb"
    Workspace.open(path, create=True, as_of=AS_OF).load(case.kind, valid(case.kind))
    file = source_of(case.build(valid(case.kind)), "csv", tmp_path)
    argv = ["load", case.kind, str(file), "--path", str(path)]
    argv += [f"--columns={s}={c}" for s, c in (case.columns or {}).items()]
    expected = case.outcomes["csv"]
    code = main(argv)
    err = capsys.readouterr().err
    if isinstance(expected, Reject):
        assert code == 1
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"table {case.kind!r}" in err and f"column {case.column!r}" in err
        assert expected.rule in err
        assert len(Workspace.open(path).table(case.kind).execute()) == 3  # previous table kept
    else:
        assert code == 0 and err == ""
