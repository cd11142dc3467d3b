"""Imports (spec lake.md §8) through boto3's cloudtrail client against a real
`opentrail serve`, reading a moto S3 bucket laid out like a real AWS trail's: the invictus
dataset split into per-hour .json.gz files, one hour under the account layout and one
under the organization layout, plus a corrupt file, an uncompressed file and a digest.
Each test uses its own account (one import per account) on one shared server.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from lake_tenants import Tenant, code, error, only

from conftest import Server, free_port, make_event, post_records, wait_until

pytestmark = pytest.mark.e2e

DATASET = "/work/shared/datasets/invictus-aws/CloudTrail"
FILE_ACCOUNT = "218007301253"  # in the invictus file names
RECORD_ACCOUNT = "123837392027"  # inside the records
ORG = "o-abcdef1234"
ROLE = "arn:aws:iam::123456789012:role/CloudTrailImport"
DAY = "AWSLogs/{acct}/CloudTrail/us-east-1/2023/07/10/"
PLAIN_DAY = DAY.format(acct=FILE_ACCOUNT)
ORG_DAY = f"AWSLogs/{ORG}/" + DAY.format(acct=FILE_ACCOUNT)
HOUR_12 = datetime(2023, 7, 10, 12, tzinfo=UTC)
FINISHED = ("COMPLETED", "FAILED", "STOPPED")


def _records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(glob.glob(f"{DATASET}/*.json")):
        with open(path) as f:
            out.extend(json.load(f)["Records"])
    return out


RECORDS = _records()
ALL_IDS = {r["eventID"] for r in RECORDS}
HOUR_11 = [r for r in RECORDS if r["eventTime"] < "2023-07-10T12:00:00Z"]
HOUR_12_RECORDS = [r for r in RECORDS if r["eventTime"] >= "2023-07-10T12:00:00Z"]


def _gz(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode())


def _name(hhmm: str) -> str:
    return f"{FILE_ACCOUNT}_CloudTrail_us-east-1_20230710T{hhmm}Z_{uuid.uuid4().hex[:16]}.json.gz"


@pytest.fixture(scope="module")
def s3_env(moto_url: str) -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = "testing", "testing"
    yield moto_url
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def server(s3_env: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("lake-imports") / "data", free_port(),
                 extra_args=("--s3-endpoint-url", s3_env, "--delivery-interval", "1"))
    srv.start()
    yield srv
    srv.kill(signal.SIGTERM)


def _s3(url: str) -> Any:
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def trail_bucket(url: str, *, broken: bool = True) -> tuple[str, dict[str, str]]:
    """A bucket as a real AWS trail fills it; returns (name, {what: key})."""
    s3 = _s3(url)
    bucket = f"trail-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    keys = {"hour11": PLAIN_DAY + _name("1200"), "hour12": ORG_DAY + _name("1300"),
            "digest": f"AWSLogs/{FILE_ACCOUNT}/CloudTrail-Digest/us-east-1/2023/07/10/"
                      f"{FILE_ACCOUNT}_CloudTrail-Digest_us-east-1_x_20230710T1300Z.json.gz"}
    s3.put_object(Bucket=bucket, Key=keys["hour11"], Body=_gz(HOUR_11))
    s3.put_object(Bucket=bucket, Key=keys["hour12"], Body=_gz(HOUR_12_RECORDS))
    s3.put_object(Bucket=bucket, Key=keys["digest"], Body=gzip.compress(b"{}"))
    if broken:
        keys["corrupt"] = PLAIN_DAY + _name("1230")
        keys["plain"] = PLAIN_DAY + _name("1235")
        s3.put_object(Bucket=bucket, Key=keys["corrupt"],
                      Body=b"\x1f\x8b\x08\x00" + os.urandom(200))
        s3.put_object(Bucket=bucket, Key=keys["plain"],
                      Body=json.dumps({"Records": HOUR_11[:3]}).encode())
    return bucket, keys


def source(bucket: str, prefix: str = "") -> dict[str, Any]:
    return {"S3": {"S3LocationUri": f"s3://{bucket}/{prefix}", "S3BucketRegion": "us-east-1",
                   "S3BucketAccessRoleArn": ROLE}}


def new_store(ct: Any, name: str = "imports", retention: int = 3653, **kw: Any) -> str:
    arn: str = ct.create_event_data_store(Name=name, RetentionPeriod=retention,
                                          TerminationProtectionEnabled=False,
                                          **kw)["EventDataStoreArn"]
    return arn


def finished(ct: Any, import_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def done() -> bool:
        out.update(ct.get_import(ImportId=import_id))
        return out["ImportStatus"] in FINISHED

    wait_until(done, timeout=60)
    return out


def rows(server: Server, arn: str, *, extra: set[str] = frozenset()  # type: ignore[assignment]
         ) -> list[tuple[str, str]]:
    """(file key, eventid) of the store's rows that came from the test's trail files
    (invictus, or `extra`), read by pyarrow. The store also receives the server's own
    audit records of the calls the test makes (StartImport...) from the ledger: those are
    left out, but no row may be there twice."""
    base = server.data_dir / "lake" / arn.rsplit("/", 1)[1]
    out = []
    for path in sorted(base.rglob("*.parquet")):
        for eid in pq.read_table(path, columns=["eventid"]).column("eventid").to_pylist():
            out.append((str(path.relative_to(base)), eid))
    ids = [e for _, e in out]
    assert len(ids) == len(set(ids)), "an event is in the store twice"
    return [(k, e) for k, e in out if e in ALL_IDS or e in extra]


def failures(ct: Any, import_id: str) -> dict[str, dict[str, Any]]:
    pages = ct.get_paginator("list_import_failures").paginate(ImportId=import_id)
    return {f["Location"]: f for page in pages for f in page["Failures"]}


@pytest.fixture
def tenant(server: Server) -> Tenant:
    return Tenant(server)


@pytest.fixture
def ct(tenant: Tenant) -> Any:
    return tenant.client()


# -- a whole import ----------------------------------------------------------------------------

def test_import_copies_a_trail_bucket_with_failures_and_is_idempotent(
        server: Server, ct: Any, s3_env: str) -> None:
    bucket, keys = trail_bucket(s3_env)
    arn = new_store(ct)
    started = ct.start_import(Destinations=[arn], ImportSource=source(bucket))
    assert started["ImportStatus"] in ("INITIALIZING", "IN_PROGRESS", *FINISHED)
    assert started["Destinations"] == [arn]
    assert started["ImportSource"] == source(bucket)
    assert len(started["ImportId"]) == 36
    got = finished(ct, started["ImportId"])
    assert got["ImportStatus"] == "FAILED"  # finished, with failures
    assert got["ImportStatistics"] == {
        "PrefixesFound": 2, "PrefixesCompleted": 2, "FilesCompleted": 2,
        "EventsCompleted": len(RECORDS), "FailedEntries": 2}
    fails = failures(ct, started["ImportId"])
    assert set(fails) == {f"s3://{bucket}/{keys['corrupt']}", f"s3://{bucket}/{keys['plain']}"}
    plain = fails[f"s3://{bucket}/{keys['plain']}"]
    assert plain["Status"] == "FAILED" and plain["ErrorType"] == "FileNotCompressed"
    assert "gzip" in plain["ErrorMessage"]
    assert isinstance(plain["LastUpdatedTime"], datetime)
    assert fails[f"s3://{bucket}/{keys['corrupt']}"]["ErrorType"] == "CorruptFile"

    stored = rows(server, arn)
    assert sorted(e for _, e in stored) == sorted(r["eventID"] for r in RECORDS)
    for key, _ in stored:  # the documented hive layout, import-<ImportId>-<n:06d>.parquet
        part, name = key.rsplit("/", 1)
        assert part == f"account={RECORD_ACCOUNT}/region=us-east-1/date=2023-07-10"
        assert name.startswith(f"import-{started['ImportId']}-")
        assert len(name) == len(f"import-{started['ImportId']}-000000.parquet")

    # The same import again adds nothing: every event is already in the store.
    again = ct.start_import(Destinations=[arn], ImportSource=source(bucket))
    second = finished(ct, again["ImportId"])
    assert second["ImportStatistics"]["EventsCompleted"] == 0
    assert second["ImportStatistics"]["FilesCompleted"] == 2
    assert len(rows(server, arn)) == len(RECORDS)

    listed = ct.list_imports(Destination=arn)["Imports"]
    assert [i["ImportId"] for i in listed] == [started["ImportId"], again["ImportId"]]
    assert set(listed[0]) == {"ImportId", "ImportStatus", "Destinations", "CreatedTimestamp",
                              "UpdatedTimestamp"}
    assert [i["ImportId"] for i in ct.list_imports(ImportStatus="FAILED")["Imports"]] == [
        started["ImportId"], again["ImportId"]]
    assert ct.list_imports(ImportStatus="COMPLETED")["Imports"] == []
    page = ct.list_imports(MaxResults=1)
    assert len(page["Imports"]) == 1
    rest = ct.list_imports(MaxResults=1, NextToken=page["NextToken"])
    assert rest["Imports"][0]["ImportId"] == again["ImportId"] and "NextToken" not in rest


def test_time_window_and_org_prefix(server: Server, ct: Any, s3_env: str) -> None:
    bucket, _ = trail_bucket(s3_env, broken=False)
    arn = new_store(ct)
    start = HOUR_12
    end = datetime(2023, 7, 10, 12, 30, tzinfo=UTC)
    out = ct.start_import(Destinations=[arn], ImportSource=source(bucket, f"AWSLogs/{ORG}/"),
                          StartEventTime=start, EndEventTime=end)
    assert out["StartEventTime"] == start and out["EndEventTime"] == end
    got = finished(ct, out["ImportId"])
    want = {r["eventID"] for r in HOUR_12_RECORDS if r["eventTime"] <= "2023-07-10T12:30:00Z"}
    assert got["ImportStatus"] == "COMPLETED"
    assert got["ImportStatistics"]["EventsCompleted"] == len(want) > 0
    assert got["ImportStatistics"]["PrefixesFound"] == 1
    assert {e for _, e in rows(server, arn)} == want


def test_window_picks_files_by_the_time_in_their_names(server: Server, ct: Any,
                                                       s3_env: str) -> None:
    """A window after the last file's name time reads no file at all."""
    bucket, _ = trail_bucket(s3_env)
    arn = new_store(ct)
    out = ct.start_import(Destinations=[arn], ImportSource=source(bucket),
                          StartEventTime=datetime(2023, 7, 10, 14, tzinfo=UTC),
                          EndEventTime=datetime(2023, 7, 10, 15, tzinfo=UTC))
    got = finished(ct, out["ImportId"])
    assert got["ImportStatus"] == "COMPLETED"
    assert got["ImportStatistics"]["FilesCompleted"] == 0
    assert got["ImportStatistics"]["FailedEntries"] == 0


