"""Fixtures and helpers for driving the Voila dashboards in headless Chromium.

A dashboard test module binds the fixtures by name (``pytest_plugins`` works only in the
root conftest; plain assignments keep ruff's F811 quiet where the fixture is an argument)::

    import dashboard_fixtures

    voila_server = dashboard_fixtures.voila_server
    browser = dashboard_fixtures.browser
    open_dashboard = dashboard_fixtures.open_dashboard

and asks for ``open_dashboard``: ``page = open_dashboard("overview.ipynb")``. One Voila server
serves the whole ``dashboards/`` folder per test session (and per xdist worker); one Chromium
with a fresh, empty profile serves all pages. Every page navigates to ``about:blank`` before it
is closed, so its kernel is shut down instead of leaking (DESIGN §5); the teardown checks that
the server's kernels are gone.

Voila's page shuts its kernel down on ``beforeunload`` with a POST that needs the ``_xsrf``
cookie, and only the tree page (``/``) sets that cookie, not ``/voila/render/...``: the browser
fixture visits the tree once so the shutdown is accepted (without it the POST gets a 403 and the
kernel lives until idle culling).

The server reads the workspace from ``LIFECYCLE_WORKSPACE``, set to the ``demo_path`` fixture.
Chromium is ``/usr/bin/chromium`` or the binary named by ``LIFECYCLE_CHROMIUM``; Playwright's
own browsers are never downloaded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

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
SERVER_START_TIMEOUT = 30.0  # seconds until /voila/static/voila.js answers
PAGE_TIMEOUT_MS = 40_000  # page load + kernel start + notebook execution
KERNEL_EXIT_TIMEOUT = 10.0  # seconds for a left page's kernel to shut down
ERROR_TEXT = "There was an error when executing cell"

#: JavaScript: the traces of the first plotly figure under a selector, as plain lists.
_FIGURE_JS = """selector => {
    const plot = document.querySelector(selector + ' .js-plotly-plot')
        || document.querySelector(selector + '.js-plotly-plot');
    if (!plot || !plot._fullData) return null;
    return plot._fullData.filter(t => t.visible !== false).map(t => ({
        name: t.name,
        x: Array.from(t.x || [], v => String(v)),
        y: Array.from(t.y || [], Number),
    }));
}"""


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


def _voila_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "voila", str(DASHBOARDS),
        "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
        "--MappingKernelManager.cull_idle_timeout=120",
        "--MappingKernelManager.cull_interval=30",
        "--MappingKernelManager.cull_connected=True",
    ]


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


@pytest.fixture(scope="session")
def voila_server(demo_path, tmp_path_factory) -> Iterator[VoilaServer]:
    """Serve ``dashboards/`` with Voila on a free local port (workspace: ``demo_path``)."""
    folder = tmp_path_factory.mktemp("voila")
    env = {**os.environ, "LIFECYCLE_WORKSPACE": str(demo_path),
           "JUPYTER_CONFIG_DIR": str(folder / "config"), "PYTHONUNBUFFERED": "1"}
    port, log = free_port(), folder / "voila.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(_voila_command(port), cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = VoilaServer(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_ready(server.url, process, log)
        yield server
    finally:
        _stop(process)


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


@pytest.fixture
def open_dashboard(voila_server, browser) -> Iterator[Callable]:
    """Open a dashboard by notebook name; afterwards its page goes to about:blank and closes.

    The returned page has ``page.js_errors`` and ``page.console_errors`` (uncaught JavaScript
    errors and console errors seen so far) and ``page.server_log`` (the Voila log, where kernel
    tracebacks from widget callbacks land). The teardown fails if the server still runs
    kernels for the closed pages.
    """
    pages = []
    if not any(c["name"] == "_xsrf" for c in browser.cookies(voila_server.url)):
        tree = browser.new_page()
        tree.goto(voila_server.url, wait_until="domcontentloaded")
        tree.close()

    def _open(notebook: str):
        page = browser.new_page()
        page.js_errors, page.console_errors, page.server_log = [], [], voila_server.log
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        pages.append(page)
        page.goto(f"{voila_server.url}/voila/render/{notebook}", wait_until="domcontentloaded")
        return page

    yield _open
    for page in pages:
        try:
            page.goto("about:blank", timeout=10_000)
        finally:
            page.close()
    left = voila_server.wait_for_kernels(0)
    assert left == 0, f"{left} kernel(s) still running after the pages were left"


def figure_traces(page, selector: str) -> list[dict] | None:
    """The visible traces (name, x, y) of the plotly figure at ``selector``, or None."""
    return page.evaluate(_FIGURE_JS, selector)


@contextmanager
def _explained(page, waiting_for: str, selector: str) -> Iterator[None]:
    """Turn a Playwright timeout into a failure that shows what the page and server said."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        yield
    except PlaywrightTimeout as error:
        traces = figure_traces(page, selector) or []
        log = getattr(page, "server_log", None)
        raise AssertionError(
            f"timed out waiting for {waiting_for} ({error.message.splitlines()[0]})\n"
            f"traces now: {[(t['name'], len(t['y']), sum(t['y'])) for t in traces]}\n"
            f"page errors: {getattr(page, 'js_errors', [])}\n"
            f"console errors: {getattr(page, 'console_errors', [])[-5:]}\n"
            f"page text: {page.inner_text('body')[:1500]}\n"
            f"server log tail:\n{log.read_text(errors='replace')[-3000:] if log else ''}"
        ) from None


