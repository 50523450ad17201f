"""The one error type of the engine: a query that ends FAILED with an Athena-like reason."""

from __future__ import annotations


class AthenaQueryError(Exception):
    """A query failure. ``str()`` is the ``StateChangeReason`` Athena would show, e.g.
    ``TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.sales.nope' does not exist``."""

    def __init__(self, error_name: str, message: str, *, user_error: bool = True) -> None:
        super().__init__(f"{error_name}: {message}")
        self.error_name = error_name
        self.user_error = user_error


class QueryCancelled(Exception):
    """The query was stopped (StopQueryExecution, or the workgroup's bytes-scanned cutoff)."""
