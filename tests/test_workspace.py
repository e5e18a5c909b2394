import multiprocessing as mp
import os
import queue
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import ibis
import pandas as pd
import pytest

import lifecycle
from lifecycle import DataError, Workspace
from lifecycle.schema import validate

AS_OF = "2025-06-30"


def customers(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)],
                         "created_at": pd.date_range("2024-01-01", periods=n, freq="D"),
                         "email": [f" User{i}@Example.com" for i in range(n)]})


def contacts(run: str, n: int) -> pd.DataFrame:
    return pd.DataFrame({"run_id": run, "campaign_id": "welcome", "cell_id": "thank",
                         "customer_id": [f"C{i}" for i in range(n)], "channel": "email",
                         "planned_at": pd.Timestamp("2025-06-01"), "cost": 0.01})


@pytest.fixture
def ws(tmp_path):
    return Workspace.open(tmp_path / "ws.duckdb", create=True, as_of=AS_OF)


def test_open_missing_file_says_how_to_build_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="lifecycle demo --path"):
        Workspace.open(tmp_path / "nope.duckdb")


def test_load_frame_validates_and_reports_repairs(ws):
    repairs = ws.load("customers", customers())
    assert ws.table("customers").email.execute().tolist()[0] == "user0@example.com"
    assert ws.as_of == pd.Timestamp(AS_OF)
    quality = ws.quality()
    row = quality[quality.repair == "e-mail trimmed and lower-cased"].iloc[0]
    assert (row.table, row.column, row.rows) == ("customers", "email", 3)
    assert len(repairs) == len(quality)


def test_columns_without_a_single_value_load_as_typed_nulls(ws):
    grants = pd.DataFrame({"customer_id": ["C0", "C1"], "channel": "email",
                           "granted_at": pd.Timestamp("2025-01-01"), "expires_at": None,
                           "revoked_at": [None, None], "purpose": None, "note": None})
    ws.load("consents", grants)
    t = ws.table("consents")
    assert t.expires_at.type().is_timestamp() and t.purpose.type().is_string()
    assert t.note.type().is_string()  # a column of the frame's own: kept, as text
    assert t.expires_at.isnull().all().execute()


def test_a_load_as_of_a_later_date_moves_the_workspace_forward(ws):
    ws.load("customers", customers(), as_of="2025-07-31")
    assert ws.as_of == pd.Timestamp("2025-07-31")
    ws.load("customers", customers(), as_of="2025-07-01")  # an earlier date: kept
    assert ws.as_of == pd.Timestamp("2025-07-31")
    ws.load("customers", customers())  # none given: kept
    assert ws.as_of == pd.Timestamp("2025-07-31")


def test_reloading_replaces_table_and_its_quality_rows(ws):
    ws.load("customers", customers(5))
    ws.load("customers", customers(2).assign(email="a@b.fi"))
    assert ws.table("customers").count().execute() == 2
    assert "e-mail trimmed and lower-cased" not in set(ws.quality().repair)


def test_csv_and_parquet_are_read_by_duckdb_not_pandas(ws, tmp_path, monkeypatch):
    customers(4).to_csv(tmp_path / "c.csv", index=False)
    tx = pd.DataFrame({"customer_id": ["C1", "C2"], "ts": ["2024-05-01", "2024-05-02"],
                       "amount": [10.0, 20.0]})
    tx.to_parquet(tmp_path / "t.parquet")

    def refuse(*args, **kwargs):
        raise AssertionError("files must be read by DuckDB, not pandas")

    monkeypatch.setattr(pd, "read_csv", refuse)
    monkeypatch.setattr(pd, "read_parquet", refuse)
    ws.load("customers", tmp_path / "c.csv")
    ws.load("transactions", str(tmp_path / "t.parquet"))
    assert ws.table("customers").count().execute() == 4
    assert ws.table("transactions").amount.sum().execute() == 30.0
    assert ws.tables() == ["customers", "transactions"]


