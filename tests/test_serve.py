"""Serving the dashboards: a preheated kernel that waited in the pool past the idle timeout
still serves the page it is handed to (it used to be culled before the page connected, and
the page hung on "Loading widget...")."""

import json
import time

from dashboard_fixtures import pages_of, serving

SLIDER = {"cells": [{"cell_type": "code", "execution_count": None, "id": "slider",
                     "metadata": {}, "outputs": [],
                     "source": "import ipywidgets\nipywidgets.IntSlider(7, description='Seven')"}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
TIMEOUT, INTERVAL = 5, 1  # seconds: cull kernels idle for 5 s (a page connects in about
# 1 s), checked every second


def _pool_filled(server, times: int) -> None:
    """Wait until Voila has filled the kernel pool ``times`` times (it logs each fill)."""
    deadline = time.monotonic() + 60
    while server.log.read_text().count("is filled with") < times:
        assert time.monotonic() < deadline, server.log.read_text()[-3000:]
        time.sleep(0.1)


def test_a_kernel_that_waited_in_the_pool_past_the_idle_timeout_serves_its_page(
        tmp_path, browser):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "slider.ipynb").write_text(json.dumps(SLIDER))
    with serving(tmp_path / "unused.duckdb", tmp_path, notebooks=pages,
                 cull=(TIMEOUT, INTERVAL)) as server, pages_of(server, browser) as open_:
        for visit in (1, 2):
            _pool_filled(server, visit)
            # the scenario itself: the kernel waits in the pool for several cull passes
            time.sleep(TIMEOUT + 3 * INTERVAL)
            page = open_("slider.ipynb")
            page.wait_for_selector(".widget-slider .widget-label:has-text('Seven')",
                                   timeout=30_000)
            assert "Culling '" not in server.log.read_text(), server.log.read_text()[-3000:]
            page.goto("about:blank")
