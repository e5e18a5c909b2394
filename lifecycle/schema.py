"""Canonical tables, their contracts, and validation at the boundary.

Every table that enters the workbench passes :func:`validate`. It renames the caller's columns to
the canonical names, casts what can be cast safely (ids to text, text to timestamps, aware
timestamps to naive UTC, trimmed whitespace, lower-cased e-mails), counts every such repair, and
raises :class:`DataError` for anything it cannot repair. The checks are ibis expressions, so a
Parquet file of ten million rows is validated inside DuckDB without passing through pandas.

How values are read (the same for a frame, a Parquet file and a CSV file, which is all text):

- **Ids** are text. Integers become their digits; floats only when they are whole numbers below
  2^53 (1.5 is refused, never rounded); booleans, lists, dicts and bytes are refused. Text ids
  are kept as written after trimming (``007`` stays ``007``); a blank id is a missing one.
- **Timestamps** given as text must be ISO 8601 (``2024-01-05``, ``2024-01-05 12:00:00``,
  optionally ``T`` and a UTC offset ``+02:00`` / ``Z``), read value by value: ``01/05/2024`` is
  refused rather than guessed from other rows. A named zone (``Europe/Helsinki``) is refused;
  give the offset. Values with and without an offset in one column are an error.
- **Blank text** (empty or spaces only) is read as null and counted.
- **Decimals** (``decimal.Decimal`` objects, as database drivers give NUMERIC columns) are read
  as float64, None among them as null (then the column's null rules apply); in an id column
  they are whole numbers, exactly (``Decimal("1.5")`` is refused, like the float 1.5).
- A pandas object column holding values of several kinds (``7`` beside ``"007"``, a Timestamp
  beside text) is refused, naming the kinds: it has no one type a database column could take.
- A column mapping must name existing source columns and canonical columns, and may not give
  two columns one name.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd

__all__ = [
    "TABLES",
    "Column",
    "DataError",
    "Problem",
    "TableSpec",
    "Validated",
    "as_table",
    "end_of",
    "validate",
]

_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"  # date, optional time
_OFFSET = r"\s*(Z|UTC|[+-]\d{2}(:?\d{2})?)$"
_ZONE_NAME = r"\s+[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"  # Europe/Helsinki, EET
ISO_TIMESTAMPS = ("text timestamps must be ISO 8601, e.g. 2024-01-05, 2024-01-05 12:00:00 or "
                  "2024-01-05T12:00:00+02:00")
_MISSING = "missing value (null, NaN or blank) in a required column"
_MIXED_ZONES = "mixed timestamps with and without a timezone"
_DTYPES = {"id": dt.string, "string": dt.string, "timestamp": dt.timestamp,
           "float": dt.float64, "bool": dt.boolean}


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    ``kind`` is one of ``id``, ``string``, ``timestamp``, ``float``, ``bool``. ``past`` marks
    timestamps that may not lie after ``as_of``; ``whole`` numbers that count (a float column
    holding whole numbers, null allowed); ``choices`` lists the allowed (lower-case) values.
    """

    name: str
    kind: str
    required: bool = False
    past: bool = False
    nonnegative: bool = False
    whole: bool = False
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TableSpec:
    """The contract of a canonical table: its columns, key and ordered timestamp pairs."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    ordered: tuple[tuple[str, str], ...] = ()
    rules: tuple[tuple[str, str, Callable[[ibis.Table], ir.BooleanValue]], ...] = ()

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name, kind, **kw):
    return Column(name, kind, **kw)


def _req(name, kind, **kw):
    return Column(name, kind, required=True, **kw)


_CUSTOMER = _req("customer_id", "id")
TABLES: dict[str, TableSpec] = {t.name: t for t in [
    TableSpec("customers", (
        _CUSTOMER, _req("created_at", "timestamp", past=True), _c("first_name", "string"),
        _c("email", "string"),
        _c("phone", "string"), _c("phone_model", "string"), _c("region", "string"), _c("home_store", "string"),
        _c("acquisition_channel", "string"),
        _c("acquisition_cost", "float", nonnegative=True)), key=("customer_id",)),
    TableSpec("transactions", (
        _CUSTOMER, _req("ts", "timestamp", past=True), _req("amount", "float"),
        _c("transaction_id", "id"), _c("margin", "float"), _c("product_id", "id"),
        _c("category", "string"), _c("channel", "string", choices=("web", "store")))),
    TableSpec("products", (
        _req("product_id", "id"), _c("category", "string"),
        _c("price", "float", nonnegative=True), _c("margin_rate", "float")),
        key=("product_id",)),
    TableSpec("events", (
        _req("ts", "timestamp", past=True), _req("anonymous_id", "id"),
        _req("event_type", "string"), _c("customer_id", "id"), _c("page_type", "string"),
        _c("category", "string"), _c("session_id", "id"), _c("source", "string"),
        _c("medium", "string"))),
    TableSpec("touchpoints", (
        _req("ts", "timestamp", past=True), _req("person_id", "id"), _req("channel", "string"),
        _c("campaign_id", "id"),
        _c("interaction", "string", choices=("impression", "click", "visit")),
        _c("cost", "float", nonnegative=True))),
    TableSpec("messages", (
        _req("message_id", "id"), _CUSTOMER, _req("channel", "string"),
        _req("sent_at", "timestamp", past=True), _c("campaign_id", "id"), _c("cell_id", "id"),
        _c("variant", "string"), _c("delivered", "bool"),
        _c("bounce", "string", choices=("hard", "soft")),
        _c("opened_at", "timestamp", past=True), _c("clicked_at", "timestamp", past=True),
        _c("unsubscribed_at", "timestamp", past=True),
        _c("complained_at", "timestamp", past=True), _c("machine_open", "bool")),
        key=("message_id",), ordered=(("sent_at", "opened_at"), ("sent_at", "clicked_at")),
        rules=tuple((name, f"{what} but not delivered (bounced or delivered = false)",
                     lambda t, n=name: t[n].notnull() & (t.bounce.notnull()
                                                         | ~t.delivered.fill_null(True)))
                    for name, what in (("opened_at", "opened"), ("clicked_at", "clicked"),
                                       ("complained_at", "complained")))
        + (("bounce", "bounced but delivered = true",
            lambda t: t.bounce.notnull() & t.delivered.fill_null(False)),)),
    TableSpec("consents", (
        _CUSTOMER, _req("channel", "string"), _req("granted_at", "timestamp", past=True),
        _c("expires_at", "timestamp"), _c("revoked_at", "timestamp", past=True),
        _c("purpose", "string")),
        ordered=(("granted_at", "expires_at"), ("granted_at", "revoked_at"))),
    TableSpec("feedback", (
        _CUSTOMER, _req("ts", "timestamp", past=True),
        _req("kind", "string", choices=("service_contact", "complaint", "idea", "survey",
                                        "nps", "referral")),
        _c("score", "float"), _c("sentiment", "string"))),
    TableSpec("subscriptions", (
        _CUSTOMER, _req("start_at", "timestamp", past=True), _c("end_at", "timestamp"),
        _c("plan", "string"), _c("monthly_fee", "float", nonnegative=True),
        _c("device_model", "string")), ordered=(("start_at", "end_at"),)),
    TableSpec("contact_history", (
        _req("run_id", "id"), _req("campaign_id", "id"), _req("cell_id", "id"), _CUSTOMER,
        _req("channel", "string"), _req("planned_at", "timestamp"), _c("offer_id", "id"),
        _c("cost", "float", nonnegative=True), _c("expected_value", "float")),
        key=("run_id", "campaign_id", "cell_id", "customer_id")),
    # -- the action tables: campaigns as data (lifecycle.campaigns) --------------------------
    TableSpec("campaigns", (
        _req("campaign_id", "id"), _req("group_id", "id"), _c("program", "string"),
        _c("name", "string"), _c("start_at", "timestamp"), _c("end_at", "timestamp")),
        key=("campaign_id",), ordered=(("start_at", "end_at"),)),
    TableSpec("cells", (
        _req("cell_id", "id"), _req("campaign_id", "id"), _req("channel", "string"),
        _c("offer_id", "id"), _c("cost", "float", nonnegative=True), _c("expected_value", "float"),
        _c("priority", "float"), _c("mandatory", "bool"),
        _c("max_count", "float", nonnegative=True, whole=True),
        _c("max_cost", "float", nonnegative=True), _c("exclude_constraints", "bool"),
        _c("exclude_policies", "bool"), _c("control_share", "float", nonnegative=True)),
        key=("cell_id",),
        rules=(("control_share", "control_share must be below 1 (a share of the selection)",
                lambda t: t.control_share >= 1),)),
    TableSpec("offers", (
        _req("offer_id", "id"), _c("name", "string"), _c("product_id", "id"),
        _c("discount", "float", nonnegative=True), _c("margin", "float")), key=("offer_id",)),
    TableSpec("constraints", (
        _req("level", "string", choices=("cell", "campaign", "group")), _req("id", "id"),
        _c("max_count", "float", nonnegative=True, whole=True),
        _c("max_cost", "float", nonnegative=True)), key=("level", "id")),
    TableSpec("contact_policies", (
        _req("policy_id", "id"), _req("max_contacts", "float", nonnegative=True, whole=True),
        _c("channel", "string"), _c("window_days", "float", nonnegative=True)),
        key=("policy_id",)),
    TableSpec("suppressions", (
        _req("address", "string"), _req("reason", "string"), _c("added_at", "timestamp")),
        key=("address",)),
    TableSpec("runs", (
        _req("run_id", "id"), _req("kind", "string"), _req("as_of", "timestamp"),
        _c("started_at", "timestamp"), _c("finished_at", "timestamp"),
        _c("status", "string", choices=("done", "dry-run", "failed")),
        _c("parameters", "string"), _c("counts", "string")),
        key=("run_id",), ordered=(("started_at", "finished_at"),)),
]}


@dataclass
class Problem:
    """One broken rule: where, which rule, how many rows, and up to five example rows."""

    table: str
    column: str
    rule: str
    rows: int
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __str__(self) -> str:
        text = f"table {self.table!r}, column {self.column!r}: {self.rule} ({self.rows} rows)"
        if len(self.examples):
            text += "\n  " + self.examples.to_string(index=False).replace("\n", "\n  ")
        return text

    def line(self) -> str:
        """The problem on one line, with the broken values of up to three example rows."""
        text = f"table {self.table!r}, column {self.column!r}: {self.rule} ({self.rows} rows"
        if self.column in self.examples and "row" in self.examples:
            shown = self.examples.head(3)
            text += "; e.g. " + ", ".join(f"row {r}: {v!r}" for r, v in
                                          zip(shown.row, shown[self.column], strict=True))
        return text + ")"


class DataError(ValueError):
    """A table breaks its contract. ``problems`` lists every broken rule; the first one is
    also available as ``table``, ``column``, ``rule``, ``rows`` and ``examples``."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        first = problems[0]
        self.table, self.column, self.rule = first.table, first.column, first.rule
        self.rows, self.examples = first.rows, first.examples
        super().__init__("\n".join(str(p) for p in problems))

    def line(self) -> str:
        """Every broken rule on one line (for a command line's error output)."""
        return "; ".join(p.line() for p in self.problems)


