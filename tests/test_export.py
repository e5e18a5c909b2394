"""Consent-safe exports: re-checked at export time, atomic, with manifest and contact history."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle import DataError, Workspace, consent, export

AS_OF = pd.Timestamp("2026-10-31 09:00")
T0 = pd.Timestamp("2026-01-01")

PEOPLE = pd.DataFrame({
    "customer_id": ["a", "b", "c", "d", "e", "f", "g"],
    "created_at": T0,
    "email": ["a@shop.se", "b@shop.se", "c@shop", None, "e@shop.se", "f@shop.se", "g@shop.se"],
    "first_name": ["Ada", "Bo", "Cy", "Di", "Ed", "Fi", "Gu"]})
GRANTS = pd.DataFrame({
    "customer_id": ["a", "b", "c", "d", "e", "f", "g"], "channel": "email",
    "granted_at": T0,
    # b's permission ran out at 09:00 sharp: not valid at 09:00 (the half-open rule)
    "expires_at": [None, AS_OF, None, None, None, None, None]})
SENT = pd.DataFrame({  # e unsubscribed, f complained, g hard-bounced: all after the grant
    "message_id": ["m1", "m2", "m3"], "customer_id": ["e", "f", "g"], "channel": "email",
    "sent_at": pd.Timestamp("2026-05-01"), "delivered": [True, True, False],
    "bounce": [None, None, "hard"],
    "unsubscribed_at": [pd.Timestamp("2026-05-02"), None, None],
    "complained_at": [None, pd.Timestamp("2026-05-02"), None]})


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb", create=True, as_of=AS_OF)
    with ws.writing():
        ws.load("customers", PEOPLE)
        ws.load("consents", GRANTS)
        ws.load("messages", SENT)
    return ws


def _selection(ids=("a", "b", "c", "d", "e", "f", "g")):
    rows = PEOPLE[PEOPLE.customer_id.isin(ids)]
    return rows[["customer_id", "first_name"]].assign(campaign_id="xsell", cell_id="xsell_case",
                                                      offer_id="case")


def test_export_keeps_only_the_contactable_and_counts_the_rest(ws, tmp_path):
    selection = pd.concat([_selection(), _selection(["a"]),  # a twice: one row kept
                           pd.DataFrame({"customer_id": ["zz"], "campaign_id": "xsell",
                                         "cell_id": "xsell_case"})])
    manifest = export.write(selection, tmp_path / "out.csv", workspace=ws, channel="email",
                            as_of=AS_OF, fields=["first_name"])
    file = pd.read_csv(tmp_path / "out.csv")
    assert file.to_dict("records") == [{
        "customer_id": "a", "email": "a@shop.se", "campaign_id": "xsell",
        "cell_id": "xsell_case", "offer_id": "case", "first_name": "Ada"}]
    assert manifest["removed"] == {"duplicate": 1, "hard bounce": 1, "invalid address": 1,
                                   "no address": 1, "no valid consent": 1,
                                   "not a customer": 1, "spam complaint": 1, "unsubscribed": 1}
    assert manifest["rows"] == 1 and manifest["selected"] == 9
    assert manifest["sha256"] == hashlib.sha256((tmp_path / "out.csv").read_bytes()).hexdigest()
    assert manifest["bytes"] == (tmp_path / "out.csv").stat().st_size
    on_disk = json.loads((tmp_path / "out.csv.manifest.json").read_text())
    assert on_disk == manifest
    history = ws.table("contact_history").execute()
    assert history[["run_id", "campaign_id", "cell_id", "customer_id", "channel"]].to_dict(
        "records") == [{"run_id": manifest["run_id"], "campaign_id": "xsell",
                        "cell_id": "xsell_case", "customer_id": "a", "channel": "email"}]
    assert history.planned_at.tolist() == [AS_OF]
    run = ws.table("runs").execute().iloc[0]
    assert (run.run_id, run.kind, run.status) == (manifest["run_id"], "export", "done")
    assert json.loads(run.counts)["exported"] == 1


def test_a_new_grant_after_an_unsubscribe_is_a_new_permission(ws, tmp_path):
    with ws.writing():
        ws.load("consents", pd.concat([GRANTS, pd.DataFrame({
            "customer_id": ["e"], "channel": "email", "granted_at": [pd.Timestamp("2026-06-01")]
        })]))
    kept, removed = export.deliverable(_selection(["e"]), ws, channel="email", at=AS_OF)
    assert kept.customer_id.tolist() == ["e"] and removed == {}


def test_parquet_and_sms_exports(ws, tmp_path):
    with ws.writing():
        ws.load("customers", PEOPLE.assign(phone=["+46 70-123 45 67", "0701234567", "12", None,
                                                  "070-123 45 67", None, None]))
        ws.load("consents", GRANTS.assign(channel="sms"))
        ws.load("suppressions", pd.DataFrame({"address": ["0701234567"],
                                              "reason": ["asked by phone"]}))
    manifest = export.write(_selection(), tmp_path / "sms.parquet", workspace=ws,
                            channel="sms", as_of=AS_OF, record=False)
    file = pd.read_parquet(tmp_path / "sms.parquet")
    assert file[["customer_id", "phone"]].values.tolist() == [["a", "+46701234567"]]
    assert manifest["removed"] == {"invalid address": 1, "no address": 3,  # b's consent
                                   "no valid consent": 1, "on the suppression list": 1}
    assert manifest["run_id"] is None
    assert "contact_history" not in ws.tables()


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"path": "out.xlsx"}, "cannot tell the export format"),
    ({"path": "missing/out.csv"}, "does not exist"),
    ({"fields": ["shoe_size"]}, "personalisation field missing"),
])
def test_bad_export_requests_are_refused_before_anything_is_written(ws, tmp_path, kwargs, error):
    args = {"path": "out.csv", "fields": ()} | kwargs
    with pytest.raises((ValueError, FileNotFoundError, DataError), match=error):
        export.write(_selection(), tmp_path / args["path"], workspace=ws, channel="email",
                     as_of=AS_OF, fields=args["fields"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb", "w.duckdb.lock"]


# -- nobody is exported outside a valid permission ---------------------------------------------
_grants = st.lists(st.tuples(st.integers(0, 20), st.one_of(st.none(), st.integers(0, 20)),
                             st.one_of(st.none(), st.integers(0, 20))), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_grants, st.integers(0, 45))
def test_no_row_is_exported_outside_a_valid_consent(tmp_path, spec, minute):
    at = T0 + pd.Timedelta(minutes=minute)
    ids = [f"c{i}" for i in range(len(spec))]
    grants = pd.DataFrame({
        "customer_id": ids, "channel": "email",
        "granted_at": [T0 + pd.Timedelta(minutes=g) for g, _, _ in spec],
        "expires_at": [None if e is None else T0 + pd.Timedelta(minutes=g + e)
                       for g, e, _ in spec],
        "revoked_at": [None if r is None else T0 + pd.Timedelta(minutes=g + r)
                       for g, _, r in spec]})
    folder = tmp_path / uuid.uuid4().hex  # one per example: tmp_path is the test's
    folder.mkdir()
    ws = Workspace.open(folder / "w.duckdb", create=True, as_of=T0 + pd.Timedelta(days=1))
    with ws.writing():
        ws.load("customers", pd.DataFrame({"customer_id": ids, "created_at": T0,
                                           "email": [f"{i}@shop.se" for i in ids]}))
        ws.load("consents", grants)
    manifest = export.write(pd.DataFrame({"customer_id": ids}), folder / "out.csv",
                            workspace=ws, channel="email", as_of=at)
    exported = set(pd.read_csv(folder / "out.csv").customer_id) if manifest["rows"] else set()
    assert exported == set(consent.valid(grants, channel="email", at=at).customer_id)
    assert manifest["rows"] + sum(manifest["removed"].values()) == len(ids)


# -- nothing is written half -------------------------------------------------------------------
_KILLED_EXPORT = textwrap.dedent("""
    import sys
    import pandas as pd
    from lifecycle import Workspace, export
    ws = Workspace.open(sys.argv[1])
    selection = ws.table("customers").select("customer_id").execute()
    export.write(selection, sys.argv[2], workspace=ws, channel="email", as_of=sys.argv[3])
