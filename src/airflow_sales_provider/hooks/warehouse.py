"""I/O for warehouse loads: S3 objects as streams, and the warehouse connection behind ``redshift_conn_id``.

:class:`S3SourceHook` lists, probes and streams S3 objects without holding a whole file in memory
(gzip is decompressed on the fly; JSON lines are converted to PostgreSQL's text COPY format row by row).
:func:`warehouse_hook_and_dialect` resolves a connection id the standard Airflow way
(``BaseHook.get_connection(conn_id).get_hook()``: PostgresHook for ``postgres``, RedshiftSQLHook for
``redshift``) and picks the SQL dialect from the connection type.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import re
import zlib
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.compat import BaseHook
from airflow_sales_provider.objects import Probe, S3Object, normalise_etag, split_s3_uri
from airflow_sales_provider.sql.dialects import dialect_for_conn_type

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from airflow_sales_provider.load.plan import LoadJob
    from airflow_sales_provider.sql.dialects import Dialect

__all__ = [
    "IterStream",
    "JsonLinesError",
    "Probe",
    "S3Object",
    "S3ObjectChangedError",
    "S3SourceHook",
    "copy_from_stream",
    "iter_lines",
    "json_lines_to_copy_text",
    "split_s3_uri",
    "warehouse_hook_and_dialect",
]

PROBE_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class S3ObjectChangedError(RuntimeError):
    """The object was overwritten between listing and loading."""


class S3SourceHook(BaseHook):
    """Read load sources from S3 through the amazon provider's S3Hook client.

    :param aws_conn_id: the AWS connection (``aws_default``).
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "Sales S3 load source"

    def __init__(self, aws_conn_id: str | None = default_conn_name) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id

    @cached_property
    def s3_hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id)

    @cached_property
    def client(self) -> Any:
        return self.s3_hook.get_conn()

    def get_conn(self) -> Any:
        return self.client

    # -- listing ---------------------------------------------------------------------------------------
    def list_objects(self, bucket: str, prefix: str, pattern: str | None = None) -> list[S3Object]:
        """Objects under ``prefix`` (optionally matching the glob ``pattern`` on the key), sorted by key."""
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/"):
                    continue
                if pattern and not fnmatch.fnmatchcase(key, pattern):
                    continue
                found.append(S3Object(key, int(item["Size"]), normalise_etag(item["ETag"])))
        return sorted(found, key=lambda o: o.key)

    def describe(self, bucket: str, obj: S3Object) -> S3Object:
        """Fill in size and ETag with a HEAD request when the caller only named the key."""
        if obj.size is not None and obj.etag:
            return S3Object(obj.key, int(obj.size), normalise_etag(obj.etag))
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=bucket, Key=obj.key)
        except ClientError as exc:
            raise FileNotFoundError(
                f"s3://{bucket}/{obj.key} does not exist or cannot be read: {exc}"
            ) from exc
        return S3Object(obj.key, int(head["ContentLength"]), normalise_etag(head["ETag"]))

    def read_json(self, uri: str) -> Any:
        bucket, key = split_s3_uri(uri)
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            return json.loads(body.read())
        finally:
            body.close()

    def put_json(self, uri: str, document: Any) -> None:
        bucket, key = split_s3_uri(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=json.dumps(document, indent=1).encode())

    def delete(self, uri: str) -> None:
        bucket, key = split_s3_uri(uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def read_json_if_exists(self, uri: str) -> Any | None:
        from botocore.exceptions import ClientError

        try:
            return self.read_json(uri)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    # -- probing and streaming -------------------------------------------------------------------------
    def probe_load(self, job: LoadJob, bucket: str, objects: Sequence[S3Object]) -> dict[str, Probe]:
        """:meth:`probe` each object of a load, checked against the job (compression, emptiness)."""
        if job.format.format == "parquet":
            return {}
        fmt = job.format
        probes = {
            o.key: self.probe(bucket, o, csv_header=job.csv_header, delimiter=fmt.delimiter, quote=fmt.quote)
            for o in objects
        }
        for key in job.check_probes(bucket, probes):
            self.log.warning("s3://%s/%s is empty: recorded as loaded with 0 rows", bucket, key)
        return probes

    def write_manifest(self, uri: str, bucket: str, objects: Sequence[S3Object]) -> str:
        """Write the COPY manifest naming exactly ``objects``; its URI."""
        from airflow_sales_provider.load.redshift import manifest_body

        self.put_json(uri, manifest_body(bucket, objects))
        return uri

    def probe(self, bucket: str, obj: S3Object, *, csv_header: bool, delimiter: str, quote: str) -> Probe:
        """Read the first bytes of an object (one ranged GET): compression, header, emptiness."""
        if obj.size == 0:
            return Probe(gzip=False, header=None, empty=True)
        response = self._get(bucket, obj, Range=f"bytes=0-{PROBE_BYTES - 1}")
        raw = response["Body"].read()
        whole = obj.size is not None and len(raw) >= obj.size
        is_gzip = raw[:2] == GZIP_MAGIC
        text_bytes = zlib.decompressobj(wbits=31).decompress(raw) if is_gzip else raw
        text = text_bytes.decode("utf-8", errors="replace").lstrip("\ufeff")
        lines = text.splitlines()
        if not whole and lines and not text.endswith(("\n", "\r")):
            lines = lines[:-1]  # the last line may be cut by the range
        header = None
        if csv_header and lines:
            header = next(csv.reader([lines[0]], delimiter=delimiter, quotechar=quote))
            header = [h.strip() for h in header]
        data_lines = [line for line in lines[1 if csv_header else 0 :] if line.strip()]
        empty = whole and not data_lines
        return Probe(gzip=is_gzip, header=header, empty=empty)

    def _get(self, bucket: str, obj: S3Object, **kwargs: Any) -> Any:
        """GET exactly the object version that was listed (``IfMatch`` on its ETag)."""
        from botocore.exceptions import ClientError

        if obj.etag:
            kwargs["IfMatch"] = f'"{obj.etag}"'
        try:
            return self.client.get_object(Bucket=bucket, Key=obj.key, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412"):
                raise S3ObjectChangedError(
                    f"s3://{bucket}/{obj.key} changed since it was listed "
                    f"(ETag {obj.etag} no longer matches): "
                    "rerun the task to load the new version"
                ) from None
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"s3://{bucket}/{obj.key} does not exist") from None
            raise

    def open_stream(self, bucket: str, obj: S3Object, *, gzip: bool) -> io.RawIOBase:
        """A file-like object over the object's bytes, decompressed on the fly when ``gzip``."""
        body = self._get(bucket, obj)["Body"]
        if gzip:
            return _GunzipStream(body)
        return body  # type: ignore[no-any-return]


class _GunzipStream(io.RawIOBase):
    """Decompress a (possibly multi-member) gzip stream chunk by chunk; memory stays at one chunk."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self._decompressor = zlib.decompressobj(wbits=31)
        self._buffer = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = CHUNK_BYTES if size is None or size < 0 else size
        while len(self._buffer) < size and not self._eof:
            chunk = self._body.read(CHUNK_BYTES)
            if not chunk:
                self._buffer += self._decompressor.flush()
                self._eof = True
                break
            data = self._decompressor.decompress(chunk)
            while self._decompressor.eof and self._decompressor.unused_data:  # next gzip member
                rest = self._decompressor.unused_data
                self._decompressor = zlib.decompressobj(wbits=31)
                data += self._decompressor.decompress(rest)
            self._buffer += data
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def close(self) -> None:
        self._body.close()
        super().close()


# -- JSON lines -> PostgreSQL text COPY format -------------------------------------------------------------
class JsonLinesError(ValueError):
    """A line of a JSON file is not a JSON object (carries the 1-based line number)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


_PATH_TOKEN = re.compile(r"\.([A-Za-z_$][\w$]*)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(\d+)\s*\]")


def compile_json_path(path: str) -> list[str | int]:
    """Parse a Redshift jsonpaths expression (``$.a.b``, ``$['a'][0]``) into steps."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise ValueError(f"jsonpath {path!r} must start with '$'")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _PATH_TOKEN.match(path, pos)
        if not match:
            raise ValueError(
                f"jsonpath {path!r} is not supported at position {pos}: use $.a.b, $['a'] or $.a[0]"
            )
        name, single, double, index = match.groups()
        steps.append(int(index) if index is not None else (name or single or double or ""))
        pos = match.end()
    return steps


def _extract(document: Any, steps: Sequence[str | int]) -> Any:
    for step in steps:
        if isinstance(step, int):
            if not isinstance(document, list) or step >= len(document):
                return None
        elif not isinstance(document, dict):
            return None
        document = document[step] if isinstance(step, int) else document.get(step)
        if document is None:
            return None
    return document


def _text_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def json_lines_to_copy_text(
    lines: Iterable[bytes], columns: Sequence[str], json_paths: Sequence[str] | None = None
) -> Iterator[bytes]:
    """Convert JSON lines to PostgreSQL text COPY rows, one output line per input object.

    With ``json_paths`` (one expression per column, in column order), values are extracted by path;
    otherwise by field name (exact, then case-insensitive), as Redshift's ``'auto'`` does.
    Blank lines are skipped; a line that is not a JSON object raises :class:`JsonLinesError`.
    """
    compiled = [compile_json_path(p) for p in json_paths] if json_paths is not None else None
    lowered = [c.lower() for c in columns]
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise JsonLinesError(number, f"invalid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise JsonLinesError(number, f"expected a JSON object, got {type(document).__name__}")
        if compiled is not None:
            values = [_extract(document, steps) for steps in compiled]
        else:
            folded = (
                {k.lower(): v for k, v in document.items()}
                if any(c not in document for c in columns)
                else None
            )
            values = [
                document[c] if c in document else (folded or {}).get(low)
                for c, low in zip(columns, lowered, strict=True)
            ]
        yield ("\t".join(_text_field(v) for v in values) + "\n").encode()


class IterStream(io.RawIOBase):
    """A read()-able stream over an iterator of byte chunks (what COPY FROM STDIN consumes)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        #: the exception the iterator raised (drivers wrap exceptions raised inside COPY's read()).
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = CHUNK_BYTES if size is None or size < 0 else size
        parts = [self._buffer]
        have = len(self._buffer)
        while have < size:
            try:
                chunk = next(self._chunks, None)
            except Exception as exc:
                self.error = exc
                raise
            if chunk is None:
                break
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        out, self._buffer = data[:size], data[size:]
        return out


def iter_lines(stream: Any) -> Iterator[bytes]:
    """Lines of a binary stream, read a chunk at a time."""
    pending = b""
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


# -- warehouse -----------------------------------------------------------------------------------------------
def warehouse_hook_and_dialect(conn_id: str) -> tuple[Any, Dialect]:
    """The connection's own hook (``Connection.get_hook()``) and the SQL dialect of its type."""
    connection = BaseHook.get_connection(conn_id)
    dialect = dialect_for_conn_type(connection.conn_type)
    return connection.get_hook(), dialect


def copy_from_stream(cursor: Any, sql: str, stream: Any) -> int:
    """Run ``COPY ... FROM STDIN`` feeding ``stream`` (psycopg2 or psycopg 3); return the row count."""
    if hasattr(cursor, "copy_expert"):  # psycopg2
        cursor.copy_expert(sql, stream, size=CHUNK_BYTES)
    else:  # psycopg 3
        with cursor.copy(sql) as copy:
            while chunk := stream.read(CHUNK_BYTES):
                copy.write(chunk)
    return int(cursor.rowcount)


def copy_to_stream(cursor: Any, sql: str, stream: Any) -> int:
    """Run ``COPY ... TO STDOUT`` writing into ``stream`` (psycopg2 or psycopg 3); return the row count.

    The data passes through in the driver's chunks: memory stays flat whatever the row count.
    """
    if hasattr(cursor, "copy_expert"):  # psycopg2
        cursor.copy_expert(sql, stream, size=CHUNK_BYTES)
    else:  # psycopg 3
        with cursor.copy(sql) as copy:
            for chunk in copy:
                stream.write(chunk)
    return int(cursor.rowcount)
