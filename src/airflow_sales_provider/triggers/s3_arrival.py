"""The asynchronous wait of :class:`~airflow_sales_provider.sensors.s3_arrival.S3ArrivalSensor`.

:class:`S3ArrivalTrigger` lists only under the sensor's prefix (paginated ``ListObjectsV2`` through
aiobotocore, never the whole bucket), applies the same rules as the synchronous sensor
(:mod:`airflow_sales_provider.arrival.settle`), and fires one event: ``success`` with the XCom
value (keys inline, or the URI of a manifest it wrote), ``timeout``, or ``error`` (``config_error``
tells a misconfiguration, which must never be skipped, from a failure worth retrying).

Its I/O is :class:`~airflow_sales_provider.hooks.s3_arrival.S3ArrivalHook`'s asynchronous half (one
aiobotocore client shared per AWS connection, the ledger read in a worker thread): this module only waits.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.arrival.settle import (
    ArrivalConfigError,
    ArrivalSpec,
    SettleTracker,
    Verdict,
    evaluate,
    exclude_loaded,
    fingerprint,
    ledger_target_name,
)
from airflow_sales_provider.arrival.xcom import inline_xcom, manifest_document, manifest_xcom, needs_manifest
from airflow_sales_provider.compat import BaseTrigger, TriggerEvent
from airflow_sales_provider.hooks.s3_arrival import (
    S3ArrivalHook,
    config_error_from,
    list_objects_async,
    list_objects_sync,
    poke_phase,
    read_loaded_objects,
    shared_s3_client,
)
from airflow_sales_provider.ledger import DEFAULT_LEDGER_TABLE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = [  # the I/O helpers moved to hooks/s3_arrival.py; importable from here for one release
    "S3ArrivalTrigger",
    "config_error_from",
    "ledger_target_name",
    "list_objects_async",
    "list_objects_sync",
    "read_loaded_objects",
    "shared_s3_client",
]

# Consecutive transient failures (throttling, 5xx, connection resets) tolerated before giving up.
MAX_TRANSIENT_FAILURES = 3


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
    def hook(self) -> S3ArrivalHook:
        """Built as the sensor builds it."""
        return S3ArrivalHook(
            aws_conn_id=self.aws_conn_id,
            warehouse_conn_id=self.warehouse_conn_id,
            ledger_table=self.ledger_table,
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
        logged: str | None = None
        hook = self.hook
        try:
            async with hook.shared_client() as client:
                while True:
                    try:
                        verdict = await self._poke(hook, client, spec, target, tracker)
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
                        if verdict.reason != logged:  # once per state, not once per poke
                            self.log.info("%s: %s", where, verdict.reason)
                            logged = verdict.reason
                        if verdict.done:
                            yield TriggerEvent(
                                {"status": "success", "xcom": await self._hand_over(hook, client, verdict)}
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
                    sleep_for = self._until_next_poke()
                    if remaining is not None:
                        sleep_for = min(sleep_for, remaining)
                    await asyncio.sleep(max(sleep_for, 0.0))
        except Exception as exc:  # building the client failed (unknown connection, bad credentials config)
            config_error = config_error_from(exc, self.bucket, self.prefix, self.aws_conn_id)
            if config_error is not None:
                yield self._error(str(config_error), config_error=True)
            else:
                yield self._error(f"Waiting for {where} failed: {exc!r}")

    async def _poke(
        self, hook: S3ArrivalHook, client: Any, spec: ArrivalSpec, target: str | None, tracker: SettleTracker
    ) -> Verdict:
        listing, now = await hook.list_objects_async(client, spec.bucket, spec.prefix)
        matched = spec.select(listing)
        new = matched
        if target is not None and len(matched) >= spec.min_files:
            new = exclude_loaded(matched, await hook.loaded_objects_async(target, spec.bucket, spec.prefix))
        tracker.observe(fingerprint(matched), now)
        return evaluate(spec, matched, new, now, tracker)

    async def _hand_over(self, hook: S3ArrivalHook, client: Any, verdict: Verdict) -> dict[str, Any]:
        objects = verdict.objects
        if not needs_manifest(objects, self.max_keys_in_xcom):
            return inline_xcom(self.bucket, self.prefix, objects)
        body = manifest_document(self.bucket, objects)
        await hook.put_manifest_async(client, self.bucket, self.manifest_key, body)
        self.log.info(
            "Wrote the manifest of %s keys to s3://%s/%s", len(objects), self.bucket, self.manifest_key
        )
        return manifest_xcom(self.bucket, self.prefix, self.manifest_key, len(objects))

    def _until_next_poke(self) -> float:
        """Seconds to this prefix's next poke moment: at most ``poke_interval``, and the same moments for
        every trigger on the same prefix, so their listings coalesce (``hooks.s3_arrival.shared_listing``).
        """
        interval = float(self.poke_interval)
        if interval <= 0:
            return 0.0
        phase = poke_phase(self.bucket, self.prefix, interval)
        wait = interval - ((asyncio.get_running_loop().time() - phase) % interval)
        return wait if wait > 1e-3 else interval

    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()

    @staticmethod
    def _error(message: str, *, config_error: bool = False) -> TriggerEvent:
        return TriggerEvent({"status": "error", "config_error": config_error, "message": message})