class Validated(NamedTuple):
    """What :func:`validate` returns: the clean table and the counted repairs."""

    table: pd.DataFrame | ibis.Table
    repairs: pd.DataFrame


def validate(table, kind: str, *, as_of=None, columns: Mapping[str, str] | None = None,
             allow_empty: bool = False) -> Validated:
    """Check a table against its canonical contract, repair what is safe, count the repairs.

    Parameters
    ----------
    table : pandas.DataFrame or ibis.Table
        The source table. Its required columns are listed in ``TABLES[kind].required``
        (e.g. ``customer_id`` and ``created_at`` for customers).
    kind : str
        A canonical table name: one of ``TABLES``.
    as_of : timestamp-like, optional
        No event timestamp may lie after it (default: now, UTC). A date without a time of
        day includes that whole day.
    columns : mapping, optional
        ``{source name: canonical name}`` for source columns named otherwise, as in
        ``DataFrame.rename(columns=...)``: see :func:`as_table`.
    allow_empty : bool
        Accept a table without rows (default: an empty table is an error).

    Returns
    -------
    Validated
        ``(table, repairs)``: the table with canonical columns and types (same kind as the
        input: pandas in, pandas out; ibis in, an unexecuted ibis expression out) and a frame
        ``table, column, repair, rows`` counting every repair made. Optional canonical columns
        that the source lacks are added as nulls. Extra columns are kept.

    Raises
    ------
    DataError
        Naming the table, column, rule, number of rows and up to five example rows for every
        broken rule: missing column, uncastable value, mixed timezones, null id, duplicate key,
        timestamp after ``as_of``, NaN / infinite / negative amount, unknown category value,
        end before start, empty table.

    Examples
    --------
    >>> df = pd.DataFrame({"customer_id": [1, 2], "created_at": ["2024-01-05", "2024-02-01"],
    ...                    "email": [" Ann@Example.com", "bob@example.com"]})
    >>> clean, repairs = validate(df, "customers", as_of="2024-06-30")
    >>> clean[["customer_id", "email"]]
      customer_id            email
    0           1  ann@example.com
    1           2  bob@example.com
    >>> repairs.loc[repairs.column == "email", ["repair", "rows"]].to_dict("records")
    [{'repair': 'e-mail trimmed and lower-cased', 'rows': 1}]
    >>> validate(df.assign(customer_id=[1, 1]), "customers", as_of="2024-06-30")
    Traceback (most recent call last):
    ...
    lifecycle.schema.DataError: table 'customers', column 'customer_id': duplicate key (2 rows)
    ...
    """
    spec = TABLES[kind]
    as_of = pd.Timestamp.now(tz="UTC").tz_localize(None) if as_of is None else _naive(as_of)
    is_pandas = isinstance(table, pd.DataFrame)
    raw = _to_ibis(table, spec, columns or {})
    check = _Check(spec, raw, as_of)
    check.structure()
    clean = check.cast(allow_empty)
    check.contents(clean)
    check.keys(clean)
    if check.problems:
        raise DataError(check.problems)
    if is_pandas:
        clean = clean.execute()  # memtables only: ibis' default DuckDB runs it
    return Validated(clean, pd.DataFrame(check.repairs, columns=["table", "column", "repair",
                                                                 "rows"]))


