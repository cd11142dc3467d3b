"""QueryRunner in-process over test-written Parquet files: lifecycle, rows exactly as the
spec shapes them, pages, statistics, cancel, the 10-query limit, 7-day expiry with an
injected clock, ListQueries filters, and DeliveryS3Uri to moto's S3 server with the sign
file verified against the signing key's public key."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lakefiles import Store, empty_table, invictus_records, store_files, write_store

from opentrail.clock import ManualClock
from opentrail.errors import (
    InactiveQuery,
    InvalidDateRange,
    InvalidMaxResults,
    InvalidNextToken,
    InvalidQueryStatement,
    InvalidQueryStatus,
    InvalidS3BucketName,
    MaxConcurrentQueries,
    NotFound,
    QueryIdNotFound,
    S3BucketDoesNotExist,
    ValidationError,
)
from opentrail.lake import DuckDBEngine, QueryRunner, StoreFiles
from opentrail.storage import FolderStorage, S3Storage
from opentrail.trails import SigningKeys

ACCOUNT = "123837392027"
STORE = "6b1c5a62-0c2e-4e8f-8bd1-bcf6c3ee1f01"
SECOND = "0a2b4c6d-1111-4e8f-8bd1-000000000002"
NOW = 1_780_000_000.0
# 2900^3 rows to count: runs until cancelled (no test waits for it to end on its own)
ENDLESS = f"SELECT count(*) FROM {STORE} a CROSS JOIN {STORE} b CROSS JOIN {STORE} c"


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    write_store(root, STORE, invictus_records())
    write_store(root, SECOND, invictus_records()[:10])
    return root


def resolve(ref: str, account: str, region: str) -> Store:
    if ref in (STORE, SECOND) and account == ACCOUNT:
        return Store(ref, ACCOUNT)
    raise NotFound("The specified event data store was not found.",
                   code="EventDataStoreNotFoundException")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def make_runner(tmp_path: Path, lake_root: Path, clock: ManualClock, backend: Any = None,
                **kw: Any) -> QueryRunner:
    """A runner over the test's Parquet files; its queries kept by `backend` (each kind
    in turn, through the `backend` fixture) or, without one, in DATA_DIR/lake-queries.db."""
    engine = DuckDBEngine(StoreFiles(lambda s: store_files(lake_root, s), empty_table),
                          threads=1, memory_limit="512MB")
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    if backend is not None:
        kw["rows"] = backend.lake_queries()
    return QueryRunner(data, clock, engine, resolve, **kw)


@pytest.fixture
def runner(tmp_path: Path, lake_root: Path, clock: ManualClock,
           backend: Any) -> Iterator[QueryRunner]:
    runner = make_runner(tmp_path, lake_root, clock, backend)
    yield runner
    runner.close()


def wait_done(runner: QueryRunner, query_id: str, account: str = ACCOUNT) -> str:
    deadline = time.monotonic() + 60
    while (status := runner.describe(account, query_id).status) in ("QUEUED", "RUNNING"):
        assert time.monotonic() < deadline, "query did not end"
        time.sleep(0.02)
    return status


def test_select_star_pages_of_1000_rows(runner: QueryRunner) -> None:
    records = invictus_records()
    query_id = runner.start(ACCOUNT, f"SELECT eventid, eventname, readonly, eventtime, "
                            f"useridentity, requestparameters FROM {STORE} ORDER BY eventid")
    assert len(query_id) == 36
    assert wait_done(runner, query_id) == "FINISHED"
    pages, token = [], None
    while True:
        page = runner.results(ACCOUNT, query_id, next_token=token)
        pages.append(page)
        token = page.next_token
        if token is None:
            break
    assert [len(p.rows) for p in pages] == [1000, 1000, 900]
    assert all(p.total == 2900 and p.status == "FINISHED" for p in pages)
    rows = [row for p in pages for row in p.rows]
    by_id = {r["eventID"]: r for r in records}
    assert [next(iter(row[0].values())) for row in rows] == sorted(by_id)
    for row in rows[:50]:
        assert [list(cell) for cell in row] == [["eventid"], ["eventname"], ["readonly"],
                                                ["eventtime"], ["useridentity"],
                                                ["requestparameters"]]
        assert all(isinstance(v, str) for cell in row for v in cell.values())
        record = by_id[row[0]["eventid"]]
        assert row[1] == {"eventname": record["eventName"]}
        assert row[2] == {"readonly": "true" if record["readOnly"] else "false"}
        assert row[3]["eventtime"] == record["eventTime"].replace("T", " ").replace("Z", ".000")
        identity = json.loads(row[4]["useridentity"])
        assert identity["arn"] == record["userIdentity"].get("arn")
        params = record.get("requestParameters")
        assert (row[5]["requestparameters"] == "") == (params is None)
    info = runner.describe(ACCOUNT, query_id)
    assert info.events_scanned == 2900 and info.bytes_scanned > 0 and info.total == 2900
    assert info.created == NOW and info.ended == NOW


def test_scanned_statistics_from_the_writers_record(
        tmp_path: Path, lake_root: Path, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """EventsScanned / BytesScanned come from the writer's record of the files (rows and
    bytes per key) without opening them; a listed file the record does not know yet is
    measured from its footer. Either way the numbers are the files' own."""
    import pyarrow.parquet as pq

    from opentrail.lake import _engine

    scan = store_files(lake_root, Store(STORE, ACCOUNT))
    truth = {p[len(scan.base) + 1:]: (pq.ParquetFile(p).metadata.num_rows,
                                      Path(p).stat().st_size) for p in scan.paths}
    assert truth
    footers: list[str] = []
    real = _engine._footers

    def counted(scan: Any, paths: list[str]) -> tuple[int, int]:
        footers.extend(paths)
        return real(scan, paths)

    monkeypatch.setattr(_engine, "_footers", counted)
    first = sorted(truth)[0]
    partial = {k: v for k, v in truth.items() if k != first}
    cases: list[tuple[dict[str, tuple[int, int]], list[str]]] = [
        (truth, []), (partial, [f"{scan.base}/{first}"])]
    for n, (record, opened) in enumerate(cases):
        footers.clear()
        (data := tmp_path / f"data{n}").mkdir()
        files = StoreFiles(lambda s: store_files(lake_root, s), empty_table,
                           recorded=lambda s, record=record: record)  # type: ignore[misc]
        runner = QueryRunner(data, clock,
                             DuckDBEngine(files, threads=1, memory_limit="512MB"), resolve)
        try:
            query_id = runner.start(ACCOUNT, f"SELECT count(*) FROM {STORE}")
            assert wait_done(runner, query_id) == "FINISHED"
            info = runner.describe(ACCOUNT, query_id)
        finally:
            runner.close()
        assert footers == opened
        assert info.events_scanned == 2900 == sum(r for r, _ in truth.values())
        assert info.bytes_scanned == sum(b for _, b in truth.values())


