"""Fixtures and helpers for driving the Voila dashboards in headless Chromium.

``tests/conftest.py`` imports the fixtures, so that each is defined once for the session (a
session fixture bound by name in two test modules is two fixtures: two Chromiums, and the
second Playwright refuses to start beside the first). A test asks for ``open_dashboard``:
``page = open_dashboard("overview.ipynb")``; :func:`serving` and :func:`pages_of` serve and
open pages over another workspace (one a test may write to). One Voila server
serves the whole ``dashboards/`` folder per test session (and per xdist worker) exactly as
``make run`` does (:func:`lifecycle.ui.serve.voila_command`: the offline template, preheated
kernels); one Chromium with a fresh, empty profile serves all pages. Every page navigates to
``about:blank`` before it is closed, so its kernel is shut down instead of leaking; the
teardown checks that no more kernels run than the preheated pool.

Voila's page shuts its kernel down on ``beforeunload`` with a POST that needs the ``_xsrf``
cookie, and only the tree page (``/``) sets that cookie, not ``/voila/render/...``: the browser
fixture visits the tree once so the shutdown is accepted (without it the POST gets a 403 and the
kernel would live on: the test server culls no idle kernels).

The server reads the workspace from ``LIFECYCLE_WORKSPACE``, set to the ``demo_path`` fixture.
Chromium is ``/usr/bin/chromium`` or the binary named by ``LIFECYCLE_CHROMIUM``; Playwright's
own browsers are never downloaded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from lifecycle.ui.serve import voila_command

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "dashboards"

#: Flags verified to run Debian's chromium headless under Playwright here (DESIGN §5).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 90.0  # seconds until /voila/static/voila.js answers
PAGE_TIMEOUT_MS = 40_000  # page load + kernel start + notebook execution
KERNEL_EXIT_TIMEOUT = 10.0  # seconds for a left page's kernel to shut down
ERROR_TEXT = "There was an error when executing cell"

def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    """Poll Voila's static ``voila.js`` until it answers; fail with the server log if not."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"voila exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/voila/static/voila.js", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    pytest.fail(f"voila not ready after {SERVER_START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


POOL_SIZE = 1  # preheated kernels per dashboard, as `make run` serves them


def _stop(process: subprocess.Popen) -> None:
    """Terminate the server (and so its kernels); kill it if it does not exit in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass
class VoilaServer:
    """A running Voila server: its base URL, process and log file."""

    url: str
    process: subprocess.Popen
    log: Path
    pool: int  # the preheated kernels it keeps

    def kernels(self) -> int:
        """How many kernels the server runs now (its ``ipykernel_launcher`` children)."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return 0
        return sum(1 for child in children if _is_kernel(child))

    def wait_for_kernels(self, count: int, timeout: float = KERNEL_EXIT_TIMEOUT) -> int:
        """Wait until at most ``count`` kernels run; return how many run then."""
        deadline = time.monotonic() + timeout
        while self.kernels() > count and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.kernels()


def _is_kernel(process: psutil.Process) -> bool:
    try:
        return "ipykernel_launcher" in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


@contextmanager
def serving(workspace: Path, folder: Path, *, notebooks: Path = DASHBOARDS,
            cull: tuple[int, int] | None = None, **env: str) -> Iterator[VoilaServer]:
    """Serve the dashboards in ``notebooks`` with Voila on a free local port, reading
    ``workspace``, with the extra environment ``env``; the log and config go to ``folder``.
    ``cull``: the idle timeout and check interval in seconds (default: no culling, as closed
    pages shut their kernels down themselves)."""
    port, log = free_port(), folder / "voila.log"
    timeout, interval = cull or (0, None)
    argv, extra = voila_command(notebooks, port=port, pool_size=POOL_SIZE,
                                cull_idle_seconds=timeout, cull_interval_seconds=interval)
    env = {**os.environ, **extra, "LIFECYCLE_WORKSPACE": str(workspace),
           "JUPYTER_CONFIG_DIR": str(folder / "config"), "PYTHONUNBUFFERED": "1", **env}
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = VoilaServer(f"http://127.0.0.1:{port}", process, log,
                         pool=len(list(notebooks.glob("*.ipynb"))) * POOL_SIZE)
    try:
        _wait_until_ready(server.url, process, log)
        yield server
    finally:
        _stop(process)


