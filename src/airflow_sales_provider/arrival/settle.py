"""What counts as "arrived" for :class:`~airflow_sales_provider.sensors.s3_arrival.S3ArrivalSensor`.

Pure logic, no Airflow and no I/O, shared by the sensor (synchronous pokes) and its trigger (the
asynchronous wait): which listed objects match, which the load ledger already holds, whether the batch
has *settled*. The hand-over to the loader is :mod:`airflow_sales_provider.arrival.xcom`.

Settling
--------
A batch has settled when the set of matching objects (keys, sizes, ETags) has not changed for
``settle_seconds``. Two clocks are combined, both on the **S3 server's** time (the ``Date`` header of
the listing, so worker and triggerer clock skew do not matter):

- the objects' own ``LastModified``: every upload or overwrite moves it, and it is stored *in S3*, so the
  rule survives reschedules, retries and triggerer restarts (a sensor started long after the files
  landed accepts them at once instead of waiting another ``settle_seconds``);
- a :class:`SettleTracker` kept in memory for as long as one process keeps polling (the trigger, or a
  ``poke``-mode sensor). It also sees what ``LastModified`` cannot: a key that disappears.

Both have one-second resolution in S3, so one second is added to the wait: a batch is never accepted early.
"""

from __future__ import annotations

import email.utils
import fnmatch
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.objects import normalise_etag
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError, parse_qualified

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Sequence

    from airflow_sales_provider.objects import S3Object

CLOCK_RESOLUTION_SECONDS = 1.0
MANIFEST_FOLDER_SUFFIX = "_manifests"
DEFAULT_MAX_KEYS_IN_XCOM = 1000

# Errors that no amount of waiting fixes: fail the task at once, never skip it.
CONFIG_ERROR_CODES = frozenset(
    {
        "NoSuchBucket",
        "AccessDenied",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidAccessKeyId",
        "InvalidBucketName",
        "InvalidToken",
        "ExpiredToken",
        "SignatureDoesNotMatch",
        "AuthorizationHeaderMalformed",
        "PermanentRedirect",
        "IllegalLocationConstraintException",
    }
)
CONFIG_ERROR_STATUSES = frozenset({301, 400, 401, 403, 404})

_BUCKET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._=-]+")


class ArrivalConfigError(ValueError):
    """The sensor is configured wrongly (bad parameter, missing bucket, no access): waiting cannot help."""


@dataclass(frozen=True)
class ArrivalSpec:
    """What the sensor waits for (rendered and validated parameters).

    :param bucket: the bucket name.
    :param prefix: only keys under this prefix are listed and considered.
    :param pattern: optional glob matched (``fnmatch``, case-sensitive) against the key *relative to
        the prefix*; ``*`` also crosses ``/``.
    :param min_files: how many matching (and not yet loaded) objects must be there.
    :param min_size_bytes: objects smaller than this do not count.
    :param settle_seconds: how long the matching set must stay unchanged.
    :param ignore_prefix: keys under this prefix never count (the sensor's own manifest folder).
    """

    bucket: str
    prefix: str
    pattern: str | None = None
    min_files: int = 1
    min_size_bytes: int = 0
    settle_seconds: float = 0.0
    ignore_prefix: str | None = None

    def validate(self) -> ArrivalSpec:
        """Raise :class:`ArrivalConfigError` naming the parameter if any value is unusable."""
        if not isinstance(self.bucket, str) or not self.bucket:
            raise ArrivalConfigError(f"bucket must be a non-empty bucket name, got {self.bucket!r}")
        if self.bucket.startswith("s3://"):
            raise ArrivalConfigError(
                f"bucket must be a bucket name, not a URL: got {self.bucket!r}; "
                "put the part after the bucket into prefix"
            )
        if not _BUCKET_NAME.match(self.bucket):
            raise ArrivalConfigError(f"bucket {self.bucket!r} is not a valid S3 bucket name")
        if not isinstance(self.prefix, str) or not self.prefix:
            raise ArrivalConfigError(
                f"prefix must be a non-empty string, got {self.prefix!r}: the sensor lists only under "
                "its prefix, never a whole bucket"
            )
        if self.prefix.startswith("/"):
            raise ArrivalConfigError(f"prefix {self.prefix!r} must not start with '/' (S3 keys do not)")
        if self.pattern is not None and (not isinstance(self.pattern, str) or not self.pattern):
            raise ArrivalConfigError(f"pattern must be a non-empty glob or None, got {self.pattern!r}")
        if isinstance(self.min_files, bool) or not isinstance(self.min_files, int) or self.min_files < 1:
            raise ArrivalConfigError(f"min_files must be an integer >= 1, got {self.min_files!r}")
        if (
            isinstance(self.min_size_bytes, bool)
            or not isinstance(self.min_size_bytes, int)
            or self.min_size_bytes < 0
        ):
            raise ArrivalConfigError(f"min_size_bytes must be an integer >= 0, got {self.min_size_bytes!r}")
        if (
            isinstance(self.settle_seconds, bool)
            or not isinstance(self.settle_seconds, (int, float))
            or self.settle_seconds < 0
        ):
            raise ArrivalConfigError(f"settle_seconds must be a number >= 0, got {self.settle_seconds!r}")
        return self

    def matches(self, obj: S3Object) -> bool:
        """Whether a listed object counts: under the prefix, not a folder marker, pattern and size."""
        if not obj.key.startswith(self.prefix) or obj.key.endswith("/"):
            return False
        if self.ignore_prefix and obj.key.startswith(self.ignore_prefix):
            return False
        if (obj.size or 0) < self.min_size_bytes:
            return False
        return self.pattern is None or fnmatch.fnmatchcase(obj.key[len(self.prefix) :], self.pattern)

    def select(self, objects: Iterable[S3Object]) -> list[S3Object]:
        """The matching objects, sorted by key."""
        return sorted((o for o in objects if self.matches(o)), key=lambda o: o.key)


