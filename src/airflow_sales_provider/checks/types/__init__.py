"""The check types, one module each: its fields, validation, SQL and evaluation.

Adding a type is one new module here defining a :class:`~.base.CheckType` subclass (it registers
itself by its ``name``), named in :data:`MODULES` below, plus its section in ``docs/data-quality.md``
(tests check all three line up).
"""

from __future__ import annotations

import importlib

from airflow_sales_provider.checks.types.base import REGISTRY, CheckType

#: The type modules, in the order the docs (and error messages) list the types.
MODULES = (
    "row_count",
    "not_null",
    "unique",
    "accepted_values",
    "range",
    "distinct_count",
    "freshness",
    "relationships",
    "expression",
    "sql",
    "reconcile",
    "change",
)
for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")  # defining the class registers the type

__all__ = ["MODULES", "REGISTRY", "CheckType"]
