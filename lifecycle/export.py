"""Segment and campaign exports: the files an e-mail, SMS or ad tool imports.

:func:`write` takes a selection (one row per customer to contact), checks each customer again
at the moment of the export (:func:`lifecycle.consent.contactable`: a valid consent for the
channel, a valid address, not suppressed), keeps only the columns the tool needs and the
personalisation fields asked for, and writes

- the file (CSV or Parquet, from the suffix),
- its **manifest** beside it (``<file>.manifest.json``: what, when, as of, source run, rows,
  columns, sha256, bytes, the rows removed by reason),
- the contacts as ``contact_history`` rows and the export as a ``runs`` row, in one workspace
  write (all rows or none).

**Nothing is written half.** The file and the manifest are written to temporary files in the
target folder (``.<name>.<random>.tmp``), flushed to disk (fsync) and renamed over the
targets, then the folder is flushed; a reader sees the previous file or the new one, never a
part. The workspace rows are committed before the renames: an export killed before the
commit leaves the previous file and no contact-history rows; one killed in the instant
between the commit and the renames leaves the rows with the previous file (contacts recorded
that did not go out is the safe side: nobody is contacted twice). An export to a path holds a
lock file beside it, so two exports to one path run one after the other; each removes the
temporary files that killed exports to its path left behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import ibis
import pandas as pd

from lifecycle import consent
from lifecycle._files import fsync
from lifecycle._frames import lazy, require
from lifecycle.schema import DataError, Problem

__all__ = ["FORMATS", "deliverable", "write"]

#: File suffix -> format.
FORMATS = {".csv": "csv", ".parquet": "parquet"}
_KEYS = ["campaign_id", "cell_id", "offer_id", "step"]


def deliverable(selection, workspace, *, channel: str, at, purpose: str | None = None
                ) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows of ``selection`` that may be sent on ``channel`` at ``at``, with their address,
    and the count of rows removed by reason (:data:`lifecycle.consent.REASONS`, and
    ``"duplicate"`` for a customer's second row in one campaign and cell).

    The workspace's ``customers``, ``consents`` and, where present, ``messages`` and
    ``suppressions`` are read; the selection needs ``customer_id``.
    """
    t, _ = lazy(selection)
    require(t, "selection", ["customer_id"])
    if "consents" not in workspace.tables():
        raise DataError([Problem("consents", "*", "no consents table in the workspace: "
                                 "nobody may be contacted", 0)])
    reach = consent.contactable_in(workspace, channel=channel, at=at, purpose=purpose)
    keys = [c for c in ("campaign_id", "cell_id") if c in t.columns]
    ranked = t.mutate(_copy=ibis.row_number().over(group_by=["customer_id", *keys]))
    reach = reach.select(_customer="customer_id", _address="address", _reason="reason")
    j = ranked.left_join(reach, ranked.customer_id == reach._customer)
    why = ibis.cases((j._copy > 0, "duplicate"), (j._customer.isnull(), "not a customer"),
                     else_=j._reason)
    rows = j.select(*t.columns, address=j._address, _why=why).execute()
    removed = rows._why.value_counts().to_dict()
    kept = rows[rows._why.isna()].drop(columns="_why").reset_index(drop=True)
    return kept, {str(k): int(v) for k, v in sorted(removed.items())}