def test_events_outside_retention_are_skipped(server: Server, ct: Any, s3_env: str) -> None:
    bucket, _ = trail_bucket(s3_env, broken=False)
    arn = new_store(ct, retention=366)  # the 2023 events are older than a year
    got = finished(ct, ct.start_import(Destinations=[arn],
                                       ImportSource=source(bucket))["ImportId"])
    assert got["ImportStatus"] == "COMPLETED"
    assert got["ImportStatistics"]["FilesCompleted"] == 2
    assert got["ImportStatistics"]["EventsCompleted"] == 0
    assert rows(server, arn) == []


def test_retry_by_import_id_resumes_at_the_failures(server: Server, ct: Any,
                                                    s3_env: str) -> None:
    bucket, keys = trail_bucket(s3_env)
    arn = new_store(ct)
    first = finished(ct, ct.start_import(Destinations=[arn],
                                         ImportSource=source(bucket))["ImportId"])
    import_id = first["ImportId"]
    # The corrupt file is replaced by a good one with three new events.
    fresh = [{**r, "eventID": str(uuid.uuid4())} for r in HOUR_12_RECORDS[:3]]
    _s3(s3_env).put_object(Bucket=bucket, Key=keys["corrupt"], Body=_gz(fresh))
    retried = ct.start_import(ImportId=import_id)
    assert retried["ImportId"] == import_id and retried["Destinations"] == [arn]
    got = finished(ct, import_id)
    assert got["ImportStatus"] == "FAILED"  # the uncompressed file still fails
    stats = got["ImportStatistics"]
    assert stats["FilesCompleted"] == 3  # the two good files were not read again
    assert stats["EventsCompleted"] == len(RECORDS) + 3
    assert stats["FailedEntries"] == 1
    fails = failures(ct, import_id)
    assert fails[f"s3://{bucket}/{keys['corrupt']}"]["Status"] == "SUCCEEDED"
    assert fails[f"s3://{bucket}/{keys['plain']}"]["Status"] == "FAILED"
    assert len(rows(server, arn, extra={r["eventID"] for r in fresh})) == len(RECORDS) + 3


