"""Athena + S3 I/O for the report operator, built on the amazon provider's AthenaHook and S3Hook.

Only what those hooks lack is written here: starting a query with an idempotency token and reading
its status in one call, a server-side copy of the result object, and streaming the result CSV into a
JSON Lines object by multipart upload (constant memory whatever the row count).
"""

from __future__ import annotations

import io
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.compat import BaseHook
from airflow_sales_provider.objects import parse_s3_uri
from airflow_sales_provider.reports.athena import (
    QueryStatus,
    count_csv_rows,
    iter_jsonl_lines,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow.providers.amazon.aws.hooks.athena import AthenaHook
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

#: First multipart part size for JSON Lines reports: S3's minimum (except for the last part), which
#: keeps the worker's peak memory low. Parts grow by this size every 1,000 parts, so S3's 10,000-part
#: limit still allows reports of about 270 GiB.
DEFAULT_PART_SIZE = 5 * 1024 * 1024
_PARTS_PER_STEP = 1000
_READ_BUFFER = 1024 * 1024


class AthenaReportHook(BaseHook):
    """Run an Athena query durably and publish its result object to S3.

    :param aws_conn_id: The Airflow AWS connection (its ``endpoint_url`` extra is honoured for both
        Athena and S3, as the amazon provider's hooks do).
    :param region_name: AWS region; defaults to the connection's.
    :param part_size: First multipart part size in bytes for JSON Lines reports (at least 5 MiB).
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "Amazon Athena report"

    def __init__(
        self,
        aws_conn_id: str | None = default_conn_name,
        region_name: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.part_size = max(part_size, 5 * 1024 * 1024)

    @cached_property
    def athena(self) -> AthenaHook:
        from airflow.providers.amazon.aws.hooks.athena import AthenaHook

        return AthenaHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    @cached_property
    def s3(self) -> S3Hook:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def get_conn(self) -> Any:
        """The Athena client (boto3)."""
        return self.athena.get_conn()

    # --- Athena --------------------------------------------------------------------------------------

    def start_query(
        self,
        sql: str,
        *,
        client_request_token: str,
        database: str | None,
        catalog: str,
        workgroup: str,
        output_location: str | None,
    ) -> str:
        """Start (or, for a token Athena has seen, re-attach to) a query; return its execution id."""
        context: dict[str, str] = {"Catalog": catalog}
        if database:
            context["Database"] = database
        result_configuration: dict[str, Any] = {}
        if output_location:
            result_configuration["OutputLocation"] = output_location
        return self.athena.run_query(
            query=sql,
            query_context=context,
            result_configuration=result_configuration,
            client_request_token=client_request_token,
            workgroup=workgroup,
        )

    def get_status(self, query_execution_id: str) -> QueryStatus:
        response = self.get_conn().get_query_execution(QueryExecutionId=query_execution_id)
        return QueryStatus.from_response(response)

    def stop_query(self, query_execution_id: str) -> None:
        self.athena.stop_query(query_execution_id)

    @staticmethod
    async def get_status_async(client: Any, query_execution_id: str) -> QueryStatus:
        """Same as :meth:`get_status` with an aiobotocore Athena client (used by the trigger)."""
        response = await client.get_query_execution(QueryExecutionId=query_execution_id)
        return QueryStatus.from_response(response)

    # --- S3 ------------------------------------------------------------------------------------------

    def copy_report(self, source_uri: str, target_uri: str, content_type: str = "text/csv") -> None:
        """Server-side copy (multipart UploadPartCopy above the managed-transfer threshold): no bytes
        pass through the worker."""
        src_bucket, src_key = parse_s3_uri(source_uri, "Athena result location")
        bucket, key = parse_s3_uri(target_uri, "report_s3_uri")
        self.s3.get_conn().copy(
            {"Bucket": src_bucket, "Key": src_key},
            bucket,
            key,
            ExtraArgs={"ContentType": content_type, "MetadataDirective": "REPLACE"},
        )

    def count_csv_rows(self, uri: str) -> int:
        """Data rows of a CSV object, read as a stream (memory stays flat)."""
        return count_csv_rows(self._open_text(uri, "Athena result location"))

    def write_jsonl_report(self, source_uri: str, target_uri: str) -> int:
        """Stream Athena's result CSV into a JSON Lines object by multipart upload; return the row count.

        At most one part (from ``part_size``) plus one read buffer is held in memory. If anything fails the
        multipart upload is aborted, so no partial report is ever visible at ``target_uri``.
        """
        bucket, key = parse_s3_uri(target_uri, "report_s3_uri")
        lines = iter_jsonl_lines(self._open_text(source_uri, "Athena result location"))
        return _upload_lines(self.s3.get_conn(), bucket, key, lines, self.part_size)

    def _open_text(self, uri: str, what: str) -> io.TextIOWrapper:
        bucket, key = parse_s3_uri(uri, what)
        body = self.s3.get_conn().get_object(Bucket=bucket, Key=key)["Body"]
        raw = io.BufferedReader(_BodyReader(body), buffer_size=_READ_BUFFER)
        return io.TextIOWrapper(raw, encoding="utf-8", newline="")


class _BodyReader(io.RawIOBase):
    """A botocore ``StreamingBody`` as a raw binary stream, so :mod:`io` can buffer and decode it."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._body.close()
        finally:
            super().close()


def _upload_lines(client: Any, bucket: str, key: str, lines: Iterable[str], part_size: int) -> int:
    """Upload text lines as one object, part by part; return how many lines were written.

    Lines are encoded straight into one reusable ``bytearray``: the only sizeable buffer is the part
    being filled (plus the read buffer upstream), whatever the number of rows.
    """
    rows = 0
    buffer = bytearray()
    upload_id: str | None = None
    parts: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal upload_id
        if upload_id is None:
            upload_id = client.create_multipart_upload(
                Bucket=bucket, Key=key, ContentType="application/x-ndjson"
            )["UploadId"]
        number = len(parts) + 1
        # The bytearray itself is the body (no copy); it is cleared only once the part is uploaded.
        part = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=buffer)
        parts.append({"ETag": part["ETag"], "PartNumber": number})
        buffer.clear()

    try:
        for line in lines:
            buffer += line.encode("utf-8")
            rows += 1
            if len(buffer) >= part_size * (1 + len(parts) // _PARTS_PER_STEP):
                flush()
        if upload_id is None:  # small report: one plain PUT
            client.put_object(Bucket=bucket, Key=key, Body=buffer, ContentType="application/x-ndjson")
            return rows
        if buffer:
            flush()
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        if upload_id is not None:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return rows
