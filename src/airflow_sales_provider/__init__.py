"""Apache Airflow provider for daily sales warehouse pipelines."""

from __future__ import annotations

__version__ = "0.1.0"