def test_events_the_writer_stored_from_the_ledger_are_not_added_again(
        server: Server, s3_env: str) -> None:
    tenant = Tenant(server, account=RECORD_ACCOUNT)
    ct = tenant.client()
    arn = new_store(ct)
    sent = HOUR_11[:50]
    post_records(server, sent, account=RECORD_ACCOUNT)
    wait_until(lambda: len(rows(server, arn)) == len(sent), timeout=60)
    # The writer's files, named by ledger seqs.
    assert not any(k.rsplit("/", 1)[1].startswith("import-") for k, _ in rows(server, arn))
    bucket, _ = trail_bucket(s3_env, broken=False)
    got = finished(ct, ct.start_import(Destinations=[arn],
                                       ImportSource=source(bucket))["ImportId"])
    assert got["ImportStatistics"]["EventsCompleted"] == len(RECORDS) - len(sent)
    stored = [e for _, e in rows(server, arn)]
    assert sorted(stored) == sorted(r["eventID"] for r in RECORDS)


def test_folder_bucket_of_opentrail(server: Server, ct: Any) -> None:
    """A bucket of OpenTrail's own folder storage (DATA_DIR/buckets/BUCKET) is read there."""
    bucket = f"local-{uuid.uuid4().hex[:8]}"
    path = server.data_dir / "buckets" / bucket / PLAIN_DAY / _name("1200")
    path.parent.mkdir(parents=True)
    path.write_bytes(_gz(HOUR_11))
    arn = new_store(ct)
    got = finished(ct, ct.start_import(Destinations=[arn],
                                       ImportSource=source(bucket))["ImportId"])
    assert got["ImportStatus"] == "COMPLETED"
    assert got["ImportStatistics"]["EventsCompleted"] == len(HOUR_11)