def ledger_target_name(exclude_loaded_into: str) -> str:
    """The target table as the loader's ledger names it: ``schema.table`` (or ``table``) unquoted."""
    try:
        schema, table = parse_qualified(exclude_loaded_into, "exclude_loaded_into")
    except InvalidIdentifierError as exc:
        raise ArrivalConfigError(str(exc)) from exc
    return f"{schema}.{table}" if schema else table


def exclude_loaded(objects: Sequence[S3Object], loaded: Collection[tuple[str, str]]) -> list[S3Object]:
    """Drop objects whose ``(key, etag)`` the ledger holds (a re-uploaded file has a new ETag: it stays)."""
    if not loaded:
        return list(objects)
    return [o for o in objects if (o.key, o.etag) not in loaded]


def loaded_under_prefix(rows: Iterable[Sequence[Any]], prefix: str) -> frozenset[tuple[str, str]]:
    """``(s3_key, etag)`` ledger rows under ``prefix``, ETags normalised the way the ledger stores them."""
    return frozenset(
        (str(key), normalise_etag(str(etag))) for key, etag in rows if str(key).startswith(prefix)
    )


def fingerprint(objects: Iterable[S3Object]) -> str:
    """A digest of the keys, sizes and ETags (not times): equal digests mean an unchanged set."""
    digest = hashlib.sha256()
    for obj in sorted(objects, key=lambda o: o.key):
        digest.update(f"{obj.key}\0{obj.size}\0{obj.etag}\n".encode())
    return digest.hexdigest()


@dataclass
class SettleTracker:
    """What one polling process has seen: the last fingerprint and when (S3 time) it last changed."""

    last_fingerprint: str | None = None
    changed_at: float | None = None

    def observe(self, digest: str, now: float) -> None:
        if self.last_fingerprint is not None and digest != self.last_fingerprint:
            self.changed_at = now
        self.last_fingerprint = digest


@dataclass(frozen=True)
class Verdict:
    """The outcome of one poke: ``done`` with the objects to hand over, or why not yet."""

    done: bool
    objects: tuple[S3Object, ...]
    reason: str


