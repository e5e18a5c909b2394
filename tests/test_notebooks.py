"""Every notebook in notebooks/ and dashboards/ runs top to bottom on the small demo workspace,
follows the notebook conventions, and is stored without outputs.

Notebooks are discovered, so a new notebook is covered without touching this file.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("notebooks", "dashboards")
BUDGET_SECONDS = 60  # DESIGN §4: each notebook runs in under a minute on the demo data


def _discovered() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).glob("*.ipynb"))


def _committed() -> list[Path]:
    """Notebooks git tracks anywhere in the repository (empty outside a git checkout)."""
    try:
        listed = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True,
                                text=True, check=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return []
    return [ROOT / name for name in listed]


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.slow
@pytest.mark.parametrize("path", _discovered(), ids=_id)
def test_notebook_runs(path, demo_path, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(demo_path))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, kernel_name="python3", timeout=BUDGET_SECONDS,
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.monotonic()
    client.execute()  # raises CellExecutionError naming the cell and its traceback
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET_SECONDS, f"{_id(path)} took {elapsed:.0f} s"


def test_there_are_notebooks_to_run():
    names = {_id(p) for p in _discovered()}
    assert {"notebooks/00-tour.ipynb", "dashboards/overview.ipynb"} <= names


@pytest.mark.parametrize("path", sorted(set(_committed()) | set(_discovered())), ids=_id)
def test_notebook_is_stored_without_outputs(path):
    if not path.exists():
        pytest.skip("deleted in the working tree")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    dirty = [i for i, cell in enumerate(cells) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{_id(path)} stores outputs or execution counts in cells {dirty}: "
                       f"run `jupyter nbconvert --clear-output --inplace {_id(path)}`")


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=_id)
def test_analysis_notebook_conventions(path):
    assert re.fullmatch(r"\d\d-[a-z0-9-]+\.ipynb", path.name), "name it NN-topic.ipynb"
    cells = nbformat.read(path, as_version=4).cells
    code = [cell for cell in cells if cell.cell_type == "code"]
    assert len(code) >= 2
    assert all(line.startswith(("import ", "from ")) or not line.strip()
               for line in code[0].source.splitlines()), "the first cell holds the imports"
    assert "parameters" in code[1].metadata.get("tags", []), "second cell: tag it `parameters`"


@pytest.mark.parametrize("path", sorted((ROOT / "dashboards").glob("*.ipynb")), ids=_id)
def test_dashboard_is_thin(path):
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                       if c.cell_type == "code")
    assert re.search(r"^app = build_\w+_app\(", source, re.MULTILINE), "app = build_..._app(ws)"
    assert "def " not in source and "class " not in source, "logic belongs in lifecycle/"