def test_opentrail_trail_bucket(server: Server, tenant: Tenant, ct: Any, s3_env: str) -> None:
    """OpenTrail's own trail delivers to its bucket (S3 here, as the server's
    --s3-endpoint-url makes it); a store created afterwards imports what the trail
    delivered, and a second import adds nothing."""
    assert tenant.account is not None
    bucket = f"ot-{uuid.uuid4().hex[:8]}"
    s3 = _s3(s3_env)
    s3.create_bucket(Bucket=bucket)
    ct.create_trail(Name="to-import", S3BucketName=bucket)
    ct.start_logging(Name="to-import")
    sent = [make_event(when=f"2026-11-20T10:{i:02d}:00Z", account=tenant.account)
            for i in range(20)]
    post_records(server, sent, account=tenant.account)
    ids = {str(e["eventID"]) for e in sent}

    def delivered() -> set[str]:
        out: set[str] = set()
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            if "/CloudTrail/" in item["Key"]:
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                for record in json.loads(gzip.decompress(body))["Records"]:
                    out.update((record["eventID"], record["eventName"]))
        return out

    wait_until(lambda: ids <= delivered(), timeout=60)
    # The trail delivers its own self-audit (the imports below are API calls too): stop
    # it, and wait for the file holding StopLogging, after which nothing more arrives,
    # so that the second import has truly nothing new to add.
    ct.stop_logging(Name="to-import")
    wait_until(lambda: "StopLogging" in delivered(), timeout=60)
    arn = new_store(ct)  # after the events: the writer does not give them to it
    got = finished(ct, ct.start_import(Destinations=[arn],
                                       ImportSource=source(bucket))["ImportId"])
    assert got["ImportStatus"] == "COMPLETED"
    assert got["ImportStatistics"]["EventsCompleted"] >= len(ids)
    assert ids <= {e for _, e in rows(server, arn, extra=ids)}
    again = finished(ct, ct.start_import(Destinations=[arn],
                                         ImportSource=source(bucket))["ImportId"])
    assert again["ImportStatistics"]["EventsCompleted"] == 0
    assert len(rows(server, arn, extra=ids)) == len(ids)


# -- one import per account; stores with an import -----------------------------------------------

@pytest.fixture
def held(server: Server) -> Iterator[tuple[str, Path]]:
    """A bucket of the folder storage whose one log file is a FIFO: the import thread
    blocks reading it, so the import stays ongoing until the test writes the file."""
    bucket = f"held-{uuid.uuid4().hex[:8]}"
    folder = server.data_dir / "buckets" / bucket / PLAIN_DAY
    folder.mkdir(parents=True)
    fifo = folder / _name("1200")
    os.mkfifo(fifo)
    yield bucket, fifo
    release(fifo, wait=5)  # never leave the server's import thread blocked


_RELEASED: set[Path] = set()


def release(fifo: Path, wait: float = 60.0) -> None:
    """Write the FIFO's content (HOUR_11) once, however often called, as soon as the
    import thread opens it for reading; gives up after `wait` seconds without a reader
    (a dead server), so a failing test never hangs."""
    import errno
    import fcntl
    import time

    if fifo in _RELEASED:
        return
    _RELEASED.add(fifo)
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                return
            time.sleep(0.05)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    with os.fdopen(fd, "wb") as f:
        f.write(_gz(HOUR_11))


def test_ongoing_import_blocks_its_account_and_store_then_stops(
        server: Server, tenant: Tenant, ct: Any, held: tuple[str, Path],
        s3_env: str) -> None:
    bucket, fifo = held
    arn = new_store(ct)
    import_id = ct.start_import(Destinations=[arn], ImportSource=source(bucket))["ImportId"]
    assert ct.get_import(ImportId=import_id)["ImportStatus"] in ("INITIALIZING",
                                                                 "IN_PROGRESS")
    assert ct.list_imports(ImportStatus=ct.get_import(ImportId=import_id)["ImportStatus"]
                           )["Imports"][0]["ImportId"] == import_id
    other, _ = trail_bucket(s3_env, broken=False)
    second = new_store(ct, "second")
    got, message = error(ct.start_import, Destinations=[second], ImportSource=source(other))
    assert got == "AccountHasOngoingImportException" and import_id in message
    got, message = error(ct.delete_event_data_store, EventDataStore=arn)
    assert got == "EventDataStoreHasOngoingImportException" and import_id in message
    assert code(ct.update_event_data_store, EventDataStore=arn, RetentionPeriod=3000) == \
        "EventDataStoreHasOngoingImportException"
    # Another store of the account may change, and another account may start an import.
    ct.update_event_data_store(EventDataStore=second, RetentionPeriod=3000)
    neighbour = Tenant(server).client()
    theirs = neighbour.start_import(Destinations=[new_store(neighbour)],
                                    ImportSource=source(other))
    assert theirs["ImportStatus"] == "INITIALIZING"

    stopped = ct.stop_import(ImportId=import_id)
    assert stopped["ImportStatus"] == "STOPPED"
    assert set(stopped["ImportStatistics"]) == {"PrefixesFound", "PrefixesCompleted",
                                                "FilesCompleted", "EventsCompleted",
                                                "FailedEntries"}
    threading.Thread(target=release, args=(fifo,), daemon=True).start()
    # The file being read when StopImport came is finished; the import stays STOPPED.
    wait_until(lambda: ct.get_import(ImportId=import_id)["ImportStatistics"][
        "FilesCompleted"] == 1, timeout=60)
    assert ct.get_import(ImportId=import_id)["ImportStatus"] == "STOPPED"
    assert ct.stop_import(ImportId=import_id)["ImportStatus"] == "STOPPED"  # no change
    # Resume: nothing is left to read, nothing is added twice.
    ct.start_import(ImportId=import_id)
    got_import = finished(ct, import_id)
    assert got_import["ImportStatus"] == "COMPLETED"
    assert got_import["ImportStatistics"]["EventsCompleted"] == len(HOUR_11)
    assert sorted(e for _, e in rows(server, arn)) == sorted(r["eventID"] for r in HOUR_11)
    # Over: the store may be updated and deleted again.
    ct.update_event_data_store(EventDataStore=arn, RetentionPeriod=3000)
    ct.delete_event_data_store(EventDataStore=arn)
    assert finished(neighbour, theirs["ImportId"])["ImportStatus"] == "COMPLETED"


