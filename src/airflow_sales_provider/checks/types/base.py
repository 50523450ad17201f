"""What a check type is: its fields, its validation, the SQL it needs and how its result is judged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator

#: Every check type by name, in the order the docs list them (filled as the type modules are imported).
REGISTRY: dict[str, CheckType] = {}


class CheckType:
    """One kind of check. A subclass with a ``name`` registers itself; one module per type.

    - :meth:`validate` turns the user's mapping into normalised ``params`` (problems go to the
      :class:`~airflow_sales_provider.checks.validation.Validator`, never raised);
    - :meth:`compile` adds the check's aggregates to the shared scan (``build.scan(...)``) and/or gives
      it a query of its own (``item.query``);
    - :meth:`evaluate` judges the values the database returned.
    """

    #: the ``check:`` value in a spec
    name: ClassVar[str]
    #: the fields it takes besides ``check``, ``name`` and ``severity``
    fields: ClassVar[tuple[str, ...]]
    #: ``columns: [a, b]`` gives one check (and one result) per column; ``params["column"]`` is set
    per_column: ClassVar[bool] = False
    #: may fold into the shared scan by grouping it (see :func:`~.compiler.compile_checks`)
    groups_scan: ClassVar[bool] = False
    #: its own query sorts (or hashes) the whole table in one process: worth running on a second
    #: connection beside the scan, which the database runs with parallel workers
    sorts: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            if cls.name in REGISTRY:
                raise TypeError(f"check type {cls.name!r} is defined twice")
            REGISTRY[cls.name] = cls()

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        """The normalised params (without the per-column ``column``); problems go to ``v``."""
        raise NotImplementedError

    def default_name(self, params: Mapping[str, Any]) -> str:
        columns = params.get("columns")
        column = "_".join(columns) if columns else params.get("column")
        return f"{self.name}_{column}" if column else self.name

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        """Scan aggregates (``item.scan_columns[role] = build.scan(...)``) and/or ``item.query``."""
        raise NotImplementedError

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        """The result from the scan values (by role), the own query's scalar and the history baseline."""
        raise NotImplementedError