def test_caller_column_names_are_mapped(ws):
    df = customers().rename(columns={"customer_id": "member_no", "created_at": "joined"})
    ws.load("customers", df, columns={"member_no": "customer_id", "joined": "created_at"})
    assert ws.table("customers").customer_id.execute().tolist() == ["C0", "C1", "C2"]
    parquet = ws.path.with_name("members.parquet")  # a file: the same direction
    df.assign(member_no=["M0", "M1", "M2"]).to_parquet(parquet)
    ws.load("customers", parquet, columns={"member_no": "customer_id", "joined": "created_at"})
    assert ws.table("customers").customer_id.execute().tolist() == ["M0", "M1", "M2"]
    with pytest.raises(DataError, match="would both be named 'customer_id'"):
        ws.load("customers", df.assign(old_id=1), columns={"member_no": "customer_id",
                                                          "old_id": "customer_id",
                                                          "joined": "created_at"})


def test_failed_load_leaves_previous_version_and_no_debris(ws, tmp_path):
    ws.load("customers", customers())
    bad = customers().assign(created_at=["2024-01-01", "2030-01-01", "2024-01-02"])
    with pytest.raises(DataError, match="timestamp after as_of"):
        ws.load("customers", bad)
    assert ws.table("customers").count().execute() == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws.duckdb", "ws.duckdb.lock"]


def test_unknown_table_names_the_ones_present(ws):
    ws.load("customers", customers())
    with pytest.raises(KeyError, match="has: customers"):
        ws.table("transactions")


def test_append_keeps_keys_unique(ws):
    assert ws.append("contact_history", contacts("r1", 3)) == 3
    assert ws.append("contact_history", contacts("r2", 2)) == 2
    assert ws.table("contact_history").count().execute() == 5
    with pytest.raises(DataError, match="duplicate key"):
        ws.append("contact_history", contacts("r1", 1))
    assert ws.table("contact_history").count().execute() == 5


RUN = pd.DataFrame({"run_id": ["r1"], "kind": ["export"], "as_of": [pd.Timestamp(AS_OF)]})


def _parts(ws) -> list[list[str]]:
    folder = ws.path.with_name(ws.path.name + ".records")
    parts = sorted(folder.iterdir()) if folder.exists() else []
    return [sorted(f.name for f in part.iterdir()) for part in parts]


