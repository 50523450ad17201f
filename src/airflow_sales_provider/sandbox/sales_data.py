"""Seeded synthetic store sales for the daily sales pipeline (``make demo`` and its system test).

Small on purpose (a few dozen lines a day) and messy the way real store exports are:

- the same order line in two files of a day (a store's re-export, with a later ``updated_at``);
- store 2 sends its file gzipped;
- anonymous sales (empty ``customer_id``);
- category spellings as typed at the till (``" Food "``, ``"FOOD"``, ``"beverages"``, ``"Drink"``);
- a line with a negative amount (day 1), a mistyped store id 99 (day 2), a line without an order id
  (day 3);
- a late file for day 2 (``store_3_late.csv``) that arrives after the day's run: new lines and a
  corrected version of a line already loaded.

Refunds are lines of ``kind = 'refund'`` with a positive amount; a negative amount is an error. The
same ``seed`` gives byte-identical files.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

COLUMNS = (
    "order_id",
    "line_no",
    "store_id",
    "sale_date",
    "sold_at",
    "customer_id",
    "category",
    "quantity",
    "amount",
    "kind",
    "updated_at",
)
STORES = ((1, "Lisbon Baixa", "south"), (2, "Porto Ribeira", "north"), (3, "Braga Centro", "north"))
UNKNOWN_STORE = 99
#: raw spelling (trimmed, lower-cased) -> canonical category, as the category_map reference table holds it
CATEGORY_MAP = {
    "food": "food",
    "drinks": "drinks",
    "drink": "drinks",
    "beverages": "drinks",
    "household": "household",
    "home": "household",
    "toys": "toys",
}
_SPELLINGS = {
    "food": ["food", "Food", " Food ", "FOOD"],
    "drinks": ["drinks", "Drinks", "drink", "beverages"],
    "household": ["household", "Household ", "home"],
    "toys": ["toys", "Toys"],
}
_PRICES = {"food": (2, 30), "drinks": (1, 12), "household": (3, 40), "toys": (5, 60)}
DEFAULT_DAYS = (date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3))


@dataclass(frozen=True)
class SalesLine:
    order_id: int | None
    line_no: int
    store_id: int
    sale_date: date
    sold_at: datetime
    customer_id: int | None
    category: str  # as typed at the till
    quantity: int
    amount: Decimal
    kind: str  # "sale" or "refund"
    updated_at: datetime

    def row(self) -> list[str]:
        return [
            "" if self.order_id is None else str(self.order_id),
            str(self.line_no),
            str(self.store_id),
            self.sale_date.isoformat(),
            self.sold_at.isoformat(sep=" "),
            "" if self.customer_id is None else str(self.customer_id),
            self.category,
            str(self.quantity),
            f"{self.amount:.2f}",
            self.kind,
            self.updated_at.isoformat(sep=" "),
        ]


@dataclass
class StoreFile:
    """One file a store drops in S3: ``key`` relative to the raw bucket."""

    key: str
    lines: list[SalesLine] = field(default_factory=list)
    gzip: bool = False
    late: bool = False  # arrives after the day's first run

    def body(self) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(line.row() for line in self.lines)
        data = buffer.getvalue().encode()
        # mtime=0: the same seed gives the same bytes (and the same ETag)
        return gzip.compress(data, mtime=0) if self.gzip else data


def day_files(day: date, day_index: int, seed: int = 42) -> list[StoreFile]:
    """The files of one day: one per store (store 2 gzipped), plus the day's planted mess."""
    rng = random.Random(f"{seed}-{day.isoformat()}")
    files: dict[int, StoreFile] = {}
    order_id = 100_000 * (day_index + 1)
    opened = datetime.combine(day, datetime.min.time()) + timedelta(hours=9)
    for store_id, _name, _region in STORES:
        suffix = ".csv.gz" if store_id == 2 else ".csv"
        store_file = StoreFile(f"daily/{day.isoformat()}/store_{store_id}{suffix}", gzip=store_id == 2)
        for _order in range(4):
            order_id += 1
            sold_at = opened + timedelta(minutes=rng.randrange(0, 600))
            customer = None if rng.random() < 0.25 else rng.randrange(1000, 1100)
            for line_no in range(1, rng.randrange(2, 4)):
                category = rng.choice(sorted(_SPELLINGS))
                low, high = _PRICES[category]
                quantity = rng.randrange(1, 4)
                amount = Decimal(rng.randrange(low * 100, high * 100)) / 100 * quantity
                store_file.lines.append(
                    SalesLine(
                        order_id=order_id,
                        line_no=line_no,
                        store_id=store_id,
                        sale_date=day,
                        sold_at=sold_at,
                        customer_id=customer,
                        category=rng.choice(_SPELLINGS[category]),
                        quantity=quantity,
                        amount=amount.quantize(Decimal("0.01")),
                        kind="sale",
                        updated_at=sold_at + timedelta(seconds=1),
                    )
                )
        files[store_id] = store_file
    _plant_mess(files, day, day_index)
    extra = [f for f in files.values() if f.key not in {files[s].key for s, _, _ in STORES}]
    return [files[s] for s, _, _ in STORES] + extra


