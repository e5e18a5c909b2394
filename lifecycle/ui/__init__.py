"""ipywidgets builders used by the dashboards in ``dashboards/`` (one small function per widget).

Each dashboard notebook is ``app = build_..._app(workspace)`` then ``app``; every dashboard is
drawn through :func:`lifecycle.ui.panel.dashboard`, the one filter-state-to-view mechanism.
"""