def test_small_pages_and_bad_tokens(runner: QueryRunner) -> None:
    query_id = runner.start(ACCOUNT, f"SELECT eventid FROM {STORE} ORDER BY eventid LIMIT 5")
    wait_done(runner, query_id)
    first = runner.results(ACCOUNT, query_id, max_results=2)
    assert len(first.rows) == 2 and first.next_token
    second = runner.results(ACCOUNT, query_id, next_token=first.next_token, max_results=2)
    third = runner.results(ACCOUNT, query_id, next_token=second.next_token, max_results=2)
    assert len(third.rows) == 1 and third.next_token is None
    assert len({r[0]["eventid"] for r in first.rows + second.rows + third.rows}) == 5
    with pytest.raises(InvalidMaxResults):
        runner.results(ACCOUNT, query_id, max_results=1001)
    with pytest.raises(InvalidNextToken):
        runner.results(ACCOUNT, query_id, next_token="not-a-token")
    other = runner.start(ACCOUNT, f"SELECT eventid FROM {STORE} LIMIT 1")
    wait_done(runner, other)
    with pytest.raises(InvalidNextToken):
        runner.results(ACCOUNT, other, next_token=first.next_token)


def test_pages_of_any_size_cover_every_row_once(runner: QueryRunner) -> None:
    query_id = runner.start(ACCOUNT, f"SELECT eventid FROM {STORE} ORDER BY eventid")
    wait_done(runner, query_id)
    everything = [row[0]["eventid"] for row in runner.results(ACCOUNT, query_id).rows]
    everything += [row[0]["eventid"] for row in runner.results(
        ACCOUNT, query_id, next_token=runner.results(ACCOUNT, query_id).next_token,
        max_results=1000).rows]
    for size in (1, 7, 333, 999, 1000):
        seen, token, calls = [], None, 0
        while True:
            page = runner.results(ACCOUNT, query_id, next_token=token, max_results=size)
            assert len(page.rows) <= size
            seen += [row[0]["eventid"] for row in page.rows]
            token, calls = page.next_token, calls + 1
            if token is None or calls > 3000:
                break
        assert len(seen) == 2900 and seen == sorted(seen) and len(set(seen)) == 2900, size
        assert seen[:2000] == everything


