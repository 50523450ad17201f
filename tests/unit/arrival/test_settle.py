"""The arrival rules on their own: matching, ledger exclusion, settling, the hand-over contract, errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_sales_provider.arrival.settle import (
    CLOCK_RESOLUTION_SECONDS,
    ArrivalConfigError,
    ArrivalSpec,
    SettleTracker,
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
from airflow_sales_provider.objects import S3Object

PREFIX = "daily/2024-03-01/"
NOW = 1_700_000_000.0


def obj(name: str, size: int = 10, etag: str = "e1", age: float = 3600.0) -> S3Object:
    return S3Object(key=PREFIX + name, size=size, etag=etag, last_modified=NOW - age)


def spec(**kwargs: object) -> ArrivalSpec:
    params: dict[str, object] = {"bucket": "sales-raw", "prefix": PREFIX}
    params.update(kwargs)
    return ArrivalSpec(**params).validate()  # type: ignore[arg-type]


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            pytest.param({"bucket": ""}, "bucket must be a non-empty", id="empty-bucket"),
            pytest.param({"bucket": "s3://sales-raw"}, "not a URL", id="bucket-url"),
            pytest.param({"bucket": "a"}, "not a valid S3 bucket name", id="bucket-too-short"),
            pytest.param({"prefix": ""}, "never a whole bucket", id="empty-prefix"),
            pytest.param({"prefix": "/daily/"}, "must not start with '/'", id="leading-slash"),
            pytest.param({"pattern": ""}, "pattern must be", id="empty-pattern"),
            pytest.param({"min_files": 0}, "min_files must be an integer >= 1", id="min-files-zero"),
            pytest.param({"min_files": True}, "min_files", id="min-files-bool"),
            pytest.param({"min_size_bytes": -1}, "min_size_bytes", id="negative-size"),
            pytest.param({"settle_seconds": -5}, "settle_seconds", id="negative-settle"),
            pytest.param({"settle_seconds": "60"}, "settle_seconds", id="settle-string"),
        ],
    )
    def test_bad_parameters_are_named(self, kwargs, message):
        with pytest.raises(ArrivalConfigError, match=message):
            spec(**kwargs)

    def test_valid_spec_passes(self):
        assert spec(pattern="*.csv", min_files=3, settle_seconds=0).min_files == 3


class TestMatching:
    def test_pattern_is_relative_to_the_prefix_and_case_sensitive(self):
        s = spec(pattern="store_*.csv")
        assert s.matches(obj("store_1.csv"))
        assert not s.matches(obj("store_1.CSV"))
        assert not s.matches(obj("other.csv"))
        assert s.matches(obj("store_sub/x.csv")), "'*' crosses '/' as documented"

    def test_keys_outside_the_prefix_and_folder_markers_never_match(self):
        s = spec()
        assert not s.matches(S3Object("daily/2024-03-02/a.csv", 10, "e", NOW))
        assert not s.matches(obj("sub/"))

    def test_min_size(self):
        s = spec(min_size_bytes=5)
        assert s.matches(obj("a.csv", size=5))
        assert not s.matches(obj("b.csv", size=4))

    def test_ignore_prefix_hides_the_manifest_folder(self):
        s = spec(prefix="daily/2024-03-01", ignore_prefix=manifest_folder("daily/2024-03-01"))
        manifest = S3Object("daily/2024-03-01_manifests/d/t/r.json", 100, "e", NOW)
        assert not s.matches(manifest)
        assert s.matches(S3Object("daily/2024-03-01/a.csv", 100, "e", NOW))

    def test_select_sorts_by_key(self):
        listed = [obj("b.csv"), obj("a.csv"), obj("c.txt")]
        assert [o.key for o in spec(pattern="*.csv").select(listed)] == [PREFIX + "a.csv", PREFIX + "b.csv"]

    def test_from_listing_normalises_the_etag(self):
        row = {
            "Key": "k",
            "Size": 3,
            "ETag": '"abc"',
            "LastModified": datetime(2024, 3, 1, tzinfo=timezone.utc),
        }
        parsed = S3Object.from_listing(row)
        assert parsed == S3Object("k", 3, "abc", datetime(2024, 3, 1, tzinfo=timezone.utc).timestamp())
        assert parsed.as_xcom() == {"key": "k", "size": 3, "etag": "abc"}


class TestLedgerExclusion:
    def test_loaded_key_with_same_etag_is_dropped_reuploaded_one_stays(self):
        matched = [obj("a.csv", etag="e1"), obj("b.csv", etag="e2")]
        loaded = {(PREFIX + "a.csv", "e1"), (PREFIX + "b.csv", "old")}
        assert exclude_loaded(matched, loaded) == [obj("b.csv", etag="e2")]

    def test_ledger_rows_are_filtered_to_the_prefix_and_etags_normalised(self):
        rows = [(PREFIX + "a.csv", '"e1"'), ("daily/2024-02-29/a.csv", "e9")]
        assert loaded_under_prefix(rows, PREFIX) == frozenset({(PREFIX + "a.csv", "e1")})


class TestSettling:
    def test_too_few_files(self):
        verdict = evaluate(spec(min_files=2), [obj("a.csv")], [obj("a.csv")], NOW)
        assert not verdict.done
        assert "1 of 2" in verdict.reason

    def test_loaded_files_do_not_count(self):
        matched = [obj("a.csv"), obj("b.csv")]
        verdict = evaluate(spec(min_files=2), matched, matched[:1], NOW)
        assert not verdict.done
        assert "1 more already loaded" in verdict.reason

    def test_recent_change_waits_old_files_pass_at_once(self):
        s = spec(settle_seconds=60)
        fresh = [obj("a.csv", age=30)]
        assert not evaluate(s, fresh, fresh, NOW).done
        old = [obj("a.csv", age=3600)]
        verdict = evaluate(s, old, old, NOW)
        assert verdict.done
        assert verdict.objects == tuple(old)

    def test_one_second_margin_for_s3_clock_resolution(self):
        s = spec(settle_seconds=10)
        at_settle = [obj("a.csv", age=10)]
        assert not evaluate(s, at_settle, at_settle, NOW).done
        past = [obj("a.csv", age=10 + CLOCK_RESOLUTION_SECONDS)]
        assert evaluate(s, past, past, NOW).done

    def test_settle_zero_accepts_immediately(self):
        fresh = [obj("a.csv", age=0)]
        assert evaluate(spec(settle_seconds=0), fresh, fresh, NOW).done

    def test_newest_object_decides(self):
        files = [obj("a.csv", age=3600), obj("b.csv", age=5)]
        assert not evaluate(spec(settle_seconds=60), files, files, NOW).done

    def test_tracker_sees_a_deleted_key_that_last_modified_cannot(self):
        s = spec(settle_seconds=60)
        tracker = SettleTracker()
        before = [obj("a.csv"), obj("b.csv")]
        tracker.observe(fingerprint(before), NOW - 100)
        after = [obj("a.csv")]
        tracker.observe(fingerprint(after), NOW - 10)
        assert tracker.changed_at == NOW - 10
        assert not evaluate(s, after, after, NOW, tracker).done
        assert evaluate(s, after, after, NOW + 60, tracker).done

    def test_first_observation_is_not_a_change(self):
        tracker = SettleTracker()
        tracker.observe("x", NOW)
        tracker.observe("x", NOW + 5)
        assert tracker.changed_at is None

    def test_fingerprint_covers_size_and_etag_not_time(self):
        base = fingerprint([obj("a.csv")])
        assert fingerprint([obj("a.csv", age=1)]) == base
        assert fingerprint([obj("a.csv", size=11)]) != base
        assert fingerprint([obj("a.csv", etag="e2")]) != base
        assert fingerprint([obj("a.csv"), obj("b.csv")]) == fingerprint([obj("b.csv"), obj("a.csv")])


class TestHandOver:
    def test_default_manifest_key_is_a_sibling_of_the_prefix(self):
        key = default_manifest_key(PREFIX, "sales", "wait", "scheduled__2024-03-01T00:00:00+00:00")
        assert key == "daily/2024-03-01_manifests/sales/wait/scheduled__2024-03-01T00_00_00_00_00.json"
        assert not key.startswith(PREFIX)

    @pytest.mark.parametrize(
        ("key", "message"),
        [
            pytest.param(PREFIX + "manifest.json", "under prefix", id="under-prefix"),
            pytest.param("s3://b/k.json", "not a URL", id="url"),
            pytest.param("manifests/", "object key", id="folder"),
        ],
    )
    def test_bad_manifest_keys(self, key, message):
        with pytest.raises(ArrivalConfigError, match=message):
            check_manifest_key(key, PREFIX)

    def test_inline_and_manifest_shapes(self):
        files = [obj("a.csv", size=1, etag="x"), obj("b.csv", size=2, etag="y")]
        assert inline_xcom("sales-raw", PREFIX, files) == {
            "bucket": "sales-raw",
            "prefix": PREFIX,
            "keys": [
                {"key": PREFIX + "a.csv", "size": 1, "etag": "x"},
                {"key": PREFIX + "b.csv", "size": 2, "etag": "y"},
            ],
        }
        assert json.loads(manifest_document("sales-raw", files)) == {
            "bucket": "sales-raw",
            "keys": [
                {"key": PREFIX + "a.csv", "size": 1, "etag": "x"},
                {"key": PREFIX + "b.csv", "size": 2, "etag": "y"},
            ],
        }
        assert manifest_xcom("sales-raw", PREFIX, "m/r.json", 2) == {
            "bucket": "sales-raw",
            "prefix": PREFIX,
            "manifest_uri": "s3://sales-raw/m/r.json",
            "key_count": 2,
        }

    def test_limit_is_exclusive(self):
        files = [obj("a.csv"), obj("b.csv")]
        assert not needs_manifest(files, 2)
        assert needs_manifest(files, 1)


class TestErrors:
    @pytest.mark.parametrize(
        ("code", "status", "config"),
        [
            pytest.param("NoSuchBucket", 404, True, id="missing-bucket"),
            pytest.param("AccessDenied", 403, True, id="access-denied"),
            pytest.param("InvalidAccessKeyId", 403, True, id="bad-key"),
            pytest.param("PermanentRedirect", 301, True, id="wrong-region"),
            pytest.param("SlowDown", 503, False, id="throttled"),
            pytest.param("InternalError", 500, False, id="server-error"),
            pytest.param(None, 502, False, id="bad-gateway"),
        ],
    )
    def test_classification(self, code, status, config):
        assert is_config_error(code, status) is config

    def test_message_names_the_place_and_the_fix(self):
        text = describe_s3_error(
            "NoSuchBucket", "The specified bucket does not exist", "b", "p/", "aws_default"
        )
        assert "s3://b/p/" in text
        assert "'aws_default'" in text
        assert "does not exist" in text

    def test_http_date(self):
        assert (
            parse_http_date("Sat, 02 Mar 2024 00:00:00 GMT")
            == datetime(2024, 3, 2, tzinfo=timezone.utc).timestamp()
        )
        assert parse_http_date(None) is None
        assert parse_http_date("not a date") is None
