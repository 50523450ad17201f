"""A moto server in its own process, on a free loopback port: boto3 and aiobotocore talk HTTP to it."""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.sandbox._process import (
    LOOPBACK,
    SandboxError,
    free_port,
    spawn,
    stop_process,
    wait_until,
)

if TYPE_CHECKING:
    from pathlib import Path

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


class MotoServer:
    """``python -m moto.server`` on 127.0.0.1; every AWS service moto knows (S3, Glue, EMR, Athena, ...).

    With ``athena_engine`` (the default) the same moto app is served by
    ``airflow_sales_provider.sandbox.athena.server``, whose engine runs Athena queries for real.
    """

    def __init__(self, workdir: Path, *, start_timeout: float = 60, athena_engine: bool = True) -> None:
        self.workdir = workdir
        self.start_timeout = start_timeout
        self.athena_engine = athena_engine
        self.port: int | None = None
        self._process: Any = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise SandboxError("moto server is not running")
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Spawn the server without waiting, so the caller can start other services meanwhile."""
        self.port = free_port()
        # moto's server plus Glue job runs / EMR steps that end as a test says (sandbox/moto_jobs.py);
        # with the engine, the same app behind the Athena query router (sandbox/athena/server.py)
        module = "airflow_sales_provider.sandbox.moto_jobs"
        argv = [sys.executable, "-m", module, "-H", LOOPBACK, "-p", str(self.port)]
        if self.athena_engine:
            argv[2] = "airflow_sales_provider.sandbox.athena.server"
            argv += ["--scratch", str(self.workdir / "athena-scratch")]
        self._process = spawn(
            argv,
            log_path=self.workdir / "moto.log",
        )

    def wait_ready(self) -> None:
        last_error: SandboxError | None = None
        for attempt in range(3):  # a port picked as free can be taken before the server binds it
            if attempt:
                self.launch()
            try:
                wait_until(
                    self._is_ready,
                    process=self._process,
                    what=f"moto server (port {self.port})",
                    log_path=self.workdir / "moto.log",
                    timeout=self.start_timeout,
                )
                return
            except SandboxError as exc:
                last_error = exc
                stop_process(self._process)
                self.port = None
        raise last_error or SandboxError("moto server failed to start")

    def _is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/data.json", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def reset(self) -> None:
        """Forget every bucket, table, query and statement (moto's own reset endpoint)."""
        self._post("/moto-api/reset", {})

    def set_athena_results(
        self, rows: list[list[Any]], column_info: list[dict[str, Any]] | None = None
    ) -> None:
        """Queue the rows the next Athena query returns (moto's static results API).

        ``rows`` include the header row, as Athena's GetQueryResults does. With the Athena engine on, the
        next query started returns these rows instead of running.
        """
        result = {"rows": [{"Data": [{"VarCharValue": _text(v)} for v in row]} for row in rows]}
        if column_info is not None:
            result["column_info"] = column_info
        self._post(
            "/moto-api/static/athena/query-results",
            {"account_id": "123456789012", "region": REGION, "results": [result]},
        )

    def set_job_outcomes(
        self,
        glue: dict[str, dict[str, Any]] | None = None,
        emr: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """Say how Glue job runs (by job name) and EMR steps (by step name) end; see ``moto_jobs``.

        ``glue={"sales_cleaning": {"state": "FAILED", "error": "..."}}``,
        ``emr={"aggregate": {"state": "FAILED", "reason": "...", "message": "...", "log_file": "..."}}``.
        Unnamed jobs succeed and unnamed steps complete; ``reset()`` forgets every outcome.
        """
        self._post("/moto-api/sales/job-outcomes", {"glue": glue or {}, "emr": emr or {}})

    def set_slow_objects(self, rules: dict[str, float]) -> None:
        """Make GETs of objects under ``bucket/prefix`` stream at ``bytes_per_second`` (fault tests).

        ``{"sales-raw/daily/": 200}`` keeps a ``COPY`` of a small file running for seconds; ``{}`` (or
        ``reset()``) restores full speed. Needs the Athena engine's endpoint (``athena_engine=True``).
        """
        if not self.athena_engine:
            raise SandboxError("slow objects need the sandbox's own endpoint (athena_engine=True)")
        self._post("/moto-api/sales/slow-objects", {"rules": rules})

    def _post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{self.endpoint_url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def connection_env(self) -> dict[str, str]:
        aws_conn = {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": self.endpoint_url, "region_name": REGION},
        }
        return {
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws_conn),
            # A safety net: any client built outside a connection still lands on moto, never on AWS.
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }


def _text(value: Any) -> str:
    return "" if value is None else str(value)