def test_run_records_are_appended_beside_the_file_without_rewriting_it(ws):
    ws.load("customers", customers(3))
    before, versions = os.stat(ws.path), (ws.version, ws.table_version(["customers"]),
                                          ws.table_version(["contact_history"]))
    with ws.recording():
        assert ws.append("contact_history", contacts("r1", 3)) == 3
        assert ws.append("runs", RUN) == 1
    after = os.stat(ws.path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _parts(ws) == [["contact_history.parquet", "runs.parquet"]]  # one part, both tables
    assert ws.tables() == ["contact_history", "customers", "runs"]
    assert ws.table("contact_history").count().execute() == 3
    assert ws.table("runs").as_of.execute().tolist() == [pd.Timestamp(AS_OF)]
    assert ws.version != versions[0]
    assert ws.table_version(["customers"]) == versions[1]  # a fit on customers stays valid
    assert ws.table_version(["contact_history"]) != versions[2]


def test_a_recording_commits_all_its_appends_or_none(ws):
    with pytest.raises(ValueError, match="stopped"), ws.recording():
        ws.append("contact_history", contacts("r1", 3))
        raise ValueError("stopped before the run row")
    with pytest.raises(RuntimeError, match="nothing was committed"), ws.recording():
        ws.append("contact_history", contacts("r1", 3))
        with pytest.raises(DataError, match="already appended in this recording"):
            ws.append("contact_history", contacts("r1", 1))
    assert ws.tables() == []
    with pytest.raises(RuntimeError, match="inside a recording"), ws.recording():
        ws.load("customers", customers(3))
    assert ws.tables() == [] and _parts(ws) == []


def test_keys_stay_unique_across_the_file_and_its_parts(ws):
    with ws.writing():  # into the file
        ws.append("contact_history", contacts("r1", 2))
    ws.append("contact_history", contacts("r2", 2))  # beside it
    for run in ("r1", "r2"):
        with pytest.raises(DataError, match="duplicate key: already in the workspace"):
            ws.append("contact_history", contacts(run, 1))
        with pytest.raises(DataError, match="duplicate key"), ws.writing():
            ws.append("contact_history", contacts(run, 1))
    assert ws.table("contact_history").count().execute() == 4


def test_a_write_to_the_file_takes_the_parts_in_and_compact_removes_them_later(ws):
    ws.append("contact_history", contacts("r1", 3))
    version = ws.table_version(["contact_history"])
    reading = ws.table("contact_history")
    ws.load("customers", customers(3))  # takes part 1 into the file, leaves it on disk
    assert ws.meta()["records.since"] == 1 and len(_parts(ws)) == 1
    assert ws.table("contact_history").count().execute() == 3  # not counted twice
    assert reading.count().execute() == 3  # a reader of the version before still reads
    assert ws.table_version(["contact_history"]) == version  # the same rows: fits stay valid
    ws.append("contact_history", contacts("r2", 2))
    ws.compact()  # takes part 2 in; removes part 1, which the file it replaces held
    assert ws.meta()["records.since"] == 2 and len(_parts(ws)) == 1
    ws.compact()
    assert _parts(ws) == [] and ws.table("contact_history").count().execute() == 5


def test_loading_a_record_table_replaces_its_appended_rows(ws):
    ws.append("contact_history", contacts("r1", 3))
    ws.load("contact_history", contacts("r9", 1))
    assert ws.table("contact_history").run_id.execute().tolist() == ["r9"]
    ws.append("runs", RUN)
    ws.load("customers", customers(2))
    ws.compact()
    assert Workspace.open(ws.path).table("runs").count().execute() == 1


def _killed_recording(path, ready):
    """Append run records and block after writing the part, before renaming it into place."""

    def blocked(*args, **kwargs):
        ready.set()
        threading.Event().wait()  # killed here, the part written, the lock held

    os.rename = blocked
    Workspace.open(path).append("contact_history", contacts("killed", 5))


def test_a_killed_recording_leaves_nothing_and_the_next_writer_removes_its_folder(ws):
    ws.append("contact_history", contacts("r1", 3))
    folder = ws.path.with_name(ws.path.name + ".records")
    with _killed_when_ready(_killed_recording, ws.path):
        assert len(list(folder.glob(".*.tmp"))) == 1
        assert ws.table("contact_history").count().execute() == 3  # readers do not wait
    ws.append("contact_history", contacts("r2", 2))
    assert list(folder.glob(".*.tmp")) == []
    assert sorted(ws.table("contact_history").run_id.execute().unique()) == ["r1", "r2"]


def test_a_new_demo_supersedes_the_old_files_records(tmp_path):
    path = tmp_path / "demo.duckdb"
    Workspace.open(path, create=True, as_of=AS_OF).append("contact_history",
                                                          contacts("old", 3))
    demo = Workspace.demo(path, n_customers=100, overwrite=True)
    assert "old" not in set(demo.table("contact_history").run_id.execute())


def test_any_ibis_connection():
    ws = Workspace.connect(ibis.duckdb.connect())
    ws.load("customers", customers(), as_of=AS_OF)
    assert ws.tables() == ["customers"]


def test_readers_are_capped_and_spill_to_folders_of_their_own(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_MEMORY_LIMIT", "32MB")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ws.load("customers", customers())
    a, b = Workspace.open(ws.path).con, Workspace.open(ws.path).con

    def setting(con, name):
        return con.raw_sql(f"SELECT current_setting('{name}')").fetchone()[0]

    assert setting(a, "memory_limit") == "30.5 MiB"
    spill = Path(setting(a, "temp_directory"))
    assert spill.parent == tmp_path and spill != Path(setting(b, "temp_directory"))
    big = a.raw_sql("SELECT count(*) FROM (SELECT random() AS x, range AS y FROM range(5000000) "
                    "ORDER BY x)").fetchone()[0]  # some 80 MB sorted under a 32 MB cap
    assert big == 5_000_000 and spill.is_dir()
    a.disconnect()
    assert not spill.exists()
    monkeypatch.setenv("LIFECYCLE_MEMORY_LIMIT", "plenty")
    with pytest.raises(ValueError, match="LIFECYCLE_MEMORY_LIMIT='plenty' is not a size"):
        Workspace.open(ws.path).tables()


def test_reader_keeps_its_version_until_it_asks_again(ws):
    ws.load("customers", customers(3))
    old = ws.table("customers")
    other = Workspace.open(ws.path)
    other.load("customers", customers(5))
    assert old.count().execute() == 3  # an open expression reads the version it was built on
    assert ws.table("customers").count().execute() == 5


def test_cached_computes_once_per_version_and_drops_old_versions(ws):
    ws.load("customers", customers(3))
    calls = []

    def compute():
        calls.append(1)
        return ws.table("customers").execute()[["customer_id"]]

    first = ws.cached("ids", compute)
    again = Workspace.open(ws.path).cached("ids", compute)  # another reader, same version
    pd.testing.assert_frame_equal(first, again)
    assert len(calls) == 1
    ws.load("customers", customers(5))
    assert len(ws.cached("ids", compute)) == 5 and len(calls) == 2
    kept = sorted(p.name for p in ws.path.with_name(ws.path.name + ".cache").iterdir())
    assert kept == [".lock", f"ids-{lifecycle.__version__}-{ws.version}.parquet"]


def test_a_result_of_named_tables_outlives_writes_to_others(ws):
    ws.load("customers", customers(3))
    calls = []

    def compute():
        calls.append(1)
        return ws.table("customers").execute()[["customer_id"]]

    ws.cached("ids", compute, tables=["customers"])
    ws.append("contact_history", contacts("r1", 2))
    assert len(ws.cached("ids", compute, tables=["customers"])) == 3 and len(calls) == 1
    ws.append("customers", customers(5).iloc[3:])  # the table itself changes
    assert len(ws.cached("ids", compute, tables=["customers"])) == 5 and len(calls) == 2
    ws.load("customers", customers(5), as_of="2030-01-01")  # and so does the as-of date
    ws.cached("ids", compute, tables=["customers"])
    assert len(calls) == 3


def test_a_workspace_without_table_versions_caches_per_write(ws):
    ws.load("customers", customers(3))
    with ws.writing() as con:  # as written before table versions were kept
        con.raw_sql("DELETE FROM _meta WHERE key LIKE 'version.%'")
    assert ws.table_version(["customers"]) is None
    assert ws.table_version(["events"]) is not None  # an absent table has no version to miss


@contextmanager
def _killed_when_ready(target, path):
    """Run ``target(path, ready)`` in a spawned process; once it sets ``ready``, run the
    block, then kill the process (also when the block fails)."""
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=target, args=(path, ready))
    child.start()
    try:
        assert ready.wait(timeout=120)
        yield
    finally:
        child.kill()
        child.join(timeout=30)


def _killed_cache_writer(path, ready):
    """Write a cache entry and block between writing its temp file and renaming it."""

    def blocked(*args, **kwargs):
        ready.set()
        threading.Event().wait()  # killed here, the temp file written, the lock held

    os.replace = blocked
    Workspace.open(path).cached("ids", lambda: pd.DataFrame({"customer_id": ["C0"]}))


def test_cache_writers_remove_the_temp_files_of_killed_ones_only(ws):
    ws.load("customers", customers(3))
    folder = ws.path.with_name(ws.path.name + ".cache")
    with _killed_when_ready(_killed_cache_writer, ws.path):
        temps = list(folder.glob(".*.tmp"))
        assert len(temps) == 1  # the live writer's temp file
        other = threading.Thread(target=ws.cached, args=("names", lambda: customers(1)))
        other.start()
        other.join(timeout=1)
        assert other.is_alive() and temps[0].exists()  # waits, and leaves a live temp alone
    other.join(timeout=60)
    assert not other.is_alive()
    assert list(folder.glob(".*.tmp")) == []  # the killed writer's temp file is gone
    assert len(ws.cached("ids", lambda: customers(2))) == 2  # never stored: computed
    entries = sorted(p.name for p in folder.glob("*.parquet"))
    assert entries == sorted(f"{n}-{lifecycle.__version__}-{ws.version}.parquet"
                             for n in ("ids", "names"))


def test_cached_prunes_only_its_own_older_entries(ws):
    ws.load("customers", customers(3))
    ws.cached("ids", lambda: customers(1))
    ws.cached("ids-by-region", lambda: customers(1))  # a name that starts like the other
    ws.load("customers", customers(4))
    ws.cached("ids", lambda: customers(2))
    names = sorted(p.name for p in ws.path.with_name(ws.path.name + ".cache").glob("*.parquet"))
    assert [n.split(f"-{lifecycle.__version__}-")[0] for n in names] == ["ids", "ids-by-region"]


def test_a_lock_taken_while_its_file_was_removed_is_taken_again(tmp_path):
    from lifecycle.workspace import _locked

    path = tmp_path / "ws.duckdb.lock"
    first = _locked(path)
    got = queue.Queue()
    waiter = threading.Thread(target=lambda: got.put(_locked(path)))
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive()  # waits for the holder
    path.unlink()  # the holder removes the lock file, then releases it
    first.close()
    second = got.get(timeout=30)
    try:
        assert os.fstat(second.fileno()).st_ino == path.stat().st_ino  # the file now there
    finally:
        second.close()


def test_created_workspace_is_removed_after_a_failure_unless_another_writer_used_it(tmp_path):
    from lifecycle.workspace import _created

    path = tmp_path / "a" / "ws.duckdb"
    with pytest.raises(DataError), _created(path) as ws:
        ws.load("customers", customers().assign(customer_id="C0"))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError), _created(path) as ws:
        Workspace.open(path).load("customers", customers())  # another writer commits
        ws.load("customers", customers().assign(customer_id="C0"))
    assert Workspace.open(path).table("customers").count().execute() == 3  # kept


