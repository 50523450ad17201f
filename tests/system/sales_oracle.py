"""What the daily sales pipeline must produce for generated files, computed in Python without SQL.

An independent oracle for the system test: the same rules as the pipeline's docs (latest version of an
order line wins, the quarantine reasons in order, refunds are money going back), applied line by line.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from airflow_sales_provider.sandbox.sales_data import CATEGORY_MAP, STORES

if TYPE_CHECKING:
    from datetime import date

    from airflow_sales_provider.sandbox.sales_data import SalesLine, StoreFile

KNOWN_STORES = {store_id for store_id, _, _ in STORES}


@dataclass
class Day:
    staged: int
    quarantined: list[tuple[int | None, int, str]]  # (order_id, line_no, reason)
    clean: list[SalesLine]

    def kpis(self) -> tuple[Decimal, int, int, Decimal, Decimal]:
        """revenue (net of refunds), units sold, orders with a sale, average basket, refunds."""
        sales = [line for line in self.clean if line.kind == "sale"]
        refunds = sum((line.amount for line in self.clean if line.kind == "refund"), Decimal("0.00"))
        revenue = sum((line.amount for line in sales), Decimal("0.00")) - refunds
        orders = len({line.order_id for line in sales})
        basket = (revenue / orders).quantize(Decimal("0.01"), ROUND_HALF_UP) if orders else Decimal("0.00")
        return revenue, sum(line.quantity for line in sales), orders, basket, refunds

    def per_store(self) -> list[tuple[int, int, int, Decimal, Decimal]]:
        """(store_id, orders, units, revenue, refunds) per store, as the report holds them."""
        stores: dict[int, list[SalesLine]] = defaultdict(list)
        for line in self.clean:
            stores[line.store_id].append(line)
        result = []
        for store_id, lines in sorted(stores.items()):
            day = Day(0, [], lines)
            revenue, units, orders, _basket, refunds = day.kpis()
            result.append((store_id, orders, units, revenue, refunds))
        return result


def reason(line: SalesLine) -> str | None:
    if line.order_id is None:
        return "missing order id"
    if line.store_id not in KNOWN_STORES:
        return "unknown store"
    if line.amount < 0:
        return "negative amount"
    if line.category.strip().lower() not in CATEGORY_MAP:
        return "unknown category"
    return None


def expected(files: list[StoreFile]) -> dict[date, Day]:
    latest: dict[tuple[int, int], SalesLine] = {}
    keyless: list[SalesLine] = []
    for store_file in files:
        for line in store_file.lines:
            if line.order_id is None:
                keyless.append(line)
                continue
            key = (line.order_id, line.line_no)
            if key not in latest or line.updated_at >= latest[key].updated_at:
                latest[key] = line
    days: dict[date, Day] = {}
    for line in [*latest.values(), *keyless]:
        day = days.setdefault(line.sale_date, Day(0, [], []))
        day.staged += 1
        why = reason(line)
        if why:
            day.quarantined.append((line.order_id, line.line_no, why))
        else:
            day.clean.append(line)
    return days