def test_validate_lake_accounts_for_imported_files(server: Server, ct: Any,
                                                   s3_env: str) -> None:
    """Imported files go into the store's signed manifests: validate-lake passes. (Run
    in-process with click's runner: the CLI in a subprocess once aborted at interpreter
    exit under load, "terminate called without an active exception", after its checks.)"""
    from click.testing import CliRunner

    from opentrail.cli.validate_lake import validate_lake

    bucket, _ = trail_bucket(s3_env, broken=False)
    arn = new_store(ct)
    finished(ct, ct.start_import(Destinations=[arn], ImportSource=source(bucket))["ImportId"])
    assert len(rows(server, arn)) == len(RECORDS)
    out = CliRunner().invoke(validate_lake, ["--data-dir", str(server.data_dir), arn])
    assert out.exit_code == 0, out.output


# -- every validation error of §8 --------------------------------------------------------------

def test_start_import_validation(server: Server, tenant: Tenant, ct: Any, s3_env: str) -> None:
    bucket, _ = trail_bucket(s3_env, broken=False)
    arn = new_store(ct)
    raw = tenant.client(validate=False)
    src = source(bucket)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"ImportSource": src}, "InvalidParameterException", "Destinations"),
        ({"Destinations": [], "ImportSource": src}, "InvalidParameterException",
         "exactly one"),
        ({"Destinations": [arn, arn], "ImportSource": src}, "InvalidParameterException",
         "exactly one"),
        ({"Destinations": [arn]}, "InvalidParameterException", "ImportSource"),
        ({"Destinations": [arn], "ImportSource": {"S3": {"S3LocationUri": "s3://x"}}},
         "InvalidParameterException", "S3BucketRegion"),
        ({"Destinations": ["not an arn!"], "ImportSource": src},
         "EventDataStoreARNInvalidException", "not valid"),
        ({"Destinations": [str(uuid.uuid4())], "ImportSource": src},
         "EventDataStoreNotFoundException", "not found"),
        ({"Destinations": [arn], "ImportSource": source("Bad_Bucket")},
         "InvalidImportSourceException", "bucket"),
        ({"Destinations": [arn], "ImportSource": {"S3": {**src["S3"],
                                                         "S3LocationUri": "https://x/y"}}},
         "InvalidImportSourceException", "s3://"),
        ({"Destinations": [arn], "ImportSource": {"S3": {**src["S3"],
                                                         "S3BucketRegion": "moon"}}},
         "InvalidImportSourceException", "Region"),
        ({"Destinations": [arn], "ImportSource": {"S3": {**src["S3"],
                                                         "S3BucketAccessRoleArn": "role"}}},
         "InvalidImportSourceException", "IAM role"),
        ({"Destinations": [arn], "ImportSource": source(f"missing-{uuid.uuid4().hex[:8]}")},
         "InvalidImportSourceException", "does not exist"),
        ({"Destinations": [arn], "ImportSource": src,
          "StartEventTime": datetime(2023, 7, 11, tzinfo=UTC),
          "EndEventTime": datetime(2023, 7, 10, tzinfo=UTC)},
         "InvalidParameterException", "after EndEventTime"),
        ({"ImportId": "abc"}, "InvalidParameterException", "36"),
        ({"ImportId": str(uuid.uuid4())}, "ImportNotFoundException", "not found"),
        ({"ImportId": str(uuid.uuid4()), "Destinations": [arn]}, "InvalidParameterException",
         "only ImportId"),
    ]
    for kwargs, want, words in cases:
        got, message = error(raw.start_import, **kwargs)
        assert (got, words in message) == (want, True), (kwargs, got, message)