def _naive(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts


def as_table(table, kind: str, *, columns: Mapping[str, str] | None = None) -> ibis.Table:
    """The first step of :func:`validate`: an ibis table with canonical column names.

    Parameters
    ----------
    table : pandas.DataFrame or ibis.Table
        The source table.
    kind : str
        A canonical table name: one of ``TABLES``.
    columns : mapping, optional
        ``{source name: canonical name}`` for source columns named otherwise: the direction of
        ``DataFrame.rename(columns=...)`` and of the command line's
        ``--columns member_no=customer_id``. Every source column named must exist, every
        canonical name must be a column of ``kind``, and no two columns may end up with one
        name (a source column mapped onto a name the source already has, or two onto one).

    Returns
    -------
    ibis.Table
        The source, renamed; not yet validated. A pandas frame is first checked for what a
        database cannot hold (mixed value types in one column, integers beyond 64 bits, mixed
        timezone-aware and naive timestamps) and wrapped as a memtable.

    Raises
    ------
    DataError
        For every fault of the mapping, or of a pandas frame, at once.

    Examples
    --------
    >>> orders = pd.DataFrame({"member_no": [7], "order_time": ["2024-01-05"], "amount": [9.5]})
    >>> mapping = {"member_no": "customer_id", "order_time": "ts"}
    >>> as_table(orders, "transactions", columns=mapping).columns
    ('customer_id', 'ts', 'amount')
    >>> as_table(orders, "transactions", columns={"member": "customer_id"})
    Traceback (most recent call last):
    ...
    lifecycle.schema.DataError: table 'transactions', column 'customer_id': column mapping
    'member' -> 'customer_id': the source has no column 'member' (columns present: member_no,
    order_time, amount) (0 rows)
    """
    return _to_ibis(table, TABLES[kind], columns or {})


def _to_ibis(table, spec: TableSpec, columns: Mapping[str, str]) -> ibis.Table:
    rename = _checked_mapping(spec, list(table.columns), columns)
    if isinstance(table, pd.DataFrame):
        df = table.rename(columns=rename)
        _raise_if(_pandas_problems(df, spec))
        df = _typed_nulls(_pandas_numbers(_pandas_timestamps(df, spec), spec), spec)
        return ibis.memtable(df.reset_index(drop=True))
    return table.rename({new: old for old, new in rename.items()}) if rename else table


def _raise_if(problems: list[Problem]) -> None:
    if problems:
        raise DataError(problems)


def _checked_mapping(spec: TableSpec, present: list, columns: Mapping[str, str]) -> dict:
    """The renames ``{source: canonical}`` of a column mapping, or a DataError naming its faults.

    A mapping may name only columns the source has and only canonical columns of the table,
    and the renamed source may not hold two columns of one name.
    """
    names = [c.name for c in spec.columns]
    listed = ", ".join(map(str, present)) or "none"
    problems = []
    for source, canonical in columns.items():
        if canonical not in names:
            problems.append(Problem(spec.name, str(canonical), f"column mapping {source!r} -> "
                                    f"{canonical!r}: not a column of {spec.name} (its columns: "
                                    f"{', '.join(names)})", 0))
        elif source not in present:
            problems.append(Problem(spec.name, canonical, f"column mapping {source!r} -> "
                                    f"{canonical!r}: the source has no column {source!r} (columns "
                                    f"present: {listed})", 0))
    _raise_if(problems)
    rename = {k: v for k, v in columns.items() if k != v}
    after = pd.Series([rename.get(c, c) for c in present], dtype=object)
    for name in after[after.duplicated()].unique():
        sources = [repr(c) for c in present if rename.get(c, c) == name]
        problems.append(Problem(spec.name, str(name), f"two source columns would both be named "
                                f"{name!r} ({' and '.join(sources)}): drop or rename one, or fix "
                                "the column mapping", 0))
    _raise_if(problems)
    return rename


def _value_kind(value) -> str:
    """The kind of one Python value in an object column, as a user would name it."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, np.integer)):
        return "integer"
    if isinstance(value, (float, np.floating, decimal.Decimal)):
        return "number"
    if isinstance(value, (datetime.datetime, np.datetime64)):
        return "timestamp"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, (list, tuple, set, dict, np.ndarray)):
        return "list or dict"
    return type(value).__name__


_KINDS = {"text", "boolean", "integer", "number", "timestamp", "date", "list or dict", "bytes"}
_ONE_KIND = {"string", "integer", "floating", "mixed-integer-float", "decimal", "boolean",
             "datetime", "datetime64", "date", "bytes", "empty"}


def _pandas_problems(df: pd.DataFrame, spec: TableSpec) -> list[Problem]:
    """What pandas can hold but a database column cannot: every column of the frame."""
    problems = []
    for position in range(len(df.columns)):
        series = df.iloc[:, position]
        if not _storable_dtype(series.dtype):
            problems.append(_object_problem(series, spec, f"column type {series.dtype} cannot "
                                            "be stored", series.index[series.notna()]))
        elif series.dtype == object:
            problem = _object_column_problem(series, spec)
            problems += [problem] if problem else []
    return problems


def _storable_dtype(dtype) -> bool:
    types = pd.api.types
    return isinstance(dtype, pd.CategoricalDtype) or any(
        check(dtype) for check in (types.is_object_dtype, types.is_bool_dtype, types.is_integer_dtype,
                                   types.is_float_dtype, types.is_datetime64_any_dtype,
                                   types.is_string_dtype, types.is_timedelta64_dtype))


def _object_column_problem(series: pd.Series, spec: TableSpec) -> Problem | None:
    """Mixed value kinds, lists or dicts, or integers beyond 64 bits in one object column."""
    values = series[series.map(_is_value)]
    inferred = pd.api.types.infer_dtype(values, skipna=False)
    canonical = series.name in {c.name for c in spec.columns}
    if series.name in _ids(spec) and (problem := _fractional_decimals(series, values, spec)):
        return problem
    if _whole_numbers_column(inferred, series.name, spec):
        return _wide_integers(series, values, spec)
    if inferred in _ONE_KIND:
        return None
    kinds = values.map(_value_kind)
    counts = kinds.value_counts()
    if len(counts) > 1:
        common = counts.index[0]
        rule = "mixed value types in one column ({}): give the column one type".format(
            ", ".join(f"{k}: {n} rows" for k, n in counts.items()))
        return _object_problem(series, spec, rule, kinds.index[kinds != common])
    if canonical and counts.index[0] == "list or dict":
        return _object_problem(series, spec, "lists or dicts where single values are expected",
                               kinds.index)
    if counts.index[0] not in _KINDS:
        return _object_problem(series, spec, f"values of type {counts.index[0]} cannot be "
                               "stored", kinds.index)
    return None


def _fractional_decimals(series: pd.Series, values: pd.Series, spec: TableSpec
                         ) -> Problem | None:
    """Decimals in an id column that are not whole numbers: refused, never rounded (a float
    could not even tell 1.0000000000000001 from 1)."""
    decimals = values[values.map(lambda v: isinstance(v, decimal.Decimal))]
    broken = decimals[decimals.map(lambda d: not d.is_finite() or d != d.to_integral_value())]
    if broken.empty:
        return None
    return _object_problem(series, spec, "number with a fractional part (or infinite): an id "
                           "must be a whole number or text", broken.index)


def _wide_integers(series: pd.Series, values: pd.Series, spec: TableSpec) -> Problem | None:
    as_python = values.map(int)
    low, high = as_python.min(), as_python.max()
    if low >= -(2**63) and (high < 2**63 or (low >= 0 and high < 2**64)):
        return None
    wide = as_python.index[(as_python < -(2**63)) | (as_python >= 2**63)]
    return _object_problem(series, spec, "integers beyond the 64-bit range: give such ids as "
                           "text", wide)


def _object_problem(series: pd.Series, spec: TableSpec, rule: str, index) -> Problem:
    positions = series.index.get_indexer(index[:5])
    examples = pd.DataFrame({"row": positions + 1, series.name: series.iloc[positions].map(repr)})
    return Problem(spec.name, str(series.name), rule, len(index), examples.reset_index(drop=True))


def _is_value(value) -> bool:
    """Not a missing-value marker (None, NaN, NaT, pd.NA, a Decimal NaN); lists and dicts are
    values."""
    return not (value is None or value is pd.NaT or value is pd.NA or
                (isinstance(value, float) and value != value) or
                (isinstance(value, decimal.Decimal) and value.is_nan()))


def _ids(spec: TableSpec) -> set[str]:
    return {c.name for c in spec.columns if c.kind == "id"}


def _whole_numbers_column(inferred: str, name, spec: TableSpec) -> bool:
    """Whether an object column (of pandas' ``inferred`` type) is read as integers: Python
    integers anywhere, Decimals in an id column."""
    return inferred == "integer" or (inferred == "decimal" and name in _ids(spec))


def _pandas_numbers(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Object columns of numbers as numeric columns, the one place a frame's numbers are typed.

    ibis' own conversion fails on a ``decimal.Decimal`` column holding a None (a nullable
    NUMERIC column from a database driver) and on Python integers of 2^63 and more, so:

    - Decimals become float64 (money), with a float beside them too; None and a Decimal NaN
      become nulls, which then follow the column's usual rules (an error in a required
      column). A Decimal infinity is an infinite float, refused in a float column.
    - Python integers, and Decimals in an id column (which :func:`_object_column_problem`
      has checked to be whole and within 64 bits), become integers (nullable where a value
      is missing), unsigned from 2^63 on: an id becomes its digits exactly.

    Runs after :func:`_pandas_problems`: the columns hold one kind of value each.
    """
    out = df
    for position in range(len(df.columns)):
        series = df.iloc[:, position]
        if series.dtype != object:
            continue
        present = series.map(_is_value)
        inferred = pd.api.types.infer_dtype(series[present], skipna=False)
        if _whole_numbers_column(inferred, series.name, spec):
            whole = [int(v) if ok else None for v, ok in zip(series, present, strict=True)]
            unsigned = any(v is not None and v >= 2**63 for v in whole)
            if present.all():  # ibis loses the last digits of a nullable UInt64 column without nulls
                typed = np.array(whole, dtype=np.uint64 if unsigned else np.int64)
            else:
                typed = pd.array(whole, dtype="UInt64" if unsigned else "Int64")
        elif series[present].map(lambda v: isinstance(v, decimal.Decimal)).any():
            typed = np.array([float(v) if ok else np.nan
                              for v, ok in zip(series, present, strict=True)], dtype="float64")
        else:
            continue
        out = out.copy() if out is df else out
        out.isetitem(position, typed)
    return out


def _pandas_timestamps(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Mixed aware / naive Python timestamps cannot even reach the database: check them here."""
    out = df
    for col in (c.name for c in spec.columns if c.kind == "timestamp"):
        if col not in df or df[col].dtype != object:
            continue
        values = df[col].dropna()
        aware = values.map(lambda v: getattr(v, "tzinfo", None) is not None)
        naive = values.map(lambda v: hasattr(v, "tzinfo") and v.tzinfo is None)
        if aware.any() and naive.any():
            examples = df.loc[aware[aware].index[:2].append(naive[naive].index[:3])]
            raise DataError([Problem(spec.name, col, _MIXED_ZONES,
                                     int(min(aware.sum(), naive.sum())), examples)])
        if aware.any():
            out = out.assign(**{col: pd.to_datetime(df[col], utc=True)})
    return out


_NULL_DTYPES = {"timestamp": "datetime64[ns]", "float": "float64", "bool": "boolean",
                "id": "string", "string": "string"}


def _typed_nulls(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Object columns with no value at all (``expires_at=None`` everywhere) typed as their
    canonical column, else text: a database has no column of type "nothing"."""
    kinds = {c.name: c.kind for c in spec.columns}
    empty = [c for c in df.columns if df[c].dtype == object and df[c].isna().all()]
    return df.astype({c: _NULL_DTYPES[kinds.get(c, "string")] for c in empty}) if empty else df


class _Check:
    """Collects problems and repairs of one table while building its clean expression."""

    def __init__(self, spec: TableSpec, raw: ibis.Table, as_of: pd.Timestamp):
        self.spec, self.raw, self.as_of = spec, raw, as_of
        self.problems: list[Problem] = []
        self.repairs: list[tuple[str, str, str, int]] = []

    def fail(self, column: str, rule: str, rows: int, bad=None, table=None) -> None:
        """Record a problem; ``bad`` is a predicate on ``table`` selecting the broken rows."""
        examples = pd.DataFrame()
        if bad is not None:
            examples = _examples(self.raw if table is None else table, bad)
        self.problems.append(Problem(self.spec.name, column, rule, int(rows), examples))

    def structure(self) -> None:
        missing = [c for c in self.spec.required if c not in self.raw.columns]
        for col in missing:
            self.fail(col, f"required column missing (columns present: "
                           f"{', '.join(self.raw.columns) or 'none'})", 0)
        if self.problems:
            raise DataError(self.problems)

    def cast(self, allow_empty: bool) -> ibis.Table:
        """Cast every canonical column; count repairs; flag uncastable values."""
        exprs, flags = {}, {}
        for col in self.spec.columns:
            exprs[col.name], column_flags = _cast_column(self.raw, col)
            flags.update({(col.name, label): pred for label, pred in column_flags.items()})
        rows, *counts = _sums(self.raw, flags.values(), rows=True)
        seen = dict(zip(flags, counts, strict=True))
        if not allow_empty and rows == 0:
            self.fail("*", "empty table", 0)
            raise DataError(self.problems)
        for (name, label), n in seen.items():
            if n and label.startswith("!"):
                self.fail(name, label[1:], n, bad=flags[(name, label)])
            elif n and not label.startswith("?"):
                self.repairs.append((self.spec.name, name, label, n))
            elif label == "?zoned" and n and seen[(name, "?plain")]:
                minority = min(n, seen[(name, "?plain")])
                zoned = flags[(name, label)]
                self.fail(name, _MIXED_ZONES, minority,
                          bad=zoned if n == minority else flags[(name, "?plain")])
        if self.problems:
            raise DataError(self.problems)
        absent = [c.name for c in self.spec.columns if c.name not in self.raw.columns]
        self.repairs += [(self.spec.name, name, "optional column absent, filled with null", 0)
                         for name in absent]
        extra = {c: self.raw[c] for c in self.raw.columns if c not in exprs}
        return self.raw.select(**exprs, **extra)

    def contents(self, clean: ibis.Table) -> None:
        rules = dict(_content_rules(self.spec, self.as_of))
        if not rules:
            return
        counts = _sums(clean, [pred(clean) for pred in rules.values()])
        for (column, rule), n in zip(rules, counts, strict=True):
            if n:
                self.fail(column, rule, n, bad=rules[(column, rule)], table=clean)

    def keys(self, clean: ibis.Table) -> None:
        key = list(self.spec.key)
        if not key or self.problems:
            return
        twice = clean.group_by(key).aggregate(_n=ibis._.count()).filter(ibis._._n > 1)
        rows = int(twice._n.sum().fill_null(0).execute())  # a grouping, which can spill to disk
        if rows:  # the window only when there are rows to show
            counted = clean.mutate(_flag=ibis._.count().over(group_by=key))
            self.fail(", ".join(key), "duplicate key", rows, table=counted,
                      bad=lambda t: t._flag > 1)


def _cast_column(raw: ibis.Table, col: Column):
    """Return (clean expression, {label: predicate counted}) for one canonical column.

    Labels starting with ``!`` are problems, ``?`` marks counts for a later check, the others
    are repairs.
    """
    target = _DTYPES[col.kind]
    if col.name not in raw.columns or raw[col.name].type().is_null():
        return ibis.null().cast(target), {}
    c = raw[col.name]
    source = c.type()
    if not _READABLE[col.kind](source):
        return ibis.null().cast(target), {f"!cannot be read as {col.kind}: {source} values":
                                          c.notnull()}
    if source.is_string() and col.kind not in ("id", "string"):
        text = _trimmed(c)
        blank = text == ""
        cast, flags = _CASTS[col.kind](blank.ifelse(ibis.null(), text), col)
        return cast, {"blank text read as null": blank, **flags}
    return _CASTS[col.kind](c, col)


_READABLE = {
    "id": lambda t: t.is_string() or t.is_integer() or t.is_floating() or t.is_decimal(),
    "string": lambda t: t.is_string() or t.is_numeric() or t.is_boolean(),
    "timestamp": lambda t: t.is_string() or t.is_timestamp() or t.is_date(),
    "float": lambda t: t.is_string() or t.is_numeric(),
    "bool": lambda t: t.is_string() or t.is_boolean() or t.is_integer(),
}


def _trimmed(c: ir.StringValue) -> ir.StringValue:
    """Leading and trailing whitespace removed, the same on every backend (ibis' ``strip`` on
    Spark trims the letter v, and Spark's own TRIM only spaces)."""
    return c.re_replace(r"^\s+|\s+$", "")


def _as_text(c, col: Column):
    """Ids and text: numbers as whole-number text, trimmed, blanks as null."""
    source, flags = c.type(), {}
    if source.is_floating() or source.is_decimal():
        c, flags = _whole_numbers(c)
    if not source.is_string():
        flags[f"cast from {source} to text"] = c.notnull()
        c = c.cast("string")
    trimmed = _trimmed(c)
    if col.name == "email":
        trimmed = trimmed.lower()
        flags["e-mail trimmed and lower-cased"] = trimmed != c
    elif col.choices:
        trimmed = trimmed.lower()
        flags["trimmed and lower-cased"] = trimmed != c
    else:
        flags["whitespace trimmed"] = trimmed != c
    blank = trimmed == ""
    flags["blank text read as null"] = blank
    return blank.ifelse(ibis.null(), trimmed), flags


def _whole_numbers(c):
    """Floats or decimals that stand for whole numbers, as integers; others are problems.

    A fraction would be rounded away (1.5 and 2.5 into one customer) and a float of 2^53 or
    more cannot hold every integer exactly, so both are refused.
    """
    source = c.type()
    if source.is_decimal() and source.scale == 0:
        return c, {}
    if source.is_floating():
        c = c.isnan().ifelse(ibis.null(), c)
        too_big = c.abs() >= 2**53
    else:
        too_big = ibis.literal(False)
    fractional = ~too_big & (c % 1 != 0)
    exact = (too_big | fractional).ifelse(ibis.null(), c)
    whole = exact.cast("int64") if source.is_floating() else exact.cast(
        dt.Decimal(source.precision, 0))
    flags = {"!number with a fractional part: an id must be a whole number or text": fractional}
    if source.is_floating():
        flags["!number of 2^53 or more cannot be an exact id: give such ids as text"] = too_big
    return whole, flags


def _as_timestamp(c, col: Column):
    source = c.type()
    if source.is_timestamp():
        if source.timezone is None:  # naive already; the precision does not matter
            return c, {}
        return c.cast(dt.timestamp), {f"converted from {source} to naive UTC": c.notnull()}
    if source.is_date():
        return c.cast(dt.timestamp), {f"cast from {source} to timestamp": c.notnull()}
    return _text_timestamps(c)


def _text_timestamps(text):
    """ISO 8601 text only, each value on its own: no guessing of day-month order from other
    rows, and no named zones (DuckDB carries a named zone over to the rows after it)."""
    plain = text.re_search(_ISO + "$")
    zoned = text.re_search(_ISO + _OFFSET)
    named = ~zoned & text.re_search(_ISO + _ZONE_NAME)
    cast = plain.ifelse(text.try_cast(dt.timestamp),
                        zoned.ifelse(text.try_cast(dt.Timestamp(timezone="UTC")).cast(
                            dt.timestamp), ibis.null(dt.timestamp)))
    return cast, {
        "?zoned": zoned, "?plain": plain,
        "!timezone name (e.g. Europe/Helsinki) is not read: give a UTC offset such as +02:00":
            named,
        f"!cannot be read as timestamp: {ISO_TIMESTAMPS}": text.notnull() & ~named
        & cast.isnull(),
        "cast from string to timestamp": cast.notnull()}


def _as_float(c, col: Column):
    if c.type().is_numeric():
        return c.cast(dt.float64), {}
    cast = c.try_cast(dt.float64)
    return cast, {"!cannot be read as float": c.notnull() & cast.isnull(),
                  "cast from string to float": cast.notnull()}


def _as_bool(c, col: Column):
    source = c.type()
    if source.is_boolean():
        return c, {}
    if source.is_integer():
        return c != 0, {"!integer other than 0 or 1 cannot be read as bool":
                        c.notnull() & ~c.isin([0, 1]),
                        f"cast from {source} to bool": c.notnull()}
    cast = c.lower().try_cast(dt.boolean)
    return cast, {"!cannot be read as bool": c.notnull() & cast.isnull(),
                  "cast from string to bool": cast.notnull()}


_CASTS = {"id": _as_text, "string": _as_text, "timestamp": _as_timestamp, "float": _as_float,
          "bool": _as_bool}


def _sums(table: ibis.Table, predicates, rows: bool = False) -> list[int]:
    """Count the rows each predicate selects (after the row count if ``rows``), in one pass."""
    aggs = {f"c{i}": p.cast("int64").sum() for i, p in enumerate(predicates)}
    if rows:
        aggs = {"rows": table.count(), **aggs}
    if not aggs:
        return []
    agg = table.aggregate(**aggs)
    return [int(v) if pd.notna(v) else 0 for v in agg.execute().iloc[0].tolist()]


def _examples(table: ibis.Table, bad) -> pd.DataFrame:
    """Up to five rows (with their 1-based position) that a predicate selects."""
    numbered = table.mutate(row=ibis.row_number() + 1)
    rows = numbered.filter(bad(numbered) if callable(bad) else bad).order_by("row").limit(5)
    out = rows.execute()
    return out[["row", *[c for c in out.columns if c not in ("row", "_flag")]]]


def end_of(as_of) -> pd.Timestamp:
    """The first instant after ``as_of``: a date (midnight) means the whole of that day.

    Every "as of" cut in the library is ``ts < end_of(as_of)``.

    Examples
    --------
    >>> end_of("2024-06-30"), end_of("2024-06-30 12:00")
    (Timestamp('2024-07-01 00:00:00'), Timestamp('2024-06-30 12:00:00.000001'))
    """
    as_of = pd.Timestamp(as_of)
    return as_of + pd.Timedelta(days=1) if as_of == as_of.normalize() else \
        as_of + pd.Timedelta(microseconds=1)


def _content_rules(spec: TableSpec, as_of: pd.Timestamp):
    """Yield ((column, rule), predicate-of-table) for the rules on clean, typed values."""
    for col in spec.columns:
        name = col.name
        if col.required:
            yield (name, _MISSING), lambda t, n=name: t[n].isnull()
        if col.kind == "float":
            yield (name, "NaN or infinite value"), \
                lambda t, n=name: t[n].isnan() | t[n].isinf()
        if col.nonnegative:
            yield (name, "negative value"), lambda t, n=name: t[n] < 0
        if col.whole:
            yield (name, "not a whole number"), lambda t, n=name: t[n] % 1 != 0
        if col.past:
            yield (name, f"timestamp after as_of {as_of}"), \
                lambda t, n=name: t[n] >= end_of(as_of)
        if col.choices:
            yield (name, f"value not one of {', '.join(col.choices)}"), \
                lambda t, n=name, ch=col.choices: t[n].notnull() & ~t[n].isin(ch)
    for start, end in spec.ordered:
        yield (end, f"{end} before {start}"), lambda t, s=start, e=end: t[e] < t[s]
    for name, rule, broken in spec.rules:
        yield (name, rule), broken
