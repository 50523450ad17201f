"""S3 objects and URIs as every component names them: one definition, no Airflow, no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class S3Object:
    """One S3 object of a load: key, size and ETag (bare, without S3's quotes)."""

    key: str
    size: int | None = None
    etag: str | None = None


@dataclass(frozen=True)
class Probe:
    """What the first bytes of an object say: gzip or not, the CSV header, whether it has any data."""

    gzip: bool
    header: list[str] | None
    empty: bool


def normalise_etag(etag: str) -> str:
    """S3 returns ETags in double quotes; the ledger and the XCom carry them bare."""
    return etag.strip('"')


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``("bucket", "key")`` of ``s3://bucket/key``; ``ValueError`` for anything else."""
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key
