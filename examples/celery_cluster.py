"""A local Airflow 3 on CeleryExecutor, shaped as MWAA runs it, for ``tests/distributed`` and the demo.

Components, each its own process (group) on loopback: ``api-server`` (UI, REST API, Execution API),
``scheduler`` (CeleryExecutor), ``dag-processor``, ``triggerer`` and two ``celery worker`` processes
with their own hostnames (``w1.sales.test``, ``w2.sales.test``) and concurrency 2. The metadata
database is a database of its own on a PostgreSQL server (the machine's service by default), created
here and dropped on stop; the Celery broker is a private ``redis-server`` on a free loopback port
(append-only file on, so a broker restart keeps the queue, as a managed broker does); Celery's
result backend is the metadata database. The sandbox (moto, warehouse, Slack) is the caller's.

``airflow_local_settings.py`` in the cluster's Airflow home holds the cluster policy that shortens the
pipeline's waits for a test-sized run (:data:`FAST_POLICY`): a retry 2 s after a failure instead of
5 minutes, the arrival sensor's poke every 2 s instead of 30, and the three days allowed to run at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo  # noqa: E402  (examples/demo.py: the Airflow environment for the sandbox, the DAG install)

from airflow_sales_provider.sandbox._process import LOOPBACK, free_port, port_is_listening, spawn, tail  # noqa: E402

USERNAME = "admin"
PASSWORD = "admin"
WORKERS = ("w1", "w2")
WORKER_CONCURRENCY = 2
#: the PostgreSQL server holding the metadata database (a database of the cluster's own is made on it)
POSTGRES_ENV = "SALES_DISTRIBUTED_POSTGRES_URI"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_PREFIX = "airflow_celery_"

FAST_POLICY = '''\
"""Cluster policy of the local CeleryExecutor cluster (examples/celery_cluster.py): test-sized waits."""
from datetime import timedelta


def dag_policy(dag):
    # The days are independent apart from the warn-level change check: let the three run at once.
    dag.max_active_runs = 3


def task_policy(task):
    task.retry_delay = timedelta(seconds=2)
    task.retry_exponential_backoff = False
    if type(task).__name__ == "S3ArrivalSensor":
        task.poke_interval = 2
'''

CELERY_CONFIG_MODULE = '''\
"""Celery settings of the local cluster: Airflow's defaults, with publishing that rides out a broker
restart (a send waits up to ~30 s for Redis instead of failing the task at once)."""
from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {
    **DEFAULT_CELERY_CONFIG,
    "task_publish_retry_policy": {
        "max_retries": 60, "interval_start": 0.5, "interval_step": 0, "interval_max": 0.5
    },
}
'''

HOSTNAME_MODULE = '''\
"""The hostname Airflow records for this process: one per simulated machine (SALES_CLUSTER_HOSTNAME)."""
import os
import socket


def hostname():
    return os.environ.get("SALES_CLUSTER_HOSTNAME") or socket.getfqdn()
'''


def postgres_uri() -> str:
    return os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES)


def postgres_unavailable() -> str | None:
    """Why the metadata database's server cannot be used, or None when it answers."""
    import psycopg2

    try:
        psycopg2.connect(postgres_uri(), connect_timeout=3).close()
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"no PostgreSQL for the metadata database at {postgres_uri()} ({POSTGRES_ENV}): {first}"
    return None


def redis_unavailable() -> str | None:
    if shutil.which("redis-server"):
        return None
    return "redis-server is not installed (apt-get install redis-server; make test does it on the af3 line)"


