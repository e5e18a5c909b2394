import pandas as pd

from lifecycle.cli import main


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
