"""Tables in, tables out: the small plumbing every analytics module shares (private)."""

from __future__ import annotations

from collections.abc import Iterable

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from lifecycle.schema import DataError, Problem


def lazy(table: pd.DataFrame | ir.Table) -> tuple[ir.Table, bool]:
    """The table as an ibis Table, and whether it came in as pandas.

    A frame goes in through Arrow (zero-copy for numbers, dates and Arrow-backed text; NaN
    becomes null, as ibis' own conversion does): ibis converting the frame itself costs
    0.4 s per million rows. Columns Arrow cannot type (mixed objects) take ibis' way.
    """
    if isinstance(table, pd.DataFrame):
        try:
            arrow = pa.Table.from_pandas(table, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return ibis.memtable(table), True
        return ibis.memtable(arrow), True
    if isinstance(table, ir.Table):
        return table, False
    raise TypeError(f"expected a pandas DataFrame or an ibis Table, got {type(table).__name__}")


def finish(expr: ir.Table, eager: bool) -> pd.DataFrame | ir.Table:
    """Execute to pandas when the input was pandas; otherwise stay lazy."""
    return expr.execute().reset_index(drop=True) if eager else expr


def require(table, name: str, columns: Iterable[str]) -> None:
    """Raise :class:`DataError` naming the table and every required column it lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        present = ", ".join(table.columns) or "none"
        raise DataError([Problem(name, c, f"required column missing (columns present: "
                                          f"{present})", 0) for c in missing])
