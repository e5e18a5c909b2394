"""The workspace: named canonical tables on one backend, a DuckDB file by default.

Reading and writing a DuckDB file from several processes at once (dashboard sessions, a notebook,
a scheduled run) is done copy-on-write: readers attach the file read-only and keep reading the
version they opened; a writer takes an exclusive lock file, copies the database, writes the copy,
and atomically renames it over the original. A reader never sees a half-written file, two writers
never lose each other's rows, and an interrupted write leaves the previous file intact (its
private copy is removed by the next writer). The copy keeps the file's permissions. The cost is
one file copy per write transaction: batch related writes in one :meth:`Workspace.writing`
(writes nested inside it, also through another Workspace on the same file, join it).

Run records (contact history and runs: what exports, programs and "Optimize now" write every
day) do not pay that copy, which grows with the customer, transaction and event tables. Each
append of them is one folder of Parquet files beside the database, ``<file>.records/<n>-<id>/``,
written under the same lock and renamed into place whole; readers see a record table as the
database's rows plus the parts numbered above the last one the database holds
(:mod:`lifecycle._records`). The next write to the database (the nightly load) takes the parts
in, so the database stays the whole truth and readers scan few parts; :meth:`Workspace.compact`
does so on demand and removes parts already taken in. An append then costs its own rows, a
Parquet write and a key check, whatever the size of the database.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import ibis
import pandas as pd

from lifecycle import _records
from lifecycle._files import fsync
from lifecycle.schema import TABLES, DataError, Problem, as_table, validate

__all__ = ["Workspace", "default_path"]

_META, _QUALITY = "_meta", "_quality"
_QUIET = "SET enable_progress_bar = false"  # DuckDB draws one on stdout for a long query
_ENV = "LIFECYCLE_WORKSPACE"
_MEMORY_ENV = "LIFECYCLE_MEMORY_LIMIT"
_DUCKDB_MAGIC = (8, b"DUCK")  # offset and bytes of a DuckDB file's header
_OPEN_WRITES = threading.local()  # this thread's open write transactions, by file


def default_path() -> Path:
    """The workspace file to open when none is named.

    The environment variable ``LIFECYCLE_WORKSPACE`` if set, else ``data/demo.duckdb`` in the
    current folder or the nearest parent folder that has one.
    """
    if os.environ.get(_ENV):
        return Path(os.environ[_ENV])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "data" / "demo.duckdb").exists():
            return folder / "data" / "demo.duckdb"
    return here / "data" / "demo.duckdb"


class Workspace:
    """Named canonical tables (DESIGN §2) on a DuckDB file or any ibis connection.

    Open one with :meth:`open` (a DuckDB file), :meth:`connect` (any ibis backend) or
    :meth:`demo` (build the demo data). Tables come back as lazy ibis tables; execute them with
    ``.execute()`` or ``.to_pandas()``.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> path = Path(tempfile.mkdtemp()) / "shop.duckdb"
    >>> ws = Workspace.open(path, create=True, as_of="2024-12-31")
    >>> repairs = ws.load("customers", pd.DataFrame({"customer_id": [7, 8],
    ...                   "created_at": ["2024-03-01", "2024-05-02"]}))
    >>> repairs.loc[repairs.rows > 0, ["column", "repair", "rows"]].to_dict("records")
    [{'column': 'customer_id', 'repair': 'cast from int64 to text', 'rows': 2},
     {'column': 'created_at', 'repair': 'cast from string to timestamp', 'rows': 2}]
    >>> ws.table("customers").count().execute()
    2
    >>> ws.tables()
    ['customers']
    """

    def __init__(self, con=None, *, path: Path | None = None):
        self.path = None if path is None else Path(path).resolve()
        self._con, self._stamp = con, None
        self._parts, self._since = [], 0  # run-record parts, and the last one in the file

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path=None, *, create: bool = False, as_of=None, currency: str | None = None
             ) -> Workspace:
        """Open the DuckDB workspace file at ``path`` (default: :func:`default_path`).

        ``create=True`` makes an empty workspace when the file does not exist; ``as_of``, when
        given, is stored as the workspace's reference date, ``currency`` (a code such as
        ``"EUR"``) as the currency of its money columns.
        """
        path = Path(path) if path is not None else default_path()
        if not path.exists() and not create:
            raise FileNotFoundError(
                f"no workspace at {path}: build the demo with `lifecycle demo --path {path}` "
                "(or Workspace.demo(path)), or pass create=True for an empty one")
        if path.exists():
            _check_duckdb_file(path)
        ws = cls(path=path)
        settings = {"as_of": None if as_of is None else str(pd.Timestamp(as_of)),
                    "currency": None if currency is None else currency.upper()}
        settings = {k: v for k, v in settings.items() if v is not None}
        if not path.exists() or settings or _META not in ws.con.list_tables():
            with ws.writing() as con:
                _ensure_meta(con)
                if settings:
                    _set_meta(con, **settings)
        return ws

    @classmethod
    def connect(cls, con) -> Workspace:
        """A workspace on an existing ibis connection (Postgres, Spark, an in-memory DuckDB)."""
        ws = cls(con)
        with ws.writing() as writer:
            _ensure_meta(writer)
        return ws

    @classmethod
    def demo(cls, path=None, *, n_customers: int = 50_000, years: float = 2.0,
             random_state: int = 0, overwrite: bool = False, progress: bool = False
             ) -> Workspace:
        """Build (or reopen) the demo workspace of :mod:`lifecycle.synthetic` at ``path``.

        An existing file is reopened as it is unless ``overwrite=True``. A demo of more than
        ``synthetic.PART_SIZE`` customers is made in parts, two at a time in processes of
        their own, written as Parquet files beside ``path`` and loaded by DuckDB from there,
        so that memory holds about two parts, not the demo.
        """
        path = Path(path) if path is not None else default_path()
        if path.exists() and not overwrite:
            return cls.open(path)
        if path.is_dir():
            raise IsADirectoryError(_folder_message(path))
        ws = cls(path=path)
        _build_demo(ws, n_customers, years=years, random_state=random_state, progress=progress)
        return ws

    # -- reading ---------------------------------------------------------------------------
    @property
    def con(self):
        """The ibis connection to read from (for a file: the latest committed version)."""
        if self.path is None:
            return self._con
        parts = _records.committed(self.path)
        stamp = _stamp(self.path, parts)
        if self._con is None or stamp != self._stamp:
            self._con, self._since = _reader(self.path, parts)
            self._parts, self._stamp = parts, stamp
        return self._con

    def tables(self) -> list[str]:
        """The tables present, without internal ones (``_meta``, ibis' temporary views)."""
        return sorted(t for t in self.con.list_tables() if not t.startswith(("_", "ibis_")))

    def table(self, name: str) -> ibis.Table:
        """A table as a lazy ibis expression."""
        if name not in self.con.list_tables():
            raise KeyError(f"workspace {self} has no table {name!r}; it has: "
                           f"{', '.join(self.tables()) or 'none'}")
        return self.con.table(name)

    @property
    def as_of(self) -> pd.Timestamp | None:
        """The workspace's reference date ("now" for its analyses), if one is set."""
        value = self.meta().get("as_of")
        return None if value is None else pd.Timestamp(value)

    @property
    def currency(self) -> str | None:
        """The currency code of the money columns (e.g. ``"EUR"``), if one is set."""
        return self.meta().get("currency")

    @property
    def version(self) -> str | None:
        """A text that changes with every committed write (None off a DuckDB file).

        Results derived from the tables (model fits) can be cached under it.
        """
        if self.path is None or not self.path.exists():
            return None
        return "{}-{}-{}".format(*_stamp(self.path))

    def table_version(self, names) -> str | None:
        """A text that changes when any of the tables ``names`` (or the as-of date or the
        currency) changes, and not with writes to other tables: a day's contact history
        leaves a CLV fit on transactions valid. None where a present table has no recorded
        version (a workspace written before versions were kept): use :attr:`version`."""
        meta, present = self.meta(), set(self.tables())
        versions = [meta.get(f"version.{n}") for n in names]
        for i, name in enumerate(names):  # appended since the file last took in its records
            if (seq := _records.last(self._parts, name, self._since)) is not None:
                versions[i] = f"records-{seq}"
        if any(n in present and v is None for n, v in zip(names, versions, strict=True)):
            return None
        text = json.dumps(versions + [meta.get("as_of"), meta.get("currency")])
        return hashlib.md5(text.encode()).hexdigest()[:16]

    def cached(self, name: str, compute, *, tables=None) -> pd.DataFrame:
        """``compute()`` once per workspace version, then read back (e.g. a model fit).

        ``tables``: the tables the result is derived from; then it is kept until one of them
        changes (:meth:`table_version`), else until any write. A DuckDB-file workspace keeps
        the frame as Parquet beside the file (``<file>.cache/<name>-<library
        version>-<version>.parquet``, written atomically; the entries of ``name`` for other
        versions are removed); other backends keep it for the life of this object.
        """
        from lifecycle import __version__

        version = self.version
        if version is not None and tables is not None:
            version = self.table_version(list(tables)) or version
        if version is None:
            memo = self.__dict__.setdefault("_memo", {})
            if name not in memo:
                memo[name] = compute()
            return memo[name].copy()
        folder = self.path.with_name(self.path.name + ".cache")
        target = folder / f"{name}-{__version__}-{version}.parquet"
        try:
            return pd.read_parquet(target)
        except FileNotFoundError:  # not computed yet, or just pruned by a newer version's writer
            pass
        frame = compute()
        folder.mkdir(exist_ok=True)
        _store_cache_entry(folder, name, target, frame)
        return frame

    def meta(self) -> dict:
        """Workspace metadata: reference date, where the data came from."""
        rows = self.con.table(_META).execute()
        return {k: json.loads(v) for k, v in zip(rows.key, rows.value, strict=True)}

    def quality(self) -> pd.DataFrame:
        """The data-quality report: every repair made while loading, counted per column."""
        return self.con.table(_QUALITY).order_by(["table", "column"]).execute()

    def truth(self):
        """The generator's ground truth, for a demo workspace (:class:`synthetic.Truth`)."""
        from lifecycle import synthetic

        fields = {}
        for name in synthetic.Truth.__dataclass_fields__:
            if f"_truth_{name}" in self.con.list_tables():
                fields[name] = self.con.table(f"_truth_{name}").execute()
            else:
                fields[name] = self.meta().get(f"truth.{name}")
        return synthetic.Truth(**fields)

    # -- writing ---------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator:
        """A write transaction: yields an ibis connection; all or nothing is committed.

        For a DuckDB file the writes go to a private copy that atomically replaces the file when
        the block ends without error; writers in other processes or threads wait for each
        other (a lock file). A write nested inside another on the same file in the same thread
        (``ws.load`` inside ``with ws.writing()``, or through a second Workspace on the file)
        joins the outer transaction; if a nested write fails, nothing is committed even when
        the error is caught inside the outer block.
        """
        with self._writing(fresh=False) as con:
            yield con

    @contextmanager
    def _writing(self, *, fresh: bool, prune: bool = False) -> Iterator:
        """:meth:`writing`; ``fresh=True`` starts from an empty database instead of a copy,
        ``prune=True`` removes the record parts the replaced file held already."""
        if self.path is None:
            yield self._con
            return
        outer = _open_writes().get(self.path)
        if isinstance(outer, _Recording):
            raise RuntimeError(f"cannot write tables to {self.path} inside a recording: load "
                               "them before or after it")
        if outer is not None:
            if fresh:
                raise RuntimeError(f"cannot replace {self.path} inside a write to it")
            with outer.nested() as con:
                yield con
            return
        with _FileWrite(self.path, fresh=fresh, prune=prune) as write:
            yield write.con

    def load(self, kind: str, source, *, as_of=None, columns: Mapping[str, str] | None = None
             ) -> pd.DataFrame:
        """Validate a canonical table and store it, replacing any previous version.

        Parameters
        ----------
        kind : str
            Canonical table name (``customers``, ``transactions``, ...).
        source : pandas.DataFrame, ibis.Table, or path
            A frame, a table, or a CSV / Parquet file (or glob) that DuckDB reads directly.
        as_of : timestamp-like, optional
            No event may lie after it (default: the workspace's ``as_of``, else now). Given,
            and later than the workspace's ``as_of``, it becomes the workspace's: the data
            now reaches that date (the nightly load before ``lifecycle run``).
        columns : mapping, optional
            ``{source name: canonical name}`` for the source's columns that are named
            otherwise, as in ``DataFrame.rename(columns=...)`` and the command line's
            ``--columns member_no=customer_id`` (see :func:`lifecycle.schema.as_table`).

        Returns
        -------
        pandas.DataFrame
            The repairs made (``table, column, repair, rows``), also kept in :meth:`quality`.

        Examples
        --------
        >>> import tempfile
        >>> ws = Workspace.open(Path(tempfile.mkdtemp()) / "shop.duckdb", create=True)
        >>> members = pd.DataFrame({"member_no": ["007", "008"],
        ...                         "joined": ["2024-03-01", "2024-05-02"]})
        >>> _ = ws.load("customers", members, as_of="2024-12-31",
        ...             columns={"member_no": "customer_id", "joined": "created_at"})
        >>> ws.table("customers").customer_id.execute().tolist()
        ['007', '008']
        """
        given, current = as_of, self.as_of
        as_of = as_of if as_of is not None else current
        with self.writing() as con:
            repairs = self._load(con, kind, source, as_of=as_of, columns=columns)
            if given is not None and (current is None or pd.Timestamp(given) > current):
                _set_meta(con, as_of=str(pd.Timestamp(given)))
            return repairs

    def append(self, kind: str, frame: pd.DataFrame) -> int:
        """Validate rows of a canonical table and append them (e.g. contact history).

        Returns the number of rows appended. Keys must stay unique across old and new rows.
        Run records (``contact_history``, ``runs``) are appended as a part beside the file,
        without copying it (see :meth:`recording`), unless a :meth:`writing` is open.
        """
        if self.path is not None and kind in _records.RECORDS and not isinstance(
                _open_writes().get(self.path), _FileWrite):
            with self.recording():
                return _open_writes()[self.path].append(self, kind, frame)
        with self.writing() as con:
            as_of = None if kind == "contact_history" else self.as_of
            old = con.table(kind) if kind in con.list_tables() else None
            clean = _new_rows(kind, frame, as_of, old)
            _set_meta(con, **{f"version.{kind}": uuid.uuid4().hex})
            if old is None:
                con.create_table(kind, _rows(con, clean))
            else:
                con.insert(kind, _rows(con, clean))
            return len(clean)

    @contextmanager
    def recording(self) -> Iterator[None]:
        """A write of run records: the :meth:`append` calls in the block to ``contact_history``
        and ``runs`` commit together, or not at all, when it ends.

        On a DuckDB file they become one Parquet part in ``<file>.records/``, written under
        the file's lock and renamed into place: the cost depends on the rows appended, not on
        the size of the database, and readers see the part whole or not at all. Inside a
        :meth:`writing` (or off a file) the rows go into that write instead. Loading tables
        inside a recording is an error: do it before or after.
        """
        outer = _open_writes().get(self.path) if self.path is not None else None
        if self.path is None or isinstance(outer, _FileWrite):
            with self.writing():
                yield
        elif outer is not None:
            with outer.nested():
                yield
        else:
            with _Recording(self.path):
                yield

    def compact(self) -> None:
        """Take the run records appended beside the file into it (one copy of the file).

        Every write through :meth:`writing` or :meth:`load` takes them in first, and readers
        then skip their parts, but leaves the parts on disk: a reader may still be reading
        them. This also removes the parts that the previous version of the file had taken in
        already, which only a reader that has not asked for a table since then still reads.
        """
        with self._writing(fresh=False, prune=True):
            pass

    def _load(self, con, kind, source, *, as_of, columns) -> pd.DataFrame:
        if kind not in TABLES:
            raise ValueError(f"unknown table kind {kind!r}; canonical tables: {', '.join(TABLES)}")
        with _file_errors(kind, source):
            raw = as_table(_read(con, source, kind), kind, columns=columns)
            if isinstance(source, pd.DataFrame):  # one transfer from pandas, then native scans
                raw = _staged(con, f"_staged_{kind}", raw)
            clean, repairs = validate(raw, kind, as_of=as_of)
            con.create_table(kind, clean, overwrite=True)
        _set_meta(con, **{f"version.{kind}": uuid.uuid4().hex})
        quality = con.table(_QUALITY)
        kept = quality.filter(quality.table != kind).execute()  # a few rows, read out first:
        con.create_table(_QUALITY, _rows(con, kept), overwrite=True)  # Spark cannot overwrite
        if len(repairs):  # a table it reads
            con.insert(_QUALITY, _rows(con, repairs.astype({"rows": "int64"})))
        return repairs

    def __repr__(self) -> str:
        where = self.path if self.path is not None else type(self._con).__module__
        return f"Workspace({where})"


def _build_demo(ws: Workspace, n: int, *, years: float, random_state: int, progress: bool,
                part_size: int | None = None, workers: int = 2) -> None:
    """Write the demo of ``n`` customers to the file of ``ws``, replacing it whole: in memory
    for one part, else part by part through Parquet files (:func:`synthetic.write_parts`).
    The old file stays readable until the new one replaces it."""
    from lifecycle import synthetic

    part_size = part_size or synthetic.PART_SIZE
    meta = {"source": "lifecycle.synthetic", "n_customers": n, "random_state": random_state,
            "currency": synthetic.CURRENCY}
    if synthetic.n_parts(n, part_size) == 1:
        demo = synthetic.generate(n, years=years, random_state=random_state, progress=progress)
        with ws._writing(fresh=True) as con:
            _ensure_meta(con)
            _set_meta(con, as_of=str(demo.as_of), **meta)
            for kind, frame in demo.tables.items():
                ws._load(con, kind, frame, as_of=demo.as_of, columns=None)
            _store_truth(con, demo.truth)
        return
    from tqdm.auto import tqdm

    ws.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{ws.path.name}.parts-", dir=ws.path.parent))
    try:
        made = synthetic.write_parts(n, tmp, years=years, random_state=random_state,
                                     workers=workers, part_size=part_size)
        pieces = dict(tqdm(made, total=synthetic.n_parts(n, part_size), desc="demo parts",
                           disable=not progress))
        as_of = synthetic.AS_OF
        with ws._writing(fresh=True) as con:
            con.raw_sql("SET preserve_insertion_order = false")  # DuckDB streams and spills
            _ensure_meta(con)
            _set_meta(con, as_of=str(as_of), **meta)
            for kind in synthetic.TABLE_NAMES:  # DuckDB reads and validates each whole table
                ws._load(con, kind, f"{tmp / kind}/*.parquet", as_of=as_of, columns=None)
                shutil.rmtree(tmp / kind)
            for name in synthetic.TRUTH_FRAMES:
                con.raw_sql(f"CREATE TABLE _truth_{name} AS SELECT * FROM "
                            f"read_parquet('{_quote(tmp)}/_truth_{name}/*.parquet')")
            truth = synthetic.truth([pieces[k] for k in sorted(pieces)],
                                    frames=dict.fromkeys(synthetic.TRUTH_FRAMES))
            _store_truth(con, truth, skip=synthetic.TRUTH_FRAMES)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _memory_limit() -> str:
    """DuckDB's memory cap: ``LIFECYCLE_MEMORY_LIMIT`` (as DuckDB writes sizes, ``"6GB"``),
    else a third of this machine's memory. DuckDB's own default, 80 %, leaves too little for
    Python and for a second process (a dashboard beside a notebook); under the cap, DuckDB
    spills large sorts, joins and aggregates to disk."""
    given = os.environ.get(_MEMORY_ENV, "").strip()
    if given:
        if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", given, flags=re.IGNORECASE):
            raise ValueError(f"{_MEMORY_ENV}={given!r} is not a size such as 6GB or 800MB")
        return given
    return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 3 // 2**20}MB"


def _settings(con, *, spill: bool = False) -> None:
    """Quiet, capped (:func:`_memory_limit`) and, with ``spill``, spilling to a folder of its
    own in the system's temporary folder (``TMPDIR``), which DuckDB makes when it needs it and
    removes when the connection closes. Without one an in-memory connection spills to
    ``.tmp`` in the current folder, shared by every process started there."""
    con.raw_sql(f"{_QUIET}; SET memory_limit = '{_memory_limit()}'")
    if spill:
        folder = Path(tempfile.gettempdir()) / f"lifecycle-spill-{os.getpid()}-{uuid.uuid4().hex}"
        con.raw_sql(f"SET temp_directory = '{_quote(folder)}'")


def _reader(path: Path, parts) -> tuple:
    """A read-only connection to the file at ``path`` and the run-record ``parts`` beside it:
    every table a view, a record table the file's rows and its parts' (see
    :mod:`lifecycle._records`). Returns it and the last part the file holds already."""
    con = ibis.duckdb.connect()
    _settings(con, spill=True)
    con.raw_sql(f"ATTACH '{_quote(path)}' AS ws (READ_ONLY)")
    names = [row[0] for row in con.raw_sql(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'ws' "
        "AND schema_name = 'main'").fetchall()]
    since = _records_since(con, f"ws.main.{_META}") if _META in names else 0
    appended = _records.files(parts, since)
    for name in sorted(set(names) | set(appended)):
        scans = ([f'SELECT * FROM ws.main."{name}"'] if name in names else []) + (
            [f"SELECT * FROM {_records.scan(appended[name])}"] if name in appended else [])
        con.raw_sql(f'CREATE VIEW "{name}" AS ' + " UNION ALL BY NAME ".join(scans))
    return con, since


def _new_rows(kind: str, frame: pd.DataFrame, as_of, old, pending=()) -> pd.DataFrame:
    """``frame`` validated as rows to append to ``old`` (the table, or None), in its column
    order; a key already in ``old`` or in the ``pending`` frames is a DataError."""
    clean, _ = validate(frame, kind, as_of=as_of)
    key = list(TABLES[kind].key)
    if key and old is not None:
        clash = old.select(key).join(ibis.memtable(clean[key]), key)
        if n := clash.count().execute():
            raise DataError([Problem(kind, ", ".join(key), "duplicate key: already in the "
                                     "workspace", n, clash.limit(5).execute())])
    if key and pending:
        every = pd.concat([*(p[key] for p in pending), clean[key]], ignore_index=True)
        again = every.duplicated().to_numpy()[-len(clean):]
        if again.any():
            raise DataError([Problem(kind, ", ".join(key), "duplicate key: already appended "
                                     "in this recording", int(again.sum()),
                                     clean[key][again].head(5))])
    return clean if old is None else clean[list(old.columns)]


def _staged(con, name: str, table) -> ibis.Table:
    """``table`` (an ibis table) as a temporary table of the backend; a plain one where the
    backend has no temporary tables (Spark), replaced on the next load."""
    try:
        return con.create_table(name, table, temp=True, overwrite=True)
    except NotImplementedError:
        return con.create_table(name, _rows(con, table.execute()), overwrite=True)


def _rows(con, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` ready to be written to ``con``. PySpark's pandas conversion writes a missing
    text value (pandas 3's NaN) as the string "NaN": there text goes in as objects and None."""
    if con.name != "pyspark":
        return frame
    text = [c for c in frame.select_dtypes(include=["string", "object"]).columns
            if frame[c].isna().any()]  # an all-object empty column would be typed VOID
    frame = frame.astype(dict.fromkeys(text, object))
    frame[text] = frame[text].where(frame[text].notna(), None)
    return frame


def _read(con, source, kind: str):
    """A frame or table as it is; a CSV or Parquet file (or glob) read by DuckDB.

    A CSV file is read as text, every column: the schema then reads each value on its own
    (an id as written, ``007`` stays ``007``; timestamps as ISO 8601), instead of DuckDB
    guessing a type or a date format from a sample of rows. Extra columns stay text. A header
    that names one column twice is an error (DuckDB would rename the second one).
    """
    if not isinstance(source, (str, Path)):
        return source
    path = str(source)
    if not any(ch in path for ch in "*?["):
        _check_readable(Path(path))
    if path.endswith((".parquet", ".pq")):
        return con.read_parquet(path)
    if path.endswith((".csv", ".csv.gz", ".tsv")):
        header = con.read_csv(path, all_varchar=True, header=False).limit(1).execute()
        names = pd.Series(header.iloc[0].tolist() if len(header) else [], dtype=object)
        if names.duplicated().any():
            twice = ", ".join(map(repr, names[names.duplicated()].unique()))
            raise DataError([Problem(kind, str(names[names.duplicated()].iloc[0]),
                                     f"the header of {path} names a column twice ({twice})",
                                     0)])
        return con.read_csv(path, all_varchar=True)
    raise ValueError(f"cannot tell the format of {path}: name a .csv or .parquet file")


def _check_readable(path: Path) -> None:
    """Raise a clear OSError for a missing file, a folder or a file this user cannot read."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: name a file, or a glob such as "
                                f"{path / '*.csv'}")
    if not path.exists():
        raise FileNotFoundError(f"no file at {path}")
    with open(path, "rb"):
        pass


@contextmanager
def _file_errors(kind: str, source) -> Iterator:
    """Turn DuckDB's errors reading a file (found only when rows are scanned) into a DataError
    or an OSError naming the file; other sources pass through untouched."""
    if not isinstance(source, (str, Path)):
        yield
        return
    try:
        yield
    except duckdb.IOException as exc:
        if "No files found" in str(exc):
            raise FileNotFoundError(f"no file matches {source}") from None
        raise OSError(f"cannot read {source}: {_first_lines(exc)}") from None
    except duckdb.InvalidInputException as exc:
        raise DataError([Problem(kind, "*", f"cannot read {source}: {_first_lines(exc)}",
                                 0)]) from None


def _first_lines(exc: Exception, n: int = 3) -> str:
    """The first lines of a DuckDB error, on one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines[:n])


class _FileWrite:
    """One write transaction on a DuckDB file: lock, private copy, atomic replace.

    Under the lock every leftover private copy of a killed writer is removed first (only the
    lock holder writes one). The copy is made readable by its owner only and gets the file's
    permissions back before it replaces the file. The run records appended beside the file
    are folded into the copy first; with ``prune``, once it has replaced the file, the parts
    that the file it replaced had folded already are removed.
    """

    def __init__(self, path: Path, *, fresh: bool, prune: bool = False):
        self.path, self.fresh, self.prune, self.failed = path, fresh, prune, False
        self.tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")

    def __enter__(self) -> _FileWrite:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _locked(self.path.with_name(self.path.name + ".lock"))
        try:
            _remove_debris(self.path)
            self.mode = _mode(self.path)
            if self.mode is not None and not self.fresh:
                _private_copy(self.path, self.tmp)
            self.con = ibis.duckdb.connect(self.tmp)
            _settings(self.con)  # spills to the file's own <tmp>.tmp folder
            self.folded = _fold(self.con, _records.committed(self.path), fresh=self.fresh)
        except BaseException:
            self._release()
            raise
        _open_writes()[self.path] = self
        return self

    def __exit__(self, kind, exc, tb) -> None:
        del _open_writes()[self.path]
        try:
            self.con.disconnect()
            if kind is None and self.failed:
                raise RuntimeError(f"a write nested in this one to {self.path} failed: nothing "
                                   "was committed")
            if kind is None:
                if self.mode is not None:
                    os.chmod(self.tmp, self.mode)
                fsync(self.tmp)
                os.replace(self.tmp, self.path)
                if self.prune:
                    _records.prune(self.path, self.folded)
        finally:
            self._release()

    @contextmanager
    def nested(self) -> Iterator:
        """Join this transaction; a failure inside dooms it."""
        try:
            yield self.con
        except BaseException:
            self.failed = True
            raise

    def _release(self) -> None:
        self.tmp.unlink(missing_ok=True)
        Path(f"{self.tmp}.wal").unlink(missing_ok=True)
        self._lock.close()  # releases the lock


class _Recording:
    """One append of run records beside a DuckDB file (:meth:`Workspace.recording`): under the
    file's lock, the rows appended are kept and written as one part when the block ends."""

    def __init__(self, path: Path):
        self.path, self.failed, self.frames, self.schemas = path, False, {}, {}

    def __enter__(self) -> _Recording:
        self._lock = _locked(self.path.with_name(self.path.name + ".lock"))
        _remove_debris(self.path)
        _open_writes()[self.path] = self
        return self

    def __exit__(self, kind, exc, tb) -> None:
        del _open_writes()[self.path]
        try:
            if kind is None and self.failed:
                raise RuntimeError(f"an append nested in this recording to {self.path} "
                                   "failed: nothing was committed")
            if kind is None and self.frames:
                tables = {k: ibis.memtable(pd.concat(v, ignore_index=True))
                          for k, v in self.frames.items()}  # typed as the file's rows are:
                tables = {k: t if self.schemas[k] is None else t.cast(self.schemas[k])
                          for k, t in tables.items()}
                _records.write(self.path, tables, ibis.duckdb.connect().to_parquet)
        finally:
            self._lock.close()

    @contextmanager
    def nested(self) -> Iterator[None]:
        """Join this recording; a failure inside dooms it."""
        try:
            yield
        except BaseException:
            self.failed = True
            raise

    def append(self, ws: Workspace, kind: str, frame: pd.DataFrame) -> int:
        """Validate ``frame`` against what is committed and appended so far; keep it."""
        old = ws.con.table(kind) if kind in ws.con.list_tables() else None
        as_of = None if kind == "contact_history" else ws.as_of
        clean = _new_rows(kind, frame, as_of, old, self.frames.get(kind, ()))
        if len(clean):
            self.frames.setdefault(kind, []).append(clean)
            self.schemas[kind] = None if old is None else old.schema()
        return len(clean)


def _fold(con, parts, *, fresh: bool) -> int:
    """Take the record ``parts`` not yet in the database of ``con`` into it (a fresh one
    supersedes them all); return the last part the database held before."""
    if not parts:
        return 0
    _ensure_meta(con)
    since = 0 if fresh else _records_since(con, _META)
    if parts[-1][0] <= since:
        return since
    versions = {}
    if not fresh:
        for name, paths in _records.files(parts, since).items():
            select = f"SELECT * FROM {_records.scan(paths)}"
            if name in con.list_tables():
                con.raw_sql(f'INSERT INTO "{name}" BY NAME {select}')
            else:
                con.raw_sql(f'CREATE TABLE "{name}" AS {select}')
            versions[f"version.{name}"] = f"records-{_records.last(parts, name, since)}"
    _set_meta(con, **{_records.SINCE: parts[-1][0]}, **versions)
    return since


def _records_since(con, meta: str) -> int:
    """The last record part that the database whose ``_meta`` table is ``meta`` holds."""
    found = con.raw_sql(f"SELECT value FROM {meta} WHERE key = '{_records.SINCE}'").fetchall()
    return json.loads(found[0][0]) if found else 0


def _locked(path: Path):
    """The lock file at ``path``, opened and locked exclusively (waits for the holder); closing
    it releases the lock, and so does the end of the process, however it ends.

    A lock file may be removed by its holder (:func:`_created` does, for a workspace that a
    failed command made). Whoever was waiting then holds a lock on a file that no longer has
    that name, while the next comer makes a new one: two holders. So a lock counts only if
    the file locked is still the one at ``path``; otherwise it is taken again. (Processes
    running a version of this library from before this check would not notice.)
    """
    while True:
        lock = open(path, "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.fstat(lock.fileno()).st_ino == os.stat(path).st_ino:
                return lock
        except FileNotFoundError:  # removed while we waited: take the new one
            pass
        except BaseException:
            lock.close()
            raise
        lock.close()


@contextmanager
def _created(path) -> Iterator[Workspace]:
    """A new, empty workspace at ``path`` (which must not exist) for the block; if the block
    fails, nothing it made stays on disk: not the file, its lock file (unless one was there
    before), its cache, nor the folders made for it (for a command whose first load fails).

    The file is removed only if no one else has committed to it since it was made (its stamp
    has not changed), checked under its lock; the lock file is removed while held, which
    :func:`_locked` makes safe for any writer waiting on it.
    """
    path = Path(path).resolve()
    folders = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    lock_path = path.with_name(path.name + ".lock")
    had_lock, stamp = lock_path.exists(), None
    try:
        ws = Workspace.open(path, create=True)
        stamp = _stamp(path)
        yield ws
    except BaseException:
        if lock_path.exists():
            with _locked(lock_path):
                current = _stamp(path) if path.exists() else None
                if current == stamp:  # ours alone (or never made)
                    path.unlink(missing_ok=True)
                    shutil.rmtree(path.with_name(path.name + ".cache"), ignore_errors=True)
                    shutil.rmtree(_records.folder(path), ignore_errors=True)
                    if not had_lock:
                        lock_path.unlink()
        for folder in folders:  # the deepest first; one that is not empty stays
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _store_cache_entry(folder: Path, name: str, target: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` to ``target`` atomically (a temp file renamed), under the cache
    folder's lock; first remove the temp files of killed writers and the entries of ``name``
    for other versions.

    Only the lock holder writes a temp file, so every temp file found under the lock is a
    killed writer's: no age or process-id guess, which a slow writer or a reused pid (or
    another machine's pid on a shared folder) would defeat. Readers take no lock; one whose
    entry is pruned between finding and reading it computes the frame again.
    """
    entry = re.compile(re.escape(name) + r"-[^-]+-\d+-\d+-\d+\.parquet")  # <library>-<version>
    with _locked(folder / ".lock"):
        for leftover in folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        tmp = folder / f".{target.name}.{uuid.uuid4().hex}.tmp"
        try:
            frame.to_parquet(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        for old in folder.iterdir():
            if old != target and entry.fullmatch(old.name):
                old.unlink(missing_ok=True)


def _open_writes() -> dict:
    if not hasattr(_OPEN_WRITES, "by_path"):
        _OPEN_WRITES.by_path = {}
    return _OPEN_WRITES.by_path


def _remove_debris(path: Path) -> None:
    _records.remove_debris(path)
    for pattern in (f".{path.name}.*.tmp", f".{path.name}.*.tmp.wal"):
        for leftover in path.parent.glob(pattern):
            leftover.unlink(missing_ok=True)


def _mode(path: Path) -> int | None:
    """The permission bits of an existing file, else None."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def _private_copy(source: Path, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)


def _check_duckdb_file(path: Path) -> None:
    """Raise a clear error for a folder or a file that is not a DuckDB database."""
    if path.is_dir():
        raise IsADirectoryError(_folder_message(path))
    offset, magic = _DUCKDB_MAGIC
    with open(path, "rb") as f:
        header = f.read(offset + len(magic))
    if header[offset:] != magic:
        raise ValueError(f"{path} is not a DuckDB file (a workspace is a .duckdb file made by "
                         "`lifecycle demo` or Workspace.open(path, create=True))")


def _folder_message(path: Path) -> str:
    return f"{path} is a folder, not a workspace file: name a .duckdb file in it, e.g. " \
           f"{path / 'workspace.duckdb'}"


def _ensure_meta(con) -> None:
    tables = con.list_tables()
    if _META not in tables:
        con.create_table(_META, schema=ibis.schema({"key": "string", "value": "string"}))
    if _QUALITY not in tables:
        con.create_table(_QUALITY, schema=ibis.schema(
            {"table": "string", "column": "string", "repair": "string", "rows": "int64"}))


def _set_meta(con, **values) -> None:
    meta = con.table(_META).execute()
    meta = meta[~meta.key.isin(list(values))]
    new = pd.DataFrame({"key": list(values), "value": [json.dumps(v) for v in values.values()]})
    con.create_table(_META, pd.concat([meta, new], ignore_index=True), overwrite=True)


def _store_truth(con, truth, skip=()) -> None:
    scalars = {}
    for name, value in vars(truth).items():
        if name in skip:
            continue
        if isinstance(value, pd.DataFrame):
            con.create_table(f"_truth_{name}", value, overwrite=True)
        else:
            scalars[f"truth.{name}"] = value
    _set_meta(con, **json.loads(json.dumps(scalars, default=str)))


def _stamp(path: Path, parts=None) -> tuple[int, int, int]:
    """What changes with every commit: the file's inode and time, and the last record part."""
    st = os.stat(path)
    parts = _records.committed(path) if parts is None else parts
    return st.st_ino, st.st_mtime_ns, parts[-1][0] if parts else 0


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
