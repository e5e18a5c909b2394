"""Shared fixtures: one small demo workspace per test process, and the browser fixtures of
:mod:`dashboard_fixtures` (defined here once: a session fixture bound in two test modules
would be two fixtures, and a second Playwright cannot start beside the first)."""

import os

import pytest
from dashboard_fixtures import browser, open_dashboard, voila_server  # noqa: F401

from lifecycle import Workspace

DEMO_CUSTOMERS = 2_000


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory):
    """A demo workspace file of 2,000 customers; notebooks and dashboards find it through
    the LIFECYCLE_WORKSPACE environment variable."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    Workspace.demo(path, n_customers=DEMO_CUSTOMERS, random_state=7)
    os.environ["LIFECYCLE_WORKSPACE"] = str(path)
    return path


@pytest.fixture(scope="session")
def demo(demo_path):
    """The demo workspace opened for reading."""
    return Workspace.open(demo_path)
