"""How a PostgreSQL load failure reads: which object, which line, what was wrong (pure: no Airflow)."""

from __future__ import annotations

import re
import sys

from airflow_sales_provider.load.streams import JsonLinesError

__all__ = ["connection_errors", "postgres_error_message"]

_COPY_CONTEXT = re.compile(r"line (\d+)(?:, column ([^:]+))?")
#: driver exceptions that mean the connection is gone (matched by type, for the drivers that are loaded).
_CONNECTION_ERRORS = {
    "psycopg2": ("OperationalError", "InterfaceError"),
    "psycopg": ("OperationalError", "InterfaceError"),
    "redshift_connector": ("OperationalError", "InterfaceError"),
}


def connection_errors() -> tuple[type[BaseException], ...]:
    """The "connection lost" exception types of every database driver this process has imported."""
    found: list[type[BaseException]] = []
    for module_name, names in _CONNECTION_ERRORS.items():
        module = sys.modules.get(module_name)
        found += [getattr(module, n) for n in names if module is not None and hasattr(module, n)]
    return tuple(found)


def postgres_error_message(exc: BaseException, target: str, bucket: str, key: str | None) -> str:
    """The message of a failed PostgreSQL load, from the driver's error and COPY's context line."""
    where = f"s3://{bucket}/{key}" if key else target
    json_error = exc if isinstance(exc, JsonLinesError) else exc.__cause__
    if isinstance(json_error, JsonLinesError):
        return f"bad row in {where} at line {json_error.line}: {json_error}. Nothing was loaded."
    diag = getattr(exc, "diag", None)
    primary = (
        getattr(diag, "message_primary", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    )
    match = _COPY_CONTEXT.search(getattr(diag, "context", None) or "")
    if key and match:
        line, column = match.group(1), match.group(2)
        return (
            f"bad row in {where} at line {line}"
            + (f", column {column.strip()}" if column else "")
            + f": {primary}. The load was rolled back: {target} and the ledger are unchanged."
        )
    if isinstance(exc, connection_errors()):
        return (
            f"lost the warehouse connection while loading {where}: {primary}. The transaction was rolled "
            "back by the server; retrying the task loads the files once."
        )
    return f"load into {target} failed at {where}: {primary}. Nothing was loaded."