def _reader(path, ready, writers_done, out):
    """Read the row count until the writers are done (then once more); ``ready`` after the
    first read, so the writers start only when every reader is reading."""
    ws, seen, errors = Workspace.open(path), [], []
    while True:
        finished = writers_done.is_set()
        try:
            seen.append(int(ws.table("contact_history").count().execute()))
        except Exception as exc:
            errors.append(repr(exc))
        ready.set()
        if finished:
            break
    out.put((seen, errors))


def _writer(path, run, rounds, readers_ready, out, into_file):
    """Append ``rounds`` batches of 10 rows: beside the file, or ``into_file`` (a write to
    the database, which also takes in the other writer's parts) every other round."""
    errors = []
    for event in readers_ready:
        event.wait(timeout=120)
    for i in range(rounds):
        try:
            ws = Workspace.open(path)
            if into_file and i % 2:
                with ws.writing():
                    ws.append("contact_history", contacts(f"{run}-{i}", 10))
            else:
                ws.append("contact_history", contacts(f"{run}-{i}", 10))
        except Exception as exc:
            errors.append(repr(exc))
    out.put(([], errors))


@pytest.mark.slow
@pytest.mark.parametrize("into_file", [False, True], ids=["beside the file", "and into it"])
def test_two_readers_and_two_writers_in_separate_processes(ws, into_file):
    ws.append("contact_history", contacts("seed", 10))
    ctx = mp.get_context("spawn")
    out, writers_done = ctx.Queue(), ctx.Event()
    ready = [ctx.Event() for _ in range(2)]
    readers = [ctx.Process(target=_reader, args=(ws.path, r, writers_done, out)) for r in ready]
    writers = [ctx.Process(target=_writer, args=(ws.path, name, 10, ready, out, into_file))
               for name in "ab"]
    for p in readers + writers:
        p.start()
    for p in writers:
        p.join(timeout=120)
    writers_done.set()
    results = [out.get(timeout=120) for _ in readers + writers]
    for p in readers:
        p.join(timeout=30)
    assert [p.exitcode for p in readers + writers] == [0, 0, 0, 0]
    assert [e for _, errors in results for e in errors] == []
    final = 10 + 2 * 10 * 10
    views = [seen for seen, _ in results if seen]
    assert len(views) == 2
    for seen in views:
        assert seen == sorted(seen)  # a reader never goes back in time
        assert all(n % 10 == 0 for n in seen)  # never a half-written append
        assert seen[0] == 10 and seen[-1] == final  # it read before and after the writes
    assert any(10 < n < final for seen in views for n in seen), "reads never overlapped writes"
    assert Workspace.open(ws.path).table("contact_history").count().execute() == final


