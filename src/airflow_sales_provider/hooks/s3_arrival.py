"""I/O of the S3 arrival wait, sync and async: listing under a prefix, the ledger read, the manifest.

:class:`S3ArrivalHook` is used by :class:`~airflow_sales_provider.sensors.s3_arrival.S3ArrivalSensor`
(synchronous pokes) and :class:`~airflow_sales_provider.triggers.s3_arrival.S3ArrivalTrigger` (the
asynchronous wait), so both list, read the ledger and write the manifest the same way; what counts as
"arrived" is the pure :mod:`airflow_sales_provider.arrival.settle`.

All arrival triggers of one process share one aiobotocore client per AWS connection (reference
counted, closed when the last one finishes), so 500 waiting sensors hold one connection pool, not 500.
The ledger is read with the connection's own DB-API hook in a worker thread (``asyncio.to_thread``):
the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.arrival.settle import (
    ArrivalConfigError,
    describe_s3_error,
    is_config_error,
    loaded_under_prefix,
    parse_http_date,
)
from airflow_sales_provider.compat import AirflowNotFoundException, BaseHook, aws_async_conn
from airflow_sales_provider.ledger import DEFAULT_LEDGER_TABLE, ledger_identifier, loaded_objects_sql
from airflow_sales_provider.objects import S3Object
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

LIST_PAGE_SIZE = 1000
#: SQLSTATE of "relation does not exist" (PostgreSQL and Redshift): the ledger is not created yet.
UNDEFINED_TABLE = "42P01"


class S3ArrivalHook(BaseHook):
    """List a prefix, read the loader's ledger, and write the hand-over manifest.

    :param aws_conn_id: the AWS connection (``aws_default``).
    :param warehouse_conn_id: the warehouse connection holding the ledger.
    :param ledger_table: the ledger table, ``table`` or ``schema.table``.
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "Sales S3 arrival"

    def __init__(
        self,
        aws_conn_id: str | None = default_conn_name,
        warehouse_conn_id: str = "redshift_default",
        ledger_table: str = DEFAULT_LEDGER_TABLE,
    ) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.ledger_table = ledger_table

    @cached_property
    def s3_hook(self) -> Any:
        """The amazon provider's S3Hook (endpoint, region, role from the connection)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id)

    def get_conn(self) -> Any:
        return self.s3_hook.get_conn()

    # -- synchronous (the sensor) ------------------------------------------------------------------------
    def list_objects(self, bucket: str, prefix: str) -> tuple[list[S3Object], float]:
        """Every object under ``prefix`` and the S3 server's time; misconfiguration as ArrivalConfigError."""
        with self.config_errors(bucket, prefix):
            return list_objects_sync(self.get_conn(), bucket, prefix)

    def put_manifest(self, bucket: str, key: str, body: bytes) -> None:
        with self.config_errors(bucket, key):
            self.get_conn().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    def loaded_objects(self, target_table: str, bucket: str, prefix: str) -> frozenset[tuple[str, str]]:
        """``(key, etag)`` of objects under ``prefix`` the ledger holds for ``target_table`` (blocking)."""
        return read_loaded_objects(self.warehouse_conn_id, self.ledger_table, target_table, bucket, prefix)

    @contextlib.contextmanager
    def config_errors(self, bucket: str, where: str) -> Any:
        """Re-raise an S3 error that means misconfiguration as :class:`ArrivalConfigError`."""
        try:
            yield
        except Exception as exc:
            config_error = config_error_from(exc, bucket, where, self.aws_conn_id)
            if config_error is not None and config_error is not exc:
                raise config_error from exc
            raise

    # -- asynchronous (the trigger) ----------------------------------------------------------------------
    def shared_client(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """The process's shared aiobotocore S3 client for this connection (see :func:`shared_s3_client`)."""
        return shared_s3_client(self.aws_conn_id)

    async def list_objects_async(self, client: Any, bucket: str, prefix: str) -> tuple[list[S3Object], float]:
        """One listing, shared with every trigger of this event loop that asks for the same one meanwhile."""
        return await shared_listing(client, self.aws_conn_id, bucket, prefix)

    async def loaded_objects_async(
        self, target_table: str, bucket: str, prefix: str
    ) -> frozenset[tuple[str, str]]:
        """:meth:`loaded_objects` in a worker thread: the DB-API driver blocks, the event loop must not."""
        return await asyncio.to_thread(self.loaded_objects, target_table, bucket, prefix)

    async def put_manifest_async(self, client: Any, bucket: str, key: str, body: bytes) -> None:
        await client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def config_error_from(
    exc: BaseException, bucket: str, prefix: str, aws_conn_id: Any
) -> ArrivalConfigError | None:
    """An :class:`ArrivalConfigError` if ``exc`` means misconfiguration (missing bucket, no access, ...)."""
    from botocore.exceptions import (
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
    )

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
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, ParamValidationError, NoRegionError)):
        name = type(exc).__name__
        return ArrivalConfigError(describe_s3_error(name, str(exc), bucket, prefix, aws_conn_id))
    if isinstance(exc, AirflowNotFoundException):  # the AWS connection id does not exist
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
    """:func:`list_objects_sync` on an aiobotocore client.

    Calls ``list_objects_v2`` page by page itself rather than through a paginator: a waiting trigger
    lists an (often empty) prefix every poke, and building a paginator each time is measurable when
    hundreds of triggers share one triggerer (``benchmarks/triggerer_scale.py``).
    """
    objects: list[S3Object] = []
    now: float | None = None
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
    while True:
        page = await client.list_objects_v2(**request)
        if now is None:
            now = _server_time(page)
        objects.extend(S3Object.from_listing(row) for row in page.get("Contents", ()))
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            break
        request["ContinuationToken"] = token
    return objects, now if now is not None else time.time()


