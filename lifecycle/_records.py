"""Run records beside a workspace file: append-only Parquet parts (private to the workspace).

A run's outputs (the tables in :data:`RECORDS`) are appended without copying the database:
each committed append is one folder ``<file>.records/<seq>-<id>/`` holding one Parquet file
per table it appends to. The folder is written under a temporary name and renamed into place,
so a multi-table append (a run row and its contact history) appears whole or not at all;
``seq`` numbers the commits in order. A reader sees a record table as the database's rows
plus every part numbered above the database's ``records.since`` (the last part already in it).

A write to the database itself (a load, a nested append, ``Workspace.compact``) first folds
the parts above ``since`` into its private copy and moves ``since`` on, so that the database
holds everything and readers scan few parts. Only ``Workspace.compact`` removes parts from
disk: those that the database it replaced had folded already, which no reader of the new or
the previous version reads (a reader opens the newest version whenever it asks for a table).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

from lifecycle._files import fsync

RECORDS = ("contact_history", "runs")
SINCE = "records.since"  # _meta key: the last part folded into the database
_PART = re.compile(r"(\d{10})-[0-9a-f]{8}")


def folder(path: Path) -> Path:
    """The records folder of the workspace file ``path``."""
    return path.with_name(path.name + ".records")


def committed(path: Path) -> list[tuple[int, Path]]:
    """The committed parts of the workspace file ``path``, as ``(seq, folder)`` in order."""
    try:
        entries = os.scandir(folder(path))
    except FileNotFoundError:
        return []
    with entries:
        parts = [(int(m.group(1)), Path(e.path)) for e in entries
                 if (m := _PART.fullmatch(e.name))]
    return sorted(parts)


def files(parts, since: int) -> dict[str, list[str]]:
    """``{table: [Parquet file, ...]}`` of the parts numbered above ``since``, in order."""
    found: dict[str, list[str]] = {}
    for seq, part in parts:
        if seq > since:
            for name in RECORDS:
                if (part / f"{name}.parquet").exists():
                    found.setdefault(name, []).append(str(part / f"{name}.parquet"))
    return found


def last(parts, name: str, since: int) -> int | None:
    """The number of the newest part above ``since`` that appends to table ``name``."""
    seqs = [seq for seq, part in parts if seq > since and (part / f"{name}.parquet").exists()]
    return max(seqs, default=None)


def scan(paths: list[str]) -> str:
    """SQL reading the Parquet files ``paths`` as one table (columns matched by name)."""
    quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{quoted}], union_by_name = true)"


def write(path: Path, tables: dict, to_parquet) -> int:
    """Commit ``tables`` (``{name: rows}``) as the next part; the caller holds the lock.

    ``to_parquet(rows, file)`` writes one table's rows. Returns the new part's number.
    """
    root = folder(path)
    root.mkdir(exist_ok=True)
    tmp = root / f".{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    try:
        for name, rows in tables.items():
            to_parquet(rows, tmp / f"{name}.parquet")
            fsync(tmp / f"{name}.parquet")
        fsync(tmp)
        parts = committed(path)
        seq = (parts[-1][0] if parts else 0) + 1
        os.rename(tmp, root / f"{seq:010d}-{uuid.uuid4().hex[:8]}")
        fsync(root)
        return seq
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_debris(path: Path) -> None:
    """Remove the temporary folders of killed writers; the caller holds the lock."""
    for leftover in folder(path).glob(".*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)


def prune(path: Path, upto: int) -> None:
    """Remove the parts numbered ``upto`` or lower (already in the database)."""
    for seq, part in committed(path):
        if seq <= upto:
            shutil.rmtree(part, ignore_errors=True)
