"""Canonical tables, their contracts, and validation at the boundary.

Every table that enters the workbench passes :func:`validate`. It renames the caller's columns to
the canonical names, casts what can be cast safely (ids to text, text to timestamps, aware
timestamps to naive UTC, trimmed whitespace, lower-cased e-mails), counts every such repair, and
raises :class:`DataError` for anything it cannot repair. The checks are ibis expressions, so a
Parquet file of ten million rows is validated inside DuckDB without passing through pandas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import ibis
import ibis.expr.datatypes as dt
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

_TZ_SUFFIX = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|UTC|[+-]\d{2}(:?\d{2})?)$"  # after a time
_DTYPES = {"id": dt.string, "string": dt.string, "timestamp": dt.timestamp,
           "float": dt.float64, "bool": dt.boolean}


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    ``kind`` is one of ``id``, ``string``, ``timestamp``, ``float``, ``bool``. ``past`` marks
    timestamps that may not lie after ``as_of``; ``choices`` lists the allowed (lower-case) values.
    """

    name: str
    kind: str
    required: bool = False
    past: bool = False
    nonnegative: bool = False
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TableSpec:
    """The contract of a canonical table: its columns, key and ordered timestamp pairs."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    ordered: tuple[tuple[str, str], ...] = ()

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
        _CUSTOMER, _req("created_at", "timestamp", past=True), _c("email", "string"),
        _c("phone_model", "string"), _c("region", "string"), _c("home_store", "string"),
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
        _c("complained_at", "timestamp", past=True)),
        key=("message_id",), ordered=(("sent_at", "opened_at"), ("sent_at", "clicked_at"))),
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


class DataError(ValueError):
    """A table breaks its contract. ``problems`` lists every broken rule; the first one is
    also available as ``table``, ``column``, ``rule``, ``rows`` and ``examples``."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        first = problems[0]
        self.table, self.column, self.rule = first.table, first.column, first.rule
        self.rows, self.examples = first.rows, first.examples
        super().__init__("\n".join(str(p) for p in problems))


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
        Canonical name to the caller's column name, for sources that name columns otherwise.
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

    Pandas frames are checked for mixed timezone-aware and naive timestamps (which cannot
    reach a database) and wrapped as a memtable.
    """
    return _to_ibis(table, TABLES[kind], columns or {})


def _to_ibis(table, spec: TableSpec, columns: Mapping[str, str]) -> ibis.Table:
    rename = {canonical: source for canonical, source in columns.items()
              if canonical != source and source in table.columns}
    if isinstance(table, pd.DataFrame):
        df = table.rename(columns={v: k for k, v in rename.items()})
        df = _pandas_timestamps(df, spec)
        return ibis.memtable(df.reset_index(drop=True))
    return table.rename(rename) if rename else table


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
            raise DataError([Problem(spec.name, col, "mixed timezone-aware and naive timestamps",
                                     int(min(aware.sum(), naive.sum())), examples)])
        if aware.any():
            out = out.assign(**{col: pd.to_datetime(df[col], utc=True)})
    return out


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
                self.fail(name, "mixed timestamps with and without a timezone", minority,
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
        counted = clean.mutate(_flag=ibis._.count().over(group_by=key))
        rows = _sums(counted, [counted._flag > 1])[0]
        if rows:
            self.fail(", ".join(key), "duplicate key", rows, table=counted,
                      bad=lambda t: t._flag > 1)


def _cast_column(raw: ibis.Table, col: Column):
    """Return (clean expression, {label: predicate counted}) for one canonical column.

    Labels starting with ``!`` are problems, the others are repairs.
    """
    target = _DTYPES[col.kind]
    if col.name not in raw.columns:
        return ibis.null().cast(target), {}
    c = raw[col.name]
    source = c.type()
    flags = {}
    if source.is_null():
        return ibis.null().cast(target), {}
    if col.kind in ("id", "string"):
        if not source.is_string():
            if source.is_floating():
                c = c.cast("int64")
            flags[f"cast from {source} to text"] = c.notnull()
            c = c.cast("string")
        trimmed = c.strip()
        if col.name == "email":
            trimmed = trimmed.lower()
            flags["e-mail trimmed and lower-cased"] = trimmed != c
        elif col.choices:
            trimmed = trimmed.lower()
            flags["trimmed and lower-cased"] = trimmed != c
        else:
            flags["whitespace trimmed"] = trimmed != c
        return trimmed, flags
    if source == target:
        return c, flags
    if col.kind == "timestamp" and source.is_timestamp():
        if source.timezone is None:  # naive already; the precision does not matter
            return c, flags
        flags[f"converted from {source} to naive UTC"] = c.notnull()
        return c.cast(dt.timestamp), flags
    if col.kind == "timestamp" and source.is_string():
        marked = c.strip().re_search(_TZ_SUFFIX)
        flags["?zoned"], flags["?plain"] = c.notnull() & marked, c.notnull() & ~marked
        cast = c.strip().try_cast(dt.Timestamp(timezone="UTC")).cast(dt.timestamp)
    elif col.kind == "float" and (source.is_numeric() or source.is_string()):
        cast = c.try_cast(dt.float64)
    elif col.kind == "bool" and source.is_string():
        cast = c.strip().lower().try_cast(dt.boolean)
    elif col.kind == "bool" and source.is_numeric():
        cast = c != 0
    elif col.kind == "timestamp" and source.is_date():
        cast = c.cast(dt.timestamp)
    else:
        cast = c.try_cast(target)
    flags[f"!cannot be read as {col.kind}"] = c.notnull() & cast.isnull()
    if not source.is_numeric():
        flags[f"cast from {source} to {col.kind}"] = cast.notnull()
    return cast, flags


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
            yield (name, "missing value (null or NaN) in a required column"), lambda t, n=name: t[n].isnull()
        if col.kind == "float":
            yield (name, "NaN or infinite value"), \
                lambda t, n=name: t[n].isnan() | t[n].isinf()
        if col.nonnegative:
            yield (name, "negative value"), lambda t, n=name: t[n] < 0
        if col.past:
            yield (name, f"timestamp after as_of {as_of}"), \
                lambda t, n=name: t[n] >= end_of(as_of)
        if col.choices:
            yield (name, f"value not one of {', '.join(col.choices)}"), \
                lambda t, n=name, ch=col.choices: t[n].notnull() & ~t[n].isin(ch)
    for start, end in spec.ordered:
        yield (end, f"{end} before {start}"), lambda t, s=start, e=end: t[e] < t[s]