class MetadataDatabase:
    """A database of this cluster's own on the PostgreSQL server, dropped on :meth:`drop`."""

    def __init__(self) -> None:
        self.name = f"{DB_PREFIX}{os.getpid()}_{secrets.token_hex(3)}"
        parts = urllib.parse.urlsplit(postgres_uri())
        self.uri = urllib.parse.urlunsplit(parts._replace(path=f"/{self.name}"))

    def _admin(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg2

        connection = psycopg2.connect(postgres_uri(), connect_timeout=5)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()

    def create(self) -> None:
        # Databases left by a cluster whose process was SIGKILLed (its pid is gone) are dropped first.
        for (name,) in self._admin(f"SELECT datname FROM pg_database WHERE datname LIKE '{DB_PREFIX}%'"):
            pid = name[len(DB_PREFIX) :].split("_")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    @property
    def sqlalchemy_uri(self) -> str:
        return self.uri.replace("postgresql://", "postgresql+psycopg2://", 1)


class PrivateRedis:
    """``redis-server`` on a free loopback port, its append-only file in ``workdir``; stop/start keep it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            "redis-server", "--bind", LOOPBACK, "--port", str(self.port), "--dir", str(self.workdir),
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
        ]  # fmt: skip
        self.process = spawn(argv, log_path=self.workdir / "redis.log")
        deadline = time.monotonic() + 20
        while not port_is_listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{tail(self.workdir / 'redis.log')}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def kill_tree(process: subprocess.Popen[bytes], sig: int) -> None:
    """``sig`` to the process, its process group and every descendant (Celery's pool, task supervisors)."""
    import psutil

    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(sig)


class Component:
    """One ``airflow ...`` command as a child process in its own process group, logging to ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss: dict[int, int] = {}

    def start(self) -> None:
        with self.log.open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} starting airflow {' '.join(self.argv)}\n".encode())
        self.process = spawn([sys.executable, "-m", "airflow", *self.argv], log_path=self.log, env=self.env)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None:
            kill_tree(self.process, sig)

    def stop(self, grace: float = 15) -> None:
        if self.process is None:
            return
        self.kill(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(grace)
        self.kill(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def rss_bytes(self) -> int:
        """Resident memory of the process and its descendants right now."""
        import psutil

        if not self.alive or self.process is None:
            return 0
        total = 0
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.process.pid)
            for member in (root, *root.children(recursive=True)):
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += member.memory_info().rss
        return total


class CeleryCluster:
    """The components over a sandbox; :meth:`start` / :meth:`stop` (always call stop, even on failure)."""

    def __init__(self, sandbox: Any, home: Path) -> None:
        self.sandbox = sandbox
        self.home = home
        self.dags_folder = home / "dags"
        self.logs = home / "cluster-logs"
        self.database = MetadataDatabase()
        self.redis = PrivateRedis(home / "redis")
        self.port = free_port()
        self.components: dict[str, Component] = {}
        self.worker_names = WORKERS
        #: components a test killed on purpose (check_alive does not complain about them)
        self.dead: set[str] = set()
        self._db_created = False

    # -- configuration -----------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        url = f"http://{LOOPBACK}:{self.port}"
        config = self.home / "config"
        env = {**os.environ, **demo.airflow_environment(self.sandbox)}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(config), os.environ.get("PYTHONPATH")])),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database.sqlalchemy_uri,
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.database.uri,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "sales_celery_config.CELERY_CONFIG",
                "AIRFLOW__CELERY__OPERATION_TIMEOUT": "45",
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "sales_cluster_hostname.hostname",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # Runs come from the REST API only; no interval of the daily schedule is run by itself.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                # A dead worker's task is failed (and retried) 45 s after its last heartbeat, not 5 min.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "45",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                # A dead triggerer's triggers move to a live one 10 s after its last heartbeat.
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__API__HOST": LOOPBACK,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
                # Task processes wait longer for a busy API server before a call counts as failed.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
                "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
                "SALES_CLUSTER_HOSTNAME": "control.sales.test",
            }
        )
        return env

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _write_home(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
        (self.home / "config").mkdir(parents=True)
        self.logs.mkdir(parents=True)
        (self.home / "config" / "airflow_local_settings.py").write_text(FAST_POLICY)
        (self.home / "config" / "sales_cluster_hostname.py").write_text(HOSTNAME_MODULE)
        (self.home / "config" / "sales_celery_config.py").write_text(CELERY_CONFIG_MODULE)
        (self.home / "passwords.json").write_text(json.dumps({USERNAME: PASSWORD}) + "\n")
        demo.install_dag(self.dags_folder)
        self._jwt_secret = secrets.token_urlsafe(32)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, timeout: float = 600) -> None:
        self._write_home()
        self.redis.start()
        self.database.create()
        self._db_created = True
        env = self.environment()
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
        if migrate.returncode:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stdout.decode()[-3000:]}")
        plan = [
            ("api-server", ["api-server", "--workers", "1"], {}),
            ("scheduler", ["scheduler"], {}),
            ("dag-processor", ["dag-processor"], {}),
            ("triggerer", ["triggerer"], {"SALES_CLUSTER_HOSTNAME": "triggerer.sales.test"}),
        ]
        for worker in WORKERS:
            argv = ["celery", "worker", "--celery-hostname", f"{worker}@%h", "--concurrency", "2"]
            extra = {
                "SALES_CLUSTER_HOSTNAME": self.worker_hostname(worker),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            }
            plan.append((worker, argv, extra))
        for name, argv, extra in plan:
            self.components[name] = Component(name, argv, {**env, **extra}, self.logs / f"{name}.log")
            self.components[name].start()
        self.api = ApiClient(self.api_url)
        self.wait_ready(timeout)

    @staticmethod
    def worker_hostname(worker: str) -> str:
        return f"{worker}.sales.test"

    def wait_ready(self, timeout: float) -> None:
        """The API answers, the DAG is parsed and both workers have joined the broker."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if self.api.dag_exists(demo.DAG_ID) and all(
                "ready." in self.components[w].log.read_text(errors="replace") for w in WORKERS
            ):
                return
            time.sleep(1)
        raise RuntimeError(f"the cluster was not ready within {timeout:.0f}s; logs in {self.logs}")

    def check_alive(self, *, expect_dead: tuple[str, ...] = ()) -> None:
        for name, component in self.components.items():
            if name not in expect_dead and not component.alive:
                raise RuntimeError(
                    f"airflow {name} exited. Last lines of {component.log}:\n{tail(component.log)}"
                )

    def restart(self, name: str) -> None:
        component = self.components[name]
        component.stop(grace=0)
        component.start()

    def stop(self) -> None:
        for component in reversed(list(self.components.values())):
            with contextlib.suppress(Exception):
                component.stop()
        with contextlib.suppress(Exception):
            self.redis.stop()
        if self._db_created:
            with contextlib.suppress(Exception):
                self.database.drop()
            self._db_created = False

    def __enter__(self) -> CeleryCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ApiClient:
    """Airflow 3's public REST API (v2) with a JWT from ``/auth/token``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            login = {"username": USERNAME, "password": PASSWORD}
            body = self._request("POST", "/auth/token", login, auth=False)
            self._token = str(body["access_token"])
        return self._token

    def _request(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {detail}") from exc
        return json.loads(payload) if payload else None

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def dag_exists(self, dag_id: str) -> bool:
        try:
            self.get(f"/api/v2/dags/{dag_id}")
        except (OSError, RuntimeError):
            return False
        return True

    def unpause(self, dag_id: str) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, run_id: str, logical_date: str, conf: dict[str, Any] | None = None) -> Any:
        body = {"dag_run_id": run_id, "logical_date": logical_date, "conf": conf or {}}
        return self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def run_states(self, dag_id: str) -> dict[str, str]:
        """Every run of the DAG and its state, in one request."""
        runs = self.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
        return {str(run["dag_run_id"]): str(run["state"]) for run in runs}

    def task_instances(self, dag_id: str, run_id: str = "~") -> list[dict[str, Any]]:
        """The run's task instances (``~``: of every run, in one request)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100"
        return list(self.get(path)["task_instances"])

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
        return list(self.get(path)["task_instances"])