def test_failed_query_says_why_without_a_trace(runner: QueryRunner) -> None:
    query_id = runner.start(ACCOUNT, f"SELECT eventname, count(*) FROM {STORE}")
    assert wait_done(runner, query_id) == "FAILED"
    info = runner.describe(ACCOUNT, query_id)
    assert info.error and info.error.startswith("The query failed: ")
    assert "GROUP BY" in info.error and "Traceback" not in info.error
    assert "\n" not in info.error
    page = runner.results(ACCOUNT, query_id)
    assert page.status == "FAILED" and page.error == info.error and page.rows == []


def test_refused_statements_are_not_queued(runner: QueryRunner) -> None:
    with pytest.raises(InvalidQueryStatement, match="only SELECT"):
        runner.start(ACCOUNT, f"DELETE FROM {STORE}")
    with pytest.raises(InvalidQueryStatement, match="not an event data store you can query"):
        runner.start("111111111111", f"SELECT * FROM {STORE}")
    found, _ = runner.list(ACCOUNT, STORE)
    assert found == []


def test_other_accounts_cannot_see_a_query(runner: QueryRunner) -> None:
    query_id = runner.start(ACCOUNT, f"SELECT eventid FROM {STORE} LIMIT 1")
    wait_done(runner, query_id)
    for call in (runner.describe, runner.results, runner.cancel):
        with pytest.raises(QueryIdNotFound):
            call("111111111111", query_id)  # type: ignore[operator]


def test_cancel_running_and_inactive(runner: QueryRunner) -> None:
    query_id = runner.start(ACCOUNT, ENDLESS)
    assert runner.cancel(ACCOUNT, query_id) == "CANCELLED"
    assert runner.describe(ACCOUNT, query_id).status == "CANCELLED"
    with pytest.raises(InactiveQuery):
        runner.cancel(ACCOUNT, query_id)
    done = runner.start(ACCOUNT, f"SELECT eventid FROM {STORE} LIMIT 1")
    wait_done(runner, done)
    with pytest.raises(InactiveQuery, match="FINISHED"):
        runner.cancel(ACCOUNT, done)


def test_ten_active_queries_per_account(runner: QueryRunner) -> None:
    started = [runner.start(ACCOUNT, ENDLESS) for _ in range(10)]
    try:
        with pytest.raises(MaxConcurrentQueries, match="10"):
            runner.start(ACCOUNT, ENDLESS)
    finally:
        for query_id in started:
            runner.cancel(ACCOUNT, query_id)
    statuses = {runner.describe(ACCOUNT, q).status for q in started}
    assert statuses == {"CANCELLED"}
    again = runner.start(ACCOUNT, f"SELECT eventid FROM {STORE} LIMIT 1")
    assert wait_done(runner, again) == "FINISHED"


def test_timeout_keeps_the_rows_found(tmp_path: Path, lake_root: Path,
                                      clock: ManualClock, backend: Any) -> None:
    runner = make_runner(tmp_path, lake_root, clock, backend, timeout=0.5)
    try:
        query_id = runner.start(ACCOUNT, ENDLESS)
        assert wait_done(runner, query_id) == "TIMED_OUT"
        info = runner.describe(ACCOUNT, query_id)
        assert info.error and "longer than" in info.error
    finally:
        runner.close()


