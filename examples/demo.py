"""``make demo``: run the main pipeline end to end on this machine, against the local sandbox.

No Docker, no AWS account: a moto server stands in for AWS, an embedded PostgreSQL for the warehouse
and a loopback receiver for Slack. The DAG runs through Airflow's own ``airflow dags test`` command, as
you would run it yourself, with the sandbox's ``AIRFLOW_CONN_*`` variables in its environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_sales_provider.sandbox import Sandbox

if TYPE_CHECKING:
    from collections.abc import Callable

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = REPO / ".airflow" / "demo"
DAG_ID = "sales_smoke"
LOGICAL_DATE = "2024-03-01"


def airflow_environment(sandbox: Sandbox) -> dict[str, str]:
    env = os.environ.copy()
    env.update(sandbox.env)
    env.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "examples" / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    return env


def migrate_metadata_db(env: dict[str, str]) -> None:
    import airflow

    marker = AIRFLOW_HOME / f".migrated-{airflow.__version__}"
    if marker.exists():
        return
    print("demo: creating the Airflow metadata database (first run only)", flush=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    marker.touch()


def main(after_runs: Callable[[Sandbox], None] | None = None) -> int:
    """Run the demo; ``after_runs(sandbox)`` (``make demo-ui``'s UI) runs before the sandbox stops."""
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    print("demo: starting the sandbox (moto server, embedded PostgreSQL, Slack receiver)", flush=True)
    with Sandbox() as sandbox:
        env = airflow_environment(sandbox)
        migrate_metadata_db(env)
        s3 = sandbox.boto3_client("s3")
        s3.create_bucket(Bucket="sales-raw")

        def land_file() -> None:
            # The file lands only after the sensor's first listing reached the moto server (its request
            # log shows it), so the run shows a real deferral however long DAG parsing takes.
            moto_log = sandbox.workdir / "moto.log"
            deadline = time.monotonic() + 300
            while not landed.is_set() and time.monotonic() < deadline:
                if "list-type=2&prefix=smoke" in moto_log.read_text(errors="replace"):
                    break
                landed.wait(0.2)
            if landed.wait(1):
                return
            s3.put_object(
                Bucket="sales-raw",
                Key=f"smoke/{LOGICAL_DATE}/ready.csv",
                Body=b"store_id,amount\n1,10.50\n2,20.00\n3,7.25\n",
            )
            print(
                f"demo: landed s3://sales-raw/smoke/{LOGICAL_DATE}/ready.csv (the sensor is waiting)",
                flush=True,
            )

        landed = threading.Event()
        uploader = threading.Thread(target=land_file, daemon=True)
        uploader.start()
        print(f"demo: airflow dags test {DAG_ID} {LOGICAL_DATE}", flush=True)
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, LOGICAL_DATE], env=env, check=False
        )
        landed.set()
        uploader.join()
        if result.returncode != 0:
            print(f"demo: FAILED (airflow dags test exited with {result.returncode})", file=sys.stderr)
            return 1
        with sandbox.connect_warehouse() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT ds::text, line_count FROM smoke_arrivals ORDER BY ds")
            rows = cursor.fetchall()
        if rows != [(LOGICAL_DATE, 4)]:
            print(f"demo: FAILED, unexpected warehouse rows {rows}", file=sys.stderr)
            return 1
        print(f"demo: OK, warehouse table smoke_arrivals holds {rows}", flush=True)
        if after_runs is not None:
            after_runs(sandbox)
    return 0


if __name__ == "__main__":
    sys.exit(main())
