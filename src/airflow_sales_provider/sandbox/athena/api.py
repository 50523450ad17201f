"""Athena's query API answered by the engine: executions, states, tokens, workgroups, result pages.

Every other Athena call (workgroups, named queries, data catalogs, ...) stays with moto; the engine
reads workgroups from there through the same endpoint.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.sandbox.athena.engine import Outcome, output_key, run_statement
from airflow_sales_provider.sandbox.athena.errors import AthenaQueryError, QueryCancelled
from airflow_sales_provider.sandbox.athena.executions import FINAL_STATES, Execution

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from airflow_sales_provider.sandbox.athena.catalog import Catalog

#: Queries run side by side; more wait QUEUED, as in an Athena account's concurrency quota.
QUERY_WORKERS = 4


class AthenaApiError(Exception):
    """An API-level error (HTTP 400), e.g. ``InvalidRequestException``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class AthenaApi:
    """The query half of Athena's API. ``clients(service, region)`` gives boto3 clients on the sandbox."""

    def __init__(
        self, clients: Callable[[str, str], Any], catalog_for: Callable[[str], Catalog], scratch: Path
    ):
        self._clients = clients
        self._catalog_for = catalog_for
        self._scratch = scratch
        self._lock = threading.RLock()
        self._executions: dict[str, Execution] = {}
        self._tokens: dict[str, str] = {}
        self._canned: list[dict[str, Any]] = []
        self._polls_per_state: int | None = None
        self._pool = ThreadPoolExecutor(QUERY_WORKERS, thread_name_prefix="athena-query")

    # --- sandbox controls -----------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            for execution in self._executions.values():
                execution.scan.cancelled.set()
            self._executions.clear()
            self._tokens.clear()
            self._canned.clear()
            self._polls_per_state = None

    def queue_canned_results(self, results: list[dict[str, Any]]) -> None:
        """moto's static-results API: each queued result answers the next query instead of running it."""
        with self._lock:
            self._canned.extend(results)

    def set_polls_per_state(self, times: int | None) -> None:
        """moto's manual state progression for ``athena::execution``: each state lasts ``times`` polls."""
        with self._lock:
            self._polls_per_state = times

    # --- dispatch ------------------------------------------------------------------------------------
    def handle(self, operation: str, body: dict[str, Any], region: str) -> dict[str, Any]:
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            raise KeyError(operation)
        return handler(body, region)  # type: ignore[no-any-return]

    HANDLED = (
        "StartQueryExecution",
        "GetQueryExecution",
        "BatchGetQueryExecution",
        "ListQueryExecutions",
        "GetQueryResults",
        "StopQueryExecution",
        "GetQueryRuntimeStatistics",
    )

    def _op_StartQueryExecution(self, body: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        query = body.get("QueryString") or ""
        if not query.strip():
            raise AthenaApiError("InvalidRequestException", "QueryString must not be empty")
        workgroup_name = body.get("WorkGroup") or "primary"
        workgroup = self._workgroup(workgroup_name, region)
        token = body.get("ClientRequestToken")
        config = workgroup.get("Configuration") or {}
        output = (body.get("ResultConfiguration") or {}).get("OutputLocation")
        wg_output = (config.get("ResultConfiguration") or {}).get("OutputLocation")
        if wg_output and (config.get("EnforceWorkGroupConfiguration") or not output):
            output = wg_output
        if not output:
            raise AthenaApiError(
                "InvalidRequestException",
                "No output location provided. An output location is required either through the Workgroup "
                "result configuration setting or as an API input.",
            )
        context = dict(body.get("QueryExecutionContext") or {})
        with self._lock:
            if token and token in self._tokens:
                known = self._executions.get(self._tokens[token])
                if known is not None:
                    if known.query != query:
                        raise AthenaApiError(
                            "InvalidRequestException",
                            "Idempotent parameters do not match: a query with this ClientRequestToken was "
                            "started with a different QueryString",
                        )
                    return {"QueryExecutionId": known.id}
            execution = Execution(
                id=str(uuid.uuid4()),
                query=query,
                context=context,
                workgroup=workgroup_name,
                output_location=output,
                token=token,
                region=region,
            )
            cutoff = config.get("BytesScannedCutoffPerQuery")
            execution.scan.cutoff = int(cutoff) if cutoff else None
            if self._canned:
                execution.canned = self._canned.pop(0)
            self._executions[execution.id] = execution
            if token:
                self._tokens[token] = execution.id
        self._pool.submit(self._run, execution)
        return {"QueryExecutionId": execution.id}

    def _workgroup(self, name: str, region: str) -> dict[str, Any]:
        athena = self._clients("athena", region)
        try:
            return dict(athena.get_work_group(WorkGroup=name)["WorkGroup"])
        except Exception as exc:
            if name == "primary":
                return {"Name": "primary", "Configuration": {}}
            raise AthenaApiError("InvalidRequestException", f"WorkGroup {name} is not found.") from exc

    def _op_GetQueryExecution(self, body: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        execution = self._get(body.get("QueryExecutionId"))
        with self._lock:
            execution.polls += 1
        return {"QueryExecution": self._describe(execution)}

    def _op_BatchGetQueryExecution(self, body: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        found, missing = [], []
        for qid in body.get("QueryExecutionIds") or []:
            execution = self._executions.get(qid)
            if execution is None:
                missing.append(
                    {"QueryExecutionId": qid, "ErrorCode": "INVALID_INPUT", "ErrorMessage": "not found"}
                )
            else:
                found.append(self._describe(execution))
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    def _op_ListQueryExecutions(self, body: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        workgroup = body.get("WorkGroup") or "primary"
        with self._lock:
            ids = [
                e.id
                for e in sorted(self._executions.values(), key=lambda e: e.submitted, reverse=True)
                if e.workgroup == workgroup or (workgroup == "primary" and "WorkGroup" not in body)
            ]
        start = int(_decode_token(body.get("NextToken")) or 0)
        size = int(body.get("MaxResults") or 50)
        page: dict[str, Any] = {"QueryExecutionIds": ids[start : start + size]}
        if start + size < len(ids):
            page["NextToken"] = _encode_token(str(start + size))
        return page

    def _op_StopQueryExecution(self, body: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        execution = self._get(body.get("QueryExecutionId"))
        with self._lock:
            if execution.visible_state(self._polls_per_state) not in FINAL_STATES:
                execution.state = "CANCELLED"
                execution.reason = None
                execution.completed = execution.completed or time.time()
                execution.scan.cancelled.set()
                connection = execution.scan.connection
                if connection is not None:
                    try:
                        connection.interrupt()
                    except Exception:
                        pass
        return {}

    def _op_GetQueryRuntimeStatistics(self, body: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        execution = self._get(body.get("QueryExecutionId"))
        rows = len(execution.outcome.rows) if execution.outcome else 0
        return {
            "QueryRuntimeStatistics": {
                "Timeline": execution.statistics(self._state(execution)),
                "Rows": {"OutputRows": rows},
            }
        }

    def _op_GetQueryResults(self, body: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        execution = self._get(body.get("QueryExecutionId"))
        state = self._state(execution)
        if state != "SUCCEEDED":
            if state == "FAILED":
                raise AthenaApiError("InvalidRequestException", execution.reason or "Query has failed")
            raise AthenaApiError(
                "InvalidRequestException", f"Query has not yet finished. Current state: {state}"
            )
        assert execution.outcome is not None
        outcome = execution.outcome
        size = min(int(body.get("MaxResults") or 1000), 1000)
        start = int(_decode_token(body.get("NextToken")) or 0)
        dml = outcome.statement_type == "DML"
        total = outcome.row_count if dml else 0
        page: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {
                "Rows": outcome.result_rows(start, size) if dml else [],
                "ResultSetMetadata": {"ColumnInfo": outcome.columns},
            },
        }
        if start + size < total:
            page["NextToken"] = _encode_token(str(start + size))
        return page

    def _state(self, execution: Execution) -> str:
        with self._lock:
            return execution.visible_state(self._polls_per_state)

    def _describe(self, execution: Execution) -> dict[str, Any]:
        with self._lock:
            return execution.describe(execution.visible_state(self._polls_per_state))

    def _get(self, query_execution_id: str | None) -> Execution:
        execution = self._executions.get(query_execution_id or "")
        if execution is None:
            raise AthenaApiError(
                "InvalidRequestException", f"QueryExecution {query_execution_id} was not found"
            )
        return execution

    # --- running ---------------------------------------------------------------------------------------
    def _run(self, execution: Execution) -> None:
        with self._lock:
            if execution.state != "QUEUED":
                return  # cancelled while queued
            execution.state = "RUNNING"
            execution.started = time.time()
        try:
            if execution.canned is not None:
                outcome = _canned_outcome(execution.canned)
            else:
                outcome = run_statement(
                    execution.query,
                    execution.context.get("Database"),
                    self._catalog_for(execution.region),
                    execution.scan,
                    self._scratch,
                )
            execution.scan.check()
            self._write_results(execution, outcome)
        except QueryCancelled:
            self._finish(execution, "CANCELLED", self._cutoff_reason(execution))
        except AthenaQueryError as exc:
            self._finish(execution, "FAILED", str(exc), error_name=exc.error_name, user_error=exc.user_error)
        except Exception as exc:  # an engine bug must end the query, never the server
            self._finish(
                execution, "FAILED", f"GENERIC_INTERNAL_ERROR: {type(exc).__name__}: {exc}", user_error=False
            )
        else:
            with self._lock:
                execution.outcome = outcome
            self._finish(execution, "SUCCEEDED", None)

    def _cutoff_reason(self, execution: Execution) -> str | None:
        if execution.scan.cutoff_hit:
            return (
                f"Query cancelled! : Bytes scanned limit was exceeded. The workgroup {execution.workgroup} "
                f"allows {execution.scan.cutoff:,} bytes per query (BytesScannedCutoffPerQuery)."
            )
        return None

    def _finish(self, execution: Execution, state: str, reason: str | None, **error: Any) -> None:
        with self._lock:
            if execution.state == "CANCELLED" and state != "CANCELLED":
                return  # stopped by the user meanwhile
            execution.state = state
            execution.reason = reason
            execution.error_name = error.get("error_name")
            execution.user_error = error.get("user_error", True)
            execution.completed = time.time()

    def _write_results(self, execution: Execution, outcome: Outcome) -> None:
        assert execution.output_location is not None
        s3 = self._clients("s3", execution.region)
        if outcome.statement_type == "DDL":
            bucket, key = output_key(execution.output_location, execution.id, ".txt")
            body = (outcome.text_output or "").encode()
        else:
            bucket, key = output_key(execution.output_location, execution.id, ".csv")
            body = outcome.csv()
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            if outcome.statement_type == "DML":
                metadata = json.dumps({"ColumnInfo": outcome.columns}).encode()
                s3.put_object(Bucket=bucket, Key=key + ".metadata", Body=metadata)
        except s3.exceptions.NoSuchBucket:
            raise AthenaQueryError(
                "INVALID_OUTPUT_LOCATION", f"Unable to verify/create output bucket {bucket}"
            ) from None


def _canned_outcome(canned: dict[str, Any]) -> Outcome:
    rows = [[cell.get("VarCharValue") for cell in row.get("Data", [])] for row in canned.get("rows") or []]
    return Outcome("DML", columns=list(canned.get("column_info") or []), rows=rows, header_in_rows=True)


def _encode_token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except Exception:
        raise AthenaApiError("InvalidRequestException", "NextToken is not valid") from None
