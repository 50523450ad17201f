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
import json
import threading
import zlib
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.arrival.xcom import parse_s3_keys
from airflow_sales_provider.compat import BaseHook
from airflow_sales_provider.load.streams import (
    CHUNK_BYTES,
    GunzipStream,
    IterStream,
    JsonLinesError,
    compile_json_path,
    iter_lines,
    json_lines_to_copy_text,
)
from airflow_sales_provider.load.timing import SetupTimes, gc_paused
from airflow_sales_provider.objects import Probe, S3Object, normalise_etag, split_s3_uri
from airflow_sales_provider.sql.dialects import dialect_for_conn_type
from airflow_sales_provider.sql.load import LoadConfigError

if TYPE_CHECKING:
    import io
    from collections.abc import Sequence

    from airflow_sales_provider.load.plan import LoadJob
    from airflow_sales_provider.sql.dialects import Dialect

__all__ = [
    "IterStream",
    "JsonLinesError",
    "Probe",
    "S3Object",
    "S3ObjectChangedError",
    "S3SourceHook",
    "compile_json_path",
    "copy_from_stream",
    "iter_lines",
    "json_lines_to_copy_text",
    "split_s3_uri",
    "warehouse_hook_and_dialect",
]

PROBE_BYTES = 64 * 1024
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
        #: set-up seconds per phase (a load hook shares its own; docs/redshift-load.md#performance)
        self.setup = SetupTimes()
        self._client_thread: threading.Thread | None = None
        self._client_made: list[Any] = []
        #: the first bytes of objects :meth:`describe` read, by (bucket, key, etag): the probe reuses them
        self._first_bytes: dict[tuple[str, str, str], bytes] = {}

    @cached_property
    def s3_hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id)

    def prepare(self) -> None:
        """Start making the S3 client on a helper thread (boto3 reads the S3 model: CPU, 0.1-0.5 s).

        The connection is read here, on the calling thread; only the client is made on the helper,
        overlapping the warehouse's connection and catalog reads. :attr:`client` waits for it.
        """
        if "client" in self.__dict__ or self._client_thread is not None:
            return
        with self.setup.phase("S3 client"):
            self.s3_hook.conn_config  # noqa: B018 - the connection lookup stays on this thread

        def make() -> None:
            try:
                with self.setup.phase("S3 client"), gc_paused():
                    self._client_made.append(self.s3_hook.get_conn())
            except BaseException as exc:  # raised again on the calling thread by `client`
                self._client_made.append(exc)

        self._client_thread = threading.Thread(target=make, name="sales-load-s3-client", daemon=True)
        self._client_thread.start()

    @cached_property
    def client(self) -> Any:
        if self._client_thread is None:
            with self.setup.phase("S3 client"), gc_paused():
                return self.s3_hook.get_conn()
        self._client_thread.join()
        made = self._client_made[0]
        if isinstance(made, BaseException):
            raise made
        return made

    def get_conn(self) -> Any:
        return self.client

    def copy_role(self, iam_role_arn: str | None) -> str:
        """The IAM role Redshift's COPY reads S3 with: ``iam_role_arn``, else the connection's role."""
        if iam_role_arn:
            return iam_role_arn
        if self.aws_conn_id:
            role = self.get_connection(self.aws_conn_id).extra_dejson.get("role_arn")
            if role:
                return str(role)
        raise LoadConfigError(
            "Redshift COPY needs iam_role_arn (or a 'role_arn' extra on the AWS connection): "
            "access keys are never written into COPY SQL"
        )

    # -- listing ---------------------------------------------------------------------------------------
    def list_objects(self, bucket: str, prefix: str, pattern: str | None = None) -> list[S3Object]:
        """Objects under ``prefix`` (optionally matching the glob ``pattern`` on the key), sorted by key."""
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        with self.setup.phase("listing"):
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
        """Fill in size and ETag when the caller only named the key.

        One ranged GET of the first bytes (not a HEAD): its ETag and size describe the object, and the
        bytes are kept for :meth:`probe`, which then needs no request of its own.
        """
        if obj.size is not None and obj.etag:
            return S3Object(obj.key, int(obj.size), normalise_etag(obj.etag))
        from botocore.exceptions import ClientError

        client = self.client
        with self.setup.phase("listing"):
            try:
                response = client.get_object(Bucket=bucket, Key=obj.key, Range=f"bytes=0-{PROBE_BYTES - 1}")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "InvalidRange":  # an empty object
                    raise FileNotFoundError(
                        f"s3://{bucket}/{obj.key} does not exist or cannot be read: {exc}"
                    ) from exc
                head = client.head_object(Bucket=bucket, Key=obj.key)
                return S3Object(obj.key, int(head["ContentLength"]), normalise_etag(head["ETag"]))
            etag = normalise_etag(response["ETag"])
            total = str(response.get("ContentRange") or "").rpartition("/")[2]
            size = int(total) if total.isdigit() else int(response["ContentLength"])
            self._first_bytes[(bucket, obj.key, etag)] = response["Body"].read()
        return S3Object(obj.key, size, etag)

    def resolve(
        self, bucket: str | None, s3_keys: Any, s3_prefix: str | None, pattern: str | None
    ) -> tuple[str, list[S3Object]]:
        """The bucket and the described, de-duplicated objects the loader's options select.

        :param s3_keys: keys, ``{"key","size","etag"}`` dicts, or the arrival sensor's XCom (a manifest
            object's keys when the sensor wrote one); wins over ``s3_prefix``.
        """
        if s3_keys not in (None, "", []):
            selection = parse_s3_keys(s3_keys)
            if selection.bucket and bucket and selection.bucket != bucket:
                raise LoadConfigError(
                    f"s3_keys names bucket {selection.bucket!r} but s3_bucket is {bucket!r}"
                )
            bucket = selection.bucket or bucket
            objects = selection.objects
            if selection.manifest_uri:
                with self.setup.phase("listing"):
                    manifest = self.read_json(selection.manifest_uri)
                bucket = manifest.get("bucket") or bucket
                objects = parse_s3_keys(manifest.get("keys", [])).objects
            if not objects:
                return bucket or "", []
        elif s3_prefix is not None:
            if not bucket:
                raise LoadConfigError("s3_prefix needs s3_bucket")
            objects = self.list_objects(bucket, s3_prefix, pattern)
        else:
            raise LoadConfigError("give s3_keys (a list or the arrival sensor's XCom) or s3_prefix")
        if not bucket:
            raise LoadConfigError("no bucket: set s3_bucket")
        unique: dict[str, S3Object] = {}
        for obj in objects:
            unique.setdefault(obj.key, obj)
        return bucket, [self.describe(bucket, obj) for obj in unique.values()]

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
        with self.setup.phase("probes"):
            probes = {
                o.key: self.probe(
                    bucket, o, csv_header=job.csv_header, delimiter=fmt.delimiter, quote=fmt.quote
                )
                for o in objects
            }
        for key in job.check_probes(bucket, probes):
            self.log.warning("s3://%s/%s is empty: recorded as loaded with 0 rows", bucket, key)
        return probes

    def json_paths(self, job: LoadJob, columns: Sequence[str]) -> list[str] | None:
        """The jsonpaths file's paths, one per column (``None``: ``json_paths="auto"`` or not JSON)."""
        if job.format.format != "json" or job.format.json_paths == "auto":
            return None
        document = self.read_json(job.format.json_paths)
        paths = document.get("jsonpaths") if isinstance(document, dict) else None
        if not isinstance(paths, list) or len(paths) != len(columns):
            raise LoadConfigError(
                f"jsonpaths file {job.format.json_paths} must hold {{'jsonpaths': [...]}} with one path per "
                f"column ({len(columns)}: {list(columns)}), "
                f"got {len(paths) if isinstance(paths, list) else paths!r}"
            )
        return [str(p) for p in paths]

    def write_manifest(self, uri: str, bucket: str, objects: Sequence[S3Object]) -> str:
        """Write the COPY manifest naming exactly ``objects``; its URI."""
        from airflow_sales_provider.load.redshift import manifest_body

        self.put_json(uri, manifest_body(bucket, objects))
        return uri

    def probe(self, bucket: str, obj: S3Object, *, csv_header: bool, delimiter: str, quote: str) -> Probe:
        """Read the first bytes of an object (one ranged GET): compression, header, emptiness."""
        if obj.size == 0:
            return Probe(gzip=False, header=None, empty=True)
        raw = self._first_bytes.pop((bucket, obj.key, obj.etag or ""), None)
        if raw is None:
            raw = self._get(bucket, obj, Range=f"bytes=0-{PROBE_BYTES - 1}")["Body"].read()
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
            return GunzipStream(body)
        return body  # type: ignore[no-any-return]


# -- warehouse -----------------------------------------------------------------------------------------------
#: the hook ``Connection.get_hook()`` returns for each warehouse dialect: (module, class, conn id argument)
_WAREHOUSE_HOOKS = {
    "postgres": ("airflow.providers.postgres.hooks.postgres", "PostgresHook", "postgres_conn_id"),
    "redshift": ("airflow.providers.amazon.aws.hooks.redshift_sql", "RedshiftSQLHook", "redshift_conn_id"),
}


def warehouse_hook_and_dialect(conn_id: str) -> tuple[Any, Dialect]:
    """The connection's own hook (the class ``Connection.get_hook()`` picks) and its type's SQL dialect.

    The hook class is named here rather than looked up through ``get_hook()``: that lookup first
    loads every installed provider's hook list (``ProvidersManager``), a fixed 0.1-0.5 s per task.
    """
    import importlib

    connection = BaseHook.get_connection(conn_id)
    dialect = dialect_for_conn_type(connection.conn_type)
    module, name, argument = _WAREHOUSE_HOOKS[dialect.name]
    hook_class = getattr(importlib.import_module(module), name)
    return hook_class(**{argument: conn_id}), dialect


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