def evaluate(
    spec: ArrivalSpec,
    matched: Sequence[S3Object],
    new: Sequence[S3Object],
    now: float,
    tracker: SettleTracker | None = None,
) -> Verdict:
    """Decide one poke.

    :param spec: the validated parameters.
    :param matched: every matching object (before ledger exclusion); settling is judged on this set.
    :param new: the matching objects the ledger does not hold; these are counted and handed over.
    :param now: the S3 server's time of the listing (epoch seconds).
    :param tracker: the in-process change tracker, already updated with this listing, if any.
    """
    if len(new) < spec.min_files:
        loaded = len(matched) - len(new)
        note = f" ({loaded} more already loaded)" if loaded else ""
        return Verdict(False, (), f"{len(new)} of {spec.min_files} new matching file(s){note}")
    if spec.settle_seconds > 0:
        quiet_since = max(o.last_modified or 0.0 for o in matched)
        if tracker is not None and tracker.changed_at is not None:
            quiet_since = max(quiet_since, tracker.changed_at)
        quiet_for = now - quiet_since
        if quiet_for < spec.settle_seconds + CLOCK_RESOLUTION_SECONDS:
            return Verdict(
                False,
                (),
                f"{len(new)} file(s) found, settling: last change {max(quiet_for, 0.0):.0f}s ago, "
                f"waiting for {spec.settle_seconds:g}s without change",
            )
    return Verdict(True, tuple(new), f"{len(new)} file(s) arrived and settled")


def parse_http_date(value: str | None) -> float | None:
    """Epoch seconds from an HTTP ``Date`` header, or None if absent or unparsable."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


# -- hand-over to the loader ----------------------------------------------------------------------------
def manifest_folder(prefix: str) -> str:
    """The default manifest folder: a sibling of the prefix (``daily/2024-03-01_manifests/``)."""
    return prefix.rstrip("/") + MANIFEST_FOLDER_SUFFIX + "/"


def default_manifest_key(prefix: str, dag_id: str, task_id: str, run_id: str) -> str:
    """``<prefix>_manifests/<dag_id>/<task_id>/<run_id>.json``, with unsafe characters replaced by ``_``."""
    parts = [_UNSAFE_KEY_CHARS.sub("_", p) for p in (dag_id, task_id, run_id)]
    return manifest_folder(prefix) + "/".join(parts) + ".json"


def check_manifest_key(manifest_key: str, prefix: str) -> str:
    """A user-given manifest key must be a key outside the prefix (else the next run would count it)."""
    if not isinstance(manifest_key, str) or not manifest_key or manifest_key.endswith("/"):
        raise ArrivalConfigError(f"manifest_key must be an object key, got {manifest_key!r}")
    if manifest_key.startswith("s3://"):
        raise ArrivalConfigError(
            f"manifest_key must be a key in the sensor's bucket, not a URL: got {manifest_key!r}"
        )
    if manifest_key.startswith(prefix):
        raise ArrivalConfigError(
            f"manifest_key {manifest_key!r} is under prefix {prefix!r}: the next run would count the "
            "manifest as an arrived file; put it outside the prefix"
        )
    return manifest_key


# -- errors ---------------------------------------------------------------------------------------------
def is_config_error(code: str | None, status: int | None) -> bool:
    """Whether an S3 error response means "misconfigured" (fail now) rather than "try again later"."""
    if code in CONFIG_ERROR_CODES:
        return True
    if code in {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError"}:
        return False
    return status in CONFIG_ERROR_STATUSES


def describe_s3_error(
    code: str | None, message: str | None, bucket: str, prefix: str, aws_conn_id: Any
) -> str:
    """A message that says what failed, where, and what to check."""
    where = f"s3://{bucket}/{prefix} (connection {aws_conn_id!r})"
    if code == "NoSuchBucket":
        hint = "the bucket does not exist: check `bucket`, and the connection's endpoint and region"
    elif code in {"AccessDenied", "AllAccessDisabled", "AccountProblem"}:
        hint = (
            "access denied: the connection's identity needs s3:ListBucket on the bucket for this prefix "
            "(and s3:PutObject for a manifest)"
        )
    elif code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}:
        hint = "the connection's credentials were rejected: check the AWS connection"
    elif code in {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}:
        hint = "the bucket is in another region: set region_name in the connection's extra"
    else:
        hint = "check `bucket`, `prefix` and the AWS connection"
    return f"S3 request for {where} failed: {code or 'error'}: {message or 'no message'}; {hint}"
