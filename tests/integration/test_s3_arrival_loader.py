"""The arrival sensor and the loader together: the sensor's XCom (inline or manifest) is what
RedshiftLoadOperator loads, and the loader's ledger is what the sensor excludes on the next wait."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_sales_provider.compat import AirflowSkipException
from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator
from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

BUCKET = "sales-raw"
PREFIX = "arrival-load/2024-03-01/"
TABLE = "arrival_sales"
LEDGER = "arrival_load_ledger"
HEADER = "sale_id,store_id,sale_date,amount\n"


def context(run_id: str) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="sales_arrival", run_id=run_id, try_number=1, task_id="t", map_index=-1)
    return {"ti": ti, "run_id": run_id}


@pytest.fixture
def s3(sandbox: Any) -> Any:
    client = sandbox.boto3_client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def sales_table(warehouse: Any) -> Iterator[str]:
    def drop() -> None:
        with warehouse.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS public.{TABLE}")
            cursor.execute(f"DROP TABLE IF EXISTS public.{LEDGER}")

    drop()
    with warehouse.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE public.{TABLE} (sale_id integer NOT NULL, store_id integer NOT NULL, "
            "sale_date date NOT NULL, amount numeric(12,2))"
        )
    yield TABLE
    drop()


def put_sales(s3: Any, name: str, sale_id: int) -> str:
    body = f"{HEADER}{sale_id},1,2024-03-01,{sale_id}.50\n".encode()
    s3.put_object(Bucket=BUCKET, Key=PREFIX + name, Body=body)
    return PREFIX + name


def sensor(**kwargs: Any) -> S3ArrivalSensor:
    params: dict[str, Any] = {
        "task_id": "wait_for_sales",
        "bucket": BUCKET,
        "prefix": PREFIX,
        "pattern": "*.csv",
        "settle_seconds": 0,
        "exclude_loaded_into": f"public.{TABLE}",
        "warehouse_conn_id": "warehouse_default",
        "ledger_table": LEDGER,
        "poke_interval": 0.2,
        "timeout": 20,
        "mode": "poke",
        "deferrable": False,
    }
    params.update(kwargs)
    return S3ArrivalSensor(**params)


def loader(s3_keys: Any) -> RedshiftLoadOperator:
    return RedshiftLoadOperator(
        task_id="load_sales",
        table=TABLE,
        schema="public",
        s3_keys=s3_keys,
        redshift_conn_id="warehouse_default",
        ledger_table=LEDGER,
    )


def loaded_ids(warehouse: Any) -> list[int]:
    with warehouse.cursor() as cursor:
        cursor.execute(f"SELECT sale_id FROM public.{TABLE} ORDER BY sale_id")
        return [row[0] for row in cursor.fetchall()]


def test_inline_keys_load_and_then_only_new_files_count(s3, sales_table, warehouse):
    put_sales(s3, "store_1.csv", 1)
    put_sales(s3, "store_2.csv", 2)

    arrival = sensor(min_files=2).execute(context("run_1"))
    first = loader(arrival).execute(context("run_1"))
    assert first["files_loaded"] == [PREFIX + "store_1.csv", PREFIX + "store_2.csv"]
    assert loaded_ids(warehouse) == [1, 2]

    # The same files again: the ledger holds them, so the next wait finds nothing new.
    with pytest.raises(AirflowSkipException):
        sensor(timeout=0.6, soft_fail=True).execute(context("run_2"))

    late = put_sales(s3, "store_3.csv", 3)
    arrival = sensor().execute(context("run_3"))
    assert [item["key"] for item in arrival["keys"]] == [late]
    loader(arrival).execute(context("run_3"))
    assert loaded_ids(warehouse) == [1, 2, 3]


def test_manifest_hand_over_loads_every_key(s3, sales_table, warehouse):
    for i in range(1, 6):
        put_sales(s3, f"store_{i}.csv", i)
    arrival = sensor(min_files=5, max_keys_in_xcom=2).execute(context("run_1"))
    assert arrival["key_count"] == 5
    assert "keys" not in arrival
    result = loader(arrival).execute(context("run_1"))
    assert len(result["files_loaded"]) == 5
    assert loaded_ids(warehouse) == [1, 2, 3, 4, 5]
