"""Signed, chained manifests: `validate-lake` proves no file of a store was changed,
removed or added, and that the store holds exactly the ledger's events its selectors
chose (recomputed from the ledger)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from lakewriting import INVICTUS_ACCOUNT, NOW, drain, ingest, invictus, make_store, make_writer

from conftest import make_event
from opentrail.lake import EventDataStore, FileEntry, receives, validate_lake
from opentrail.lake._manifest import make_manifest, manifest_key
from opentrail.ledger import load_signer, open_reader


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Path, EventDataStore]:
    data = tmp_path / "data"
    extra = [make_event(account=INVICTUS_ACCOUNT, region=r) for r in ("eu-west-1", "eu-west-2")]
    records = invictus() + extra
    store = make_store()
    ingest(data, [])
    writer = make_writer(data, [store])
    for part in (records[:1000], records[1000:]):  # two batches: two manifests
        drain(writer, ingest(data, part))
    writer.close()
    return data, store


def cli(data: Path, store: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opentrail", "validate-lake", "--data-dir",
                           str(data), store], capture_output=True, text=True, timeout=120)


def problems(data: Path, store: EventDataStore) -> list[str]:
    from opentrail.lake import FolderLocation

    ledger = open_reader(data)
    try:
        return validate_lake(FolderLocation(data / "lake"), store.id,
                             load_signer(data).verifier(), ledger, receives).problems
    finally:
        ledger.close()


def files(data: Path, store: EventDataStore) -> list[Path]:
    return sorted((data / "lake" / store.id).glob("*/*/*/*.parquet"))


def test_an_untouched_store_is_valid(lake: tuple[Path, EventDataStore]) -> None:
    data, store = lake
    proc = cli(data, store.arn)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == "VALID"
    assert "manifests 2, files 4, rows 2902" in proc.stdout
    assert "selected 2902" in proc.stdout


def test_a_changed_file_is_found(lake: tuple[Path, EventDataStore]) -> None:
    data, store = lake
    victim = files(data, store)[0]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    victim.write_bytes(bytes(raw))
    proc = cli(data, store.id)
    assert proc.returncode == 1
    assert "was changed: its SHA-256 differs" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "NOT VALID"


def test_a_removed_file_is_found(lake: tuple[Path, EventDataStore]) -> None:
    data, store = lake
    victim = files(data, store)[-1]
    victim.unlink()
    found = problems(data, store)
    rel = victim.relative_to(data / "lake" / store.id).as_posix()
    assert f"File {rel} is listed by the manifests but missing: it was removed." in found
    assert any("selected by the store's selectors but is not in the store" in p for p in found)
    assert cli(data, store.id).returncode == 1


def test_an_added_file_is_found(lake: tuple[Path, EventDataStore]) -> None:
    data, store = lake
    source = files(data, store)[0]
    copy = source.with_name(f"{10**9:020d}-{10**9:020d}.parquet")
    shutil.copy(source, copy)
    found = problems(data, store)
    rel = copy.relative_to(data / "lake" / store.id).as_posix()
    assert f"File {rel} is in the store but in no manifest: it was added after the writer " \
           "wrote the store." in found
    assert cli(data, store.id).returncode == 1


def test_an_edited_or_removed_manifest_is_found(lake: tuple[Path, EventDataStore]) -> None:
    data, store = lake
    first = data / "lake" / manifest_key(store.id, 0)
    content = orjson.loads(first.read_bytes())
    content["added"][0]["rows"] += 1
    first.write_bytes(orjson.dumps(content))
    assert any("fails its signature check" in p for p in problems(data, store))
    first.unlink()
    assert any("out of sequence" in p for p in problems(data, store))


def test_a_chain_cut_short_is_found(lake: tuple[Path, EventDataStore]) -> None:
    """Removing the newest manifest and its files leaves a consistent-looking chain; the
    head the writer recorded (lake-writer.db) shows it was cut."""
    data, store = lake
    last = data / "lake" / manifest_key(store.id, 1)
    for item in orjson.loads(last.read_bytes())["added"]:
        (data / "lake" / store.id / item["key"]).unlink()
    last.unlink()
    assert problems(data, store) == []  # the files alone cannot tell
    proc = cli(data, store.id)
    assert proc.returncode == 1
    assert "the writer recorded 2 ending in another hash" in proc.stdout


def test_removing_every_manifest_is_found(lake: tuple[Path, EventDataStore]) -> None:
    data, store = lake
    shutil.rmtree(data / "lake" / store.id / "_manifests")
    proc = cli(data, store.id)
    assert proc.returncode == 1
    assert "in no manifest" in proc.stdout


def test_a_signed_lie_is_caught_by_the_ledger(lake: tuple[Path, EventDataStore]) -> None:
    """Even a manifest signed with the server's key cannot hide a dropped event: the
    selection is recomputed from the ledger."""
    data, store = lake
    victim = files(data, store)[-1]
    rel = victim.relative_to(data / "lake" / store.id).as_posix()
    manifests = sorted((data / "lake" / store.id / "_manifests").glob("*.json"))
    import hashlib

    head = hashlib.sha256(manifests[-1].read_bytes()).hexdigest()
    forged = make_manifest(load_signer(data), store, len(manifests), head, [], [],
                           [(rel, "compaction")], NOW)
    (data / "lake" / manifest_key(store.id, len(manifests))).write_bytes(forged)
    victim.unlink()
    found = problems(data, store)
    assert found and all("selected by the store's selectors but is not in the store" in p
                         for p in found)


def test_a_row_that_is_not_the_ledgers_event_is_found(
        lake: tuple[Path, EventDataStore]) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    data, store = lake
    victim = files(data, store)[-1]
    table = pq.read_table(victim)
    text = table.column("eventjson").to_pylist()
    text[0] = text[0].replace("\"eventName\":\"", "\"eventName\":\"Evil", 1)
    assert text[0] != table.column("eventjson")[0].as_py()
    table = table.set_column(table.schema.get_field_index("eventjson"), "eventjson",
                             pa.array(text, pa.string()))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    victim.write_bytes(buf.getvalue())
    # re-sign the file's new hash, as an attacker with the key could
    manifests = sorted((data / "lake" / store.id / "_manifests").glob("*.json"))
    import hashlib

    rel = victim.relative_to(data / "lake" / store.id).as_posix()
    entry = FileEntry(rel, hashlib.sha256(buf.getvalue()).hexdigest(), table.num_rows,
                      len(buf.getvalue()), None, None)
    head = hashlib.sha256(manifests[-1].read_bytes()).hexdigest()
    forged = make_manifest(load_signer(data), store, len(manifests), head, [], [entry], [],
                           NOW)
    (data / "lake" / manifest_key(store.id, len(manifests))).write_bytes(forged)
    found = problems(data, store)
    assert any("is not the ledger's event" in p for p in found), found


def test_an_unknown_store_exits_2(lake: tuple[Path, EventDataStore]) -> None:
    data, _ = lake
    proc = cli(data, "00000000-0000-4000-8000-000000000000")
    assert proc.returncode == 2
    assert "has no manifest" in proc.stderr


def test_validate_lake_reads_an_s3_location(moto_url: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from opentrail.lake import S3Location

    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                        ("AWS_EC2_METADATA_DISABLED", "true")):
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1").create_bucket(
        Bucket="lake-validate")
    data = tmp_path / "data"
    size = ingest(data, invictus()[:300])
    store = make_store()
    location = S3Location("lake-validate", "org/lake", moto_url)
    writer = make_writer(data, [store], location=location)
    drain(writer, size)
    writer.close()
    args = [sys.executable, "-m", "opentrail", "validate-lake", "--data-dir", str(data),
            "--lake-location", "s3://lake-validate/org/lake", "--s3-endpoint-url", moto_url,
            store.id]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    key = location.keys(f"{store.id}/account=")[0]
    location.delete([key])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "missing: it was removed" in proc.stdout


def test_a_purged_store_leaves_nothing(lake: tuple[Path, EventDataStore]) -> None:
    data, store = lake
    writer = make_writer(data, [store])
    assert writer.status(store.id).files == 4
    writer.drop_store(store.id)
    assert not (data / "lake" / store.id).exists() or \
        not list((data / "lake" / store.id).rglob("*.*"))
    assert writer.status(store.id)[2:4] == (0, 0)
    assert cli(data, store.id).returncode == 2
