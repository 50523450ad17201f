"""Wait for a partition's files to finish landing in S3, without holding a worker slot.

.. seealso:: ``docs/s3-arrival.md`` (how-to, settle semantics, XCom contract).
"""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.arrival.settle import (
    DEFAULT_MAX_KEYS_IN_XCOM,
    ArrivalConfigError,
    ArrivalSpec,
    SettleTracker,
    Verdict,
    check_manifest_key,
    default_manifest_key,
    evaluate,
    exclude_loaded,
    fingerprint,
    ledger_target_name,
    manifest_folder,
)
from airflow_sales_provider.arrival.xcom import inline_xcom, manifest_document, manifest_xcom, needs_manifest
from airflow_sales_provider.compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    TaskDeferralError,
    conf,
    context_value,
)
from airflow_sales_provider.hooks.s3_arrival import S3ArrivalHook
from airflow_sales_provider.ledger import DEFAULT_LEDGER_TABLE, ledger_identifier
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_sales_provider.compat import Context

# Airflow's own deferral timeout is a backstop only: the trigger fires ``timeout`` itself at the
# deadline, which ends the task the same way as a synchronous timeout.
DEFERRAL_TIMEOUT_GRACE_SECONDS = 60.0
#: the ``next_method`` Airflow resumes a task with when its trigger failed or timed out.
TRIGGER_FAILED = "__fail__"


def _rendered_number(value: Any, kind: type) -> Any:
    """A templated number arrives as text (``"3"``) unless the DAG renders native objects: read it back.

    Anything that is not a plain number is returned as it is, for ``ArrivalSpec.validate`` to reject.
    """
    if isinstance(value, str):
        try:
            return kind(value.strip())
        except ValueError:
            return value
    return value