""")


def _temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_an_export_killed_midway_leaves_the_previous_file_and_no_history(tmp_path):
    ws = Workspace.demo(tmp_path / "demo.duckdb", n_customers=2000, random_state=1)
    out = tmp_path / "exports" / "newsletter.csv"
    out.parent.mkdir()
    first = export.write(ws.table("customers").select("customer_id").limit(50), out,
                         workspace=ws, channel="email", as_of=ws.as_of)
    before = out.read_bytes()
    history = ws.table("contact_history").count().execute()
    with ws.writing():  # holds the workspace: the export blocks at its history write, ...
        child = subprocess.Popen([sys.executable, "-c", _KILLED_EXPORT, str(ws.path), str(out),
                                  str(ws.as_of)], env={**os.environ, "PYTHONPATH": str(
                                      Path(__file__).resolve().parents[1])})
        done = threading.Event()
        try:
            while len(_temp_files(out.parent)) < 2 and child.poll() is None:
                done.wait(0.01)  # ... after both temp files are written and flushed
            assert child.poll() is None, "the export ended instead of waiting for the lock"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert out.read_bytes() == before
    assert json.loads((out.parent / "newsletter.csv.manifest.json").read_text()) == first
    assert Workspace.open(ws.path).table("contact_history").count().execute() == history
    assert len(_temp_files(out.parent)) == 2  # the killed export's debris ...
    again = export.write(ws.table("customers").select("customer_id").limit(10), out,
                         workspace=Workspace.open(ws.path), channel="email", as_of=ws.as_of)
    assert _temp_files(out.parent) == []  # ... is removed by the next export to the path
    assert hashlib.sha256(out.read_bytes()).hexdigest() == again["sha256"]


_HALF_EXPORT = textwrap.dedent("""
    import sys
    from lifecycle import Workspace, export
    ws = Workspace.open(sys.argv[1])
    ids = ws.table("customers").select("customer_id").order_by("customer_id").execute()
    half = ids.iloc[:1000] if sys.argv[2].endswith("first.csv") else ids.iloc[1000:]
    export.write(half, sys.argv[2], workspace=ws, channel="email", as_of=sys.argv[3])
