"""A Databricks Jobs API stand-in: the few REST endpoints ``DatabricksSubmitRunOperator`` calls.

It emulates, for one-time runs only (API versions 2.0, 2.1 and 2.2 answer alike):

- ``POST /api/<v>/jobs/runs/submit``: records the payload, answers ``{"run_id": n}``;
- ``GET /api/<v>/jobs/runs/get?run_id=n``: the run's ``state`` moves ``PENDING`` → ``RUNNING`` →
  ``TERMINATED`` one step per call, ending in the scripted result (``SUCCESS`` unless told otherwise),
  with ``run_page_url`` and one task (``task_key`` from the payload) carrying the same state;
- ``GET /api/<v>/jobs/runs/get-output?run_id=n``: a failed run's ``error`` and ``error_trace``;
- ``POST /api/<v>/jobs/runs/cancel``: the run ends ``TERMINATED`` / ``CANCELED`` (the operator's
  ``on_kill``).

Every request must carry ``Authorization: Bearer <token>`` (401 otherwise). Anything else answers 404
with Databricks' error shape. No notebook runs: a test says how each run ends with
:meth:`DatabricksJobsReceiver.respond_with`.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_sales_provider.sandbox._process import LOOPBACK

_ENDPOINT = re.compile(r"^/api/2\.[012]/jobs/runs/(submit|get|get-output|cancel)$")
LIFE_CYCLE = ("PENDING", "RUNNING", "TERMINATED")


@dataclass(frozen=True)
class RunOutcome:
    """How a submitted run ends: ``result_state`` (``SUCCESS``, ``FAILED``, ...) and, for failures, the
    ``state_message`` Databricks shows and the notebook's ``error``."""

    result_state: str = "SUCCESS"
    state_message: str = ""
    error: str = ""


@dataclass
class SubmittedRun:
    run_id: int
    payload: dict[str, Any]
    outcome: RunOutcome
    gets: int = 0
    cancelled: bool = False
    polls: list[str] = field(default_factory=list)

    @property
    def life_cycle_state(self) -> str:
        if self.cancelled:
            return "TERMINATED"
        return LIFE_CYCLE[min(self.gets, len(LIFE_CYCLE)) - 1] if self.gets else "PENDING"

    def state(self) -> dict[str, Any]:
        life_cycle = self.life_cycle_state
        state: dict[str, Any] = {"life_cycle_state": life_cycle, "state_message": ""}
        if life_cycle == "TERMINATED":
            state["result_state"] = "CANCELED" if self.cancelled else self.outcome.result_state
            state["state_message"] = "Run cancelled." if self.cancelled else self.outcome.state_message
        return state


class DatabricksJobsReceiver:
    """``ThreadingHTTPServer`` on a free loopback port serving the endpoints above."""

    def __init__(self) -> None:
        self.token = f"dapi{secrets.token_hex(16)}"
        self.runs: dict[int, SubmittedRun] = {}
        self._outcomes: deque[RunOutcome] = deque()
        self._lock = threading.Lock()
        self._next_id = 1000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._answer(*receiver._handle("GET", self.path, self.headers, b""))

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(*receiver._handle("POST", self.path, self.headers, body))

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="databricks-jobs", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        assert self._server is not None, "Databricks stand-in is not running"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    # -- scripting -------------------------------------------------------------------------------------
    def respond_with(self, *outcomes: RunOutcome) -> None:
        """How the next submitted runs end, in order; runs beyond the queue succeed."""
        with self._lock:
            self._outcomes.extend(outcomes)

    def clear(self) -> None:
        with self._lock:
            self.runs.clear()
            self._outcomes.clear()

    @property
    def submissions(self) -> list[dict[str, Any]]:
        """The ``runs/submit`` payloads received, oldest first."""
        with self._lock:
            return [run.payload for run in self.runs.values()]

    def connection_env(self) -> dict[str, str]:
        conn = {
            "conn_type": "databricks",
            "host": LOOPBACK,
            "port": self.port,
            "schema": "http",  # the hook builds <schema>://<host>:<port>/api/...
            "password": self.token,
        }
        return {"AIRFLOW_CONN_DATABRICKS_DEFAULT": json.dumps(conn)}

    # -- the API ---------------------------------------------------------------------------------------
    def _handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}
        url = urlsplit(path)
        match = _ENDPOINT.match(url.path)
        action = match.group(1) if match else None
        expected = "POST" if action in ("submit", "cancel") else "GET"
        if action is None or method != expected:
            return 404, {
                "error_code": "ENDPOINT_NOT_FOUND",
                "message": f"No API found for '{method} {url.path}'",
            }
        if action == "submit":
            return self._submit(json.loads(body or b"{}"))
        args = (
            json.loads(body or b"{}")
            if method == "POST"
            else {k: v[0] for k, v in parse_qs(url.query).items()}
        )
        with self._lock:
            run_id = int(args.get("run_id", -1))
            run = self.runs.get(run_id) or self.runs.get(run_id // 10)  # a task's run id: run_id * 10 + i
            if run is None:
                return 400, {
                    "error_code": "INVALID_PARAMETER_VALUE",
                    "message": f"Run {args.get('run_id')} does not exist.",
                }
            if action == "cancel":
                run.cancelled = True
                return 200, {}
            if action == "get-output":
                return 200, self._output(run)
            run.gets += 1
            run.polls.append(run.life_cycle_state)
            return 200, self._run_info(run)

    def _submit(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            run_id = self._next_id
            self._next_id += 1
            outcome = self._outcomes.popleft() if self._outcomes else RunOutcome()
            self.runs[run_id] = SubmittedRun(run_id, payload, outcome)
        return 200, {"run_id": run_id}

    def _run_info(self, run: SubmittedRun) -> dict[str, Any]:
        task_keys = [t.get("task_key", "task") for t in run.payload.get("tasks", [])] or ["notebook"]
        return {
            "run_id": run.run_id,
            "run_name": run.payload.get("run_name", ""),
            "run_page_url": f"{self.base_url}/#job/runs/{run.run_id}",
            "state": run.state(),
            "tasks": [
                {
                    "run_id": run.run_id * 10 + index,
                    "task_key": key,
                    "attempt_number": 0,
                    "state": run.state(),
                }
                for index, key in enumerate(task_keys)
            ],
        }

    def _output(self, run: SubmittedRun) -> dict[str, Any]:
        if run.life_cycle_state == "TERMINATED" and run.outcome.result_state != "SUCCESS":
            return {
                "error": run.outcome.error,
                "error_trace": run.outcome.error,
                "metadata": {"run_id": run.run_id},
            }
        return {"metadata": {"run_id": run.run_id}}