class S3ArrivalSensor(BaseSensorOperator):
    """Wait until a partition's files have arrived under an S3 prefix and stopped changing.

    Lists only under ``prefix`` (paginated ``ListObjectsV2``, never the whole bucket). It succeeds when at
    least ``min_files`` objects match ``pattern`` and ``min_size_bytes``, are not already in the loader's
    ledger for ``exclude_loaded_into``, and the matching set has not changed for ``settle_seconds``.
    The matched keys go to XCom for the loader:
    ``{"bucket", "prefix", "keys": [{"key", "size", "etag"}, ...]}``, or above ``max_keys_in_xcom`` keys
    ``{"bucket", "prefix", "manifest_uri", "key_count"}`` with the keys in a JSON manifest object.

    Deferrable (the wait runs in the triggerer, on aiobotocore); otherwise it runs in ``reschedule``
    mode by default, freeing its worker slot between pokes. Settling is judged from the objects'
    ``LastModified`` against the S3 server's clock, so it survives reschedules and triggerer restarts.
    ``timeout`` and ``soft_fail`` end the task the same way in both modes; a configuration error
    (invalid parameter, missing bucket, access denied) fails the task at once and is never skipped.

    .. seealso:: ``docs/s3-arrival.md``

    :param bucket: the bucket name (templated).
    :param prefix: the key prefix to wait under, e.g. ``daily/{{ ds }}/`` (templated).
    :param pattern: optional glob matched against the key relative to ``prefix``, e.g. ``*.csv``;
        ``*`` also matches ``/`` (templated).
    :param min_files: how many matching new files must be there (default 1; templated: a rendered
        string such as ``"3"`` is read as a number).
    :param min_size_bytes: files smaller than this do not count (default 0).
    :param settle_seconds: how long the set of matching keys, sizes and ETags must stay unchanged
        (default 60; 0 accepts as soon as ``min_files`` are there; templated like ``min_files``).
    :param exclude_loaded_into: target table (``table`` or ``schema.table``): files the loader's ledger
        already holds for it (same key and ETag) do not count and are not handed over (templated).
    :param warehouse_conn_id: the warehouse connection holding the ledger (templated).
    :param ledger_table: the ledger table, ``table`` or ``schema.table`` (templated).
    :param max_keys_in_xcom: above this many keys a manifest object is written and its URI returned.
    :param manifest_key: key (in ``bucket``) of that manifest; must be outside ``prefix``. Default
        ``<prefix without trailing />_manifests/<dag_id>/<task_id>/<run_id>.json`` (templated).
    :param aws_conn_id: the AWS connection (templated).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poke_interval: seconds between listings (default 60).
    :param mode: ``reschedule`` (default) or ``poke`` for the non-deferrable path.

    Of ``BaseSensorOperator``'s keyword arguments, two matter here: ``timeout``, the seconds before the
    sensor gives up (``AirflowSensorTimeout``, or skipped with ``soft_fail``; Airflow's sensor default is
    7 days), and ``soft_fail``, to skip instead of failing on timeout (never on a configuration error).
    """

    template_fields: Sequence[str] = (
        "bucket",
        "prefix",
        "pattern",
        "min_files",
        "settle_seconds",
        "exclude_loaded_into",
        "warehouse_conn_id",
        "ledger_table",
        "manifest_key",
        "aws_conn_id",
    )
    ui_color = "#d9ecf2"

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        pattern: str | None = None,
        min_files: int = 1,
        min_size_bytes: int = 0,
        settle_seconds: float = 60.0,
        exclude_loaded_into: str | None = None,
        warehouse_conn_id: str = "redshift_default",
        ledger_table: str = DEFAULT_LEDGER_TABLE,
        max_keys_in_xcom: int = DEFAULT_MAX_KEYS_IN_XCOM,
        manifest_key: str | None = None,
        aws_conn_id: str | None = "aws_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 60.0,
        mode: str = "reschedule",
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, mode=mode, **kwargs)
        self.bucket = bucket
        self.prefix = prefix
        self.pattern = pattern
        self.min_files = min_files
        self.min_size_bytes = min_size_bytes
        self.settle_seconds = settle_seconds
        self.exclude_loaded_into = exclude_loaded_into
        self.warehouse_conn_id = warehouse_conn_id
        self.ledger_table = ledger_table
        self.max_keys_in_xcom = max_keys_in_xcom
        self.manifest_key = manifest_key
        self.aws_conn_id = aws_conn_id
        self.deferrable = deferrable
        self._tracker = SettleTracker()
        self._first_look: Verdict | None = None

    @cached_property
    def hook(self) -> S3ArrivalHook:
        """Lists, reads the ledger and writes the manifest (the trigger builds the same hook)."""
        return S3ArrivalHook(
            aws_conn_id=self.aws_conn_id,
            warehouse_conn_id=self.warehouse_conn_id,
            ledger_table=self.ledger_table,
        )

    # -- configuration ---------------------------------------------------------------------------------
    def arrival_spec(self) -> ArrivalSpec:
        """The rendered parameters, validated; raises :class:`ArrivalConfigError` naming the bad one."""
        spec = ArrivalSpec(
            bucket=self.bucket,
            prefix=self.prefix,
            pattern=self.pattern or None,
            min_files=_rendered_number(self.min_files, int),
            min_size_bytes=self.min_size_bytes,
            settle_seconds=_rendered_number(self.settle_seconds, float),
            ignore_prefix=None,
        ).validate()
        if self.manifest_key is None:
            spec = dataclasses.replace(spec, ignore_prefix=manifest_folder(spec.prefix))
        else:
            check_manifest_key(self.manifest_key, spec.prefix)
        if (
            isinstance(self.max_keys_in_xcom, bool)
            or not isinstance(self.max_keys_in_xcom, int)
            or self.max_keys_in_xcom < 0
        ):
            raise ArrivalConfigError(
                f"max_keys_in_xcom must be an integer >= 0, got {self.max_keys_in_xcom!r}"
            )
        if self.exclude_loaded_into:
            ledger_target_name(self.exclude_loaded_into)
            try:
                ledger_identifier(self.ledger_table)
            except InvalidIdentifierError as exc:
                raise ArrivalConfigError(str(exc)) from exc
        return spec

    def resolved_manifest_key(self, context: Context) -> str:
        """``manifest_key`` if given, else the default next to the prefix for this task and run."""
        if self.manifest_key is not None:
            return self.manifest_key
        ti = context_value(context, "ti")
        dag_id = getattr(ti, "dag_id", None) or getattr(self, "dag_id", None) or "dag"
        run_id = context_value(context, "run_id") or getattr(ti, "run_id", None) or "manual"
        return default_manifest_key(self.prefix, str(dag_id), self.task_id, str(run_id))

    # -- the wait --------------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        # The first look runs here, outside Airflow's poke loop, so that a configuration error (bad
        # parameter, missing bucket, no access, unknown connection) fails the task at once whatever
        # soft_fail, never_fail or silent_fail say; files already there need no wait at all.
        try:
            spec = self.arrival_spec()
            self._tracker = SettleTracker()
            verdict = self._check(spec, read_ledger=True)
            if verdict.done:
                return self._hand_over(spec, verdict, self.resolved_manifest_key(context))
        except ArrivalConfigError as exc:
            raise AirflowFailException(str(exc)) from exc
        if not self.deferrable:
            self._first_look = verdict  # Airflow's loop starts from it instead of listing again
            return super().execute(context)
        from airflow_sales_provider.triggers.s3_arrival import S3ArrivalTrigger  # a DAG file never needs it

        self.log.info("Deferring: %s", verdict.reason)
        self.defer(
            trigger=S3ArrivalTrigger(
                bucket=spec.bucket,
                prefix=spec.prefix,
                pattern=spec.pattern,
                min_files=spec.min_files,
                min_size_bytes=spec.min_size_bytes,
                settle_seconds=float(spec.settle_seconds),
                ignore_prefix=spec.ignore_prefix,
                exclude_loaded_into=self.exclude_loaded_into or None,
                warehouse_conn_id=self.warehouse_conn_id,
                ledger_table=self.ledger_table,
                max_keys_in_xcom=self.max_keys_in_xcom,
                manifest_key=self.resolved_manifest_key(context),
                aws_conn_id=self.aws_conn_id,
                poke_interval=float(self.poke_interval),
                deadline=time.time() + float(self.timeout),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + DEFERRAL_TIMEOUT_GRACE_SECONDS),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One later look (``poke`` mode, after :meth:`execute`'s first): Airflow's sensor rules apply."""
        try:
            spec = self.arrival_spec()
            verdict, self._first_look = self._first_look or self._check(spec), None
            if not verdict.done:
                return False
            xcom = self._hand_over(spec, verdict, self.resolved_manifest_key(context))
        except ArrivalConfigError as exc:
            raise AirflowFailException(str(exc)) from exc
        return PokeReturnValue(is_done=True, xcom_value=xcom)

    def _check(self, spec: ArrivalSpec, *, read_ledger: bool = False) -> Verdict:
        """One listing under the prefix, judged by the same rules the trigger uses.

        ``read_ledger`` reads the ledger even before ``min_files`` match, so that a wrong warehouse
        connection shows on the first look, not when the files arrive.
        """
        listing, now = self.hook.list_objects(spec.bucket, spec.prefix)
        matched = spec.select(listing)
        new = matched
        if self.exclude_loaded_into and (read_ledger or len(matched) >= spec.min_files):
            target = ledger_target_name(self.exclude_loaded_into)
            new = exclude_loaded(matched, self.hook.loaded_objects(target, spec.bucket, spec.prefix))
        self._tracker.observe(fingerprint(matched), now)
        verdict = evaluate(spec, matched, new, now, self._tracker)
        self.log.info("s3://%s/%s: %s", spec.bucket, spec.prefix, verdict.reason)
        return verdict

    def _hand_over(self, spec: ArrivalSpec, verdict: Verdict, manifest_key: str) -> dict[str, Any]:
        objects = verdict.objects
        if not needs_manifest(objects, self.max_keys_in_xcom):
            return inline_xcom(spec.bucket, spec.prefix, objects)
        self.hook.put_manifest(spec.bucket, manifest_key, manifest_document(spec.bucket, objects))
        self.log.info("Wrote the manifest of %s keys to s3://%s/%s", len(objects), spec.bucket, manifest_key)
        return manifest_xcom(spec.bucket, spec.prefix, manifest_key, len(objects))

    # -- after the trigger -----------------------------------------------------------------------------
    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Finish from the trigger's event, ending in the same states as the synchronous path."""
        status = event.get("status") if isinstance(event, dict) else None
        if status == "success" and event is not None and isinstance(event.get("xcom"), dict):
            xcom = event["xcom"]
            self.log.info(
                "Files arrived under s3://%s/%s: %s",
                xcom.get("bucket"),
                xcom.get("prefix"),
                xcom.get("key_count", len(xcom.get("keys", ()))),
            )
            return xcom
        if status == "timeout" and event is not None:
            self._time_out(str(event.get("message")))
        if status == "error" and event is not None:
            if event.get("config_error"):
                raise AirflowFailException(str(event.get("message")))
            raise AirflowException(str(event.get("message")))
        raise AirflowException(f"S3ArrivalTrigger sent an unexpected event: {event!r}")

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after the trigger, ending in the states the synchronous path ends in.

        Airflow's sensor turns every failure after a deferral into a skip under ``soft_fail``; this
        sensor skips only on a timeout and fails a configuration error at once, deferred or not. So it
        resumes the way ``BaseOperator`` does, with its own reading of the trigger's failure.
        """
        kwargs = next_kwargs or {}
        if next_method != TRIGGER_FAILED:
            return getattr(self, next_method)(context, **kwargs)
        if kwargs.get("traceback"):
            self.log.error("Trigger failed:\n%s", "\n".join(kwargs["traceback"]))
        error = str(kwargs.get("error", "Unknown"))
        if (
            "timeout" in error.lower()
        ):  # Airflow's deferral timeout: "Trigger timeout" (3), ".../execution timeout" (2)
            self._time_out(f"Deferral timed out before the files arrived: {error}")
        raise TaskDeferralError(error)

    def _time_out(self, message: str) -> None:
        # Exactly what BaseSensorOperator.execute does on a synchronous timeout: soft_fail decides.
        if self.soft_fail:
            raise AirflowSkipException(f"{message} (soft_fail: skipping)")
        raise AirflowSensorTimeout(message)

    # -- OpenLineage (docs/lineage.md) -----------------------------------------------------------------
    def get_openlineage_facets_on_start(self) -> Any:
        """The watched prefix as an input dataset: ``s3://bucket`` / ``prefix``."""
        from airflow_sales_provider.lineage import s3_object
        from airflow_sales_provider.lineage.facets import dataset, openlineage_installed, operator_lineage

        if not openlineage_installed():
            return None
        return operator_lineage(inputs=[dataset(s3_object(self.bucket, self.prefix))])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return self.get_openlineage_facets_on_start()
