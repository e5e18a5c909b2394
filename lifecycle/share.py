"""Share notebooks as self-contained HTML files that show their figures offline.

A plotly figure shown in a notebook is stored as the plotly mimetype only, which an HTML export
cannot draw. :func:`export_html` executes the notebook, adds to every figure output an HTML
rendering (plotly.js itself inlined once, in the first figure) and drops the export template's
script tags that point at public CDNs (require.js, MathJax: our notebooks use neither), so the
file opens anywhere with no network. Command line:
``lifecycle html notebooks/*.ipynb --out build/html``.
"""

from __future__ import annotations

import re
from pathlib import Path

from lifecycle._files import write_text

__all__ = ["export_html"]

_PLOTLY = "application/vnd.plotly.v1+json"
_CDN_SCRIPT = re.compile(r'<script[^>]*src="https?://[^"]*"[^>]*>\s*</script>\s*', re.S)


def _with_html_figures(nb) -> int:
    """Give every plotly output a ``text/html`` rendering; return how many there were."""
    import plotly.io as pio

    shown = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            figure = output.get("data", {}).get(_PLOTLY)
            if figure is None:
                continue
            output["data"]["text/html"] = pio.to_html(
                figure, include_plotlyjs=shown == 0, full_html=False, include_mathjax=False,
                config={"displaylogo": False})
            shown += 1
    return shown


def export_html(notebook, out_dir, *, timeout: int = 600) -> Path:
    """Execute ``notebook`` and write it as ``<out_dir>/<name>.html``; return that path.

    The notebook runs in its own folder on the workspace of ``LIFECYCLE_WORKSPACE`` (or the
    default). The file is written under a temporary name and renamed, so a failed run leaves
    a previous export intact.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    notebook, out_dir = Path(notebook), Path(out_dir)
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()
    _with_html_figures(nb)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return write_text(out_dir / f"{notebook.stem}.html", _CDN_SCRIPT.sub("", body))
