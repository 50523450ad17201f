"""Validate and quote SQL identifiers that come from templates, specs or connections.

Only plain identifiers are accepted (letters, digits, ``_`` and ``$``, not starting with a digit, at
most 127 bytes as Redshift allows); anything else is rejected with an error that names the field and
the value, rather than quoted into something surprising. Values are never formatted into SQL: they
are bound parameters.
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
MAX_IDENTIFIER_BYTES = 127


class InvalidIdentifierError(ValueError):
    """A table, schema or column name is not a plain SQL identifier."""


def validate_identifier(name: object, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain identifier, else raise :class:`InvalidIdentifierError`.

    :param name: the candidate (usually a rendered template value).
    :param what: what the value is for, used in the message (e.g. ``"partition_column"``).
    """
    if not isinstance(name, str) or not name:
        raise InvalidIdentifierError(f"{what} must be a non-empty string, got {name!r}")
    if len(name.encode()) > MAX_IDENTIFIER_BYTES or not _IDENTIFIER.match(name):
        raise InvalidIdentifierError(
            f"{what} {name!r} is not a valid SQL identifier: use letters, digits, '_' or '$', "
            f"starting with a letter or '_', at most {MAX_IDENTIFIER_BYTES} bytes"
        )
    return name


def quote_identifier(name: object, what: str = "identifier") -> str:
    """Validate ``name`` and return it double-quoted (``"sale_date"``)."""
    return '"' + validate_identifier(name, what) + '"'


def quote_qualified(*parts: str | None, what: str = "table") -> str:
    """``schema.table`` (or ``db.schema.table``) with every present part validated and quoted."""
    present = [p for p in parts if p]
    if not present:
        raise InvalidIdentifierError(f"{what} name is empty")
    return ".".join(quote_identifier(p, what) for p in present)


def parse_qualified(name: object, what: str = "table") -> tuple[str | None, str]:
    """Split ``"schema.table"`` (or ``"table"``) and validate both parts."""
    if not isinstance(name, str):
        raise InvalidIdentifierError(f"{what} must be a string, got {name!r}")
    parts = name.split(".")
    if len(parts) == 1:
        return None, validate_identifier(parts[0], what)
    if len(parts) == 2:
        return validate_identifier(parts[0], f"{what} schema"), validate_identifier(parts[1], what)
    raise InvalidIdentifierError(f"{what} {name!r} must be 'table' or 'schema.table'")
