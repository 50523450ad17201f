from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.sandbox._process import SandboxError
from airflow_sales_provider.sandbox.athena.client import SandboxAthena
from airflow_sales_provider.sandbox.aws import REGION, MotoServer
from airflow_sales_provider.sandbox.postgres import EmbeddedPostgres
from airflow_sales_provider.sandbox.slack import SlackReceiver

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType


class Sandbox:
    """Moto server + warehouse PostgreSQL + Slack receiver, started together and stopped together.

    :param aws: start the moto server.
    :param postgres: start the warehouse (embedded, or ``SALES_SANDBOX_POSTGRES_URI``).
    :param slack: start the Slack webhook receiver.
    :param athena_engine: answer Athena's query API with the sandbox engine (real results from S3 data
        in the Glue catalog, docs/sandbox.md); ``False`` leaves Athena to moto (canned rows only).
    :param workdir: where logs and the database files go; a temporary directory (removed on stop) if unset.
    """

    def __init__(
        self,
        *,
        aws: bool = True,
        postgres: bool = True,
        slack: bool = True,
        athena_engine: bool = True,
        workdir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="sales-sandbox-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.moto = MotoServer(self.workdir, athena_engine=athena_engine) if aws else None
        self.athena = SandboxAthena(self)
        self.postgres = EmbeddedPostgres(self.workdir) if postgres else None
        self.slack = SlackReceiver() if slack else None
        self._started: list[Any] = []

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        # Services are spawned from this thread: their children are tied to it (PR_SET_PDEATHSIG), so
        # they must not be started from a worker thread that ends. moto imports for a second while
        # PostgreSQL initialises, so the moto process is launched first and awaited last.
        try:
            if self.moto is not None:
                self._started.append(self.moto)
                self.moto.launch()
            for service in (self.postgres, self.slack):
                if service is not None:
                    self._started.append(service)
                    service.start()
            if self.moto is not None:
                self.moto.wait_ready()
        except BaseException as exc:
            self.stop()
            if isinstance(exc, SandboxError):
                raise SandboxError(f"sandbox failed to start: {exc}") from exc
            raise
        return self

    def stop(self) -> None:
        while self._started:
            service = self._started.pop()
            with contextlib.suppress(Exception):
                service.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- environment -----------------------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` (and AWS_*) variables that point Airflow at this sandbox."""
        env: dict[str, str] = {}
        for service in (self.moto, self.postgres, self.slack):
            if service is not None and service in self._started:
                env.update(service.connection_env())
        return env

    @contextlib.contextmanager
    def environment(self) -> Iterator[dict[str, str]]:
        """Set :attr:`env` in ``os.environ`` for the block, restoring what was there before."""
        env = self.env
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    # -- conveniences for tests and demos --------------------------------------------------------------
    @property
    def aws_endpoint_url(self) -> str:
        return self._require(self.moto, "aws").endpoint_url

    def boto3_client(self, service_name: str) -> Any:
        """A boto3 client pointed at the moto server."""
        import boto3

        return boto3.client(
            service_name,
            endpoint_url=self.aws_endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def reset_aws(self) -> None:
        self._require(self.moto, "aws").reset()

    def connect_warehouse(self) -> Any:
        """A psycopg2 connection to the warehouse database."""
        return self._require(self.postgres, "postgres").connect()

    @property
    def warehouse_uri(self) -> str:
        return self._require(self.postgres, "postgres").uri

    @property
    def slack_receiver(self) -> SlackReceiver:
        return self._require(self.slack, "slack")

    @staticmethod
    def _require(service: Any, name: str) -> Any:
        if service is None:
            raise SandboxError(f"this sandbox was built with {name}=False")
        return service