def test_destination_status_category_and_deletion(server: Server, tenant: Tenant, ct: Any,
                                                  s3_env: str) -> None:
    bucket, _ = trail_bucket(s3_env, broken=False)
    insight = ct.create_event_data_store(Name="insights", AdvancedEventSelectors=only("Insight"),
                                   TerminationProtectionEnabled=False)["EventDataStoreArn"]
    assert code(ct.start_import, Destinations=[insight], ImportSource=source(bucket)) == \
        "InvalidEventDataStoreCategoryException"
    gone = new_store(ct, "gone")
    ct.delete_event_data_store(EventDataStore=gone)
    assert code(ct.start_import, Destinations=[gone], ImportSource=source(bucket)) == \
        "InactiveEventDataStoreException"
    # A stopped store takes imports (STOPPED_INGESTION).
    stopped = new_store(ct, "stopped", StartIngestion=False)
    out = ct.start_import(Destinations=[stopped], ImportSource=source(bucket))
    assert finished(ct, out["ImportId"])["ImportStatus"] == "COMPLETED"


def test_other_operations_validation(tenant: Tenant, ct: Any) -> None:
    raw = tenant.client(validate=False)
    missing = str(uuid.uuid4())
    for op in (raw.get_import, raw.stop_import):
        assert code(op, ImportId=missing) == "ImportNotFoundException"
        assert code(op, ImportId="x" * 36) == "InvalidParameterException"
        assert code(op, ImportId="") == "InvalidParameterException"
    assert code(raw.list_imports, MaxResults=0) == "InvalidParameterException"
    assert code(raw.list_imports, MaxResults=1001) == "InvalidParameterException"
    assert code(raw.list_imports, ImportStatus="DONE") == "InvalidParameterException"
    assert code(raw.list_imports, Destination="bad arn!") == \
        "EventDataStoreARNInvalidException"
    assert code(raw.list_imports, NextToken="not-a-token") == "InvalidNextTokenException"
    assert code(raw.list_import_failures, ImportId=missing,
                NextToken="not-a-token") == "InvalidNextTokenException"
    assert code(raw.list_import_failures, ImportId=missing,
                MaxResults=0) == "InvalidParameterException"
    assert code(raw.list_import_failures, ImportId="short") == "InvalidParameterException"
    # The model gives ListImportFailures no ImportNotFound: an unknown id lists nothing.
    assert ct.list_import_failures(ImportId=missing)["Failures"] == []


def test_imports_are_per_account(server: Server, ct: Any, s3_env: str) -> None:
    bucket, _ = trail_bucket(s3_env, broken=False)
    arn = new_store(ct)
    import_id = ct.start_import(Destinations=[arn], ImportSource=source(bucket))["ImportId"]
    other = Tenant(server).client()
    assert code(other.get_import, ImportId=import_id) == "ImportNotFoundException"
    assert code(other.stop_import, ImportId=import_id) == "ImportNotFoundException"
    assert other.list_imports()["Imports"] == []
    assert code(other.start_import, Destinations=[arn], ImportSource=source(bucket)) == \
        "EventDataStoreNotFoundException"
    finished(ct, import_id)


# -- the runner without a server: deterministic ongoing states ----------------------------------

class _Sink:
    """An in-memory Lake writer: what ImportRunner needs of LakeWriter."""

    def __init__(self) -> None:
        from opentrail.lake import FolderLocation

        self.lock = threading.RLock()
        self.stored: dict[str, bytes] = {}
        self.location = FolderLocation(Path("/nonexistent"))
        self.location.get = self.stored.__getitem__  # type: ignore[method-assign]

    def files(self, store_id: str) -> list[Any]:
        from opentrail.lake import FileEntry

        return [FileEntry(k.split("/", 1)[1], "", 0, 0, None, None) for k in self.stored
                if k.startswith(store_id + "/")]

    def write_import(self, store: Any, table: Any, name: str) -> list[Any]:
        import pyarrow as pa

        buf = pa.BufferOutputStream()
        pq.write_table(table, buf)
        date = table.column("eventtime")[0].as_py().strftime("%Y-%m-%d")
        self.stored[f"{store.id}/date={date}/{name}.parquet"] = buf.getvalue().to_pybytes()
        return []

    def exclusive(self) -> Any:
        return self.lock


def _runner_setup(tmp_path: Path, backend: Any) -> tuple[Any, Any, Any]:
    """A runner whose state `backend` keeps (each kind in turn), one file in the source."""
    from opentrail.lake import EventDataStore

    now = datetime.now(UTC).timestamp()
    store = EventDataStore(str(uuid.uuid4()), "111122223333", "us-east-1", "s", "ENABLED",
                           tuple(only("Management")), True, False, 3653, False,
                           "EXTENDABLE_RETENTION_PRICING", None, now, now, 0)
    (tmp_path / "buckets" / "bkt1" / PLAIN_DAY).mkdir(parents=True)
    (tmp_path / "buckets" / "bkt1" / PLAIN_DAY / _name("1200")).write_bytes(_gz(HOUR_11))
    sink = _Sink()
    return _node_runner(tmp_path, backend, sink, store), store, sink