@contextmanager
def serving_alone(demo_path: Path, folder: Path, notebook: str
                  ) -> Iterator[tuple[VoilaServer, Path, Path]]:
    """Serve the dashboard ``notebook`` alone over a copy of the demo in ``folder`` (for a
    page that writes), with its exports in ``folder/exports``: the server, the workspace
    copy and the exports folder."""
    workspace, exports, notebooks = folder / "demo.duckdb", folder / "exports", folder / "nb"
    shutil.copy(demo_path, workspace)
    notebooks.mkdir()
    shutil.copy(DASHBOARDS / notebook, notebooks)
    with serving(workspace, folder, notebooks=notebooks,
                 LIFECYCLE_EXPORTS=str(exports)) as server:
        yield server, workspace, exports


def alone_fixtures(notebook: str, tag: str):
    """``served, open_page`` for a test module of one writing dashboard: a module-scoped
    :func:`serving_alone` server, and a function that opens its page (:func:`pages_of`).
    Bind them by these names in the module: ``served, open_page = alone_fixtures(...)``."""
    @pytest.fixture(scope="module")
    def served(demo_path, tmp_path_factory):
        with serving_alone(demo_path, tmp_path_factory.mktemp(tag), notebook) as served:
            yield served

    @pytest.fixture
    def open_page(served, browser):
        with pages_of(served[0], browser) as open_:
            yield lambda: open_(notebook)

    return served, open_page


@pytest.fixture(scope="session")
def voila_server(demo_path, tmp_path_factory) -> Iterator[VoilaServer]:
    """Serve ``dashboards/`` with Voila on a free local port (workspace: ``demo_path``)."""
    with serving(demo_path, tmp_path_factory.mktemp("voila")) as server:
        yield server


