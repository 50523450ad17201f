"""S3 objects and URIs as every component names them: one definition, no Airflow, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

_S3_URI = re.compile(r"s3a?://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(.*)", re.DOTALL)


@dataclass(frozen=True)
class S3Object:
    """One S3 object: key, size, ETag (bare, without S3's quotes) and, when listed, ``LastModified``.

    The loader may know only the key (``size``/``etag`` are filled by a HEAD request); a listing
    knows everything, ``last_modified`` as epoch seconds on the S3 server's clock.
    """

    key: str
    size: int | None = None
    etag: str | None = None
    last_modified: float | None = None

    @classmethod
    def from_listing(cls, row: Mapping[str, Any]) -> S3Object:
        """Build from one ``Contents`` entry of ``ListObjectsV2`` (boto3 or aiobotocore)."""
        return cls(
            key=row["Key"],
            size=int(row.get("Size", 0)),
            etag=normalise_etag(str(row.get("ETag", ""))),
            last_modified=row["LastModified"].timestamp(),
        )

    def as_xcom(self) -> dict[str, Any]:
        """How the arrival sensor hands the object to the loader."""
        return {"key": self.key, "size": self.size, "etag": self.etag}


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


def parse_s3_uri(uri: str, what: str = "S3 URI") -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/path/to/object``; a ``ValueError`` naming ``what`` otherwise."""
    match = _S3_URI.fullmatch(uri) if isinstance(uri, str) else None
    if not match or not match.group(2) or match.group(2).endswith("/"):
        raise ValueError(
            f"{what} must look like s3://bucket/path/to/object (a full object key, not a prefix); got {uri!r}"
        )
    return match.group(1), match.group(2)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key or prefix)`` of ``s3://bucket/...`` (the key may be empty or end in ``/``)."""
    match = _S3_URI.fullmatch(uri) if isinstance(uri, str) else None
    if not match:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)