# -- writes: nesting, debris, permissions, replacing, folders ---------------------------------
TX = pd.DataFrame({"customer_id": ["C0"], "ts": ["2025-01-01"], "amount": [5.0]})


def _nested_writes(path, out):
    """Run in a child process, so that a deadlock fails the test instead of hanging it."""
    ws, seen = Workspace.open(path), {}
    with ws.writing() as con:
        ws.load("customers", customers(2))  # nested through the same Workspace
        Workspace.open(path).load("transactions", TX)  # through a second one on the file
        seen["inside"] = sorted(t for t in con.list_tables() if not t.startswith(("_", "ibis")))
        seen["committed while inside"] = Workspace.open(path).tables()
    seen["after"] = Workspace.open(path).tables()
    try:
        with ws.writing():
            ws.load("subscriptions", pd.DataFrame({"customer_id": ["C0"],
                                                   "start_at": ["2024-01-01"]}))
            try:
                ws.load("customers", customers(2).assign(customer_id="C0"))  # duplicate key
            except DataError:
                pass  # caught inside: the outer write must still not commit
    except RuntimeError as exc:
        seen["doomed"] = str(exc)
    seen["after the doomed write"] = Workspace.open(path).tables()
    out.put(seen)


def test_nested_writes_join_the_outer_write_instead_of_deadlocking(ws):
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_nested_writes, args=(ws.path, out))
    child.start()
    try:
        seen = out.get(timeout=120)
    except queue.Empty:
        pytest.fail("nested writes did not finish in 120 s: deadlock")
    finally:
        child.kill()
        child.join(timeout=30)
    assert seen["inside"] == ["customers", "transactions"]
    assert seen["committed while inside"] == []  # all or nothing, at the end of the outer
    assert seen["after"] == ["customers", "transactions"]
    assert "nothing was committed" in seen["doomed"]
    assert seen["after the doomed write"] == ["customers", "transactions"]