def _node_runner(tmp_path: Path, backend: Any, sink: _Sink, store: Any) -> Any:
    from opentrail.clock import SystemClock
    from opentrail.lake import ImportRunner, source_opener

    return ImportRunner(tmp_path, SystemClock(), sink, lambda sid: store,
                        source_opener(tmp_path, None), rows=backend.lake_imports())


def _stored_ids(sink: _Sink) -> list[str]:
    return [e for data in sink.stored.values()
            for e in pq.read_table(io.BytesIO(data)).column("eventid").to_pylist()]


class _StopAfter:
    """A `stop` that is set once it was asked `checks` times: the node running the import
    stops (loses its role) before the file after the `checks`-th."""

    def __init__(self, checks: int) -> None:
        self.checks = checks

    def is_set(self) -> bool:
        self.checks -= 1
        return self.checks < 0


class _Killed(BaseException):
    """The node dies: nothing after this line of it runs (not even its error handling)."""


def test_runner_any_node_answers_and_the_next_one_resumes(tmp_path: Path,
                                                          backends: Any) -> None:
    """Started on one node, the import is seen on another at once; the first node stops
    after the first file, and the second resumes from the done files: every event once."""
    runner, store, sink = _runner_setup(tmp_path, backends.open())
    second = PLAIN_DAY + _name("1300")
    (tmp_path / "buckets" / "bkt1" / second).write_bytes(_gz(HOUR_12_RECORDS))
    other = _node_runner(tmp_path, backends.open(), sink, store)
    job = runner.start(store.account, store, source("bkt1"), None, None)
    assert other.get(store.account, job.id) == job
    assert [i.id for i in other.imports(store.account)] == [job.id]
    with pytest.raises(Exception, match="still in progress"):
        other.start(store.account, store, source("bkt1"), None, None)
    assert runner.step(_StopAfter(1)) is True  # the first file, then the node stops
    half = other.get(store.account, job.id)
    assert (half.status, half.files_completed, half.events_completed) == (
        "IN_PROGRESS", 1, len(HOUR_11))
    assert other.step() is True
    done = runner.get(store.account, job.id)
    assert (done.status, done.files_completed, done.events_completed) == (
        "COMPLETED", 2, len(RECORDS))
    assert sorted(_stored_ids(sink)) == sorted(r["eventID"] for r in RECORDS)
    runner.close()
    other.close()


