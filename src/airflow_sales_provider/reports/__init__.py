"""Pure logic behind the report operators (no Airflow, no network): tokens, states, row conversion."""

from __future__ import annotations