def _killed_writer(path, ready):
    with Workspace.open(path).writing() as con:
        con.create_table("half_written", pd.DataFrame({"x": [1]}))
        ready.set()
        threading.Event().wait()  # killed here, holding the lock and its private copy


def test_next_writer_removes_what_a_killed_writer_left(ws):
    ws.load("customers", customers(3))
    with _killed_when_ready(_killed_writer, ws.path):
        pass
    debris = list(ws.path.parent.glob(f".{ws.path.name}.*.tmp*"))
    assert debris  # the killed writer's private copy is still there
    ws.load("customers", customers(2))
    assert list(ws.path.parent.glob(f".{ws.path.name}.*.tmp*")) == []
    assert ws.tables() == ["customers"]  # nothing of the killed write
    assert ws.table("customers").count().execute() == 2


@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_a_write_keeps_the_file_permissions(ws, mode):
    ws.path.chmod(mode)
    ws.load("customers", customers(3))
    assert ws.path.stat().st_mode & 0o777 == mode


def test_demo_overwrite_leaves_the_old_file_until_the_new_one_is_complete(tmp_path, monkeypatch):
    from lifecycle import synthetic

    path = tmp_path / "demo.duckdb"
    old = Workspace.open(path, create=True, as_of=AS_OF)
    old.load("customers", customers(3))
    path.chmod(0o600)

    def broken(*args, **kwargs):
        raise MemoryError("the generator failed half way")

    monkeypatch.setattr(synthetic, "generate", broken)
    with pytest.raises(MemoryError):
        Workspace.demo(path, n_customers=100, overwrite=True)
    assert Workspace.open(path).tables() == ["customers"]
    monkeypatch.undo()
    demo = Workspace.demo(path, n_customers=100, overwrite=True)
    assert "transactions" in demo.tables() and demo.table("customers").count().execute() == 100
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.duckdb", "demo.duckdb.lock"]


def test_a_demo_in_parts_is_made_by_two_workers_and_loaded_whole(tmp_path):
    from lifecycle import synthetic
    from lifecycle.workspace import _build_demo

    path = tmp_path / "demo.duckdb"
    _build_demo(Workspace(path=path), 3000, years=2.0, random_state=7, progress=False,
                part_size=1000, workers=2)
    ws, demo = Workspace.open(path), synthetic.generate(3000, random_state=7, part_size=1000)
    for name in synthetic.TABLE_NAMES:
        assert ws.table(name).count().execute() == len(demo.tables[name]), name
    tx = ws.table("transactions")
    assert tx.amount.sum().execute() == pytest.approx(demo.tables["transactions"].amount.sum())
    truth = ws.truth()
    assert len(truth.customers) == 3000 and truth.control == demo.truth.control
    pd.testing.assert_frame_equal(truth.channels, demo.truth.channels)
    repairs = ws.quality().set_index(["table", "column"]).rows
    assert repairs["customers", "email"] == validate(demo.tables["customers"], "customers",
                                                     as_of=demo.as_of).repairs.rows.max()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.duckdb", "demo.duckdb.lock"]


def test_a_failed_demo_worker_is_reported(tmp_path):
    from lifecycle import synthetic

    with pytest.raises(RuntimeError, match="demo worker failed(.|\n)*not a date"):
        list(synthetic.write_parts(3000, tmp_path, as_of="not a date", workers=2,
                                   part_size=1000))


