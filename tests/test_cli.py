import ctypes
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lifecycle import Workspace
from lifecycle.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_load_and_quality_report(tmp_path, capsys):
    path = tmp_path / "ws.duckdb"
    csv = tmp_path / "customers.csv"
    pd.DataFrame({"customer_id": [1, 2], "created_at": ["2024-01-01", "2024-02-01"],
                  "email": ["A@x.fi", "b@x.fi"]}).to_csv(csv, index=False)
    assert main(["load", "customers", str(csv), "--path", str(path), "--as-of",
                 "2024-12-31"]) == 0
    assert "2 rows" in capsys.readouterr().out
    assert main(["quality", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "e-mail trimmed and lower-cased" in out


def test_bad_file_exits_non_zero_with_the_reason(tmp_path, capsys):
    csv = tmp_path / "customers.csv"
    pd.DataFrame({"customer_id": [1, 1], "created_at": ["2024-01-01", "2024-02-01"]}).to_csv(
        csv, index=False)
    assert main(["load", "customers", str(csv), "--path", str(tmp_path / "w.duckdb"),
                 "--as-of", "2024-12-31"]) == 1
    assert "duplicate key" in capsys.readouterr().err


def test_demo_builds_a_workspace(demo_path, capsys):
    assert main(["demo", "--path", str(demo_path)]) == 0  # exists: reopened, not rebuilt
    out = capsys.readouterr().out
    assert "transactions" in out and "customers" in out


def test_html_export_holds_rendered_figures_that_work_offline(demo_path, tmp_path, capsys):
    notebook = ROOT / "notebooks" / "02-rfm.ipynb"
    assert main(["html", str(notebook), "--out", str(tmp_path), "--path", str(demo_path)]) == 0
    page = (tmp_path / "02-rfm.html").read_text(encoding="utf-8")
    assert page.count("Plotly.newPlot(") >= 3  # the segment map, migration, concentration
    assert "plotly.js v" in page  # plotly.js itself is inside the file
    assert not re.search(r'<(script|link)[^>]*(src|href)="https?:', page)


def test_html_export_of_a_missing_notebook_says_so(tmp_path, capsys):
    assert main(["html", str(tmp_path / "nope.ipynb"), "--out", str(tmp_path)]) == 1
    assert "no notebook at" in capsys.readouterr().err


# -- failures: one line on stderr, a non-zero exit code, never a traceback --------------------
def fails(argv, capsys, code=1) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "members.csv"
    path.write_text("member_no,joined\n007,2024-01-05\n8,2024-02-05\n")
    return path


def test_missing_file_folder_and_not_a_workspace(tmp_path, csv, capsys):
    ws = str(tmp_path / "ws.duckdb")
    assert "no file at" in fails(["load", "customers", str(tmp_path / "nope.csv"), "--path", ws],
                                 capsys)
    assert not (tmp_path / "ws.duckdb").exists()  # no empty workspace made for a failed load
    assert "is a folder" in fails(["load", "customers", str(tmp_path), "--path", ws], capsys)
    assert "is a folder" in fails(["quality", "--path", str(tmp_path)], capsys)
    assert "not a DuckDB file" in fails(["quality", "--path", str(csv)], capsys)
    assert "no workspace at" in fails(["quality", "--path", ws], capsys)


def test_a_rejected_file_is_one_line_naming_table_column_and_rows(tmp_path, csv, capsys):
    err = fails(["load", "customers", str(csv), "--path", str(tmp_path / "ws.duckdb")], capsys)
    assert err.startswith("lifecycle load: table 'customers', column 'customer_id': required "
                          "column missing")
    assert not (tmp_path / "ws.duckdb").exists()


def test_columns_maps_source_columns_onto_canonical_ones(tmp_path, csv, capsys):
    path = tmp_path / "ws.duckdb"
    assert main(["load", "customers", str(csv), "--path", str(path), "--columns",
                 "member_no=customer_id", "--columns=joined=created_at"]) == 0
    assert Workspace.open(path).table("customers").customer_id.execute().tolist() == ["007", "8"]
    err = fails(["load", "customers", str(csv), "--path", str(path), "--columns",
                 "membr_no=customer_id,joined=created_at"], capsys)
    assert "no column 'membr_no'" in err and "member_no, joined" in err
    assert "is not SOURCE=CANONICAL" in fails(["load", "customers", str(csv), "--path",
                                               str(path), "--columns", "member_no"], capsys, 2)


def test_load_without_path_never_writes_into_the_demo(demo_path, tmp_path, csv, capsys,
                                                      monkeypatch):
    before = demo_path.stat().st_mtime_ns
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(demo_path))
    assert "without --path, load would write into the demo" in fails(
        ["load", "customers", str(csv), "--columns", "member_no=customer_id,joined=created_at"],
        capsys)
    monkeypatch.delenv("LIFECYCLE_WORKSPACE")
    monkeypatch.chdir(tmp_path)
    assert "--path FILE" in fails(["load", "customers", str(csv)], capsys)
    assert demo_path.stat().st_mtime_ns == before
    own = tmp_path / "own.duckdb"
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(own))  # named, and not the demo: allowed
    assert main(["load", "customers", str(csv), "--columns",
                 "member_no=customer_id,joined=created_at"]) == 0


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["load"], ["load", "customrs", "x.csv"],
                                  ["load", "customers", "x.csv", "--as-of", "soon"],
                                  ["demo", "--customers", "many"]])