""")


def test_two_exports_at_once_lose_nothing(tmp_path):
    """Two sessions (processes, as two dashboard pages are) export at the same moment: both
    files, both manifests and both sets of contact-history rows are there afterwards."""
    ws = Workspace.demo(tmp_path / "demo.duckdb", n_customers=2000, random_state=1)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = threading.Event()
    with ws.writing():  # both get as far as their history write before either may write
        children = [subprocess.Popen([sys.executable, "-c", _HALF_EXPORT, str(ws.path),
                                      str(tmp_path / name), str(ws.as_of)], env=env)
                    for name in ("first.csv", "second.csv")]
        while len(_temp_files(tmp_path)) < 4 and all(c.poll() is None for c in children):
            done.wait(0.01)
        assert all(c.poll() is None for c in children)
    assert [c.wait() for c in children] == [0, 0]
    history = Workspace.open(ws.path).table("contact_history").execute()
    runs = Workspace.open(ws.path).table("runs").execute()
    for name in ("first.csv", "second.csv"):
        manifest = json.loads((tmp_path / f"{name}.manifest.json").read_text())
        rows = history[history.run_id == manifest["run_id"]]
        assert sorted(rows.customer_id) == sorted(pd.read_csv(tmp_path / name).customer_id)
        assert len(rows) == manifest["rows"] > 0
        assert manifest["run_id"] in set(runs.run_id)
