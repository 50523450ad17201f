"""Pure logic of the Athena report: request tokens, query-state decisions, CSV to JSON Lines.

Nothing here talks to AWS or imports Airflow; the hook and the operator call these functions, and
the unit tests exercise them directly.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

REPORT_FORMATS = ("csv", "jsonl")

RUNNING_STATES = ("QUEUED", "RUNNING")
FAILED_STATES = ("FAILED", "CANCELLED")
SUCCEEDED = "SUCCEEDED"

#: How many times a retry may walk past an execution that already ended FAILED/CANCELLED in an
#: earlier try (each hop derives the next token from the failed execution's id).
MAX_TOKEN_HOPS = 5


def client_request_token(dag_id: str, task_id: str, run_id: str, sql: str, *, map_index: int = -1) -> str:
    """The idempotency token Athena dedupes ``StartQueryExecution`` on (64 hex characters).

    Deterministic in the task instance and the rendered SQL: a retry of the same task instance with
    the same SQL gets the same token, so Athena returns the execution it already started instead of
    running (and billing) the query again. A changed SQL text gives a new token.
    """
    material = "\x1f".join(["athena-report/v1", dag_id, task_id, run_id, str(map_index), sql])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def next_client_request_token(token: str, failed_query_execution_id: str) -> str:
    """The token to use when the execution ``token`` maps to already ended FAILED or CANCELLED.

    Athena would hand back the failed execution for the old token for as long as it remembers it,
    which would make every retry fail at once; the next token is derived from the failed execution,
    so later retries walk the same chain and re-attach to the same new execution.
    """
    return hashlib.sha256(f"{token}\x1f{failed_query_execution_id}".encode()).hexdigest()


@dataclass(frozen=True)
class QueryStatus:
    """The parts of ``GetQueryExecution`` the report needs, read alike in the worker and the trigger."""

    query_execution_id: str
    state: str
    state_change_reason: str | None
    data_scanned_bytes: int
    engine_execution_time_ms: int
    output_location: str | None
    submitted_at: float | None

    @classmethod
    def from_response(cls, response: dict[str, Any]) -> QueryStatus:
        execution = response.get("QueryExecution") or {}
        status = execution.get("Status") or {}
        stats = execution.get("Statistics") or {}
        submitted = status.get("SubmissionDateTime")
        if submitted is not None and hasattr(submitted, "timestamp"):
            submitted = submitted.timestamp()
        return cls(
            query_execution_id=str(execution.get("QueryExecutionId", "")),
            state=str(status.get("State") or "UNKNOWN"),
            state_change_reason=status.get("StateChangeReason"),
            data_scanned_bytes=int(stats.get("DataScannedInBytes") or 0),
            engine_execution_time_ms=int(stats.get("EngineExecutionTimeInMillis") or 0),
            output_location=(execution.get("ResultConfiguration") or {}).get("OutputLocation"),
            submitted_at=float(submitted) if submitted is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryStatus:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]


# What a poll decides.
KEEP_WAITING = "running"
DONE = "success"
QUERY_FAILED = "failed"
COST_EXCEEDED = "cost_exceeded"


def decide(status: QueryStatus, max_bytes_scanned: int | None) -> str:
    """What to do after one poll: keep waiting, publish, fail, or stop the query for cost.

    The cost guard is checked first so a query that passed the limit is reported as such even when
    Athena finished it between two polls (it was billed for the bytes either way).
    """
    if max_bytes_scanned is not None and status.data_scanned_bytes > max_bytes_scanned:
        return COST_EXCEEDED
    if status.state == SUCCEEDED:
        return DONE
    if status.state in FAILED_STATES:
        return QUERY_FAILED
    return KEEP_WAITING


def failure_message(status: QueryStatus) -> str:
    reason = status.state_change_reason or "Athena gave no StateChangeReason"
    return f"Athena query {status.query_execution_id} ended {status.state}: {reason}"


def cost_message(status: QueryStatus, max_bytes_scanned: int) -> str:
    return (
        f"Athena query {status.query_execution_id} was stopped by the cost guard: it had scanned "
        f"{status.data_scanned_bytes:,} bytes ({_human(status.data_scanned_bytes)}), more than "
        f"max_bytes_scanned={max_bytes_scanned:,} bytes ({_human(max_bytes_scanned)}). Narrow the query "
        "(partition filter, fewer columns) or raise max_bytes_scanned."
    )


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"  # pragma: no cover


# --- Athena's result CSV -> records ---------------------------------------------------------------------

# One field of Athena's CSV: a quoted value ("" escapes a quote) or an unquoted run. Athena quotes
# every non-NULL value and writes NULL as an empty, unquoted field; that is how NULL and '' differ.
_FIELD = re.compile(r'"(?:[^"]|"")*"|[^,\r\n]*')


def _with_nulls(row: list[str], record_text: str) -> list[str | None]:
    """Re-read a record that has empty fields to tell NULL (unquoted) from '' (quoted)."""
    out: list[str | None] = []
    pos = 0
    for value in row:
        match = _FIELD.match(record_text, pos)
        token = match.group() if match else ""
        out.append(None if token == "" else value)
        pos = match.end() if match else pos
        if pos < len(record_text) and record_text[pos] == ",":
            pos += 1
    return out


def iter_csv_records(lines: Iterable[str]) -> Iterator[list[str | None]]:
    """Parse Athena's result CSV record by record (header included), NULL as ``None``.

    ``lines`` must keep their line endings (``newline=""``), as :mod:`csv` requires. Parsing is done by
    :mod:`csv` at C speed; only records with an empty field are looked at again, to recover NULLs.
    """
    raw: list[str] = []

    def remember() -> Iterator[str]:
        for line in lines:
            raw.append(line)
            yield line

    for row in csv.reader(remember(), strict=True):
        record: list[str | None] = _with_nulls(row, "".join(raw)) if "" in row else list(row)
        raw.clear()
        yield record


def iter_jsonl_lines(lines: Iterable[str]) -> Iterator[str]:
    """Turn Athena's result CSV into JSON Lines: one object per row, keyed by the header's column names.

    Values stay the text Athena wrote (Athena's own APIs return every value as text); NULL becomes
    ``null``. Each yielded string ends with a newline.
    """
    records = iter_csv_records(lines)
    header = next(records, None)
    if header is None:
        return
    names = [name or f"_col{i}" for i, name in enumerate(header)]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for record in records:
        yield dumps(dict(zip(names, record, strict=False))) + "\n"


def count_csv_rows(lines: Iterable[str]) -> int:
    """Data rows in Athena's result CSV (records minus the header), for quoted multi-line values too."""
    records = sum(1 for _ in csv.reader(lines, strict=True))
    return max(records - 1, 0)