def _plant_mess(files: dict[int, StoreFile], day: date, day_index: int) -> None:
    store_1, store_3 = files[1], files[3]
    first = store_1.lines[0]
    # a refund of one item, every day (amounts are positive; the kind says it is money going back)
    store_1.lines.append(
        SalesLine(
            first.order_id + 50 if first.order_id else 0,
            1,
            1,
            day,
            first.sold_at + timedelta(hours=2),
            first.customer_id,
            "Toys",
            1,
            Decimal("9.99"),
            "refund",
            first.sold_at + timedelta(hours=2, seconds=1),
        )
    )
    if day_index == 0:
        # store 1 re-exported part of its file: the same order lines, one with a corrected quantity
        resend = StoreFile(f"daily/{day.isoformat()}/store_1_resend.csv")
        resend.lines.append(store_1.lines[1])
        corrected = store_1.lines[2]
        resend.lines.append(
            _replace(
                corrected,
                quantity=corrected.quantity + 1,
                amount=(corrected.amount / corrected.quantity * (corrected.quantity + 1)).quantize(
                    Decimal("0.01")
                ),
                updated_at=corrected.updated_at + timedelta(minutes=30),
            )
        )
        files[10] = resend
        # a till error: a sale line with a negative amount
        store_3.lines[0] = _replace(store_3.lines[0], amount=-store_3.lines[0].amount)
    if day_index == 1:
        # a mistyped store id on one line of store 3's file
        store_3.lines[-1] = _replace(store_3.lines[-1], store_id=UNKNOWN_STORE)
        # the late file: two new orders, and a corrected version of a line store 3 already sent
        late = StoreFile(f"daily/{day.isoformat()}/store_3_late.csv", late=True)
        base = store_3.lines[1]
        late.lines.append(
            _replace(
                base, amount=base.amount + Decimal("1.00"), updated_at=base.updated_at + timedelta(hours=5)
            )
        )
        for n, (category, amount) in enumerate((("beverages", "4.50"), ("Household", "25.00")), start=1):
            when = base.sold_at.replace(hour=20, minute=n)
            late.lines.append(
                SalesLine(
                    base.order_id + 90 + n if base.order_id else n,
                    1,
                    3,
                    day,
                    when,
                    None,
                    category,
                    1,
                    Decimal(amount),
                    "sale",
                    when + timedelta(seconds=1),
                )
            )
        files[11] = late
    if day_index == 2:
        # a line that lost its order id on the way
        store_3.lines[0] = _replace(store_3.lines[0], order_id=None)


def _replace(line: SalesLine, **changes: object) -> SalesLine:
    from dataclasses import replace

    return replace(line, **changes)  # type: ignore[arg-type]


def generate(days: tuple[date, ...] = DEFAULT_DAYS, seed: int = 42) -> list[StoreFile]:
    """Every file of ``days`` (the late one flagged ``late=True``)."""
    return [f for index, day in enumerate(days) for f in day_files(day, index, seed)]


def reference_files() -> dict[str, bytes]:
    """The reference tables the pipeline loads: ``reference/stores.csv``, ``reference/category_map.csv``."""
    stores = "store_id,store_name,region\n" + "".join(f"{i},{n},{r}\n" for i, n, r in STORES)
    mapping = "raw_category,category\n" + "".join(f"{k},{v}\n" for k, v in sorted(CATEGORY_MAP.items()))
    return {"reference/stores.csv": stores.encode(), "reference/category_map.csv": mapping.encode()}


def sandbox_config(env: str = "sandbox") -> dict[str, object]:
    """The ``sales_pipeline`` Variable for the sandbox (``docs/daily-sales-pipeline.md`` lists every key)."""
    return {
        "env": env,
        "raw_bucket": "sales-raw",
        "lake_bucket": "sales-lake",
        "reports_bucket": "sales-reports",
        "schema": "sales",
        "glue_database": "sales_lake",
        "athena_workgroup": "primary",
        "athena_output": "s3://sales-lake/athena-results/",
        "slack_webhook_conn_id": "slack_webhook_default",
        "min_files": 3,
        "settle_seconds": 1,
    }


def seed_sandbox(sandbox: Any, config: dict[str, Any], files: list[StoreFile]) -> None:
    """Create the config's buckets, store the config as the ``sales_pipeline`` Variable in the sandbox's
    Secrets Manager, and upload the reference files and every file that is not late."""
    from airflow_sales_provider.sandbox.secrets import put_variable

    s3 = sandbox.boto3_client("s3")
    for bucket in (config["raw_bucket"], config["lake_bucket"], config["reports_bucket"]):
        s3.create_bucket(Bucket=bucket)
    put_variable(sandbox, "sales_pipeline", config)
    for key, body in reference_files().items():
        s3.put_object(Bucket=config["raw_bucket"], Key=key, Body=body)
    upload(sandbox, config, [f for f in files if not f.late])


def upload(sandbox: Any, config: dict[str, Any], files: list[StoreFile]) -> None:
    s3 = sandbox.boto3_client("s3")
    for store_file in files:
        s3.put_object(Bucket=config["raw_bucket"], Key=store_file.key, Body=store_file.body())
