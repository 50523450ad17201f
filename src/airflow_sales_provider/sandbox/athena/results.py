"""Athena's result format: Trino type names, value text, the result CSV and GetQueryResults rows.

Pure functions over Python values as DuckDB returns them; nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from typing import Any

#: DuckDB type name -> the Trino type Athena reports in ColumnInfo.
_TRINO_TYPES = {
    "VARCHAR": "varchar",
    "BIGINT": "bigint",
    "HUGEINT": "bigint",  # DuckDB widens sum(bigint); Trino keeps bigint
    "UBIGINT": "bigint",
    "INTEGER": "integer",
    "UINTEGER": "bigint",
    "SMALLINT": "smallint",
    "TINYINT": "tinyint",
    "DOUBLE": "double",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "TIME": "time",
    "INTERVAL": "interval day to second",
    "BLOB": "varbinary",
    "UUID": "uuid",
    '"NULL"': "unknown",
}


def column_info(name: str, duckdb_type: str) -> dict[str, Any]:
    """One ``ResultSetMetadata.ColumnInfo`` entry, as Athena (engine v3) returns it."""
    precision, scale = 0, 0
    decimal_match = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duckdb_type)
    if decimal_match:
        trino = "decimal"
        precision, scale = int(decimal_match.group(1)), int(decimal_match.group(2))
    elif duckdb_type.endswith("[]"):
        trino = "array"
    elif duckdb_type.startswith("STRUCT"):
        trino = "row"
    elif duckdb_type.startswith("MAP"):
        trino = "map"
    else:
        trino = _TRINO_TYPES.get(duckdb_type, duckdb_type.lower())
        precision = {"varchar": 2147483647, "bigint": 19, "integer": 10, "smallint": 5, "tinyint": 3}.get(
            trino, 17 if trino == "double" else 0
        )
    return {
        "CatalogName": "hive",
        "SchemaName": "",
        "TableName": "",
        "Name": name,
        "Label": name,
        "Type": trino,
        "Precision": precision,
        "Scale": scale,
        "Nullable": "UNKNOWN",
        "CaseSensitive": trino == "varchar",
    }


def to_text(value: Any) -> str | None:
    """A value as Athena writes it in the result CSV (``None`` is SQL NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
        if value.tzinfo is not None:
            text += " " + (value.tzname() or "UTC")
        return text
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return " ".join(f"{b:02x}" for b in bytes(value))
    if isinstance(value, list):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    if isinstance(value, dict):
        if set(value) == {"key", "value"} and isinstance(value["key"], list):  # DuckDB MAP
            pairs = zip(value["key"], value["value"], strict=False)
            return "{" + ", ".join(f"{_nested(k)}={_nested(v)}" for k, v in pairs) + "}"
        return "{" + ", ".join(f"{k}={_nested(v)}" for k, v in value.items()) + "}"
    return str(value)


def _nested(value: Any) -> str:
    text = to_text(value)
    return "null" if text is None else text


def java_double(value: float) -> str:
    """``Double.toString`` as Trino prints a double: ``1.0``, ``0.25``, ``1.0E7``, ``NaN``, ``Infinity``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)  # the shortest round-trip digits; never in exponent form in this range
        return text if "." in text else text + ".0"
    sign, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = f"{digits[0]}." + ("".join(map(str, digits[1:])) or "0")
    return f"{'-' if sign else ''}{mantissa}E{exponent + len(digits) - 1}"


def csv_field(text: str | None) -> str:
    """Athena quotes every value (``"`` doubled inside) and writes NULL as an empty, unquoted field."""
    if text is None:
        return ""
    return '"' + text.replace('"', '""') + '"'


def csv_line(values: list[str | None]) -> str:
    return ",".join(csv_field(v) for v in values) + "\n"


def result_rows(header: list[str] | None, rows: list[list[str | None]]) -> list[dict[str, Any]]:
    """GetQueryResults ``Rows``: the header first (when given), NULL as a ``Data`` entry without a value."""
    out = []
    if header is not None:
        out.append({"Data": [{"VarCharValue": name} for name in header]})
    for row in rows:
        out.append({"Data": [{} if v is None else {"VarCharValue": v} for v in row]})
    return out