def write(selection, path, *, workspace, channel: str, as_of, format: str | None = None,
          fields: Sequence[str] = (), purpose: str | None = None,
          campaign_id: str = "segment-export", cell_id: str | None = None,
          source_run: str | None = None, record: bool = True, run_id: str | None = None,
          kind: str = "export") -> dict:
    """Write a consent-checked export file, its manifest and the contact history.

    Parameters
    ----------
    selection : pandas.DataFrame or ibis.Table
        One row per contact: ``customer_id``, optionally ``campaign_id``, ``cell_id``,
        ``offer_id``, ``step``, ``control`` (held out: recorded in the contact history, not
        written to the file) and the personalisation ``fields``.
    path : str or Path
        The file to write; ``.csv`` or ``.parquet`` (or give ``format``). Its folder must exist.
    workspace : lifecycle.Workspace
        Where customers, consents, messages and suppressions are read and the contact
        history and the run are written.
    channel : str
        ``"email"`` (the file carries ``email``), ``"sms"`` (``phone``), or another channel
        (no address column).
    as_of : timestamp-like
        The moment the contacts go out: consents must be valid then; it is the contact
        history's ``planned_at``.
    fields : sequence of str
        Personalisation columns of ``selection`` to include (first name, product, store).
    purpose : str, optional
        Only consents for this purpose count.
    campaign_id, cell_id : str
        Used for the contact history when the selection has no such column (a segment
        export); ``cell_id`` defaults to the file name without suffix.
    source_run : str, optional
        The run that made the selection (a program run), kept in the manifest.
    record : bool
        Write contact history and the run (default). ``False`` for a file that is not sent.
    run_id, kind : str, optional
        The run's id (default ``export-<as_of>-<random>``) and kind (``"export"``; a program
        run passes its own).

    Returns
    -------
    dict
        The manifest: ``path, manifest, format, rows, columns, bytes, sha256, channel, as_of,
        created_at, run_id, source_run, removed`` (counts by reason), ``selected`` and
        ``control`` (rows held out: recorded, not in the file).
    """
    path = Path(path)
    fmt = _format(path, format)
    missing = [f for f in fields if f not in lazy(selection)[0].columns]
    if missing:
        raise DataError([Problem("selection", f, "personalisation field missing", 0)
                         for f in missing])
    as_of = pd.Timestamp(as_of)
    kept, removed = deliverable(selection, workspace, channel=channel, at=as_of,
                                purpose=purpose)
    held = (kept.control.fillna(False).astype(bool) if "control" in kept else
            pd.Series(False, index=kept.index))
    address = consent.ADDRESSES.get(channel)
    columns = ["customer_id", *([address] if address else []),
               *[c for c in _KEYS if c in kept.columns and c not in fields], *fields]
    out = kept[~held].rename(columns={"address": address} if address else {})[columns]
    run_id = run_id or f"export-{as_of:%Y%m%d}-{uuid.uuid4().hex[:10]}"
    with _locked(path):
        _remove_leftovers(path)
        data = _temp_file(path, lambda target: _write_frame(out, target, fmt))
        manifest = {
            "path": str(path), "manifest": str(_manifest_path(path)), "format": fmt,
            "rows": len(out), "columns": columns, "bytes": data.stat().st_size,
            "sha256": _sha256(data), "channel": channel, "purpose": purpose,
            "as_of": as_of.isoformat(), "created_at": pd.Timestamp.now("UTC").isoformat(),
            "run_id": run_id if record else None, "kind": kind, "source_run": source_run,
            "selected": len(kept) + sum(removed.values()), "removed": removed,
            "control": int(len(kept) - len(out))}
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        note = _temp_file(_manifest_path(path),
                          lambda target: target.write_text(text, encoding="utf-8"))
        try:
            if record:
                _record(workspace, kept, manifest, campaign_id=campaign_id,
                        cell_id=cell_id or path.stem.split(".")[0])
        except BaseException:
            data.unlink(missing_ok=True)
            note.unlink(missing_ok=True)
            raise
        os.replace(data, path)
        os.replace(note, _manifest_path(path))
        fsync(path.parent)
    return manifest


def _format(path: Path, format: str | None) -> str:
    fmt = format or FORMATS.get(path.suffix.lower())
    if fmt not in FORMATS.values():
        raise ValueError(f"cannot tell the export format of {path.name!r}: give a file ending "
                         f"in {' or '.join(FORMATS)}, or format='csv' / 'parquet'")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"export folder {path.parent} does not exist")
    return fmt


def _manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def _write_frame(frame: pd.DataFrame, target: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(target, index=False, encoding="utf-8", lineterminator="\n")
    else:
        frame.to_parquet(target, index=False)


def _temp_file(target: Path, write) -> Path:
    """``write(temp)`` a temporary file beside ``target``, flushed to disk; return it."""
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        write(temp)
        fsync(temp)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record(workspace, kept: pd.DataFrame, manifest: dict, *, campaign_id: str,
            cell_id: str) -> None:
    """The contact history rows and the run row, in one workspace write."""
    contacts = pd.DataFrame({
        "run_id": manifest["run_id"],
        "campaign_id": kept["campaign_id"] if "campaign_id" in kept else campaign_id,
        "cell_id": kept["cell_id"] if "cell_id" in kept else cell_id,
        "customer_id": kept.customer_id, "channel": manifest["channel"],
        "planned_at": pd.Timestamp(manifest["as_of"]),
        "offer_id": kept["offer_id"] if "offer_id" in kept else None})
    counts = {"selected": manifest["selected"], "exported": manifest["rows"],
              "control": manifest["control"], "removed": manifest["removed"]}
    run = pd.DataFrame([{
        "run_id": manifest["run_id"], "kind": manifest["kind"],
        "as_of": pd.Timestamp(manifest["as_of"]),
        "started_at": pd.Timestamp(manifest["created_at"]).tz_convert(None),
        "finished_at": pd.Timestamp.now("UTC").tz_convert(None), "status": "done",
        "parameters": json.dumps({k: manifest[k] for k in ("path", "format", "channel",
                                                           "purpose", "source_run")}),
        "counts": json.dumps(counts)}])
    with workspace.recording():  # one part beside the file: no copy of it
        if len(contacts):
            workspace.append("contact_history", contacts)
        workspace.append("runs", run)


@contextmanager
def _locked(path: Path):
    lock = path.with_name(f".{path.name}.lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(path: Path) -> None:
    """Temporary files of earlier exports to this path (held under its lock: none is live)."""
    for target in (path, _manifest_path(path)):
        for temp in target.parent.glob(f".{target.name}.*.tmp"):
            temp.unlink(missing_ok=True)