def test_results_kept_seven_days(runner: QueryRunner, clock: ManualClock) -> None:
    query_id = runner.start(ACCOUNT, f"SELECT eventid FROM {STORE} LIMIT 3")
    wait_done(runner, query_id)
    clock.advance(7 * 86400 - 1)
    assert len(runner.results(ACCOUNT, query_id).rows) == 3
    assert [q.id for q in runner.list(ACCOUNT, STORE)[0]] == [query_id]
    clock.advance(2)
    with pytest.raises(QueryIdNotFound):
        runner.describe(ACCOUNT, query_id)
    assert runner.list(ACCOUNT, STORE)[0] == []
    assert runner.purge() == 0  # list already purged it


def test_restart_fails_what_was_running(tmp_path: Path, lake_root: Path,
                                        clock: ManualClock, backend: Any) -> None:
    runner = make_runner(tmp_path, lake_root, clock, backend)
    query_id = runner.start(ACCOUNT, ENDLESS)
    runner.close()
    again = make_runner(tmp_path, lake_root, clock, backend)
    try:
        info = again.describe(ACCOUNT, query_id)
        assert info.status in ("FAILED", "CANCELLED")
    finally:
        again.close()


def test_list_queries_filters(runner: QueryRunner, clock: ManualClock) -> None:
    ids = []
    for i in range(3):
        ids.append(runner.start(ACCOUNT, f"SELECT eventid FROM {STORE} LIMIT {i + 1}"))
        wait_done(runner, ids[-1])
        clock.advance(60)
    bad = runner.start(ACCOUNT, f"SELECT eventname, count(*) FROM {SECOND}")
    wait_done(runner, bad)
    found, token = runner.list(ACCOUNT, STORE)
    assert [q.id for q in found] == ids[::-1] and token is None
    first, token = runner.list(ACCOUNT, STORE, max_results=2)
    assert token and [q.id for q in first] == ids[:0:-1]
    rest, token = runner.list(ACCOUNT, STORE, max_results=2, next_token=token)
    assert [q.id for q in rest] == ids[:1] and token is None
    assert [q.id for q in runner.list(ACCOUNT, STORE, start=NOW + 60)[0]] == ids[:0:-1]
    assert [q.id for q in runner.list(ACCOUNT, STORE, end=NOW + 60)[0]] == ids[1::-1]
    assert [q.id for q in runner.list(ACCOUNT, SECOND, status="FAILED")[0]] == [bad]
    assert runner.list(ACCOUNT, STORE, status="FAILED")[0] == []
    with pytest.raises(InvalidDateRange):
        runner.list(ACCOUNT, STORE, start=NOW + 10, end=NOW)
    with pytest.raises(InvalidQueryStatus):
        runner.list(ACCOUNT, STORE, status="DONE")
    with pytest.raises(InvalidMaxResults):
        runner.list(ACCOUNT, STORE, max_results=0)


# -- DeliveryS3Uri ---------------------------------------------------------------------------

def _verify_sign_file(sign: dict[str, Any], bodies: dict[str, bytes],
                      keys: SigningKeys) -> None:
    assert sign["version"] == "1.0" and sign["region"] == "us-east-1"
    assert sign["hashAlgorithm"] == "SHA-256" and sign["signatureAlgorithm"] == "SHA256withRSA"
    assert [f["fileName"] for f in sign["files"]] == sorted(bodies)
    for entry in sign["files"]:
        assert entry["fileHashValue"] == hashlib.sha256(bodies[entry["fileName"]]).hexdigest()
    key = next(k for k in keys.between("us-east-1", 0, NOW + 10)
               if k.fingerprint == sign["publicKeyFingerprint"])
    public = serialization.load_der_public_key(key.public_der)
    signed = " ".join(f["fileHashValue"] for f in sign["files"]).encode()
    public.verify(bytes.fromhex(sign["hashSignature"]), signed,  # type: ignore[union-attr,call-arg]
                  padding.PKCS1v15(), hashes.SHA256())  # type: ignore[arg-type]


