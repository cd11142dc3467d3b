"""Lake locations: one contract for the folder and S3 (moto's server on loopback), reads
of a store by pyarrow and DuckDB without any DuckDB extension, and a location that fails
(bucket deleted) while the writer keeps its cursor and recovers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from lakewriting import INVICTUS_ACCOUNT, drain, ingest, invictus, make_store, make_writer

from conftest import make_event
from opentrail.config import Settings, validate_settings
from opentrail.lake import FolderLocation, LakeLocation, S3Location, open_location
from opentrail.storage import StorageError


def _s3(url: str) -> Any:
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


_buckets = iter(range(10_000))


@pytest.fixture(params=["folder", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LakeLocation]:
    if request.param == "folder":
        yield FolderLocation(tmp_path / "lake")
        return
    url = request.getfixturevalue("moto_url")
    bucket = f"lake-{next(_buckets)}"
    _s3(url).create_bucket(Bucket=bucket)
    yield S3Location(bucket, "some/prefix", url)


def test_put_get_keys_delete(location: LakeLocation) -> None:
    location.put("s1/account=1/region=r/date=d/a.parquet", b"one")
    location.put("s1/account=1/region=r/date=d/a.parquet", b"two")  # replaced whole
    location.put("s1/_manifests/000000000000.json", b"{}")
    location.put("s2/x.parquet", b"x")
    assert location.get("s1/account=1/region=r/date=d/a.parquet") == b"two"
    assert location.keys("s1/") == ["s1/_manifests/000000000000.json",
                                    "s1/account=1/region=r/date=d/a.parquet"]
    location.delete(["s1/account=1/region=r/date=d/a.parquet", "s1/never-there.parquet"])
    assert location.keys("s1/") == ["s1/_manifests/000000000000.json"]
    with pytest.raises(StorageError):
        location.get("s1/account=1/region=r/date=d/a.parquet")
    for bad in ("", "a//b", "../x", "s1/.tmp-1"):
        with pytest.raises(StorageError):
            location.put(bad, b"")


def test_a_folder_put_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    location = FolderLocation(tmp_path / "lake")
    location.put("s/account=1/region=r/date=d/f.parquet", b"x" * 100_000)
    folder = tmp_path / "lake" / "s" / "account=1" / "region=r" / "date=d"
    assert [p.name for p in folder.iterdir()] == ["f.parquet"]
    (folder / ".tmp-crashed").write_bytes(b"half")  # what a crash mid-write leaves
    assert location.keys("s/") == ["s/account=1/region=r/date=d/f.parquet"]
    location.delete(["s/account=1/region=r/date=d/f.parquet"])
    assert location.keys("s/") == []


def test_a_store_is_read_through_its_scan(location: LakeLocation, tmp_path: Path) -> None:
    data = tmp_path / "data"
    records = invictus()
    size = ingest(data, [*records, make_event(account=INVICTUS_ACCOUNT, region="eu-west-1")])
    store = make_store()
    writer = make_writer(data, [store], location=location)
    drain(writer, size)
    scan = location.scan(store.id)
    assert len(scan.paths) == 2
    dataset = scan.dataset()
    table = dataset.to_table(columns=["eventid", "account", "region"])
    assert table.num_rows == size
    con = duckdb.connect()
    con.register("store", dataset)  # DuckDB scans the pyarrow dataset: no httpfs needed
    rows = con.execute("SELECT region, count(*) FROM store GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("eu-west-1", 1), ("us-east-1", len(records))]
    assert con.execute("SELECT DISTINCT account FROM store").fetchall() == \
        [(INVICTUS_ACCOUNT,)]


def test_a_deleted_bucket_keeps_the_cursor_and_the_writer_recovers(
        moto_url: str, tmp_path: Path) -> None:
    s3 = _s3(moto_url)
    s3.create_bucket(Bucket="lake-gone")
    data = tmp_path / "data"
    records = invictus()
    size = ingest(data, records[:1000])
    store = make_store()
    location = S3Location("lake-gone", "", moto_url)
    writer = make_writer(data, [store], location=location)
    drain(writer, size)
    for key in location.keys(""):
        s3.delete_object(Bucket="lake-gone", Key=key)
    s3.delete_bucket(Bucket="lake-gone")

    size = ingest(data, records[1000:])
    for _ in range(2):  # every try fails, nothing moves
        with pytest.raises(StorageError):
            writer.step(force=True)
    assert writer.cursor == 1000
    status = writer.status(store.id)
    assert status.last_error is not None and "NoSuchBucket" in status.last_error
    assert status.last_error_time is not None

    s3.create_bucket(Bucket="lake-gone")
    drain(writer, size)
    assert writer.status(store.id).last_error is None
    assert location.scan(store.id).dataset().count_rows() == size - 1000


def test_lake_location_setting(tmp_path: Path) -> None:
    base = Settings(data_dir=tmp_path)
    assert isinstance(open_location(base), FolderLocation)
    folder = open_location(replace(base, lake_location=str(tmp_path / "elsewhere")))
    assert isinstance(folder, FolderLocation) and folder.root == tmp_path / "elsewhere"
    s3 = open_location(replace(base, lake_location="s3://my-lake/a/b/",
                               s3_endpoint_url="http://127.0.0.1:1"))
    assert isinstance(s3, S3Location)
    assert (s3.bucket, s3.prefix, s3.describe("x")) == ("my-lake", "a/b", "s3://my-lake/a/b/x")
    for bad in ("s3://No_Such/x", "http://host/lake", "s3://"):
        with pytest.raises(ValueError, match="--lake-location"):
            validate_settings(replace(base, lake_location=bad))
    # an endpoint for the Lake's bucket, with trails kept in the folder on purpose
    both = replace(base, lake_location="s3://my-lake", s3_endpoint_url="http://127.0.0.1:1",
                   trail_storage="folder")
    assert validate_settings(both, explicit=frozenset({"trail_storage"})) == both
    with pytest.raises(ValueError, match="never use the endpoint"):
        validate_settings(replace(both, lake_location=""), explicit=frozenset({"trail_storage"}))


@pytest.mark.slow
def test_spark_reads_the_documented_layout(tmp_path: Path) -> None:
    """docs/lake.md's `spark.read.parquet(...)`, in Spark local mode, gives the same rows
    as DuckDB's documented read_parquet over the same folder."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    data = tmp_path / "data"
    records = invictus()
    size = ingest(data, [*records, make_event(account=INVICTUS_ACCOUNT, region="eu-west-1",
                                               when="2023-07-11T00:00:00Z")])
    store = make_store()
    drain(make_writer(data, [store]), size)
    base = f"{data}/lake/{store.id}"
    spark = (SparkSession.builder.master("local[1]").appName("lake-read")
             .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false").getOrCreate())
    try:
        df = spark.read.option("basePath", base).parquet(f"{base}/account=*/region=*/date=*")
        df.createOrReplaceTempView("store")
        sql = ("SELECT eventid, account, region, date, useridentity.arn AS arn, "
               "requestparameters, "
               "CAST(eventtime AS STRING) AS t FROM store")
        spark_rows = {_hashable(r) for r in spark.sql(sql).collect()}
        assert spark.read.parquet(base).count() == size  # the store's folder alone works too
    finally:
        spark.stop()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    duck_rows = {_hashable(r) for r in con.execute(
        sql.replace("FROM store", f"FROM read_parquet('{base}/*/*/*/*.parquet', "
                    "hive_partitioning = true, hive_types_autocast = false)")
        .replace("CAST(eventtime AS STRING)", "strftime(eventtime, '%Y-%m-%d %H:%M:%S')")
    ).fetchall()}
    assert len(spark_rows) == size
    assert spark_rows == duck_rows


def _hashable(row: Any) -> tuple[Any, ...]:
    return tuple(tuple(sorted(v.items())) if isinstance(v, dict) else v for v in row)


DOC = Path(__file__).resolve().parents[2] / "docs" / "lake.md"


def _snippet(text: str, after: str, fence: str) -> str:
    start = text.index(f"```{fence}\n", text.index(after)) + len(fence) + 4
    return text[start:text.index("```", start)]


def test_docs_reads_work_and_show_the_schema(tmp_path: Path) -> None:
    """docs/lake.md's DuckDB and pyarrow reads, run as written (paths filled in), and its
    column lists are the schema's own (table_ddl)."""
    from opentrail.lake import table_ddl

    text = DOC.read_text()
    section = text[text.index("## Storage and integrity"):]
    for kind in ("hive", "trino"):
        assert table_ddl("cloudtrail", kind) in section
    data = tmp_path / "data"
    records = invictus()
    size = ingest(data, [*records, make_event(account=INVICTUS_ACCOUNT,
                                               when="2026-02-01T00:00:00Z")])
    store = make_store()
    drain(make_writer(data, [store]), size)

    def fill(code: str) -> str:
        return code.replace("DATA_DIR", str(data)).replace("STORE_ID", store.id)

    rows = duckdb.connect().execute(fill(_snippet(section, "DuckDB, on the folder", "sql")))
    assert rows.fetchall() == [("DescribeInstances", 1)]
    scope: dict[str, Any] = {}
    exec(fill(_snippet(section, "With pyarrow", "python")), scope)  # the documented code
    table = scope["table"]
    assert table.num_rows == size
    assert set(table.column("account").to_pylist()) == {INVICTUS_ACCOUNT}


@pytest.mark.e2e
def test_the_server_writes_stores_to_an_s3_lake(moto_url: str, tmp_path: Path) -> None:
    from conftest import Server, free_port, post_records, wait_until

    _s3(moto_url).create_bucket(Bucket="server-lake")
    server = Server(tmp_path / "data", free_port(), extra_args=(
        "--lake-location", "s3://server-lake/lake", "--s3-endpoint-url", moto_url))
    server.start()
    try:
        client: Any = server.client()
        arn = client.create_event_data_store(Name="s3-store")["EventDataStoreArn"]
        store_id = arn.rsplit("/", 1)[1]
        events = [make_event(f"Call{i}") for i in range(10)]
        post_records(server, events)
        location = S3Location("server-lake", "lake", moto_url)

        def written() -> bool:  # the events, beside the server's own audit records
            scan = location.scan(store_id)
            if not scan.paths:
                return False
            ids = scan.dataset().to_table(columns=["eventid"])
            return {str(e["eventID"]) for e in events} <= set(ids.column(0).to_pylist())

        wait_until(written, timeout=30)
        assert any(k.startswith(f"{store_id}/_manifests/") for k in location.keys(store_id))
    finally:
        import signal

        server.kill(signal.SIGTERM)


@pytest.mark.e2e
def test_get_event_data_store_shows_the_lake_locations_error(moto_url: str,
                                                             tmp_path: Path) -> None:
    """The bucket of the Lake disappears: GetEventDataStore's JSON carries
    `OpenTrailLakeError` (the writer's last error) for raw HTTP clients, botocore leaves
    the unknown member out without failing, and it goes once a write succeeds."""
    import signal

    from conftest import Server, free_port, post_records, wait_until

    s3 = _s3(moto_url)
    s3.create_bucket(Bucket="failing-lake")
    server = Server(tmp_path / "data", free_port(), extra_args=(
        "--lake-location", "s3://failing-lake/lake", "--s3-endpoint-url", moto_url))
    server.start()
    try:
        client: Any = server.client()
        raw: list[dict[str, Any]] = []
        client.meta.events.register(
            "after-call.cloudtrail.GetEventDataStore",
            lambda http_response, **_: raw.append(json.loads(http_response.content)))
        store_id = client.create_event_data_store(Name="failing")["EventDataStoreArn"]
        post_records(server, [make_event("BeforeTheFailure")])
        location = S3Location("failing-lake", "lake", moto_url)
        wait_until(lambda: bool(location.scan(store_id.rsplit("/", 1)[1]).paths), timeout=30)
        got = client.get_event_data_store(EventDataStore=store_id)
        assert "OpenTrailLakeError" not in raw[-1] and "OpenTrailLakeError" not in got
        for key in location.keys(""):
            s3.delete_object(Bucket="failing-lake", Key=f"lake/{key}")
        s3.delete_bucket(Bucket="failing-lake")
        post_records(server, [make_event("DuringTheFailure")])

        def failing() -> bool:
            got = client.get_event_data_store(EventDataStore=store_id)
            assert got["Status"] == "ENABLED" and "OpenTrailLakeError" not in got
            return "OpenTrailLakeError" in raw[-1]

        wait_until(failing, timeout=30)
        error = raw[-1]["OpenTrailLakeError"]
        assert "NoSuchBucket" in error["Message"] and isinstance(error["Timestamp"], float)
        s3.create_bucket(Bucket="failing-lake")
        wait_until(lambda: client.get_event_data_store(EventDataStore=store_id) and
                   "OpenTrailLakeError" not in raw[-1], timeout=90)
    finally:
        server.kill(signal.SIGTERM)
