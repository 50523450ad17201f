"""Outlets our operators declare with ``emit_asset=True``: an alias at parse time, the asset at run time.

The table or object an operator writes is only known once its templates are rendered (and, for a
table, once its connection is read), while a DAG's outlets are fixed when the file is parsed. So the
operator declares an ``AssetAlias`` (Airflow 3) / ``DatasetAlias`` (Airflow 2.10) outlet and, when the
task succeeds, adds the concrete asset to it; Airflow then creates the event for that asset and queues
every DAG scheduled on it, exactly as for a static outlet.
"""

from __future__ import annotations

from typing import Any

from airflow_sales_provider.lineage import DatasetName, asset_uri, warehouse_table

ALIAS_PREFIX = "airflow_sales_provider:"


def alias_name(operator: Any) -> str:
    """The alias of one task: ``airflow_sales_provider:<dag_id>.<task_id>``."""
    dag = getattr(operator, "dag", None) if getattr(operator, "has_dag", lambda: True)() else None
    dag_id = getattr(dag, "dag_id", None)
    return f"{ALIAS_PREFIX}{dag_id}.{operator.task_id}" if dag_id else f"{ALIAS_PREFIX}{operator.task_id}"


def declare_outlet(operator: Any) -> None:
    """Add the task's alias to its outlets (call at the end of ``__init__`` when ``emit_asset`` is on)."""
    from airflow_sales_provider.compat import asset_alias

    operator.outlets = [*(operator.outlets or []), asset_alias(alias_name(operator))]


def emit(operator: Any, context: Any, dataset: DatasetName, extra: dict[str, Any] | None = None) -> str:
    """Add ``dataset``'s asset to the task's alias outlet; returns the asset URI."""
    from airflow_sales_provider.compat import emit_asset_event

    names = [getattr(o, "name", None) for o in operator.outlets or []]
    name = next((n for n in names if isinstance(n, str) and n.startswith(ALIAS_PREFIX)), alias_name(operator))
    uri = asset_uri(dataset)
    emit_asset_event(context, name, uri, extra)
    operator.log.info("Asset event for %s (through alias %s)", uri, name)
    return uri


def connection_dataset(conn_id: str, table: str, schema: str | None = None) -> DatasetName:
    """The dataset of ``table`` in the warehouse of Airflow connection ``conn_id``."""
    from airflow_sales_provider.compat import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return warehouse_table(
        conn.conn_type, conn.host, conn.port, conn.schema, table, schema, conn.extra_dejson
    )


__all__ = ["ALIAS_PREFIX", "alias_name", "connection_dataset", "declare_outlet", "emit"]