def test_delivery_to_s3_with_a_signed_sign_file(tmp_path: Path, lake_root: Path,
                                                 clock: ManualClock, moto_url: str,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 backend: Any) -> None:
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3.create_bucket(Bucket="lake-results")
    keys = SigningKeys(tmp_path / "signing-keys", clock)
    runner = make_runner(tmp_path, lake_root, clock, backend, storage=S3Storage(moto_url),
                         signing_keys=keys)
    try:
        with pytest.raises(S3BucketDoesNotExist):
            runner.start(ACCOUNT, f"SELECT 1 FROM {STORE}", delivery_uri="s3://no-such-bucket")
        with pytest.raises(InvalidS3BucketName):
            runner.start(ACCOUNT, f"SELECT 1 FROM {STORE}", delivery_uri="s3://Bad_Bucket")
        with pytest.raises(ValidationError, match="S3 URI"):
            runner.start(ACCOUNT, f"SELECT 1 FROM {STORE}", delivery_uri="https://x/y")
        sql = (f"SELECT eventname, count(*) AS n FROM {STORE} GROUP BY eventname "
               "ORDER BY n DESC, eventname")
        query_id = runner.start(ACCOUNT, sql, delivery_uri="s3://lake-results/team/q")
        assert wait_done(runner, query_id) == "FINISHED"
        deadline = time.monotonic() + 30
        while runner.describe(ACCOUNT, query_id).delivery_status == "PENDING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert runner.describe(ACCOUNT, query_id).delivery_status == "SUCCESS"
        folder = f"team/q/AWSLogs/{ACCOUNT}/CloudTrail-Lake/Query/2026/05/28/{query_id}"
        listed = s3.list_objects_v2(Bucket="lake-results", Prefix=folder)["Contents"]
        names = sorted(o["Key"].rsplit("/", 1)[1] for o in listed)
        assert names == ["result_1.csv.gz", "result_sign.json"]
        body = s3.get_object(Bucket="lake-results", Key=f"{folder}/result_1.csv.gz")["Body"].read()
        table = list(csv.reader(io.StringIO(gzip.decompress(body).decode())))
        page = runner.results(ACCOUNT, query_id)
        assert table[0] == ["eventname", "n"]
        assert table[1:] == [[c["eventname"], c["n"]] for c in
                             ({**row[0], **row[1]} for row in page.rows)]
        sign = json.loads(s3.get_object(Bucket="lake-results",
                                        Key=f"{folder}/result_sign.json")["Body"].read())
        assert sign["queryCompleteTime"] == "2026-05-28T20:26:40Z"
        _verify_sign_file(sign, {"result_1.csv.gz": body}, keys)
    finally:
        runner.close()


