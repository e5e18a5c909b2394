"""Serve the dashboards with Voila: offline, preheated, with a start page that explains them.

:func:`voila_command` is the one way the dashboards are served (``make run``,
``lifecycle serve``, the browser tests and the benchmark): the ``lifecycle`` Voila template
(the lab template without its public-CDN stylesheets, and a start page listing every
dashboard with its title and description), preheated kernels so a page opens on an
already-executed notebook, and idle kernels culled (but not a kernel waiting in the pool:
:mod:`lifecycle.ui.kernels`).

A dashboard notebook describes itself in its metadata::

    "lifecycle": {"title": "Customer value", "description": "CLV ...", "order": 2}
"""

from __future__ import annotations

import html
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["catalogue", "prepare_template", "voila_command"]

_TEMPLATE = Path(__file__).parent / "voila"
NAME = "lifecycle"


def catalogue(folder: Path) -> list[dict]:
    """Every dashboard notebook in ``folder``: path, title, description, in page order."""
    entries = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
        about = meta.get("lifecycle", {})
        entries.append({"path": path.name,
                        "title": about.get("title", path.stem.replace("-", " ").capitalize()),
                        "description": about.get("description", ""),
                        "order": about.get("order", 99)})
    return sorted(entries, key=lambda e: (e["order"], e["path"]))


def _items(entries: list[dict]) -> str:
    return "\n".join(
        f'<li><a href="{{{{ base_url }}}}voila/render/{html.escape(e["path"])}">'
        f'<div class="lc-title">{html.escape(e["title"])}</div>'
        f'<div class="lc-description">{html.escape(e["description"])}</div></a></li>'
        for e in entries)


def prepare_template(folder: Path, share: Path) -> Path:
    """Write the ``lifecycle`` Voila template for the dashboards in ``folder`` under ``share``
    (a Jupyter data folder: pass it in ``JUPYTER_PATH``); return the template folder."""
    target = Path(share) / "voila" / "templates" / NAME
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(_TEMPLATE, target)
    tree = target / "tree.html"
    tree.write_text(tree.read_text(encoding="utf-8").replace(
        "{# __CATALOGUE__ #}", _items(catalogue(folder))), encoding="utf-8")
    return target


def voila_command(folder: Path, *, host: str = "127.0.0.1", port: int = 8866,
                  token: str | None = None, pool_size: int = 1,
                  cull_idle_seconds: int = 600, cull_interval_seconds: int | None = None
                  ) -> tuple[list[str], dict]:
    """The Voila command line serving ``folder`` and the environment it needs.

    Returns ``(argv, env)``: ``env`` holds ``JUPYTER_PATH`` pointing at a freshly written
    template folder; merge it into the server's environment. ``pool_size=0`` switches
    preheating off; ``cull_idle_seconds=0`` culling (checked every ``cull_interval_seconds``,
    by default a tenth of the timeout, at least 5 s). ``token`` protects the pages (open
    ``/?token=...`` once).
    """
    share = Path(tempfile.mkdtemp(prefix="lifecycle-voila-"))
    prepare_template(folder, share)
    argv = [sys.executable, "-m", "voila", str(folder), "--no-browser",
            f"--Voila.ip={host}", f"--port={port}", f"--template={NAME}",
            "--classic_tree=True", "--strip_sources=True",
            "--VoilaConfiguration.multi_kernel_manager_class="
            "lifecycle.ui.kernels.PooledKernelManager"]
    if cull_idle_seconds > 0:
        interval = cull_interval_seconds or max(cull_idle_seconds // 10, 5)
        argv += [f"--MappingKernelManager.cull_idle_timeout={cull_idle_seconds}",
                 f"--MappingKernelManager.cull_interval={interval}"]
    if pool_size > 0:
        argv += ["--preheat_kernel=True", f"--pool_size={pool_size}"]
    if token:
        argv.append(f"--token={token}")
    paths = [str(share), *filter(None, [os.environ.get("JUPYTER_PATH")])]
    return argv, {"JUPYTER_PATH": os.pathsep.join(paths)}