def test_runner_killed_between_writing_and_marking_done(tmp_path: Path, backends: Any,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """The node dies after writing a batch's Parquet file but before marking its source
    file done: the node that resumes reads that file again and skips its events (they
    are in the store), so none is written twice."""
    runner, store, sink = _runner_setup(tmp_path, backends.open())
    other = _node_runner(tmp_path, backends.open(), sink, store)
    job = runner.start(store.account, store, source("bkt1"), None, None)

    def killed(*args: Any) -> None:
        raise _Killed

    monkeypatch.setattr(runner._rows, "flush", killed)
    with pytest.raises(_Killed):
        runner.step()
    assert sorted(_stored_ids(sink)) == sorted(r["eventID"] for r in HOUR_11)
    assert other.get(store.account, job.id).files_completed == 0
    assert other.step() is True
    done = other.get(store.account, job.id)
    assert (done.status, done.files_completed, done.events_completed) == ("COMPLETED", 1, 0)
    assert sorted(_stored_ids(sink)) == sorted(r["eventID"] for r in HOUR_11)
    runner.close()
    other.close()


def test_runner_stop_before_it_runs_then_resume(tmp_path: Path, backend: Any) -> None:
    from opentrail.errors import AccountHasOngoingImport, EventDataStoreHasOngoingImport

    runner, store, sink = _runner_setup(tmp_path, backend)
    job = runner.start(store.account, store, source("bkt1"), None, None)
    assert job.status == "INITIALIZING"
    with pytest.raises(AccountHasOngoingImport):
        runner.start(store.account, store, source("bkt1"), None, None)
    with pytest.raises(EventDataStoreHasOngoingImport):
        runner.guard(store, "deleted")
    assert runner.stop(store.account, job.id).status == "STOPPED"
    assert runner.step() is False  # nothing ongoing: the stopped import never ran
    runner.guard(store, "deleted")  # no longer ongoing
    assert sink.stored == {}
    assert runner.retry(store.account, job.id).status == "INITIALIZING"
    assert runner.step() is True
    done = runner.get(store.account, job.id)
    assert (done.status, done.events_completed, done.files_completed) == (
        "COMPLETED", len(HOUR_11), 1)
    ids = [e for data in sink.stored.values()
           for e in pq.read_table(io.BytesIO(data)).column("eventid").to_pylist()]
    assert sorted(ids) == sorted(r["eventID"] for r in HOUR_11)
    runner.close()


def test_runner_file_with_invalid_records(tmp_path: Path, backend: Any) -> None:
    """A file whose records the ingest parser refuses in part: its valid records are
    copied and the file is a failure (InvalidRecord) naming the first bad one."""
    runner, store, sink = _runner_setup(tmp_path, backend)
    bad = {k: v for k, v in HOUR_11[0].items() if k != "eventTime"}
    key = PLAIN_DAY + _name("1210")
    (tmp_path / "buckets" / "bkt1" / key).write_bytes(_gz([bad, HOUR_11[1]]))
    for path in (tmp_path / "buckets" / "bkt1" / PLAIN_DAY).iterdir():
        if path.name != key.rsplit("/", 1)[1]:
            path.unlink()  # only the file under test
    job = runner.start(store.account, store, source("bkt1"), None, None)
    assert runner.step() is True
    done = runner.get(store.account, job.id)
    assert (done.status, done.events_completed, done.failed_entries) == ("FAILED", 1, 1)
    [failure] = runner.failures(store.account, job.id)
    assert failure.location == f"s3://bkt1/{key}"
    assert failure.error_type == "InvalidRecord" and "eventTime" in failure.message
    ids = [e for data in sink.stored.values()
           for e in pq.read_table(io.BytesIO(data)).column("eventid").to_pylist()]
    assert ids == [HOUR_11[1]["eventID"]]
    runner.close()


def test_runner_access_problems_are_failures(tmp_path: Path, backend: Any) -> None:
    """A file the bucket refuses to hand over (AccessDenied) is a failure with the
    storage's code; the other files are copied; a retry once access is granted reads it."""
    from opentrail.lake._imports import ImportSource
    from opentrail.storage import FolderStorage, StorageError

    runner, store, _ = _runner_setup(tmp_path, backend)
    denied_key = PLAIN_DAY + _name("1230")
    (tmp_path / "buckets" / "bkt1" / denied_key).write_bytes(_gz(HOUR_12_RECORDS))
    denied = {"on": True}

    class Guarded(FolderStorage):
        def get(self, bucket: str, key: str) -> Any:
            if key == denied_key and denied["on"]:
                raise StorageError("AccessDenied", "Access Denied")
            return super().get(bucket, key)

    runner.open_source = lambda s3: ImportSource("bkt1", "", Guarded(tmp_path / "buckets"))
    job = runner.start(store.account, store, source("bkt1"), None, None)
    assert runner.step() is True
    done = runner.get(store.account, job.id)
    assert (done.status, done.events_completed, done.files_completed) == (
        "FAILED", len(HOUR_11), 1)
    [failure] = runner.failures(store.account, job.id)
    assert (failure.location, failure.status, failure.error_type) == (
        f"s3://bkt1/{denied_key}", "FAILED", "AccessDenied")
    assert "Access Denied" in failure.message
    denied["on"] = False
    runner.retry(store.account, job.id)
    assert [f.status for f in runner.failures(store.account, job.id)] == ["RETRY"]
    assert runner.step() is True
    done = runner.get(store.account, job.id)
    assert (done.status, done.events_completed, done.files_completed) == (
        "COMPLETED", len(RECORDS), 2)
    assert [f.status for f in runner.failures(store.account, job.id)] == ["SUCCEEDED"]
    runner.close()


def test_import_resumes_after_a_server_crash(s3_env: str,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    """kill -9 while an import reads a file: the restarted server resumes it (the state is
    in lake-imports.db) and the store ends with each event once."""
    srv = Server(tmp_path_factory.mktemp("lake-imports-crash") / "data", free_port(),
                 extra_args=("--s3-endpoint-url", s3_env))
    srv.start()
    fifo: Path | None = None
    try:
        tenant = Tenant(srv)
        ct = tenant.client()
        bucket = f"held-{uuid.uuid4().hex[:8]}"
        folder = srv.data_dir / "buckets" / bucket / PLAIN_DAY
        folder.mkdir(parents=True)
        (folder / _name("1100")).write_bytes(_gz(HOUR_11[:100]))
        fifo = folder / _name("1200")
        os.mkfifo(fifo)
        arn = new_store(ct)
        import_id = ct.start_import(Destinations=[arn],
                                    ImportSource=source(bucket))["ImportId"]
        # The first file is copied; the thread then blocks on the FIFO, IN_PROGRESS.
        wait_until(lambda: ct.get_import(ImportId=import_id)["ImportStatus"] == "IN_PROGRESS",
                   timeout=60)
        srv.kill(signal.SIGKILL)
        srv.start()
        threading.Thread(target=release, args=(fifo,), daemon=True).start()
        got = finished(ct, import_id)
        assert got["ImportStatus"] == "COMPLETED"
        assert got["ImportStatistics"]["FilesCompleted"] == 2
        assert sorted(e for _, e in rows(srv, arn)) == sorted(r["eventID"] for r in HOUR_11)
    finally:
        if fifo is not None:
            release(fifo, wait=5)
        srv.kill(signal.SIGTERM)
