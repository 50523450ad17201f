"""Render the example pipelines' graphs for the docs with Airflow's DOT renderer (as ``airflow dags show``).

Needs Graphviz (``dot``) and the ``graphviz`` Python package::

    .venv/af3/bin/python docs/img/render_dag_graphs.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS = {
    "daily_sales_pipeline": "daily_sales_pipeline.py",
    "daily_sales_glue_emr": "daily_sales_glue_emr.py",
    "sparkify_pipeline": "sparkify_pipeline.py",
    "databricks_notebook_daily": "databricks_notebook_daily.py",
}


def main() -> None:
    from airflow.utils.dot_renderer import render_dag

    for dag_id, file_name in DAGS.items():
        spec = importlib.util.spec_from_file_location(dag_id, REPO / "examples" / "dags" / file_name)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        graph = render_dag(module.dag)
        # Airflow's renderer draws ui_fgcolor as the border only; the UI uses it for the label text.
        for task in module.dag.tasks:
            graph.node(task.task_id, _attributes={"fontcolor": task.ui_fgcolor})
        graph.attr(dpi="110")
        target = Path(__file__).parent / dag_id.replace("_", "-")
        graph.render(str(target), format="png", cleanup=True)
        print(f"{target}.png", file=sys.stderr)


if __name__ == "__main__":
    main()
