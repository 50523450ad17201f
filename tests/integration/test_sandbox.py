"""The sandbox starts real services on free loopback ports and leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from airflow_sales_provider.sandbox import Reply, Sandbox, SandboxError, SlackReceiver
from airflow_sales_provider.sandbox._process import port_is_listening
from airflow_sales_provider.sandbox.postgres import POSTGRES_URI_ENV, EmbeddedPostgres

pytestmark = pytest.mark.integration


def _ports(sandbox: Sandbox) -> dict[str, int]:
    assert sandbox.moto and sandbox.postgres and sandbox.slack
    assert sandbox.moto.port and sandbox.postgres.port
    return {"moto": sandbox.moto.port, "postgres": sandbox.postgres.port, "slack": sandbox.slack.port}


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


class TestLifecycle:
    def test_services_answer_and_stop_cleanly(self):
        children_before = _children()
        with Sandbox() as sandbox:
            ports = _ports(sandbox)
            s3 = sandbox.boto3_client("s3")
            s3.create_bucket(Bucket="lifecycle-check")
            assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["lifecycle-check"]
            with sandbox.connect_warehouse() as connection, connection.cursor() as cursor:
                cursor.execute("SELECT current_database(), inet_server_addr()::text")
                assert cursor.fetchone() == ("warehouse", "127.0.0.1/32")
            urllib.request.urlopen(sandbox.slack_receiver.webhook_url, data=b'{"text": "hi"}', timeout=5)
            assert sandbox.slack_receiver.messages == [{"text": "hi"}]
            started = _children() - children_before
            assert started, "moto and postgres run as child processes"
            workdir = sandbox.workdir
        for name, port in ports.items():
            assert not port_is_listening(port), f"{name} still listens on {port}"
        assert not (_children() - children_before), "sandbox left child processes running"
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in started)
        assert not workdir.exists()

    def test_stops_even_when_the_block_raises(self):
        with pytest.raises(RuntimeError, match="boom"), Sandbox(slack=False) as sandbox:
            ports = [sandbox.moto.port, sandbox.postgres.port]  # type: ignore[union-attr]
            raise RuntimeError("boom")
        assert not any(port_is_listening(p) for p in ports if p)

    def test_two_sandboxes_at_once_get_their_own_ports(self):
        with Sandbox() as first, Sandbox() as second:
            assert set(_ports(first).values()).isdisjoint(_ports(second).values())
            first.boto3_client("s3").create_bucket(Bucket="only-in-first")
            assert second.boto3_client("s3").list_buckets()["Buckets"] == []

    def test_environment_points_airflow_connections_at_the_services(self):
        with Sandbox() as sandbox:
            assert (
                "AIRFLOW_CONN_AWS_DEFAULT" not in os.environ
                or os.environ.get("AIRFLOW_CONN_AWS_DEFAULT") != sandbox.env["AIRFLOW_CONN_AWS_DEFAULT"]
            )
            with sandbox.environment():
                from airflow.providers.amazon.aws.hooks.s3 import S3Hook
                from airflow.providers.common.sql.hooks.sql import DbApiHook

                from airflow_sales_provider.compat import BaseHook

                S3Hook(aws_conn_id="aws_default").create_bucket("via-connection")
                for conn_id in ("warehouse_default", "redshift_default", "postgres_default"):
                    hook = BaseHook.get_connection(conn_id).get_hook()
                    assert isinstance(hook, DbApiHook)
                    assert hook.get_first("SELECT current_database()") == ("warehouse",)
            assert sandbox.boto3_client("s3").head_bucket(Bucket="via-connection")
            aws = json.loads(sandbox.env["AIRFLOW_CONN_AWS_DEFAULT"])
            assert aws["extra"]["endpoint_url"] == sandbox.aws_endpoint_url


class TestStartFailures:
    def test_unreachable_external_postgres_is_named(self, monkeypatch, tmp_path):
        from airflow_sales_provider.sandbox._process import free_port

        monkeypatch.setenv(POSTGRES_URI_ENV, f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
        children_before = _children()
        with pytest.raises(SandboxError, match=r"sandbox failed to start: PostgreSQL at 127\.0\.0\.1:\d+"):
            Sandbox(workdir=tmp_path).start()
        # moto was launched first: it must have been stopped again.
        time.sleep(0.2)
        assert not (_children() - children_before)

    def test_broken_data_directory_reports_the_postgres_log(self, tmp_path):
        pgdata = tmp_path / "pgdata"
        pgdata.mkdir()
        (pgdata / "PG_VERSION").write_text("not-a-version\n")
        with pytest.raises(SandboxError, match=r"embedded PostgreSQL \(port \d+\) exited with code \d+"):
            Sandbox(aws=False, slack=False, workdir=tmp_path).start()

    def test_bad_external_uri_is_rejected(self, monkeypatch, tmp_path):
        monkeypatch.setenv(POSTGRES_URI_ENV, "mysql://root@127.0.0.1/db")
        with pytest.raises(SandboxError, match="must be a postgresql://"):
            Sandbox(aws=False, slack=False, workdir=tmp_path).start()


def test_existing_server_named_by_environment_gets_its_own_database(monkeypatch, tmp_path: Path):
    server = EmbeddedPostgres(tmp_path / "server")
    (tmp_path / "server").mkdir()
    server.start()
    try:
        monkeypatch.setenv(POSTGRES_URI_ENV, f"postgresql://postgres@127.0.0.1:{server.port}/postgres")
        with Sandbox(aws=False, slack=False) as sandbox:
            assert sandbox.postgres is not None
            database = sandbox.postgres.database
            assert database.startswith("sandbox_")
            assert sandbox.postgres.port == server.port
            with sandbox.connect_warehouse() as connection, connection.cursor() as cursor:
                cursor.execute("SELECT current_database()")
                assert cursor.fetchone() == (database,)
        with server.connect(database="postgres") as connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (database,))
            assert cursor.fetchone() == (0,), "the sandbox database was dropped on stop"
    finally:
        server.stop()


class TestSlackReceiver:
    @pytest.fixture
    def receiver(self):
        receiver = SlackReceiver()
        receiver.start()
        yield receiver
        receiver.stop()

    def _post(self, url: str, timeout: float = 5) -> tuple[int, dict[str, str]]:
        try:
            with urllib.request.urlopen(url, data=b'{"text": "x"}', timeout=timeout) as response:
                return response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers)

    def test_scripted_replies_then_default(self, receiver):
        receiver.respond_with(Reply(429, retry_after=2), 500)
        assert self._post(receiver.webhook_url)[0] == 429
        assert self._post(receiver.webhook_url)[1].get("Retry-After") is None
        assert self._post(receiver.webhook_url)[0] == 200
        assert [p.status for p in receiver.posts] == [429, 500, 200]
        assert receiver.messages == [{"text": "x"}]

    def test_retry_after_header_is_sent(self, receiver):
        receiver.respond_with(Reply(429, retry_after=2))
        status, headers = self._post(receiver.webhook_url)
        assert (status, headers["Retry-After"]) == (429, "2")

    def test_hang_makes_the_client_time_out(self, receiver):
        receiver.respond_with(Reply(hang=5))
        with pytest.raises(TimeoutError):
            self._post(receiver.webhook_url, timeout=0.5)
        assert len(receiver.posts) == 1, "a hung post is recorded when it arrives"
        assert receiver.messages == [], "a post whose reply hung does not count as delivered"


def test_cli_prints_exports_and_stops_on_ctrl_c():
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_sales_provider.sandbox", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None and process.stdout is not None
        banner = process.stderr.readline()
        while "sandbox is up" not in banner:
            assert banner, f"CLI exited early with {process.poll()}"
            banner = process.stderr.readline()
        exports: dict[str, str] = {}
        for line in process.stdout:
            if not line.startswith("export "):
                break
            key, _, value = line[len("export ") :].strip().partition("=")
            exports[key] = value
            if len(exports) == 9:
                break
        assert {
            "AIRFLOW_CONN_AWS_DEFAULT",
            "AIRFLOW_CONN_WAREHOUSE_DEFAULT",
            "AIRFLOW_CONN_SLACK_WEBHOOK_DEFAULT",
        } <= set(exports)
        endpoint = exports["AWS_ENDPOINT_URL"]
        port = int(endpoint.rsplit(":", 1)[1])
        assert port_is_listening(port)
    finally:
        process.send_signal(signal.SIGINT)
        # A bound, not a speed check: each service gets stop_process's grace (10 s + 5 s after a kill),
        # and a busy CI machine (two test sessions at once) can use it.
        assert process.wait(90) == 0
    assert not port_is_listening(port)


def test_pytest_plugin_is_registered_by_entry_point():
    from importlib.metadata import entry_points

    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.name == "airflow_sales_sandbox"]
    assert plugin.value == "airflow_sales_provider.pytest_plugin"


def test_the_sales_fixtures_and_their_earlier_names_are_the_same_objects(
    sales_clean_sandbox, sales_slack_receiver, sales_warehouse, sandbox, slack_receiver, warehouse
):
    assert sandbox is sales_clean_sandbox and slack_receiver is sales_slack_receiver
    assert warehouse is sales_warehouse
    assert sales_clean_sandbox.boto3_client("s3").list_buckets()["Buckets"] == []
    with sales_warehouse.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_fixtures_give_a_clean_sandbox_per_test(sandbox, slack_receiver, warehouse):
    assert sandbox.boto3_client("s3").list_buckets()["Buckets"] == []
    assert slack_receiver.posts == []
    with warehouse.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    sandbox.boto3_client("s3").create_bucket(Bucket="left-behind")


class TestMotoServices:
    """Every AWS service the pipelines use answers on the one moto endpoint."""

    def test_each_pipeline_service_answers(self, sandbox):
        sandbox.boto3_client("s3").create_bucket(Bucket="svc-check")
        assert sandbox.boto3_client("glue").create_database(DatabaseInput={"Name": "sales"})
        assert sandbox.boto3_client("glue").get_databases()["DatabaseList"][0]["Name"] == "sales"
        cluster = sandbox.boto3_client("emr").run_job_flow(
            Name="sales",
            ReleaseLabel="emr-7.0.0",
            Instances={
                "InstanceCount": 1,
                "MasterInstanceType": "m5.xlarge",
                "KeepJobFlowAliveWhenNoSteps": True,
            },
            JobFlowRole="EMR_EC2_DefaultRole",
            ServiceRole="EMR_DefaultRole",
        )
        assert cluster["JobFlowId"].startswith("j-")
        athena = sandbox.boto3_client("athena")
        query_id = athena.start_query_execution(
            QueryString="SELECT 1", ResultConfiguration={"OutputLocation": "s3://svc-check/athena/"}
        )["QueryExecutionId"]
        assert athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Query"] == "SELECT 1"
        statement = sandbox.boto3_client("redshift-data").execute_statement(
            ClusterIdentifier="sales", Database="dev", DbUser="awsuser", Sql="SELECT 1"
        )
        assert (
            sandbox.boto3_client("redshift-data").describe_statement(Id=statement["Id"])["Id"]
            == statement["Id"]
        )
        sandbox.boto3_client("secretsmanager").create_secret(Name="sales/db", SecretString="s3cr3t")
        sandbox.boto3_client("ssm").put_parameter(Name="/sales/env", Value="dev", Type="String")
        assert sandbox.boto3_client("ssm").get_parameter(Name="/sales/env")["Parameter"]["Value"] == "dev"

    def test_aiobotocore_talks_to_the_same_server(self, sandbox):
        import asyncio

        from aiobotocore.session import get_session

        sandbox.boto3_client("s3").create_bucket(Bucket="async-check")
        sandbox.boto3_client("s3").put_object(Bucket="async-check", Key="a.csv", Body=b"x")

        async def list_keys() -> list[str]:
            session = get_session()
            async with session.create_client(
                "s3",
                endpoint_url=sandbox.aws_endpoint_url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            ) as client:
                response = await client.list_objects_v2(Bucket="async-check")
                return [o["Key"] for o in response["Contents"]]

        assert asyncio.run(list_keys()) == ["a.csv"]

    def test_reset_forgets_everything(self, sandbox):
        sandbox.boto3_client("s3").create_bucket(Bucket="to-forget")
        sandbox.reset_aws()
        assert sandbox.boto3_client("s3").list_buckets()["Buckets"] == []


class TestSlowObjects:
    """Fault tests slow a download so that a load stays inside its COPY (sandbox/slow_objects.py)."""

    def test_objects_under_the_prefix_stream_at_the_rate_and_others_do_not(self, sandbox):
        s3 = sandbox.boto3_client("s3")
        s3.create_bucket(Bucket="slow")
        s3.put_object(Bucket="slow", Key="daily/a.csv", Body=b"x" * 400)
        s3.put_object(Bucket="slow", Key="reference/b.csv", Body=b"y" * 400)
        sandbox.moto.set_slow_objects({"slow/daily/": 400})
        try:
            started = time.monotonic()
            assert s3.get_object(Bucket="slow", Key="daily/a.csv")["Body"].read() == b"x" * 400
            slowed = time.monotonic() - started
            started = time.monotonic()
            assert s3.get_object(Bucket="slow", Key="reference/b.csv")["Body"].read() == b"y" * 400
            other = time.monotonic() - started
            listing = s3.list_objects_v2(Bucket="slow", Prefix="daily/")["KeyCount"]
        finally:
            sandbox.moto.set_slow_objects({})
        assert slowed >= 0.9, slowed  # 400 bytes at 400 bytes per second
        assert other < slowed
        assert listing == 1
        started = time.monotonic()
        s3.get_object(Bucket="slow", Key="daily/a.csv")["Body"].read()
        assert time.monotonic() - started < slowed  # cleared: full speed again

    def test_a_bad_rule_is_refused(self, sandbox):
        with pytest.raises(urllib.error.HTTPError) as raised:
            sandbox.moto.set_slow_objects({"slow/": 0})
        assert raised.value.code == 400
