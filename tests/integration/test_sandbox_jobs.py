"""The sandbox's job stand-ins: moto Glue runs / EMR steps that end as told, the Databricks Jobs API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from airflow_sales_provider.sandbox import RunOutcome

pytestmark = pytest.mark.integration


def emr_cluster(emr) -> str:
    return emr.run_job_flow(
        Name="c",
        ReleaseLabel="emr-7.5.0",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="r",
        ServiceRole="s",
    )["JobFlowId"]


def test_glue_runs_end_as_told_with_the_error_in_the_run_and_its_log(sandbox):
    sandbox.moto.set_job_outcomes(glue={"bad": {"state": "FAILED", "error": "AnalysisException: x"}})
    glue, logs = sandbox.boto3_client("glue"), sandbox.boto3_client("logs")
    states = {}
    for name in ("good", "bad"):
        glue.create_job(Name=name, Role="r", Command={"Name": "glueetl", "ScriptLocation": "s3://b/j.py"})
        run_id = glue.start_job_run(JobName=name, Arguments={"--ds": "2024-03-01"})["JobRunId"]
        run = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        states[name] = (run["JobRunState"], run.get("ErrorMessage"), run["Arguments"])
    assert states == {
        "good": ("SUCCEEDED", None, {"--ds": "2024-03-01"}),
        "bad": ("FAILED", "AnalysisException: x", {"--ds": "2024-03-01"}),
    }
    events = logs.filter_log_events(logGroupName="test/log/error", logStreamNames=[run_id])["events"]
    assert [e["message"] for e in events] == ["AnalysisException: x"]


def test_emr_steps_complete_when_described_or_fail_with_details(sandbox):
    sandbox.moto.set_job_outcomes(
        emr={"agg": {"state": "FAILED", "reason": "R", "message": "M", "log_file": "L"}}
    )
    emr = sandbox.boto3_client("emr")
    cluster = emr_cluster(emr)
    steps = [
        {
            "Name": name,
            "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [name]},
        }
        for name in ("ok", "agg")
    ]
    ok, agg = emr.add_job_flow_steps(JobFlowId=cluster, Steps=steps)["StepIds"]
    assert emr.describe_step(ClusterId=cluster, StepId=ok)["Step"]["Status"]["State"] == "COMPLETED"
    failed = emr.describe_step(ClusterId=cluster, StepId=agg)["Step"]["Status"]
    assert (failed["State"], failed["FailureDetails"]) == (
        "FAILED",
        {"Reason": "R", "Message": "M", "LogFile": "L"},
    )


def test_reset_forgets_the_outcomes(sandbox):
    sandbox.moto.set_job_outcomes(glue={"bad": {"state": "FAILED"}})
    sandbox.reset_aws()
    with urllib.request.urlopen(f"{sandbox.aws_endpoint_url}/moto-api/sales/job-outcomes") as response:
        assert json.load(response) == {"glue": {}, "emr": {}}


def call(jobs, method, path, body=None, token=None):
    request = urllib.request.Request(
        f"{jobs.base_url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token or jobs.token}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_databricks_runs_move_to_their_scripted_end(sandbox):
    jobs = sandbox.databricks_jobs
    jobs.respond_with(RunOutcome("FAILED", state_message="boom", error="NameError: x"))
    status, submitted = call(jobs, "POST", "/api/2.1/jobs/runs/submit", {"tasks": [{"task_key": "nb"}]})
    run_id = submitted["run_id"]
    lifecycle = [call(jobs, "GET", f"/api/2.2/jobs/runs/get?run_id={run_id}")[1]["state"] for _ in range(3)]
    assert [s["life_cycle_state"] for s in lifecycle] == ["PENDING", "RUNNING", "TERMINATED"]
    assert (lifecycle[-1]["result_state"], lifecycle[-1]["state_message"]) == ("FAILED", "boom")
    task_run = call(jobs, "GET", f"/api/2.2/jobs/runs/get?run_id={run_id}")[1]["tasks"][0]["run_id"]
    assert call(jobs, "GET", f"/api/2.2/jobs/runs/get-output?run_id={task_run}")[1]["error"] == "NameError: x"
    assert jobs.submissions == [{"tasks": [{"task_key": "nb"}]}]
    assert status == 200


@pytest.mark.parametrize(
    ("method", "path", "token", "status"),
    [
        pytest.param("GET", "/api/2.2/jobs/runs/get?run_id=1", "wrong", 401, id="bad-token"),
        pytest.param("GET", "/api/2.2/clusters/get", None, 404, id="not-emulated"),
        pytest.param("GET", "/api/2.2/jobs/runs/get?run_id=999999", None, 400, id="unknown-run"),
    ],
)
def test_databricks_refusals(sandbox, method, path, token, status):
    assert call(sandbox.databricks_jobs, method, path, token=token)[0] == status
