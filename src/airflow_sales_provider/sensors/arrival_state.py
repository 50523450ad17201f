"""Moved: the settle rule is :mod:`airflow_sales_provider.arrival.settle`, the XCom contract
:mod:`airflow_sales_provider.arrival.xcom`. This module re-exports both for one release."""

from __future__ import annotations

from airflow_sales_provider.arrival.settle import (
    CLOCK_RESOLUTION_SECONDS,
    CONFIG_ERROR_CODES,
    CONFIG_ERROR_STATUSES,
    DEFAULT_MAX_KEYS_IN_XCOM,
    MANIFEST_FOLDER_SUFFIX,
    ArrivalConfigError,
    ArrivalSpec,
    SettleTracker,
    Verdict,
    check_manifest_key,
    default_manifest_key,
    describe_s3_error,
    evaluate,
    exclude_loaded,
    fingerprint,
    is_config_error,
    loaded_under_prefix,
    manifest_folder,
    parse_http_date,
)
from airflow_sales_provider.arrival.xcom import inline_xcom, manifest_document, manifest_xcom, needs_manifest
from airflow_sales_provider.objects import S3Object, s3_uri

__all__ = [
    "CLOCK_RESOLUTION_SECONDS",
    "CONFIG_ERROR_CODES",
    "CONFIG_ERROR_STATUSES",
    "DEFAULT_MAX_KEYS_IN_XCOM",
    "MANIFEST_FOLDER_SUFFIX",
    "ArrivalConfigError",
    "ArrivalSpec",
    "S3Object",
    "SettleTracker",
    "Verdict",
    "check_manifest_key",
    "default_manifest_key",
    "describe_s3_error",
    "evaluate",
    "exclude_loaded",
    "fingerprint",
    "inline_xcom",
    "is_config_error",
    "loaded_under_prefix",
    "manifest_document",
    "manifest_folder",
    "manifest_xcom",
    "needs_manifest",
    "parse_http_date",
    "s3_uri",
]
