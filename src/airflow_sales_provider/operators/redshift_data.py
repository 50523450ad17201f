"""The loader's Redshift Data API path: one batch statement, durable across retries and deferrable.

A mixin of :class:`~airflow_sales_provider.operators.redshift_load.RedshiftLoadOperator`
(``method="data_api"``): it submits the load through
:class:`~airflow_sales_provider.hooks.redshift_data.RedshiftDataLoadHook`, records the statement id next
to the manifest so a retry re-attaches instead of loading twice, and waits in the worker or, with
``deferrable=True``, in the triggerer
(:class:`~airflow_sales_provider.triggers.redshift_data.RedshiftLoadTrigger`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from airflow_sales_provider.arrival.xcom import parse_s3_keys
from airflow_sales_provider.hooks.redshift_load import LoadError
from airflow_sales_provider.load.plan import LoadResult
from airflow_sales_provider.load.redshift import RUNNING_STATES, data_api_failure, manifest_base, rows_loaded

if TYPE_CHECKING:
    from airflow_sales_provider.compat import Context
    from airflow_sales_provider.load.plan import LoadJob, RunInfo
    from airflow_sales_provider.objects import S3Object


class RedshiftDataLoadMixin:
    """``execute_complete`` and the Data API submission, re-attachment and wait of the loader."""

    s3_bucket: str | None
    s3_keys: Any
    manifest_prefix: str | None
    force_reload: bool
    deferrable: bool
    poll_interval: float
    aws_conn_id: str | None
    region: str | None
    data_api: Any
    source: Any
    log: Any
    _loaded: tuple[str, list[S3Object], int | None] | None
    _statement_id: str | None

    if TYPE_CHECKING:

        def _run_info(self, context: Context) -> RunInfo: ...
        def _metadata(
            self, job: LoadJob, bucket: str, result: LoadResult, **extra: Any
        ) -> dict[str, Any]: ...

    def execute_complete(
        self, context: Context, event: dict[str, Any], meta: dict[str, Any]
    ) -> dict[str, Any]:
        """Resume after the trigger: succeed with the load's metadata, or fail naming the statement."""
        if not event or event.get("statement_id") != meta.get("statement_id"):
            raise LoadError(f"unexpected trigger event {event!r} for statement {meta.get('statement_id')}")
        self._statement_id = event["statement_id"]
        if event.get("status") != "success":
            raise LoadError(data_api_failure(meta, event))
        meta = {**meta, "rows_loaded": rows_loaded(meta, event.get("result_rows") or [])}
        rows = meta.get("rows_loaded")
        if self._loaded is None:  # resumed from the triggerer: what the metadata lists
            from airflow_sales_provider.objects import S3Object

            listed = [S3Object(k) for k in meta.get("files_loaded") or ()]
            self._loaded = (str(meta.get("bucket") or ""), listed, rows)
        else:
            self._loaded = (*self._loaded[:2], rows)
        self.log.info("Redshift statement %s finished: %s", meta["statement_id"], meta.get("rows_loaded"))
        return meta

    def _marker_uri(self, context: Context, bucket: str) -> str:
        return (
            f"{manifest_base(self.manifest_prefix, bucket)}statements/{self._run_info(context).path()}.json"
        )

    def _reattach(self, context: Context) -> dict[str, Any] | None:
        """If an earlier try of this task run submitted the load, wait for that statement instead."""
        bucket = self.s3_bucket or (parse_s3_keys(self.s3_keys).bucket if self.s3_keys else None)
        if not bucket and not self.manifest_prefix:
            return None
        marker_uri = self._marker_uri(context, bucket or "")
        earlier = self.data_api.earlier_statement(marker_uri)
        if earlier is None:
            return None
        statement_id, state, meta = earlier
        if state in RUNNING_STATES:
            self.log.info("re-attaching to Redshift statement %s (%s) of an earlier try", statement_id, state)
            self._statement_id = statement_id
            return self._wait_data_api(meta)
        if state == "FINISHED" and not self.force_reload:
            self.log.info(
                "Redshift statement %s of an earlier try already finished: not loading again", statement_id
            )
            return {**meta, "reattached": True}
        self.log.info(
            "earlier Redshift statement %s ended as %s: submitting the load again", statement_id, state
        )
        self.source.delete(marker_uri)
        return None

    def _load_data_api(self, context: Context, job: LoadJob, bucket: str, objects: list[S3Object]) -> Any:
        to_load, skipped = job.select(objects, self.data_api.loaded_objects(job, bucket, self.poll_interval))
        if not to_load:
            return self._metadata(job, bucket, LoadResult([], skipped, 0, []))
        run = self._run_info(context)
        manifest_uri = f"{manifest_base(self.manifest_prefix, bucket)}manifests/{run.path()}.manifest"
        submitted = self.data_api.submit_load(job, bucket, to_load, run, manifest_uri)
        self._statement_id = submitted.statement_id
        meta = self._metadata(
            job,
            bucket,
            submitted.result._replace(skipped=skipped),
            manifest_uri=submitted.result.manifest_uri,
            statement_id=submitted.statement_id,
            mode_statement=submitted.mode_statement,
        )
        marker = {"statement_id": submitted.statement_id, "meta": meta}
        self.source.put_json(self._marker_uri(context, bucket), marker)
        self.log.info("submitted the load as Redshift statement %s (%s statements)", *submitted[1:3])
        return self._wait_data_api(meta)

    def _wait_data_api(self, meta: dict[str, Any]) -> dict[str, Any]:
        if self.deferrable:
            from airflow_sales_provider.triggers.redshift_data import RedshiftLoadTrigger

            cast("Any", self).defer(  # BaseOperator.defer, whose signature differs per Airflow line
                trigger=RedshiftLoadTrigger(
                    statement_id=meta["statement_id"],
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region,
                    poll_interval=self.poll_interval,
                ),
                method_name="execute_complete",
                kwargs={"meta": meta},
            )
        return self.execute_complete({}, self.data_api.wait(meta["statement_id"], self.poll_interval), meta)
