"""The asynchronous wait of :class:`~airflow_sales_provider.sensors.s3_arrival.S3ArrivalSensor`.

:class:`S3ArrivalTrigger` lists only under the sensor's prefix (paginated ``ListObjectsV2`` through
aiobotocore, never the whole bucket), applies the same rules as the synchronous sensor
(:mod:`airflow_sales_provider.arrival.settle`), and fires one event: ``success`` with the XCom
value (keys inline, or the URI of a manifest it wrote), ``timeout``, or ``error`` (``config_error``
tells a misconfiguration, which must never be skipped, from a failure worth retrying).

All arrival triggers of one process share one aiobotocore client per AWS connection (reference
counted, closed when the last one finishes), so 500 waiting sensors hold one connection pool, not 500.
The ledger is read with the connection's own DB-API hook in a worker thread (``asyncio.to_thread``):
the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.arrival.settle import (
    ArrivalConfigError,
    ArrivalSpec,
    S3Object,
    SettleTracker,
    Verdict,
    describe_s3_error,
    evaluate,
    exclude_loaded,
    fingerprint,
    is_config_error,
    loaded_under_prefix,
    parse_http_date,
)
from airflow_sales_provider.arrival.xcom import inline_xcom, manifest_document, manifest_xcom, needs_manifest
from airflow_sales_provider.compat import BaseTrigger, TriggerEvent, aws_async_conn
from airflow_sales_provider.ledger import DEFAULT_LEDGER_TABLE, ledger_identifier, loaded_objects_sql
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError, parse_qualified

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

# Consecutive transient failures (throttling, 5xx, connection resets) tolerated before giving up.
MAX_TRANSIENT_FAILURES = 3
LIST_PAGE_SIZE = 1000


# -- shared I/O (the sensor uses the synchronous halves) -------------------------------------------------
def config_error_from(
    exc: BaseException, bucket: str, prefix: str, aws_conn_id: Any
) -> ArrivalConfigError | None:
    """An :class:`ArrivalConfigError` if ``exc`` means misconfiguration (missing bucket, no access, ...)."""
    if isinstance(exc, ArrivalConfigError):
        return exc
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code = error.get("Code")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if is_config_error(code, status):
            return ArrivalConfigError(
                describe_s3_error(code, error.get("Message"), bucket, prefix, aws_conn_id)
            )
        return None
    name = type(exc).__name__
    if name in {"NoCredentialsError", "PartialCredentialsError", "ParamValidationError", "NoRegionError"}:
        return ArrivalConfigError(describe_s3_error(name, str(exc), bucket, prefix, aws_conn_id))
    if name == "AirflowNotFoundException":  # the AWS connection id does not exist
        return ArrivalConfigError(f"AWS connection {aws_conn_id!r} is not defined: {exc}")
    return None


def list_objects_sync(
    client: Any, bucket: str, prefix: str, page_size: int = LIST_PAGE_SIZE
) -> tuple[list[S3Object], float]:
    """Every object under ``prefix`` (all pages) and the S3 server's time of the first page."""
    objects: list[S3Object] = []
    now: float | None = None
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
        if now is None:
            now = _server_time(page)
        objects.extend(S3Object.from_listing(row) for row in page.get("Contents", ()))
    return objects, now if now is not None else time.time()


async def list_objects_async(
    client: Any, bucket: str, prefix: str, page_size: int = LIST_PAGE_SIZE
) -> tuple[list[S3Object], float]:
    """:func:`list_objects_sync` on an aiobotocore client."""
    objects: list[S3Object] = []
    now: float | None = None
    paginator = client.get_paginator("list_objects_v2")
    async for page in paginator.paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}
    ):
        if now is None:
            now = _server_time(page)
        objects.extend(S3Object.from_listing(row) for row in page.get("Contents", ()))
    return objects, now if now is not None else time.time()