def test_a_failed_demo_in_parts_leaves_the_old_file_and_no_parts(tmp_path, monkeypatch):
    from lifecycle.workspace import _build_demo

    path = tmp_path / "demo.duckdb"
    Workspace.open(path, create=True, as_of=AS_OF).load("customers", customers(3))

    def broken(*args, **kwargs):
        raise MemoryError("the load failed half way")

    monkeypatch.setattr(Workspace, "_load", broken)
    with pytest.raises(MemoryError):
        _build_demo(Workspace(path=path), 2000, years=2.0, random_state=0, progress=False,
                    part_size=1000, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.duckdb", "demo.duckdb.lock"]
    assert Workspace.open(path).table("customers").count().execute() == 3


def test_a_folder_or_another_file_is_not_a_workspace(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        Workspace.open(tmp_path)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        Workspace.demo(tmp_path, overwrite=True)
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database")
    with pytest.raises(ValueError, match="not a DuckDB file"):
        Workspace.open(text)


def test_a_duckdb_file_without_workspace_tables_is_opened_as_one(tmp_path):
    import duckdb

    path = tmp_path / "mine.duckdb"
    duckdb.connect(str(path)).close()
    ws = Workspace.open(path)
    assert ws.tables() == [] and ws.quality().empty and ws.meta() == {}


# -- decimal.Decimal objects (what database drivers give for NUMERIC columns) ------------------
def _decimal_transactions(**columns) -> pd.DataFrame:
    frame = TX.iloc[[0, 0, 0]].reset_index(drop=True).assign(customer_id=["C0", "C1", "C2"])
    return frame.assign(**{k: pd.Series(v, dtype=object) for k, v in columns.items()})


def test_decimal_money_with_a_none_follows_the_column_null_rules(ws):
    from decimal import Decimal

    with pytest.raises(DataError) as excinfo:  # amount is required: a clear error, not TypeError
        ws.load("transactions", _decimal_transactions(
            amount=[Decimal("10.50"), None, Decimal("3")]))
    assert (excinfo.value.column, excinfo.value.rows) == ("amount", 1)
    assert "missing value" in excinfo.value.rule and excinfo.value.examples.row.tolist() == [2]
    assert ws.tables() == []  # nothing stored
    ws.load("transactions", _decimal_transactions(
        amount=[Decimal("10.50"), Decimal("-1"), Decimal("3")],  # pure Decimal, no None
        margin=[Decimal("1.25"), None, Decimal("0.5")]))  # optional: None is a null
    stored = ws.table("transactions").order_by("customer_id").execute()
    assert stored.amount.dtype == "float64" and stored.amount.tolist() == [10.5, -1.0, 3.0]
    assert stored.margin.dtype == "float64" and stored.margin.isna().tolist() == [False, True,
                                                                                  False]
    assert stored.margin.dropna().tolist() == [1.25, 0.5]
    with pytest.raises(DataError, match="NaN or infinite value"):
        ws.load("transactions", _decimal_transactions(
            amount=[Decimal("Infinity"), 2.5, Decimal("3")]))  # and one float beside


def test_decimal_ids_become_their_digits_exactly(ws):
    from decimal import Decimal

    big = Decimal(2**63 + 1)  # no float holds it; beyond int64 too
    ws.load("transactions", _decimal_transactions(
        customer_id=[Decimal("1"), Decimal("2.0"), big],
        transaction_id=[Decimal("7"), None, Decimal("9")]))
    stored = ws.table("transactions").order_by("amount").execute()
    assert sorted(stored.customer_id) == ["1", "2", str(2**63 + 1)]
    assert sorted(stored.transaction_id.dropna()) == ["7", "9"]
    assert stored.transaction_id.isna().sum() == 1
    quality = ws.quality().set_index("column")
    assert "cast from" in quality.loc["customer_id", "repair"]  # counted, as for integers
    with pytest.raises(DataError) as excinfo:
        ws.load("transactions", _decimal_transactions(
            customer_id=[Decimal("1"), Decimal("1.5"), Decimal("1.0000000000000001")]))
    assert (excinfo.value.column, excinfo.value.rows) == ("customer_id", 2)
    assert "fractional part" in excinfo.value.rule  # never rounded, not even to a float
