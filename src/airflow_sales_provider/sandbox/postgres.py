"""The warehouse stand-in: an embedded PostgreSQL from the ``pgserver`` package, or a server you name.

Set ``SALES_SANDBOX_POSTGRES_URI`` (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``) to use an
existing server instead: the sandbox then creates a database of its own there and drops it on stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import uuid
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow_sales_provider.sandbox._process import (
    LOOPBACK,
    SandboxError,
    free_port,
    spawn,
    stop_process,
    wait_until,
)

POSTGRES_URI_ENV = "SALES_SANDBOX_POSTGRES_URI"
DATABASE = "warehouse"


class EmbeddedPostgres:
    """A private postmaster on a free loopback port, its data in ``workdir`` (fsync off: it is throw-away)."""

    def __init__(self, workdir: Path, *, start_timeout: float = 60) -> None:
        self.workdir = workdir
        self.start_timeout = start_timeout
        self.host = LOOPBACK
        self.port: int | None = None
        self.user = "postgres"
        self.password = ""
        self.database = DATABASE
        self._process: Any = None
        self._external_admin_uri: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        external = os.environ.get(POSTGRES_URI_ENV)
        if external:
            self._start_external(external)
        else:
            self._start_embedded()

    def _start_embedded(self) -> None:
        try:
            with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
                warnings.simplefilter("ignore")
                from pgserver._commands import POSTGRES_BIN_PATH
        except ImportError as exc:
            raise SandboxError(
                "embedded PostgreSQL needs the 'pgserver' package: "
                "pip install 'airflow-sales-provider[sandbox]', "
                f"or set {POSTGRES_URI_ENV} to an existing server"
            ) from exc
        bin_dir = Path(POSTGRES_BIN_PATH)
        data_dir = self.workdir / "pgdata"
        socket_dir = self.workdir / "pgsock"
        socket_dir.mkdir(parents=True, exist_ok=True)
        run_as = _unprivileged_user(bin_dir, self.workdir)
        log_path = self.workdir / "postgres.log"
        if not (data_dir / "PG_VERSION").exists():
            initdb = spawn(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                log_path=log_path,
                user=run_as,
            )
            if initdb.wait(120) != 0:
                from airflow_sales_provider.sandbox._process import tail

                raise SandboxError(f"embedded PostgreSQL: initdb failed. Last log lines:\n{tail(log_path)}")
        last_error: SandboxError | None = None
        for _ in range(3):
            port = free_port()
            self._process = spawn(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(data_dir),
                    "-h",
                    LOOPBACK,
                    "-p",
                    str(port),
                    "-k",
                    str(socket_dir),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "shared_buffers=256MB",
                    "-c",
                    "work_mem=64MB",
                    "-c",
                    "maintenance_work_mem=256MB",
                ],
                log_path=log_path,
                user=run_as,
            )
            self.port = port
            try:
                wait_until(
                    self._accepts_connections,
                    process=self._process,
                    what=f"embedded PostgreSQL (port {port})",
                    log_path=log_path,
                    timeout=self.start_timeout,
                )
                break
            except SandboxError as exc:
                last_error = exc
                stop_process(self._process, signal.SIGINT)
                self.port = None
        else:
            raise last_error or SandboxError("embedded PostgreSQL failed to start")
        self._admin(f'CREATE DATABASE "{self.database}"', database="postgres")

    def _start_external(self, uri: str) -> None:
        parts = urlsplit(uri)
        if parts.scheme not in {"postgres", "postgresql"} or not parts.hostname:
            raise SandboxError(
                f"{POSTGRES_URI_ENV} must be a postgresql://user[:password]@host[:port]/db URI"
            )
        self.host = parts.hostname
        self.port = parts.port or 5432
        self.user = unquote(parts.username or "postgres")
        self.password = unquote(parts.password or "")
        admin_db = parts.path.lstrip("/") or "postgres"
        self._external_admin_uri = admin_db
        self.database = f"sandbox_{uuid.uuid4().hex[:12]}"
        try:
            self._admin(f'CREATE DATABASE "{self.database}"', database=admin_db)
        except Exception as exc:
            self.port = None
            raise SandboxError(
                f"PostgreSQL at {self.host}:{parts.port or 5432} ({POSTGRES_URI_ENV}): {exc}"
            ) from exc

    def stop(self) -> None:
        if self._external_admin_uri is not None:
            with contextlib.suppress(Exception):
                self._admin(
                    f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)',
                    database=self._external_admin_uri,
                )
            self._external_admin_uri = None
            return
        # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions and exit.
        stop_process(self._process, signal.SIGINT)
        self._process = None

    @property
    def running(self) -> bool:
        if self._external_admin_uri is not None:
            return True
        return self._process is not None and self._process.poll() is None

    # -- access ----------------------------------------------------------------------------------------
    def connect(self, database: str | None = None, **kwargs: Any) -> Any:
        """A psycopg2 connection to the sandbox warehouse (or ``database``)."""
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=database or self.database,
            connect_timeout=5,
            **kwargs,
        )

    @property
    def uri(self) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.database}"

    def _accepts_connections(self) -> bool:
        try:
            self.connect(database="postgres").close()
            return True
        except Exception:
            return False

    def _admin(self, sql: str, *, database: str) -> None:
        connection = self.connect(database=database)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def connection_env(self) -> dict[str, str]:
        conn = json.dumps(
            {
                "conn_type": "postgres",
                "host": self.host,
                "port": self.port,
                "login": self.user,
                "password": self.password,
                "schema": self.database,
            }
        )
        # One warehouse, three names: DAGs written for Redshift (redshift_default) run unchanged here.
        return {
            "AIRFLOW_CONN_WAREHOUSE_DEFAULT": conn,
            "AIRFLOW_CONN_REDSHIFT_DEFAULT": conn,
            "AIRFLOW_CONN_POSTGRES_DEFAULT": conn,
        }


def _unprivileged_user(bin_dir: Path, workdir: Path) -> str | None:
    """PostgreSQL refuses to run as root; as root, run it as pgserver's own system user."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    user = "pgserver"
    entry = ensure_user_exists(user)
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, 0o555)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o444)
    share = bin_dir.parent / "share"
    if share.exists():
        ensure_folder_permissions(share, 0o444)
    ensure_prefix_permissions(workdir)
    assert entry is not None
    for path in [workdir, *workdir.rglob("*")]:
        shutil.chown(path, entry.pw_uid, entry.pw_gid)
    return user
