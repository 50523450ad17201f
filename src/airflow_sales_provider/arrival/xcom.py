"""The arrival sensor's XCom, produced and parsed in one place.

The sensor returns ``{"bucket", "prefix", "keys": [{"key", "size", "etag"}, ...]}``, or above
``max_keys_in_xcom`` keys ``{"bucket", "prefix", "manifest_uri", "key_count"}`` with the keys in a JSON
manifest object. The loader's ``s3_keys`` accepts that value in every shape templating can give it.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from airflow_sales_provider.objects import S3Object, normalise_etag, s3_uri
from airflow_sales_provider.sql.load import LoadConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence


class ListedObject(Protocol):
    """What the sensor hands over for each file (its listing carries more)."""

    @property
    def key(self) -> str: ...

    def as_xcom(self) -> dict[str, Any]: ...


# -- produced by the sensor --------------------------------------------------------------------------------
def needs_manifest(objects: Sequence[ListedObject], max_keys_in_xcom: int) -> bool:
    return len(objects) > max_keys_in_xcom


def manifest_document(bucket: str, objects: Sequence[ListedObject]) -> bytes:
    """The manifest object's body: ``{"bucket": ..., "keys": [{"key", "size", "etag"}, ...]}``."""
    return json.dumps(
        {"bucket": bucket, "keys": [o.as_xcom() for o in objects]}, separators=(",", ":")
    ).encode()


def inline_xcom(bucket: str, prefix: str, objects: Sequence[ListedObject]) -> dict[str, Any]:
    return {"bucket": bucket, "prefix": prefix, "keys": [o.as_xcom() for o in objects]}


def manifest_xcom(bucket: str, prefix: str, manifest_key: str, key_count: int) -> dict[str, Any]:
    return {
        "bucket": bucket,
        "prefix": prefix,
        "manifest_uri": s3_uri(bucket, manifest_key),
        "key_count": key_count,
    }


# -- read by the loader ------------------------------------------------------------------------------------
@dataclass
class S3KeySelection:
    """What ``s3_keys`` named: objects (with size/ETag when known), a bucket, or a manifest to read."""

    objects: list[S3Object] = field(default_factory=list)
    bucket: str | None = None
    manifest_uri: str | None = None


def parse_s3_keys(value: Any) -> S3KeySelection:
    """Read ``s3_keys`` in every shape the arrival sensor's XCom can take.

    Accepted: a list of keys; a list of ``{"key", "size", "etag"}`` dicts; the sensor's whole return
    value ``{"bucket", "prefix", "keys": [...]}`` or ``{"bucket", "prefix", "manifest_uri", "key_count"}``;
    or any of these rendered to a string (template rendering without native objects), parsed as JSON or a
    Python literal (``ast.literal_eval``, never ``eval``). A plain string that is neither is one key.
    """
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, Mapping):
        return _parse_mapping(value)
    if isinstance(value, (list, tuple)):
        return S3KeySelection([_parse_item(item) for item in value])
    raise LoadConfigError(f"s3_keys must be a list, a dict or a string, got {type(value).__name__}")


def _parse_text(value: str) -> S3KeySelection:
    text = value.strip()
    if text[:1] in ("[", "{", "("):
        parsed: Any = None
        try:
            parsed = json.loads(text)
        except ValueError:
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError) as exc:
                raise LoadConfigError(
                    f"s3_keys {value[:200]!r} looks like a list or dict but does not parse: {exc}"
                ) from None
        return parse_s3_keys(parsed)
    if not text:
        raise LoadConfigError("s3_keys is an empty string")
    if text == "None":  # an XCom that was never pushed, rendered without native objects
        return S3KeySelection([])
    return S3KeySelection([S3Object(text)])


def _parse_mapping(value: Mapping[str, Any]) -> S3KeySelection:
    bucket = value.get("bucket")
    if bucket is not None and not isinstance(bucket, str):
        raise LoadConfigError(f"s3_keys bucket must be a string, got {bucket!r}")
    if value.get("manifest_uri"):
        return S3KeySelection([], bucket=bucket, manifest_uri=str(value["manifest_uri"]))
    if "keys" not in value:
        raise LoadConfigError(
            f"s3_keys dict must have 'keys' or 'manifest_uri' (the S3 arrival sensor's XCom), "
            f"got keys {sorted(value)}"
        )
    return S3KeySelection(parse_s3_keys(list(value["keys"])).objects, bucket=bucket)


def _parse_item(item: Any) -> S3Object:
    if isinstance(item, str) and item:
        return S3Object(item)
    if isinstance(item, Mapping) and isinstance(item.get("key"), str) and item["key"]:
        size = item.get("size")
        etag = item.get("etag")
        return S3Object(
            item["key"], int(size) if size is not None else None, normalise_etag(str(etag)) if etag else None
        )
    raise LoadConfigError(f"s3_keys item {item!r} is neither a key nor a {{'key': ...}} dict")
