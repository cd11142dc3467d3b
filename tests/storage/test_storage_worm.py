"""Object Lock writes (compliance spec 7): moto's S3 server on loopback with a lock-enabled
bucket, and the folder storage's file-system version of the same contract.

What moto cannot prove (spec 7.4) is said where a test stops: moto lets a COMPLIANCE
retention be shortened and then deleted, and does not implement GetObjectRetention, so
these tests check what OpenTrail *sends and records* (HeadObject shows it), not that a
COMPLIANCE lock holds against root. That needs AWS S3 or another assessed server.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opentrail.clock import ManualClock
from opentrail.config import Settings, validate_settings
from opentrail.storage import (
    FolderStorage,
    LockConfig,
    Retention,
    RetentionPolicy,
    S3Storage,
    StorageError,
    guarantee,
    open_storage,
    retain_until,
)

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z
DAY = 86_400.0
_counter = iter(range(10_000))


@pytest.fixture
def s3(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    import boto3

    yield boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")


def _bucket(s3: Any, *, lock: bool, default: dict[str, Any] | None = None) -> str:
    name = f"worm-{next(_counter)}-{int(time.time() * 1000) % 100000}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    if default is not None:  # moto: only while the bucket is empty (spec 7.4)
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": default}})
    return name


def _storage(moto_url: str, policy: RetentionPolicy | None = None) -> S3Storage:
    return S3Storage(moto_url, policy=policy)


def test_bucket_default_retention_becomes_explicit_headers(s3: Any, moto_url: str) -> None:
    bucket = _bucket(s3, lock=True, default={"Mode": "COMPLIANCE", "Days": 3})
    storage = _storage(moto_url, RetentionPolicy(clock=ManualClock(T0)))
    assert storage.lock_config(bucket) == LockConfig(True, "COMPLIANCE", 3, None)
    written = storage.put(bucket, "AWSLogs/a.json.gz", b"gz", {"signature": "ab"})
    assert written.version_id and written.retention == Retention("COMPLIANCE", T0 + 3 * DAY)
    head = s3.head_object(Bucket=bucket, Key="AWSLogs/a.json.gz", VersionId=written.version_id)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].timestamp() == T0 + 3 * DAY
    assert storage.head(bucket, "AWSLogs/a.json.gz").retention == written.retention
    got = storage.get(bucket, "AWSLogs/a.json.gz", written.version_id)
    assert (got.body, got.metadata, got.version_id) == (b"gz", {"signature": "ab"},
                                                        written.version_id)
    assert guarantee(storage, bucket).worm


def test_settings_mode_and_days_win_over_the_bucket_default(s3: Any, moto_url: str) -> None:
    bucket = _bucket(s3, lock=True, default={"Mode": "COMPLIANCE", "Years": 1})
    policy = RetentionPolicy("GOVERNANCE", 7, clock=ManualClock(T0))
    written = _storage(moto_url, policy).put(bucket, "k", b"x")
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"].timestamp()) == (
        "GOVERNANCE", T0 + 7 * DAY)
    assert written.retention == Retention("GOVERNANCE", T0 + 7 * DAY)
    # Without settings, a bucket default in years is calendar years.
    other = _bucket(s3, lock=True, default={"Mode": "COMPLIANCE", "Years": 1})
    year = _storage(moto_url, RetentionPolicy(clock=ManualClock(T0))).put(other, "k", b"x")
    assert year.retention == Retention("COMPLIANCE", T0 + 365 * DAY)  # 2026-11 -> 2027-11


def test_a_locked_key_is_never_replaced_and_a_redo_is_harmless(s3: Any, moto_url: str) -> None:
    bucket = _bucket(s3, lock=True, default={"Mode": "GOVERNANCE", "Days": 1})
    storage = _storage(moto_url)
    first = storage.put(bucket, "d.json.gz", b"one", {"signature": "1"})
    again = storage.put(bucket, "d.json.gz", b"one", {"signature": "1"})
    assert again.version_id == first.version_id  # no second version stacked on the key
    with pytest.raises(StorageError) as info:
        storage.put(bucket, "d.json.gz", b"two", {"signature": "1"})
    assert info.value.code == "PreconditionFailed"
    versions = storage.versions(bucket, "d.json.gz")
    assert [(v.version_id, v.delete_marker) for v in versions] == [(first.version_id, False)]


def test_delete_marker_hides_but_the_version_stays_readable(s3: Any, moto_url: str) -> None:
    bucket = _bucket(s3, lock=True, default={"Mode": "COMPLIANCE", "Days": 1})
    storage = _storage(moto_url)
    written = storage.put(bucket, "log.json.gz", b"events")
    s3.delete_object(Bucket=bucket, Key="log.json.gz")  # no VersionId: allowed, hides it
    from opentrail.storage import NoSuchKey

    with pytest.raises(NoSuchKey):
        storage.get(bucket, "log.json.gz")
    assert storage.get(bucket, "log.json.gz", written.version_id).body == b"events"
    versions = storage.versions(bucket, "log.json.gz")
    assert [(v.latest, v.delete_marker) for v in versions] == [(True, True), (False, False)]
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as denied:  # a versioned delete of a locked version
        s3.delete_object(Bucket=bucket, Key="log.json.gz", VersionId=written.version_id)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    # moto stops here: it lets a COMPLIANCE retention be shortened, after which this
    # delete succeeds (spec 7.4). That the lock holds needs a real S3 server.


def test_no_lock_no_headers_and_require_refuses(s3: Any, moto_url: str) -> None:
    bucket = _bucket(s3, lock=False)
    plain = _storage(moto_url).put(bucket, "k", b"x")
    assert plain.retention is None
    assert "ObjectLockMode" not in s3.head_object(Bucket=bucket, Key="k")
    assert not guarantee(_storage(moto_url), bucket).worm
    with pytest.raises(StorageError) as info:
        _storage(moto_url, RetentionPolicy(require=True)).put(bucket, "k2", b"x")
    assert info.value.code == "ObjectLockConfigurationNotFoundError"
    # A mode and period from the settings on a bucket without lock: S3 refuses the PUT.
    with pytest.raises(StorageError) as refused:
        _storage(moto_url, RetentionPolicy("COMPLIANCE", 1)).put(bucket, "k3", b"x")
    assert refused.value.code == "InvalidRequest"
    # Lock enabled but no default and no settings: nothing to choose; require refuses.
    bare = _bucket(s3, lock=True)
    assert _storage(moto_url).put(bare, "k", b"x").retention is None
    with pytest.raises(StorageError, match="no default retention"):
        _storage(moto_url, RetentionPolicy(require=True)).put(bare, "k2", b"x")


def test_folder_with_retention_is_read_only_and_refuses_to_overwrite(tmp_path: Path) -> None:
    folder = FolderStorage(tmp_path, policy=RetentionPolicy("COMPLIANCE", 30,
                                                            clock=ManualClock(T0)))
    written = folder.put("trail-bucket", "a/b.json.gz", b"one", {"signature": "1"})
    assert written == type(written)(None, Retention("COMPLIANCE", T0 + 30 * DAY))
    path = tmp_path / "trail-bucket" / "a" / "b.json.gz"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert stat.S_IMODE(Path(f"{path}.meta.json").stat().st_mode) == 0o444
    assert folder.head("trail-bucket", "a/b.json.gz").read_only
    assert folder.put("trail-bucket", "a/b.json.gz", b"one", {"signature": "1"}).version_id \
        is None  # the same bytes: a redo
    with pytest.raises(StorageError) as info:
        folder.put("trail-bucket", "a/b.json.gz", b"two", {"signature": "1"})
    assert info.value.code == "PreconditionFailed"
    with pytest.raises(StorageError):
        folder.put("trail-bucket", "a/b.json.gz", b"one", {"signature": "2"})
    assert path.read_bytes() == b"one"
    said = guarantee(folder, "trail-bucket")
    assert not said.worm and "not WORM" in said.text
    # Honest limits: the owner (root here) can still undo it; nothing in a folder stops that.
    os.chmod(path, 0o644)
    path.write_bytes(b"changed")
    assert folder.get("trail-bucket", "a/b.json.gz").body == b"changed"


def test_folder_require_object_lock_refuses(tmp_path: Path) -> None:
    folder = FolderStorage(tmp_path, policy=RetentionPolicy("COMPLIANCE", 30, require=True))
    with pytest.raises(StorageError) as info:
        folder.put("trail-bucket", "k", b"x")
    assert info.value.code == "ObjectLockConfigurationNotFoundError"


def test_settings_reach_the_storage_and_are_checked(tmp_path: Path) -> None:
    settings = validate_settings(Settings(data_dir=tmp_path, object_lock_mode="GOVERNANCE",
                                          object_lock_days=2))
    storage = open_storage(settings, ManualClock(T0))
    assert isinstance(storage, FolderStorage)
    assert storage.put("b-1", "k", b"x").retention == Retention("GOVERNANCE", T0 + 2 * DAY)
    for bad, message in [({"object_lock_mode": "STRICT", "object_lock_days": 1}, "mode"),
                         ({"object_lock_mode": "COMPLIANCE"}, "needs --object-lock-days"),
                         ({"object_lock_days": 5}, "--object-lock-mode is empty")]:
        with pytest.raises(ValueError, match=message):
            validate_settings(Settings(data_dir=tmp_path, **bad))  # type: ignore[arg-type]


def test_retain_until_days_and_calendar_years() -> None:
    assert retain_until(T0, days=1) == T0 + DAY
    leap = 1_709_208_000.0  # 2024-02-29T12:00:00Z
    assert retain_until(leap, years=1) == 1_740_744_000.0  # 2025-02-28T12:00:00Z


def test_an_unreadable_lock_configuration_delivers_unlocked_unless_required(
        tmp_path: Path) -> None:
    class NoLockCall(FolderStorage):
        def lock_config(self, bucket: str) -> LockConfig:
            raise StorageError("NotImplemented", "GetObjectLockConfiguration")

    assert NoLockCall(tmp_path).put("trail-bucket", "k", b"x").retention is None
    strict = NoLockCall(tmp_path, policy=RetentionPolicy(require=True))
    with pytest.raises(StorageError) as info:
        strict.put("trail-bucket", "k2", b"x")
    assert info.value.code == "NotImplemented"


def test_a_server_without_conditional_writes_still_gets_locked_objects(
        s3: Any, moto_url: str) -> None:
    """Some S3-compatible servers answer If-None-Match with 501 NotImplemented: the lock
    headers are then sent without it (the real client, refusing only that header)."""
    from botocore.exceptions import ClientError

    class NoConditionalWrites:
        def __init__(self, client: Any) -> None:
            self._client = client

        def put_object(self, **kwargs: Any) -> Any:
            if "IfNoneMatch" in kwargs:
                raise ClientError({"Error": {"Code": "NotImplemented", "Message": "If-None-"
                                             "Match"}}, "PutObject")
            return self._client.put_object(**kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._client, name)

    bucket = _bucket(s3, lock=True, default={"Mode": "GOVERNANCE", "Days": 2})
    storage = S3Storage(moto_url, client=NoConditionalWrites(s3))
    written = storage.put(bucket, "k", b"x")
    assert written.version_id and written.retention is not None
    assert s3.head_object(Bucket=bucket, Key="k")["ObjectLockMode"] == "GOVERNANCE"
