"""``make demo-ui``: the demo's sandbox and runs, then Airflow's own UI on loopback until Ctrl-C.

It runs ``make demo`` (sandbox up, the pipeline's days), and before the demo stops its sandbox starts
the Airflow 3 components a local deployment needs, all on 127.0.0.1, against the demo's Airflow home:
``airflow api-server`` (the UI, the REST API and the Execution API), ``scheduler`` (LocalExecutor),
``dag-processor`` and ``triggerer``; login through Airflow's simple auth manager.

The login is fixed (``admin`` / ``admin``: a local demo, never a deployment) and printed with the URL.
Ctrl-C (or SIGTERM) stops every component and then the sandbox; the ports are free again afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo  # noqa: E402  (examples/demo.py: the sandbox set-up and the pipeline days)

from airflow_sales_provider.sandbox._process import (  # noqa: E402
    LOOPBACK,
    port_is_listening,
    spawn,
    tail,
)

if TYPE_CHECKING:
    from airflow_sales_provider.sandbox import Sandbox

USERNAME = "admin"
PASSWORD = "admin"
DEFAULT_PORT = 8080
READY_TIMEOUT = 300.0


def airflow_major() -> int:
    # Read from the package metadata: importing Airflow here would configure it before the demo has set
    # its Airflow home and database in the environment.
    from importlib.metadata import version

    return int(version("apache-airflow").split(".")[0])


def ui_env(base_env: dict[str, str], home: Path, port: int) -> dict[str, str]:
    """The demo's environment plus what the UI components share: executor, URLs, login, JWT secret."""
    url = f"http://{LOOPBACK}:{port}"
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({USERNAME: PASSWORD}) + "\n")
    return {
        **base_env,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        # The demo's runs stay the DAGs' history: nothing is scheduled until you unpause a DAG.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        # Every component signs and checks task tokens with the same key.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
    }


COMPONENTS = (["api-server", "--workers", "1"], ["scheduler"], ["dag-processor"], ["triggerer"])


class AirflowStack:
    """The Airflow components as child processes, each in its own process group, logs under ``logs``."""

    def __init__(self, env: dict[str, str], logs: Path, port: int) -> None:
        self.env = env
        self.logs = logs
        self.port = port
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        for argv in COMPONENTS:
            name = argv[0]
            log = self.logs / f"{name}.log"
            log.write_bytes(b"")
            self.processes[name] = spawn([sys.executable, "-m", "airflow", *argv], log_path=log, env=self.env)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"airflow {name} exited with code {process.returncode}. "
                    f"Last lines of {self.logs / (name + '.log')}:\n{tail(self.logs / (name + '.log'))}"
                )

    def stop(self) -> None:
        # SIGTERM to each whole process group (uvicorn/gunicorn workers, executor workers, supervisors),
        # then SIGKILL for whatever did not exit within the grace period.
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
        self.processes.clear()


class UiClient:
    """Just enough of the REST API to know the UI is up and shows the pipeline."""

    def __init__(self, port: int) -> None:
        self.url = f"http://{LOOPBACK}:{port}"
        self._headers: dict[str, str] | None = None

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(f"{self.url}{path}", headers=self.headers())
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def headers(self) -> dict[str, str]:
        if self._headers is None:
            request = urllib.request.Request(
                f"{self.url}/auth/token",
                data=json.dumps({"username": USERNAME, "password": PASSWORD}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                token = json.loads(response.read())["access_token"]
            self._headers = {"Authorization": f"Bearer {token}"}
        return self._headers

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]] | None:
        """The DAG's runs as the UI's API lists them; None while the UI or the DAG is not there yet."""
        try:
            self._get(f"/api/v2/dags/{dag_id}")
            return list(self._get(f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"])
        except (OSError, urllib.error.URLError, KeyError, ValueError):
            return None


def wait_for_ui(stack: AirflowStack, client: UiClient, dag_id: str, stop: threading.Event) -> list[Any]:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and not stop.is_set():
        stack.check_alive()
        runs = client.dag_runs(dag_id)
        if runs is not None:
            return runs
        stop.wait(1)
    if stop.is_set():
        raise KeyboardInterrupt("")
    raise RuntimeError(f"the UI did not list {dag_id} within {READY_TIMEOUT:.0f}s (logs: {stack.logs})")


def install_examples(dags_folder: Path) -> None:
    """Every example DAG beside the demo's pipeline in the demo's dags folder (the UI's DAG bundle)."""
    examples = Path(__file__).resolve().parent / "dags"
    if dags_folder.resolve() != examples.resolve():
        skip = shutil.ignore_patterns("__pycache__")
        shutil.copytree(examples, dags_folder, dirs_exist_ok=True, ignore=skip)


def serve_ui(sandbox: Sandbox, port: int) -> None:
    """After the demo's runs, inside its sandbox: Airflow's UI and components until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    env = ui_env({**os.environ, **demo.airflow_environment(sandbox)}, demo.AIRFLOW_HOME, port)
    install_examples(Path(env["AIRFLOW__CORE__DAGS_FOLDER"]))
    stack = AirflowStack(env, demo.AIRFLOW_HOME / "demo-ui-logs", port)
    print("demo-ui: starting Airflow's UI and components", flush=True)
    try:
        stack.start()
        runs = wait_for_ui(stack, UiClient(port), demo.DAG_ID, stop)
        states = ", ".join(f"{run['dag_run_id']}: {run['state']}" for run in runs)
        print(f"demo-ui: ready at http://{LOOPBACK}:{port}/dags/{demo.DAG_ID} (runs: {states})", flush=True)
        print(f"demo-ui: log in as {USERNAME} / {PASSWORD}; press Ctrl-C to stop", flush=True)
        while not stop.wait(1):
            stack.check_alive()
    finally:
        print("demo-ui: stopping Airflow and the sandbox", flush=True)
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="examples/demo_ui.py", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the UI's port on 127.0.0.1")
    args = parser.parse_args(argv)
    if airflow_major() < 3:
        print(
            "demo-ui: this virtualenv has Airflow 2; make demo-ui runs Airflow 3's UI (.venv/af3). "
            "On Airflow 2, start `airflow webserver` and `airflow scheduler` yourself",
            file=sys.stderr,
        )
        return 2
    if port_is_listening(args.port):
        print(f"demo-ui: port {args.port} is already in use; choose another with PORT=<n>", file=sys.stderr)
        return 2
    failure: list[str] = []

    def after_runs(sandbox: Sandbox) -> None:
        try:
            serve_ui(sandbox, args.port)
        except (RuntimeError, KeyboardInterrupt) as exc:
            failure.append(str(exc))

    status = demo.main(after_runs=after_runs)
    if failure and failure[0]:
        print(f"demo-ui: FAILED: {failure[0]}", file=sys.stderr)
        return 1
    print("demo-ui: stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