def chromium_path() -> str:
    """The Chromium binary to drive: ``$LIFECYCLE_CHROMIUM`` or ``/usr/bin/chromium``."""
    path = os.environ.get("LIFECYCLE_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        pytest.fail(f"no Chromium at {path}: run `sh .ci/ensure-chromium` (Debian's chromium) "
                    "or set LIFECYCLE_CHROMIUM; never `playwright install`")
    return path


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A headless Chromium (Playwright persistent context) on a fresh, empty profile."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=chromium_path(), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


def _is_local(url: str, server: str) -> bool:
    return url.startswith((server, "data:", "blob:", "about:"))


@pytest.fixture
def open_dashboard(voila_server, browser) -> Iterator[Callable]:
    """Open a dashboard by notebook name; afterwards its page goes to about:blank and closes.

    The returned page has ``page.js_errors``, ``page.console_errors``, ``page.outside``
    (requests to anywhere but the server) and ``page.failed`` (failed requests), and
    ``page.server_log`` (the Voila log, where kernel tracebacks land). The teardown fails if
    more kernels run than the preheated pool once the pages are left.
    """
    with pages_of(voila_server, browser) as open_:
        yield open_


@contextmanager
def pages_of(voila_server: VoilaServer, browser) -> Iterator[Callable]:
    """:func:`open_dashboard` on any server."""
    pages = []
    if not any(c["name"] == "_xsrf" for c in browser.cookies(voila_server.url)):
        tree = browser.new_page()
        tree.goto(voila_server.url, wait_until="domcontentloaded")
        tree.close()

    def _open(notebook: str):
        page = browser.new_page()
        page.js_errors, page.console_errors, page.server_log = [], [], voila_server.log
        page.outside, page.failed = [], []
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        page.on("request", lambda r: _is_local(r.url, voila_server.url)
                or page.outside.append(r.url))
        page.on("requestfailed", lambda r: page.failed.append(r.url))
        pages.append(page)
        page.goto(f"{voila_server.url}/voila/render/{notebook}", wait_until="domcontentloaded")
        return page

    try:
        yield _open
    finally:
        for page in pages:
            try:
                page.goto("about:blank", timeout=10_000)
            finally:
                page.close()
    left = voila_server.wait_for_kernels(voila_server.pool, timeout=60)
    assert left <= voila_server.pool, (f"{left} kernels run after the pages were left (pool: "
                                       f"{voila_server.pool})")


#: JavaScript: what the panel shows, read from the page: cards (exact value and text) and
#: figures (what each adds up to, summed over its visible traces).
_PANEL_JS = """() => {
    const panel = document.querySelector('.lc-panel');
    if (!panel) return null;
    const cards = {};
    for (const card of panel.querySelectorAll('.lc-card')) {
        const name = Array.from(card.classList).find(c => c.startsWith('lc-card-')
            && !['lc-card-label', 'lc-card-value', 'lc-card-note'].includes(c));
        cards[name.slice('lc-card-'.length)] = {
            value: Number(card.dataset.value),
            text: card.querySelector('.lc-card-value').innerText};
    }
    const figures = Array.from(panel.querySelectorAll('.lc-figure'), fig => {
        const measure = fig.dataset.measure || 'y';
        const traces = (fig._fullData || []).filter(t => t.visible !== false);
        const values = t => t[measure] ?? ((fig.data || [])[t.index] || {})[measure] ?? [];
        const total = traces.reduce((s, t) =>
            s + Array.from(values(t)).flat(Infinity).map(Number)
                .reduce((a, b) => a + (b || 0), 0), 0);
        return {name: fig.dataset.name, agrees_with: fig.dataset.agreesWith || null,
                traces: traces.length, total: total};
    });
    return {state: panel.dataset.state, busy: panel.dataset.busy, cards, figures,
            text: panel.innerText};
}"""


def panel(page) -> dict | None:
    """What the dashboard's panel shows now (see ``_PANEL_JS``)."""
    return page.evaluate(_PANEL_JS)


@contextmanager
def _explained(page, waiting_for: str) -> Iterator[None]:
    """Turn a Playwright timeout into a failure that shows what the page and server said."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        yield
    except PlaywrightTimeout as error:
        log = getattr(page, "server_log", None)
        raise AssertionError(
            f"timed out waiting for {waiting_for} ({error.message.splitlines()[0]})\n"
            f"panel: {(panel(page) or {}).get('state')}\n"
            f"page errors: {getattr(page, 'js_errors', [])}\n"
            f"console errors: {getattr(page, 'console_errors', [])[-5:]}\n"
            f"page text: {page.inner_text('body')[:1500]}\n"
            f"server log tail:\n{log.read_text(errors='replace')[-3000:] if log else ''}"
        ) from None


def wait_for_drawn(page, *, unlike: str | None = None, timeout_ms: int = PAGE_TIMEOUT_MS
                   ) -> dict:
    """Wait until the panel has drawn a state (other than ``unlike``) and is idle."""
    with _explained(page, f"the panel to draw a state other than {unlike!r}"):
        page.wait_for_function(
            """unlike => { const p = document.querySelector('.lc-panel');
                return p !== null && p.dataset.busy === '0' && p.dataset.state !== ''
                    && p.dataset.state !== unlike; }""",
            arg=unlike, timeout=timeout_ms)
    return panel(page)


def choose_starting(page, css: str, prefix: str) -> str:
    """Choose the first option of the dropdown with class ``css`` whose label starts with
    ``prefix``; return the label (ipywidgets shows an option's spaces as no-break spaces)."""
    select = page.locator(f".{css} select")
    labels = [t.replace("\xa0", " ").strip() for t in select.locator("option").all_inner_texts()]
    index = next(i for i, t in enumerate(labels) if t.startswith(prefix))
    select.select_option(index=index)
    return labels[index]


def screenshot(page, path) -> None:
    """Save the whole dashboard: Voila scrolls inside the page, so the viewport is stretched
    to the panel's bottom for the shot and restored after."""
    size = page.viewport_size
    bottom = page.evaluate("document.querySelector('.lc-panel').getBoundingClientRect().bottom")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"],
                                                                   int(bottom) + 40)})
    try:
        page.screenshot(path=path, full_page=True)
    finally:
        page.set_viewport_size(size)


def assert_no_cell_errors(page) -> None:
    """Fail when Voila reported a failing cell (it still answers HTTP 200), a view failed, or
    the page had JavaScript errors or requests that failed or left the server."""
    text = page.content()
    assert ERROR_TEXT not in text, page.inner_text("body")[:3000]
    assert "could not be computed" not in page.inner_text("body"), page.inner_text("body")[:3000]
    assert not page.js_errors, page.js_errors
    assert not page.outside, f"requests outside the server: {page.outside}"
    assert not page.failed, f"failed requests: {page.failed}"
