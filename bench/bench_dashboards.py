"""Dashboard speed as a manager sees it: open each dashboard, then change a filter.

Serves ``dashboards/`` exactly as ``make run`` does (``lifecycle.ui.serve.voila_command``:
preheated kernels, the offline template) on a 50,000-customer demo workspace, and drives
Debian's Chromium through Playwright. For each dashboard, 10 loads: seconds from navigation
until the panel has drawn its first state (every figure on it drawn), and seconds from a
filter change until the panel has drawn the new state. Prints median and worst; goals: first
figure within 3 s, filter change within 0.5 s.

Usage: ``python bench/bench_dashboards.py [--customers 50000] [--loads 10] [--only NOTEBOOK ...]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from dashboard_fixtures import CHROMIUM_FLAGS, free_port  # noqa: E402

from lifecycle import Workspace  # noqa: E402
from lifecycle.ui.serve import voila_command  # noqa: E402

#: Per dashboard: the filter dropdown to change and the option to pick (a label, or a
#: position where the labels carry counts).
CHANGES = {"overview.ipynb": ("lifecycle-region-filter", "Skåne"),
           "customer-value.ipynb": ("lifecycle-region-filter", "Skåne"),
           "workshop.ipynb": ("lifecycle-top-filter", "50"),
           "campaign-results.ipynb": ("lifecycle-program-filter", "Welcome"),
           "segments-and-exports.ipynb": ("lifecycle-segment-filter", 1)}
_DRAWN = """unlike => { const p = document.querySelector('.lc-panel');
    return p !== null && p.dataset.busy === '0' && p.dataset.state !== ''
        && p.dataset.state !== unlike; }"""


def _serve(workspace: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    argv, extra = voila_command(ROOT / "dashboards", port=port, pool_size=1)
    env = {**os.environ, **extra, "LIFECYCLE_WORKSPACE": str(workspace)}
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/voila/static/voila.js", timeout=2)
            return server, url
        except OSError:
            time.sleep(0.25)
    raise RuntimeError("voila did not start")


def _one(context, url: str, notebook: str) -> tuple[float, float]:
    page = context.new_page()
    start = time.perf_counter()
    page.goto(f"{url}/voila/render/{notebook}", wait_until="commit")
    page.wait_for_function(_DRAWN, arg=None, timeout=120_000)
    opened = time.perf_counter() - start
    state = page.evaluate("document.querySelector('.lc-panel').dataset.state")
    css, option = CHANGES[notebook]
    start = time.perf_counter()
    page.locator(f".{css} select").select_option(
        **{"index" if isinstance(option, int) else "label": option})
    page.wait_for_function(_DRAWN, arg=state, timeout=60_000)
    changed = time.perf_counter() - start
    page.goto("about:blank")
    page.close()
    return opened, changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--workspace", type=Path,
                        help="an existing demo workspace to serve (default: build one)")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK",
                        help=f"measure only these dashboards (default: all of "
                        f"{', '.join(n.removesuffix('.ipynb') for n in CHANGES)})")
    args = parser.parse_args()
    only = [n if n.endswith(".ipynb") else f"{n}.ipynb" for n in args.only or CHANGES]
    unknown = [n for n in only if n not in CHANGES]
    if unknown:
        parser.error(f"no such dashboard: {', '.join(unknown)}")
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="bench-dashboards-"))
    workspace = args.workspace or folder / "demo.duckdb"
    if args.workspace is None:
        Workspace.demo(workspace, n_customers=args.customers, random_state=0)
    server, url = _serve(workspace)
    print(f"{workspace}: {Workspace.open(workspace).table('customers').count().execute():,} "
          f"customers, {args.loads} loads per dashboard, preheated kernels")
    print(f"{'dashboard':<24}{'open median':>12}{'open worst':>12}{'filter median':>15}"
          f"{'filter worst':>14}")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(folder / "profile"), executable_path="/usr/bin/chromium", headless=True,
                args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000})
            context.new_page().goto(url)  # the start page sets the cookie pages shut down with
            for notebook in only:
                _one(context, url, notebook)  # unmeasured: warms the pool as a user would
                runs = []
                for _ in range(args.loads):
                    time.sleep(8)  # let the pool refill (5-6 s of CPU), as between two visits
                    runs.append(_one(context, url, notebook))
                opened, changed = zip(*runs, strict=True)
                print(f"{notebook:<24}{statistics.median(opened):>11.2f}s{max(opened):>11.2f}s"
                      f"{statistics.median(changed):>14.2f}s{max(changed):>13.2f}s", flush=True)
            context.close()
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