def _server_time(page: dict[str, Any]) -> float | None:
    headers = (page.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    return parse_http_date(headers.get("date"))


def read_loaded_objects(
    warehouse_conn_id: str, ledger_table: str, target_table: str, bucket: str, prefix: str
) -> frozenset[tuple[str, str]]:
    """``(key, etag)`` of objects under ``prefix`` the ledger holds for ``target_table`` (blocking).

    A ledger table that does not exist yet means nothing was loaded yet: an empty set.
    """
    try:
        ledger = ledger_identifier(ledger_table)
    except InvalidIdentifierError as exc:
        raise ArrivalConfigError(str(exc)) from exc
    sql, parameters = loaded_objects_sql(ledger, target_table, bucket)
    try:
        hook = BaseHook.get_connection(warehouse_conn_id).get_hook()
    except AirflowNotFoundException as exc:
        raise ArrivalConfigError(f"warehouse connection {warehouse_conn_id!r} is not defined") from exc
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
    if getattr(exc, "pgcode", None) == UNDEFINED_TABLE or getattr(exc, "sqlstate", None) == UNDEFINED_TABLE:
        return True
    text = str(exc)
    return UNDEFINED_TABLE in text or ("relation" in text and "does not exist" in text)


# -- one listing in flight per (connection, bucket, prefix), shared by the process's triggers -------------
_LISTINGS: dict[tuple[int, str | None, str, str], asyncio.Task[tuple[list[S3Object], float]]] = {}


async def shared_listing(
    client: Any, aws_conn_id: str | None, bucket: str, prefix: str
) -> tuple[list[S3Object], float]:
    """:func:`list_objects_async`, coalesced: callers on this event loop asking for the same connection,
    bucket and prefix while a listing is in flight get that listing instead of sending their own.

    The listing runs as its own task and each caller awaits it through :func:`asyncio.shield`, so a
    cancelled trigger never cancels a listing others wait for. Each caller gets its own list. A listing
    is reused only while it is in flight, so no caller sees one older than its own request.
    """
    key = (id(asyncio.get_running_loop()), aws_conn_id, bucket, prefix)
    task = _LISTINGS.get(key)
    if task is None or task.done():
        task = asyncio.ensure_future(list_objects_async(client, bucket, prefix))
        _LISTINGS[key] = task

        def forget(done: asyncio.Task[Any], key: tuple[int, str | None, str, str] = key) -> None:
            if _LISTINGS.get(key) is done:
                del _LISTINGS[key]
            if not done.cancelled():
                done.exception()  # retrieved: an error nobody awaited any more is not logged as lost

        task.add_done_callback(forget)
    objects, now = await asyncio.shield(task)
    return list(objects), now


def poke_phase(bucket: str, prefix: str, poke_interval: float) -> float:
    """Where in each ``poke_interval`` the triggers of one prefix poke (seconds, on the loop's clock).

    Triggers waiting on the same prefix poke at the same moments, so their listings coalesce
    (:func:`shared_listing`); different prefixes are spread over the interval instead of all at once.
    """
    return (zlib.crc32(f"{bucket}/{prefix}".encode()) / 2**32) * poke_interval


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
