"""lifecycle: a notebook-first analytics workbench for customer-lifecycle marketing.

Nothing runs at import beyond defining names: no data is read, no warnings filters or logging
are configured. Heavy modules (``clv`` and its ``lifetimes`` import) load only when used.
"""

from lifecycle.schema import DataError, validate
from lifecycle.workspace import Workspace

__version__ = "0.1.0"
__all__ = ["DataError", "Workspace", "__version__", "validate"]
