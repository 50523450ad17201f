"""One Athena query execution as the API reports it: state, statistics, result location."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from airflow_sales_provider.sandbox.athena.engine import Outcome, Scan, output_key
from airflow_sales_provider.sandbox.athena.sql import is_ddl

ENGINE_VERSION = {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"}
FINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass
class Execution:
    id: str
    query: str
    context: dict[str, str]
    workgroup: str
    output_location: str | None
    token: str | None
    region: str
    submitted: float = field(default_factory=time.time)
    state: str = "QUEUED"
    reason: str | None = None
    error_name: str | None = None
    user_error: bool = True
    started: float | None = None
    completed: float | None = None
    outcome: Outcome | None = None
    canned: dict[str, Any] | None = None
    scan: Scan = field(default_factory=Scan)
    polls: int = 0
    running_from_poll: int | None = None  # manual progression: the poll that first showed RUNNING

    def visible_state(self, polls_per_state: int | None) -> str:
        """The state a poll sees. With moto's manual progression QUEUED and RUNNING each last
        ``polls_per_state`` polls, and a query shows RUNNING only once the engine is done (so what
        RUNNING polls report, e.g. DataScannedInBytes, is final and tests need no timing). No state is
        skipped however long the engine takes."""
        if self.state == "CANCELLED" or not polls_per_state:
            return self.state
        if self.polls <= polls_per_state or self.state not in FINAL_STATES:
            return "QUEUED"
        if self.running_from_poll is None:
            self.running_from_poll = self.polls
        if self.polls - self.running_from_poll < polls_per_state:
            return "RUNNING"
        return self.state

    def describe(self, state: str) -> dict[str, Any]:
        """``GetQueryExecution``'s ``QueryExecution`` as seen in ``state``."""
        status: dict[str, Any] = {"State": state, "SubmissionDateTime": self.submitted}
        if state in FINAL_STATES:
            status["CompletionDateTime"] = self.completed or time.time()
            if self.reason:
                status["StateChangeReason"] = self.reason
            if state == "FAILED":
                status["AthenaError"] = {
                    "ErrorCategory": 2 if self.user_error else 1,  # USER / SYSTEM
                    "ErrorType": 1006 if self.user_error else 1001,
                    "Retryable": not self.user_error,
                    "ErrorMessage": self.reason or "",
                }
        ddl = is_ddl(self.query)
        described: dict[str, Any] = {
            "QueryExecutionId": self.id,
            "Query": self.query,
            "StatementType": "DDL" if ddl else "DML",
            "ResultConfiguration": {},
            "QueryExecutionContext": self.context,
            "Status": status,
            "Statistics": self.statistics(state),
            "WorkGroup": self.workgroup,
            "EngineVersion": ENGINE_VERSION,
        }
        if self.output_location:
            bucket, key = output_key(self.output_location, self.id, ".txt" if ddl else ".csv")
            described["ResultConfiguration"]["OutputLocation"] = f"s3://{bucket}/{key}"
        return described

    def statistics(self, state: str) -> dict[str, Any]:
        now = time.time()
        engine_ms = 0
        if self.started is not None and self.canned is None and state != "QUEUED":
            engine_ms = int(((self.completed or now) - self.started) * 1000)
        # Canned rows ran nothing: no bytes, no engine time (as moto reports them).
        scanned = 0 if state == "QUEUED" or self.canned is not None else self.scan.bytes_scanned
        return {
            "EngineExecutionTimeInMillis": engine_ms,
            "DataScannedInBytes": scanned,
            "TotalExecutionTimeInMillis": int(((self.completed or now) - self.submitted) * 1000),
            "QueryQueueTimeInMillis": int(((self.started or now) - self.submitted) * 1000),
            "ServicePreProcessingTimeInMillis": 0,
            "QueryPlanningTimeInMillis": 0,
            "ServiceProcessingTimeInMillis": 0,
        }