def wait_for_figure(page, selector: str, *, timeout_ms: int = PAGE_TIMEOUT_MS) -> list[dict]:
    """Wait until the figure at ``selector`` shows traces whose y values sum above zero."""
    with _explained(page, f"a figure with data at {selector}", selector):
        page.wait_for_function(
            f"""() => {{
                const traces = ({_FIGURE_JS})({selector!r});
                return traces && traces.reduce((s, t) => s + t.y.reduce((a, b) => a + b, 0), 0) > 0;
            }}""",
            timeout=timeout_ms,
        )
    return figure_traces(page, selector)


def wait_for_change(page, selector: str, before: list[dict], *, timeout_ms: int = 20_000,
                    settle_ms: int = 600) -> list[dict]:
    """Wait until the figure at ``selector`` differs from ``before`` and has settled.

    An in-place update arrives as several messages (drop, restyle, add traces), so the traces
    count as settled once two reads ``settle_ms`` apart agree.
    """
    with _explained(page, f"the figure at {selector} to change", selector):
        page.wait_for_function(
            f"""before => JSON.stringify(({_FIGURE_JS})({selector!r})) !== JSON.stringify(before)""",
            arg=before, timeout=timeout_ms,
        )
    deadline = time.monotonic() + timeout_ms / 1000
    previous = figure_traces(page, selector)
    while time.monotonic() < deadline:
        page.wait_for_timeout(settle_ms)
        current = figure_traces(page, selector)
        if current == previous:
            return current
        previous = current
    raise AssertionError(f"figure {selector} kept changing for {timeout_ms} ms")


def wait_for_text_change(page, selector: str, old: str, *, timeout_ms: int = 20_000) -> str:
    """Wait until the text of the element at ``selector`` differs from ``old``; return it."""
    with _explained(page, f"the text of {selector} to change from {old!r}", selector):
        page.wait_for_function(
            "([selector, old]) => {const e = document.querySelector(selector);"
            " return e !== null && e.innerText !== old;}",
            arg=[selector, old], timeout=timeout_ms,
        )
    return page.inner_text(selector)


def assert_no_cell_errors(page) -> None:
    """Fail when Voila reported a failing cell (it still answers HTTP 200) or JS errors."""
    text = page.content()
    assert ERROR_TEXT not in text, page.inner_text("body")[:3000]
    assert not page.js_errors, page.js_errors
