"""One contract, two destinations: the folder and an S3 server (moto) on loopback."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from opentrail.storage import FolderStorage, InvalidObjectName, NoSuchKey, S3Storage, Storage


@pytest.fixture(params=["folder", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Storage:
    if request.param == "folder":
        return FolderStorage(tmp_path / "buckets")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    url = request.getfixturevalue("moto_url")
    s3 = S3Storage(url)
    s3._client.create_bucket(Bucket="trail-bucket")
    return s3


def test_put_get_roundtrip_with_metadata(storage: Storage) -> None:
    key = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/25/d.json.gz"
    storage.put("trail-bucket", key, b"\x1f\x8bbytes", {"signature": "ab" * 256,
                                                        "signature-algorithm": "SHA256withRSA"})
    got = storage.get("trail-bucket", key)
    assert got.body == b"\x1f\x8bbytes"
    assert got.metadata == {"signature": "ab" * 256, "signature-algorithm": "SHA256withRSA"}


def test_put_replaces_and_drops_old_metadata(storage: Storage) -> None:
    storage.put("trail-bucket", "a/b.json.gz", b"one", {"signature": "00"})
    storage.put("trail-bucket", "a/b.json.gz", b"two")
    got = storage.get("trail-bucket", "a/b.json.gz")
    assert (got.body, got.metadata) == (b"two", {})


def test_missing_key_raises_typed_error(storage: Storage) -> None:
    with pytest.raises(NoSuchKey) as info:
        storage.get("trail-bucket", "no/such/key.json.gz")
    assert info.value.code == "NoSuchKey"
    assert info.value.key == "no/such/key.json.gz"


def test_list_is_sorted_and_filtered_by_string_prefix(storage: Storage) -> None:
    for key in ["p/AWSLogs/1/b.gz", "p/AWSLogs/1/a.gz", "p/AWSLogs/2/c.gz", "q/x.gz"]:
        storage.put("trail-bucket", key, b"x", {"signature": "1"})
    assert storage.list("trail-bucket", "p/AWSLogs/") == [
        "p/AWSLogs/1/a.gz", "p/AWSLogs/1/b.gz", "p/AWSLogs/2/c.gz"]
    assert storage.list("trail-bucket", "p/AWSLogs/1/a") == ["p/AWSLogs/1/a.gz"]
    assert storage.list("trail-bucket", "p/AWS") == storage.list("trail-bucket", "p/AWSLogs/")
    assert "q/x.gz" in storage.list("trail-bucket")


def test_bucket_exists(storage: Storage) -> None:
    assert storage.bucket_exists("trail-bucket")


def test_s3_missing_bucket(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    s3 = S3Storage(moto_url)
    assert not s3.bucket_exists("no-such-bucket-here")
    from opentrail.storage import StorageError

    with pytest.raises(StorageError) as info:
        s3.put("no-such-bucket-here", "k", b"x")
    assert info.value.code == "NoSuchBucket"


def test_folder_mapping_and_permissions(tmp_path: Path) -> None:
    """Documented mapping: ROOT/BUCKET/KEY, metadata in KEY.meta.json, files 0600."""
    folder = FolderStorage(tmp_path / "buckets")
    folder.put("my-bucket", "a/b/c.json.gz", b"body", {"signature": "ff"})
    path = tmp_path / "buckets" / "my-bucket" / "a" / "b" / "c.json.gz"
    assert path.read_bytes() == b"body"
    assert (path.parent / "c.json.gz.meta.json").read_text() == '{"signature": "ff"}'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".tmp-")] == []
    assert folder.bucket_exists("new-bucket-not-yet-written")


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "a//b", "a/./b", "",
                                 "x.meta.json", "a/.tmp-1"])
def test_folder_refuses_keys_that_escape_or_clash(tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidObjectName):
        FolderStorage(tmp_path).put("my-bucket", key, b"x")


@pytest.mark.parametrize("bucket", ["..", "Upper", "a", "a/b", "../etc"])
def test_folder_refuses_bad_bucket_names(tmp_path: Path, bucket: str) -> None:
    folder = FolderStorage(tmp_path)
    assert not folder.bucket_exists(bucket)
    with pytest.raises(InvalidObjectName):
        folder.put(bucket, "k", b"x")


def test_open_storage_follows_settings(tmp_path: Path) -> None:
    from opentrail.config import Settings
    from opentrail.storage import open_storage

    folder = open_storage(Settings(data_dir=tmp_path))
    assert isinstance(folder, FolderStorage) and folder.root == tmp_path / "buckets"
    s3 = open_storage(Settings(data_dir=tmp_path, trail_storage="s3",
                               s3_endpoint_url="http://127.0.0.1:9"))
    assert isinstance(s3, S3Storage) and s3.endpoint_url == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="trail_storage"):
        open_storage(Settings(data_dir=tmp_path, trail_storage="ftp"))
