"""SQL building blocks with no Airflow in them: identifier quoting and dialect differences."""

from __future__ import annotations

from airflow_sales_provider.sql.identifiers import (
    InvalidIdentifierError,
    parse_qualified,
    quote_identifier,
    quote_qualified,
    validate_identifier,
)

__all__ = [
    "InvalidIdentifierError",
    "parse_qualified",
    "quote_identifier",
    "quote_qualified",
    "validate_identifier",
]
