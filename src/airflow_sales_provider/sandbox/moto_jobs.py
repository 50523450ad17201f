"""The sandbox's moto server, with Glue job runs and EMR steps that end as a test says.

moto records Glue job runs and EMR steps but runs no code: a Glue run always ends ``SUCCEEDED`` and an
EMR step stays ``RUNNING`` for ever, so an ``EmrStepSensor`` would never finish and no failure path could
be shown. This module is what the sandbox runs instead of ``python -m moto.server``: the same server,
with one endpoint more, ``POST /moto-api/sales/job-outcomes``, and these rules:

- a Glue job run ends in the state set for its job name (default ``SUCCEEDED``, moto's own); a failed
  run carries ``ErrorMessage`` in ``GetJobRun`` and writes the error to CloudWatch Logs under
  ``<LogGroupName>/error``, stream ``<run id>``, where Glue writes a driver's errors (the amazon
  provider's ``GlueJobOperator(verbose=True)`` prints that stream in the task log);
- an EMR step ends the first time it is described, in the state set for its step name (default
  ``COMPLETED``); a failed step carries ``Status.FailureDetails`` (reason, message, log file) as EMR's
  ``DescribeStep`` does.

``/moto-api/reset`` forgets the outcomes too. Set them from a test with
:meth:`airflow_sales_provider.sandbox.aws.MotoServer.set_job_outcomes`.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime, timezone
from typing import Any

#: {"glue": {job name: outcome}, "emr": {step name: outcome}}; an outcome is a dict with "state" and,
#: for failures, "error" (Glue) or "reason" / "message" / "log_file" (EMR).
_OUTCOMES: dict[str, dict[str, dict[str, Any]]] = {"glue": {}, "emr": {}}
_LOCK = threading.Lock()
PATH = "/moto-api/sales/job-outcomes"


def _outcome(kind: str, name: str) -> dict[str, Any] | None:
    with _LOCK:
        return _OUTCOMES[kind].get(name)


def job_outcomes_response(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """``POST {"glue": {...}, "emr": {...}}`` merges outcomes; ``GET`` shows them."""
    if request.method == "POST":
        body = json.loads(request.data or b"{}")
        with _LOCK:
            for kind in ("glue", "emr"):
                _OUTCOMES[kind].update(body.get(kind) or {})
    with _LOCK:
        current = json.dumps(_OUTCOMES)
    return 200, {"Content-Type": "application/json"}, current


def install_job_outcomes() -> None:
    """Patch moto's Glue and EMR backends with the job-outcome rules (once per process)."""
    from moto.emr.models import ElasticMapReduceBackend, Step
    from moto.glue.models import FakeJob, FakeJobRun
    from moto.moto_api._internal import urls
    from moto.moto_api._internal.models import MotoAPIBackend

    urls.url_paths["{0}" + PATH + "$"] = job_outcomes_response

    original_reset = MotoAPIBackend.reset

    def reset(self: Any) -> None:
        with _LOCK:
            for outcomes in _OUTCOMES.values():
                outcomes.clear()
        original_reset(self)

    MotoAPIBackend.reset = reset  # type: ignore[method-assign]

    # -- Glue ----------------------------------------------------------------------------------------
    original_start = FakeJob.start_job_run

    def start_job_run(self: Any, *args: Any, **kwargs: Any) -> str:
        run_id = original_start(self, *args, **kwargs)
        run = self.job_runs[-1]
        run.sales_outcome = _outcome("glue", self.name)
        run.sales_logs = (
            (self.backend.account_id, self.backend.region_name) if hasattr(self, "backend") else None
        )
        return str(run_id)

    FakeJob.start_job_run = start_job_run  # type: ignore[method-assign]
    moto_status: Any = FakeJobRun.status

    def glue_status(self: Any) -> str | None:
        state = moto_status.fget(self)  # type: ignore[attr-defined]
        outcome = getattr(self, "sales_outcome", None)
        if state == "SUCCEEDED" and outcome and outcome.get("state", "SUCCEEDED") != "SUCCEEDED":
            if not getattr(self, "sales_logged", False):
                self.sales_logged = True
                _write_glue_error(self, outcome.get("error", ""))
            return str(outcome["state"])
        return state

    FakeJobRun.status = property(glue_status, moto_status.fset)  # type: ignore[method-assign,assignment,misc]
    moto_as_dict = FakeJobRun.as_dict

    def glue_as_dict(self: Any) -> dict[str, Any]:
        result = moto_as_dict(self)
        outcome = getattr(self, "sales_outcome", None)
        if outcome and result["JobRunState"] not in ("STARTING", "RUNNING", "SUCCEEDED"):
            result["ErrorMessage"] = outcome.get("error", "")
        return result

    FakeJobRun.as_dict = glue_as_dict  # type: ignore[method-assign]

    # -- EMR -----------------------------------------------------------------------------------------
    moto_describe = ElasticMapReduceBackend.describe_step

    def describe_step(self: Any, cluster_id: str, step_id: str) -> Any:
        step: Any = moto_describe(self, cluster_id, step_id)
        if step is not None and step.state in ("PENDING", "RUNNING"):
            outcome = _outcome("emr", step.name) or {"state": "COMPLETED"}
            now = datetime.now(timezone.utc)
            step.start_date_time = step.start_date_time or now
            step.end_date_time = now
            step.state = outcome["state"]
            if outcome["state"] != "COMPLETED":
                step.sales_failure = {
                    "Reason": outcome.get("reason", "Unknown Error."),
                    "Message": outcome.get("message", ""),
                    "LogFile": outcome.get("log_file", ""),
                }
        return step

    ElasticMapReduceBackend.describe_step = describe_step  # type: ignore[method-assign]
    moto_step_status: Any = Step.status

    def step_status(self: Any) -> dict[str, Any]:
        status = dict(moto_step_status.fget(self))  # type: ignore[attr-defined]
        failure = getattr(self, "sales_failure", None)
        if failure:
            status["FailureDetails"] = failure
        return status

    Step.status = property(step_status)  # type: ignore[method-assign,assignment]


def _write_glue_error(run: Any, error: str) -> None:
    """Write the failed run's error where Glue writes a driver's errors: ``<LogGroupName>/error``."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.logs.models import logs_backends

    account_id, region = getattr(run, "sales_logs", None) or (DEFAULT_ACCOUNT_ID, "us-east-1")
    backend = logs_backends[account_id][region]
    group = f"{run.as_dict()['LogGroupName']}/error"
    if group not in backend.groups:
        backend.create_log_group(group, tags={})
    backend.ensure_log_stream(group, run.job_run_id)
    timestamp = int(datetime.now(timezone.utc).timestamp() * 1000)
    backend.put_log_events(group, run.job_run_id, [{"timestamp": timestamp, "message": error}])


def main(argv: list[str] | None = None) -> None:
    """``python -m moto.server`` with the job-outcome rules installed (same arguments)."""
    from moto.server import main as moto_main

    install_job_outcomes()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
