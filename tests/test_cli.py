import re
from pathlib import Path

import pandas as pd

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
