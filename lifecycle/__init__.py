"""lifecycle: a notebook-first analytics workbench for customer-lifecycle marketing.

Nothing runs at import beyond defining names: no data is read, no warnings filters or logging
are configured. Heavy modules (``clv`` and its ``lifetimes`` import) load only when used.
"""

from importlib import import_module

__version__ = "0.1.0"
__all__ = ["DataError", "Workspace", "__version__", "validate"]
_HOMES = {"DataError": "lifecycle.schema", "validate": "lifecycle.schema",
          "Workspace": "lifecycle.workspace"}


def __getattr__(name: str):
    """``lifecycle.Workspace`` and the others load their module on first use, so that
    importing a light submodule (the dashboards' kernel manager) stays light."""
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'lifecycle' has no attribute {name!r}")