def _server_time(page: dict[str, Any]) -> float | None:
    headers = (page.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    return parse_http_date(headers.get("date"))


def ledger_target_name(exclude_loaded_into: str) -> str:
    """The target table as the loader's ledger names it: ``schema.table`` (or ``table``) unquoted."""
    try:
        schema, table = parse_qualified(exclude_loaded_into, "exclude_loaded_into")
    except InvalidIdentifierError as exc:
        raise ArrivalConfigError(str(exc)) from exc
    return f"{schema}.{table}" if schema else table


def read_loaded_objects(
    warehouse_conn_id: str, ledger_table: str, target_table: str, bucket: str, prefix: str
) -> frozenset[tuple[str, str]]:
    """``(key, etag)`` of objects under ``prefix`` the ledger holds for ``target_table`` (blocking).

    A ledger table that does not exist yet means nothing was loaded yet: an empty set.
    """
    from airflow_sales_provider.compat import BaseHook

    try:
        ledger = ledger_identifier(ledger_table)
    except InvalidIdentifierError as exc:
        raise ArrivalConfigError(str(exc)) from exc
    sql, parameters = loaded_objects_sql(ledger, target_table, bucket)
    try:
        hook = BaseHook.get_connection(warehouse_conn_id).get_hook()
    except Exception as exc:
        if type(exc).__name__ == "AirflowNotFoundException":
            raise ArrivalConfigError(f"warehouse connection {warehouse_conn_id!r} is not defined") from exc
        raise
    if not hasattr(hook, "get_records"):
        raise ArrivalConfigError(
            f"warehouse connection {warehouse_conn_id!r} ({type(hook).__name__}) is not a SQL connection"
        )
    try:
        rows = hook.get_records(sql, parameters)
    except Exception as exc:
        if _is_undefined_table(exc):
            return frozenset()
        raise
    return loaded_under_prefix(rows or (), prefix)


def _is_undefined_table(exc: BaseException) -> bool:
    """PostgreSQL and Redshift report a missing relation as SQLSTATE 42P01 (psycopg2, redshift_connector)."""
    if getattr(exc, "pgcode", None) == "42P01":
        return True
    text = str(exc)
    return "42P01" in text or ("relation" in text and "does not exist" in text)


# -- one aiobotocore client per connection, shared by the process's triggers -----------------------------
@dataclass
class _SharedClient:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    client: Any = None
    context: Any = None


_SHARED_CLIENTS: dict[tuple[int, str | None], _SharedClient] = {}


@contextlib.asynccontextmanager
async def shared_s3_client(aws_conn_id: str | None) -> AsyncIterator[Any]:
    """An aiobotocore S3 client for ``aws_conn_id`` shared by every caller on this event loop.

    Built the amazon provider's way (``S3Hook(aws_conn_id)``'s aiobotocore client: same endpoint, region,
    credentials and role assumption as the synchronous sensor), closed when its last user leaves.
    """
    key = (id(asyncio.get_running_loop()), aws_conn_id)
    entry = _SHARED_CLIENTS.get(key)
    if entry is None:
        entry = _SHARED_CLIENTS[key] = _SharedClient()
    entry.users += 1
    try:
        async with entry.lock:
            if entry.client is None:
                from airflow.providers.amazon.aws.hooks.s3 import S3Hook

                context = await aws_async_conn(S3Hook(aws_conn_id=aws_conn_id))
                entry.client = await context.__aenter__()
                entry.context = context
        yield entry.client
    finally:
        entry.users -= 1
        if entry.users == 0:
            if _SHARED_CLIENTS.get(key) is entry:
                del _SHARED_CLIENTS[key]
            if entry.context is not None:
                context, entry.context, entry.client = entry.context, None, None
                await context.__aexit__(None, None, None)


class S3ArrivalTrigger(BaseTrigger):
    """Wait until the files under ``prefix`` have arrived and settled, then fire once.

    :param bucket: the bucket name (rendered).
    :param prefix: only keys under this prefix are listed (rendered).
    :param pattern: optional glob against the key relative to the prefix.
    :param min_files: how many new matching objects are needed.
    :param min_size_bytes: smaller objects do not count.
    :param settle_seconds: how long the matching set must stay unchanged.
    :param ignore_prefix: keys under this prefix never count (the default manifest folder).
    :param exclude_loaded_into: target table whose ledger rows are skipped, or None.
    :param warehouse_conn_id: the warehouse connection holding the ledger.
    :param ledger_table: the ledger table (``table`` or ``schema.table``).
    :param max_keys_in_xcom: above this many keys, a manifest object is written instead.
    :param manifest_key: where that manifest goes (in ``bucket``).
    :param aws_conn_id: the AWS connection.
    :param poke_interval: seconds between listings.
    :param deadline: epoch seconds (worker clock) after which the trigger fires ``timeout``.
    """

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        pattern: str | None = None,
        min_files: int = 1,
        min_size_bytes: int = 0,
        settle_seconds: float = 0.0,
        ignore_prefix: str | None = None,
        exclude_loaded_into: str | None = None,
        warehouse_conn_id: str = "redshift_default",
        ledger_table: str = DEFAULT_LEDGER_TABLE,
        max_keys_in_xcom: int = 1000,
        manifest_key: str = "",
        aws_conn_id: str | None = "aws_default",
        poke_interval: float = 60.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.bucket = bucket
        self.prefix = prefix
        self.pattern = pattern
        self.min_files = min_files
        self.min_size_bytes = min_size_bytes
        self.settle_seconds = settle_seconds
        self.ignore_prefix = ignore_prefix
        self.exclude_loaded_into = exclude_loaded_into
        self.warehouse_conn_id = warehouse_conn_id
        self.ledger_table = ledger_table
        self.max_keys_in_xcom = max_keys_in_xcom
        self.manifest_key = manifest_key
        self.aws_conn_id = aws_conn_id
        self.poke_interval = poke_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "bucket": self.bucket,
                "prefix": self.prefix,
                "pattern": self.pattern,
                "min_files": self.min_files,
                "min_size_bytes": self.min_size_bytes,
                "settle_seconds": self.settle_seconds,
                "ignore_prefix": self.ignore_prefix,
                "exclude_loaded_into": self.exclude_loaded_into,
                "warehouse_conn_id": self.warehouse_conn_id,
                "ledger_table": self.ledger_table,
                "max_keys_in_xcom": self.max_keys_in_xcom,
                "manifest_key": self.manifest_key,
                "aws_conn_id": self.aws_conn_id,
                "poke_interval": self.poke_interval,
                "deadline": self.deadline,
            },
        )

    @property
    def spec(self) -> ArrivalSpec:
        return ArrivalSpec(
            bucket=self.bucket,
            prefix=self.prefix,
            pattern=self.pattern,
            min_files=self.min_files,
            min_size_bytes=self.min_size_bytes,
            settle_seconds=self.settle_seconds,
            ignore_prefix=self.ignore_prefix,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        where = f"s3://{self.bucket}/{self.prefix}"
        try:
            spec = self.spec.validate()
            target = ledger_target_name(self.exclude_loaded_into) if self.exclude_loaded_into else None
        except ArrivalConfigError as exc:
            yield self._error(str(exc), config_error=True)
            return
        tracker = SettleTracker()
        failures = 0
        last_state = "nothing listed yet"
        try:
            async with shared_s3_client(self.aws_conn_id) as client:
                while True:
                    try:
                        verdict = await self._poke(client, spec, target, tracker)
                        failures = 0
                        last_state = verdict.reason
                    except Exception as exc:
                        config_error = config_error_from(exc, self.bucket, self.prefix, self.aws_conn_id)
                        if config_error is not None:
                            yield self._error(str(config_error), config_error=True)
                            return
                        failures += 1
                        if failures > MAX_TRANSIENT_FAILURES:
                            yield self._error(f"Listing {where} failed {failures} times in a row: {exc!r}")
                            return
                        last_state = f"listing failed: {exc!r}"
                        self.log.warning(
                            "Listing %s failed (%s of %s tolerated): %r",
                            where,
                            failures,
                            MAX_TRANSIENT_FAILURES,
                            exc,
                        )
                    else:
                        self.log.info("%s: %s", where, verdict.reason)
                        if verdict.done:
                            yield TriggerEvent(
                                {"status": "success", "xcom": await self._hand_over(client, verdict)}
                            )
                            return
                    remaining = self._remaining()
                    if remaining is not None and remaining <= 0:
                        yield TriggerEvent(
                            {
                                "status": "timeout",
                                "message": f"Files under {where} did not arrive before the sensor's "
                                f"timeout; last state: {last_state}",
                            }
                        )
                        return
                    sleep_for = (
                        self.poke_interval if remaining is None else min(self.poke_interval, remaining)
                    )
                    await asyncio.sleep(max(sleep_for, 0.0))
        except Exception as exc:  # building the client failed (unknown connection, bad credentials config)
            config_error = config_error_from(exc, self.bucket, self.prefix, self.aws_conn_id)
            if config_error is not None:
                yield self._error(str(config_error), config_error=True)
            else:
                yield self._error(f"Waiting for {where} failed: {exc!r}")

    async def _poke(
        self, client: Any, spec: ArrivalSpec, target: str | None, tracker: SettleTracker
    ) -> Verdict:
        listing, now = await list_objects_async(client, spec.bucket, spec.prefix)
        matched = spec.select(listing)
        new = matched
        if target is not None and len(matched) >= spec.min_files:
            loaded = await asyncio.to_thread(
                read_loaded_objects,
                self.warehouse_conn_id,
                self.ledger_table,
                target,
                spec.bucket,
                spec.prefix,
            )
            new = exclude_loaded(matched, loaded)
        tracker.observe(fingerprint(matched), now)
        return evaluate(spec, matched, new, now, tracker)

    async def _hand_over(self, client: Any, verdict: Verdict) -> dict[str, Any]:
        objects = verdict.objects
        if not needs_manifest(objects, self.max_keys_in_xcom):
            return inline_xcom(self.bucket, self.prefix, objects)
        await client.put_object(
            Bucket=self.bucket,
            Key=self.manifest_key,
            Body=manifest_document(self.bucket, objects),
            ContentType="application/json",
        )
        self.log.info(
            "Wrote the manifest of %s keys to s3://%s/%s", len(objects), self.bucket, self.manifest_key
        )
        return manifest_xcom(self.bucket, self.prefix, self.manifest_key, len(objects))

    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()

    @staticmethod
    def _error(message: str, *, config_error: bool = False) -> TriggerEvent:
        return TriggerEvent({"status": "error", "config_error": config_error, "message": message})