def test_delivery_to_an_object_lock_bucket_records_each_version(
        tmp_path: Path, lake_root: Path, clock: ManualClock, moto_url: str,
        monkeypatch: pytest.MonkeyPatch, backend: Any) -> None:
    """Under Object Lock each result object is written with a lock, and its VersionId and
    lock are recorded; the record outlives the query's 7 days, as evidence needs."""
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    worm = f"lake-worm-{backend.kind}"  # one moto server for every backend
    s3.create_bucket(Bucket=worm, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=worm, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    runner = make_runner(tmp_path, lake_root, clock, backend, storage=S3Storage(moto_url),
                         signing_keys=SigningKeys(tmp_path / "signing-keys", clock))
    try:
        query_id = runner.start(ACCOUNT, f"SELECT eventname FROM {STORE} LIMIT 3",
                                delivery_uri=f"s3://{worm}/q")
        assert wait_done(runner, query_id) == "FINISHED"
        deadline = time.monotonic() + 30
        while runner.describe(ACCOUNT, query_id).delivery_status == "PENDING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert runner.describe(ACCOUNT, query_id).delivery_status == "SUCCESS"
        delivered = runner.delivered(ACCOUNT, query_id)
        assert [d.key.rsplit("/", 1)[1] for d in delivered] == ["result_1.csv.gz",
                                                                "result_sign.json"]
        for d in delivered:
            assert d.bucket == worm and d.version_id and d.lock_mode == "GOVERNANCE"
            head = s3.head_object(Bucket=worm, Key=d.key, VersionId=d.version_id)
            assert head["VersionId"] == d.version_id
            assert head["ObjectLockMode"] == "GOVERNANCE"
            assert head["ObjectLockRetainUntilDate"].timestamp() == d.retain_until
        assert runner.delivered("999999999999", query_id) == []  # another account's
        clock.advance(8 * 86400)
        assert runner.purge() >= 1
        assert runner.delivered(ACCOUNT, query_id) == delivered  # kept as evidence
    finally:
        runner.close()


def test_delivery_to_the_folder_storage(tmp_path: Path, lake_root: Path,
                                        clock: ManualClock, backend: Any) -> None:
    storage = FolderStorage(tmp_path / "buckets")
    (tmp_path / "buckets" / "results").mkdir(parents=True)
    keys = SigningKeys(tmp_path / "signing-keys", clock)
    runner = make_runner(tmp_path, lake_root, clock, backend, storage=storage,
                         signing_keys=keys)
    try:
        query_id = runner.start(ACCOUNT, f"SELECT eventid FROM {STORE} WHERE eventid = 'none'",
                                delivery_uri="s3://results")
        wait_done(runner, query_id)
        deadline = time.monotonic() + 30
        while runner.describe(ACCOUNT, query_id).delivery_status == "PENDING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        keys_found = storage.list("results")
        assert [k.rsplit("/", 1)[1] for k in keys_found] == ["result_1.csv.gz",
                                                             "result_sign.json"]
        body = storage.get("results", keys_found[0]).body
        assert gzip.decompress(body) == b"eventid\n"  # no rows: the header alone
        sign = json.loads(storage.get("results", keys_found[1]).body)
        _verify_sign_file(sign, {"result_1.csv.gz": body}, keys)
    finally:
        runner.close()


def test_cancelled_query_is_not_delivered(tmp_path: Path, lake_root: Path,
                                          clock: ManualClock, backend: Any) -> None:
    storage = FolderStorage(tmp_path / "buckets")
    (tmp_path / "buckets" / "results").mkdir(parents=True)
    runner = make_runner(tmp_path, lake_root, clock, backend, storage=storage,
                         signing_keys=SigningKeys(tmp_path / "keys", clock))
    try:
        query_id = runner.start(ACCOUNT, ENDLESS, delivery_uri="s3://results/x")
        runner.cancel(ACCOUNT, query_id)
        assert wait_done(runner, query_id) == "CANCELLED"
        assert runner.describe(ACCOUNT, query_id).delivery_status == "CANCELLED"
    finally:
        runner.close()
    assert storage.list("results") == []


@pytest.mark.parametrize(("flags", "problem"), [
    ({"lake_engine": "trino"}, "--lake-engine must be 'duckdb' or 'spark'"),
    ({"lake_engine": "spark", "spark_remote": "http://x:15002"}, "sc://HOST:PORT"),
    ({"spark_remote": "sc://spark:15002"}, "queries would never use it"),
    ({"query_timeout": 0}, "--query-timeout must be at least 1"),
])
def test_engine_settings_are_checked_at_start(flags: dict[str, Any], problem: str) -> None:
    from opentrail.config import settings_from

    with pytest.raises(ValueError, match=problem):
        settings_from(None, flags)
    good = settings_from(None, {"lake_engine": "spark", "spark_remote": "sc://spark:15002"})
    assert good.lake_engine == "spark" and good.query_timeout == 3600


# -- several nodes on one database (the `backends` fixture: two nodes on one SQLite data
# dir or one PostgreSQL database) -------------------------------------------------------------

def _wait_idle(runner: QueryRunner) -> None:
    deadline = time.monotonic() + 60
    while runner._active:
        assert time.monotonic() < deadline, "the node did not stop its query"
        time.sleep(0.02)


def test_any_node_describes_reads_lists_and_cancels(tmp_path: Path, lake_root: Path,
                                                     backends: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """StartQuery on one node; DescribeQuery, GetQueryResults, ListQueries and CancelQuery
    on another. The query runs where it started, and that node stops it when another
    node cancelled it (at its next heartbeat)."""
    from opentrail.lake import _queries

    monkeypatch.setattr(_queries, "HEARTBEAT", 0.05)
    one = make_runner(tmp_path / "one", lake_root, ManualClock(NOW), backends.open(),
                      node="one")
    two = make_runner(tmp_path / "two", lake_root, ManualClock(NOW), backends.open(),
                      node="two")
    try:
        query_id = one.start(ACCOUNT, f"SELECT eventid FROM {STORE} ORDER BY eventid "
                                      "LIMIT 1500")
        assert wait_done(two, query_id) == "FINISHED"
        assert two.describe(ACCOUNT, query_id).node == "one"
        first = two.results(ACCOUNT, query_id, max_results=1000)
        rest = two.results(ACCOUNT, query_id, next_token=first.next_token)
        assert first.rows + rest.rows == [
            *one.results(ACCOUNT, query_id).rows, *one.results(
                ACCOUNT, query_id, next_token=first.next_token).rows]
        assert len(first.rows + rest.rows) == 1500
        assert [q.id for q in two.list(ACCOUNT, STORE)[0]] == [query_id]
        endless = one.start(ACCOUNT, ENDLESS)
        assert two.cancel(ACCOUNT, endless) == "CANCELLED"
        _wait_idle(one)  # the first node stopped running it
        assert one.describe(ACCOUNT, endless).status == "CANCELLED"
    finally:
        one.close()
        two.close()


def test_the_limit_of_active_queries_holds_across_nodes(tmp_path: Path, lake_root: Path,
                                                        backends: Any) -> None:
    nodes = [make_runner(tmp_path / name, lake_root, ManualClock(NOW), backends.open(),
                         node=name, workers=1) for name in ("one", "two")]
    started = []
    try:
        for n in range(10):
            started.append((nodes[n % 2], nodes[n % 2].start(ACCOUNT, ENDLESS)))
        for node in nodes:
            with pytest.raises(MaxConcurrentQueries):
                node.start(ACCOUNT, ENDLESS)
    finally:
        for node, query_id in started:
            node.cancel(ACCOUNT, query_id)
        for node in nodes:
            node.close()


def test_a_query_whose_node_stopped_is_failed_by_another(tmp_path: Path, lake_root: Path,
                                                         backends: Any) -> None:
    """The node running a query goes silent (its heartbeats stop: here its clock stands
    still while the other node's moves on): after LEASE seconds another node ends the
    query FAILED, saying why, instead of leaving it RUNNING for ever."""
    from opentrail.lake._queries import LEASE

    later = ManualClock(NOW)
    one = make_runner(tmp_path / "one", lake_root, ManualClock(NOW), backends.open(),
                      node="one")
    two = make_runner(tmp_path / "two", lake_root, later, backends.open(), node="two")
    try:
        query_id = one.start(ACCOUNT, ENDLESS)
        later.advance(LEASE - 1)
        assert two.describe(ACCOUNT, query_id).status in ("QUEUED", "RUNNING")
        later.advance(2)
        info = two.describe(ACCOUNT, query_id)
        assert info.status == "FAILED" and info.error and "stopped" in info.error
        _wait_idle(one)  # the silent node, if alive after all, stops it too
        assert one.describe(ACCOUNT, query_id).status == "FAILED"
    finally:
        one.close()
        two.close()


def test_a_node_restarted_under_its_name_fails_what_it_left(backend: Any) -> None:
    """What a node left QUEUED or RUNNING when it was killed is FAILED when it starts
    again (same name: DATA_DIR/node-id), without waiting for the lease."""
    from opentrail.lake._queries import RESTARTED
    from opentrail.lake._query_rows import NewQuery

    rows = backend.lake_queries()
    left = NewQuery("q-left", ACCOUNT, ACCOUNT, "us-east-1", "SELECT 1", NOW, None, None,
                    "one")
    others = left._replace(id="q-other", node="two")
    assert rows.add(left, [STORE], 10) == 0 and rows.add(others, [STORE], 10) == 1
    assert rows.fail_orphans(RESTARTED, NOW + 1, node="one") == 1
    info, other = rows.info("q-left"), rows.info("q-other")
    assert info is not None and (info.status, info.error, info.ended) == (
        "FAILED", RESTARTED, NOW + 1)
    assert other is not None and other.status == "QUEUED"  # another node's: not touched
    assert rows.heartbeat("two", NOW + 5, ["q-other", "q-left"]) == {
        "q-other": "QUEUED", "q-left": "FAILED"}
    assert rows.fail_orphans("gone", NOW + 30, before=NOW + 5) == 0  # beat at NOW + 5
    assert rows.fail_orphans("gone", NOW + 30, before=NOW + 6) == 1
    rows.close()


def test_a_queries_file_from_before_nodes_opens_and_its_orphans_end(
        tmp_path: Path, lake_root: Path, clock: ManualClock) -> None:
    """lake-queries.db as earlier releases made it (no node columns): opened as it is,
    the columns are added, and a query it left RUNNING ends FAILED instead of staying
    RUNNING; its finished queries read as before."""
    import sqlite3

    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "lake-queries.db") as conn:
        conn.executescript("""
            CREATE TABLE queries (
                id TEXT PRIMARY KEY, account TEXT NOT NULL, owner TEXT NOT NULL,
                region TEXT NOT NULL, statement TEXT NOT NULL, status TEXT NOT NULL,
                created REAL NOT NULL, started REAL, ended REAL, error TEXT, columns BLOB,
                total INTEGER NOT NULL DEFAULT 0, events_scanned INTEGER NOT NULL DEFAULT 0,
                bytes_scanned INTEGER NOT NULL DEFAULT 0, millis INTEGER NOT NULL DEFAULT 0,
                delivery_uri TEXT, delivery_status TEXT);
            CREATE TABLE query_stores (store TEXT NOT NULL, query TEXT NOT NULL,
                PRIMARY KEY (store, query)) WITHOUT ROWID;
            CREATE TABLE query_rows (query TEXT NOT NULL, n INTEGER NOT NULL,
                row BLOB NOT NULL, PRIMARY KEY (query, n)) WITHOUT ROWID;""")
        for qid, status in (("old-running", "RUNNING"), ("old-done", "FINISHED")):
            conn.execute("INSERT INTO queries (id, account, owner, region, statement, "
                         "status, created, ended, total) VALUES (?, ?, ?, 'us-east-1', "
                         "'SELECT 1', ?, ?, ?, 1)", (qid, ACCOUNT, ACCOUNT, status,
                                                     NOW - 3600, NOW - 60 if status ==
                                                     "FINISHED" else None))
            conn.execute("INSERT INTO query_stores VALUES (?, ?)", (STORE, qid))
        conn.execute("INSERT INTO query_rows VALUES ('old-done', 0, ?)",
                     (b'[{"n": "1"}]',))
    runner = make_runner(tmp_path, lake_root, clock)
    try:
        orphan = runner.describe(ACCOUNT, "old-running")
        assert orphan.status == "FAILED" and orphan.node is None
        assert runner.results(ACCOUNT, "old-done").rows == [[{"n": "1"}]]
        assert {q.id for q in runner.list(ACCOUNT, STORE)[0]} == {"old-running", "old-done"}
    finally:
        runner.close()


def test_a_dead_nodes_queries_do_not_hold_the_accounts_places(
        tmp_path: Path, lake_root: Path, clock: ManualClock, backend: Any) -> None:
    """Ten queries a dead node left QUEUED (no heartbeat for over the lease) do not stop
    the account's next StartQuery on a live node: they are FAILED first."""
    from opentrail.lake._queries import LEASE, MAX_ACTIVE
    from opentrail.lake._query_rows import NewQuery

    rows = backend.lake_queries()
    for n in range(MAX_ACTIVE):
        rows.add(NewQuery(f"dead-{n}", ACCOUNT, ACCOUNT, "us-east-1", "SELECT 1",
                          NOW - LEASE - 1, None, None, "dead"), [STORE], MAX_ACTIVE)
    rows.close()
    runner = make_runner(tmp_path, lake_root, clock, backend)
    try:
        query_id = runner.start(ACCOUNT, f"SELECT eventid FROM {STORE} LIMIT 1")
        assert wait_done(runner, query_id) == "FINISHED"
        assert runner.describe(ACCOUNT, "dead-0").status == "FAILED"
    finally:
        runner.close()