def test_wrong_arguments_are_one_line_with_exit_code_2(argv, capsys):
    err = fails(argv, capsys, code=2)
    assert "--help" in err


def test_every_argument_explains_itself():
    from lifecycle.cli import _parser

    parser = _parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        for action in command._actions:
            assert action.help, f"lifecycle {name} {action.dest} has no help text"


def _without_root_file_access():
    """In the child: drop the capabilities that let root read any file (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "cannot drop a capability")


def test_permission_denied_is_one_line(tmp_path, csv):
    """A real permission error: the file is mode 000 and, as root, the command runs without
    the capabilities that override file permissions."""
    secret = tmp_path / "secret.csv"
    secret.write_text(csv.read_text())
    secret.chmod(0)
    workspace = tmp_path / "ws.duckdb"
    Workspace.open(workspace, create=True)
    locked = tmp_path / "locked.duckdb"
    Workspace.open(locked, create=True)
    locked.chmod(0)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    preexec = _without_root_file_access if os.geteuid() == 0 else None
    for argv in (["load", "customers", str(secret), "--path", str(workspace)],
                 ["quality", "--path", str(locked)]):
        run = subprocess.run([sys.executable, "-m", "lifecycle.cli", *argv], env=env,
                             preexec_fn=preexec, capture_output=True, text=True, timeout=120)
        assert run.returncode == 1
        assert run.stderr.count("\n") == 1 and "Permission denied" in run.stderr, run.stderr


def _lifecycle(*argv, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "lifecycle.cli", *argv], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("where", ["ws.duckdb", "new/folders/ws.duckdb"])
def test_a_failed_first_load_leaves_nothing_on_disk(tmp_path, where):
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,created_at\nC1,2024-01-01\nC1,2024-01-02\n")  # duplicate key
    run = _lifecycle("load", "customers", str(bad), "--path", str(tmp_path / where))
    assert run.returncode == 1 and "duplicate key" in run.stderr, run.stderr
    assert _listing(tmp_path) == ["bad.csv"]  # no workspace, no .lock, no .cache, no folders


def test_a_failed_load_leaves_an_existing_workspace_byte_identical(tmp_path):
    path = tmp_path / "ws.duckdb"
    ws = Workspace.open(path, create=True, as_of="2024-12-31")
    ws.load("customers", pd.DataFrame({"customer_id": ["C1"], "created_at": ["2024-01-01"]}))
    ws.cached("ids", lambda: ws.table("customers").execute())
    before, listing = path.read_bytes(), _listing(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,created_at\nC1,2024-01-01\nC2,01/02/2024\n")
    run = _lifecycle("load", "customers", str(bad), "--path", str(path))
    assert run.returncode == 1 and "ISO 8601" in run.stderr, run.stderr
    assert path.read_bytes() == before
    assert _listing(tmp_path) == sorted([*listing, "bad.csv"])  # its lock file stays


def test_columns_read_source_to_canonical_like_the_library(tmp_path, csv):
    path = tmp_path / "ws.duckdb"
    run = _lifecycle("load", "customers", str(csv), "--path", str(path),
                     "--columns", "member_no=customer_id", "--columns", "joined=created_at")
    assert run.returncode == 0, run.stderr
    api = Workspace.open(tmp_path / "api.duckdb", create=True)
    api.load("customers", csv, columns={"member_no": "customer_id", "joined": "created_at"})
    assert Workspace.open(path).table("customers").execute().equals(
        api.table("customers").execute())
    twice = _lifecycle("load", "customers", str(csv), "--path", str(path),
                       "--columns", "member_no=customer_id,member_no=created_at")
    assert twice.returncode == 1
    assert "maps 'member_no' to both 'customer_id' and 'created_at'" in twice.stderr
    onto_one = _lifecycle("load", "customers", str(csv), "--path", str(path),
                          "--columns", "member_no=customer_id,joined=customer_id")
    assert onto_one.returncode == 1 and onto_one.stderr.count("\n") == 1
    assert "would both be named 'customer_id'" in onto_one.stderr, onto_one.stderr
