"""Lake queries end to end: invictus imported with the real `opentrail import` into a real
server with an event data store, then queried with boto3's cloudtrail client; answers
checked against counts computed here from the raw files."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lakefiles import DATASET, invictus_records

from conftest import Server, free_port, make_event, post_records, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACCOUNT = "123837392027"  # the records' account
# The store also receives OpenTrail's own audit records of these calls (management events
# of the same account, dated today): the invictus events are those before 2024.
INVICTUS = "eventtime < '2024-01-01'"


@pytest.fixture(scope="module")
def lake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("lakeapi")
    server = Server(tmp / "data", free_port(), ("--history-retention-days", "0"))
    server.start()
    try:
        client: Any = server.client(account=ACCOUNT)
        store = client.create_event_data_store(Name="investigations", RetentionPeriod=3653)
        store_id = store["EventDataStoreArn"].rsplit("/", 1)[1]
        wait_until(lambda: client.get_event_data_store(
            EventDataStore=store_id)["Status"] == "ENABLED", timeout=30)
        proc = subprocess.run(
            [sys.executable, "-m", "opentrail", "import", "--endpoint-url", server.endpoint,
             str(DATASET / "CloudTrail")], capture_output=True, text=True, timeout=300,
            env=server.env(role="writer", account=ACCOUNT))
        assert proc.returncode == 0, proc.stderr
        state = {"server": server, "client": client, "store": store_id,
                 "records": invictus_records()}
        wait_until(lambda: _count_all(state) == 2900, timeout=120)
        yield state
    finally:
        server.kill(signal.SIGTERM)


def _count_all(state: dict[str, Any]) -> int:
    rows = run(state["client"], f"SELECT count(*) AS n FROM {state['store']} WHERE {INVICTUS}")
    return int(rows[0][0]["n"])


def finish(client: Any, query_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        info: dict[str, Any] = client.describe_query(QueryId=query_id)
        if info["QueryStatus"] not in ("QUEUED", "RUNNING"):
            return info
        assert time.monotonic() < deadline, info
        time.sleep(0.1)


def rows_of(client: Any, query_id: str, page: int | None = None) -> list[Any]:
    rows, token = [], None
    while True:
        kw: dict[str, Any] = {"QueryId": query_id}
        if token:
            kw["NextToken"] = token
        if page:
            kw["MaxQueryResults"] = page
        answer = client.get_query_results(**kw)
        assert answer["QueryStatistics"]["ResultsCount"] == len(answer["QueryResultRows"])
        rows += answer["QueryResultRows"]
        token = answer.get("NextToken")
        if not token:
            return rows


def run(client: Any, sql: str) -> list[Any]:
    query_id = client.start_query(QueryStatement=sql)["QueryId"]
    info = finish(client, query_id)
    assert info["QueryStatus"] == "FINISHED", info
    return rows_of(client, query_id)


def test_spec_examples_answer_as_computed(lake_server: dict[str, Any]) -> None:
    client, store, records = lake_server["client"], lake_server["store"], lake_server["records"]
    rows = run(client, f"SELECT * FROM {store} WHERE eventtime >='2023-01-05 13:51:00' and "
                       "eventtime <='2023-01-19 13:51:00'")
    assert rows == []
    rows = run(client, f"SELECT * FROM {store} WHERE eventsource = 'signin.amazonaws.com' "
                       "AND eventname = 'ConsoleLogin' AND element_at(additionaleventdata, "
                       "'MFAUsed') = 'No'")
    expected = [r for r in records if r["eventName"] == "ConsoleLogin"
                and (r.get("additionalEventData") or {}).get("MFAUsed") == "No"]
    assert len(rows) == len(expected) == 1
    cells = dict(kv for cell in rows[0] for kv in cell.items())
    assert cells["eventid"] == expected[0]["eventID"]
    assert json.loads(cells["eventjson"])["eventID"] == expected[0]["eventID"]
    rows = run(client, f"""SELECT COUNT(*) AS apiCount, eventName, userIdentity.principalid
        FROM {store} WHERE eventTime >= '2022-01-08 00:00:00' AND eventSource='iam.amazonaws.com'
          AND {INVICTUS}
        GROUP BY eventName, userIdentity.principalid ORDER BY apiCount DESC""")
    counts = Counter((r["eventName"], r["userIdentity"].get("principalId", ""))
                     for r in records if r["eventSource"] == "iam.amazonaws.com")
    assert {(row[1]["eventname"], row[2]["principalid"]): int(row[0]["apicount"])
            for row in rows} == dict(counts)
    assert [list(cell) for cell in rows[0]] == [["apicount"], ["eventname"], ["principalid"]]


def test_pages_of_1000_and_statistics(lake_server: dict[str, Any]) -> None:
    client, store = lake_server["client"], lake_server["store"]
    query_id = client.start_query(
        QueryStatement=f"SELECT eventid, eventtime FROM {store} WHERE {INVICTUS} "
                       "ORDER BY eventid")["QueryId"]
    info = finish(client, query_id)
    stats = info["QueryStatistics"]
    assert stats["EventsScanned"] >= 2900 and stats["BytesScanned"] > 0
    assert stats["EventsMatched"] == 2900 and "CreationTime" in stats
    first = client.get_query_results(QueryId=query_id)
    assert len(first["QueryResultRows"]) == 1000
    assert first["QueryStatistics"]["TotalResultsCount"] == 2900
    rows = rows_of(client, query_id)
    assert [r[0]["eventid"] for r in rows] == sorted(r["eventID"] for r in
                                                    lake_server["records"])
    assert len(rows_of(client, query_id, page=700)) == 2900


def test_errors_are_aws_shaped(lake_server: dict[str, Any]) -> None:
    client, store = lake_server["client"], lake_server["store"]
    cases = [
        (lambda: client.start_query(QueryStatement=f"DELETE FROM {store}"),
         "InvalidQueryStatementException", "only SELECT"),
        (lambda: client.start_query(
            QueryStatement="SELECT * FROM 00000000-0000-4000-8000-000000000000"),
         "InvalidQueryStatementException", "not an event data store"),
        (lambda: client.describe_query(QueryId="0" * 36), "QueryIdNotFoundException", ""),
        (lambda: client.start_query(QueryStatement=f"SELECT 1 FROM {store}",
                                    QueryAlias="x"), "InvalidParameterCombinationException",
         ""),
        (lambda: client.list_queries(EventDataStore=store, QueryStatus="DONE"),
         "InvalidQueryStatusException", "DONE"),
        (lambda: client.list_queries(EventDataStore=store, StartTime=2000, EndTime=1000),
         "InvalidDateRangeException", ""),
        (lambda: client.start_query(QueryStatement=f"SELECT 1 FROM {store}",
                                    DeliveryS3Uri="s3://Not_A_Bucket/x"),
         "InvalidS3BucketNameException", "Not_A_Bucket"),
    ]
    for call, code, words in cases:
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == code
        assert words in caught.value.response["Error"]["Message"]
    query_id = client.start_query(QueryStatement=f"SELECT eventname, count(*) FROM {store}")[
        "QueryId"]
    info = finish(client, query_id)
    assert info["QueryStatus"] == "FAILED" and "GROUP BY" in info["ErrorMessage"]
    with pytest.raises(ClientError) as caught:
        client.cancel_query(QueryId=query_id)
    assert caught.value.response["Error"]["Code"] == "InactiveQueryException"


def test_reader_may_query_other_accounts_may_not(lake_server: dict[str, Any]) -> None:
    server, store = lake_server["server"], lake_server["store"]
    reader: Any = server.client(role="reader", account=ACCOUNT)
    query_id = reader.start_query(QueryStatement=f"SELECT eventid FROM {store} LIMIT 2")[
        "QueryId"]
    assert finish(reader, query_id)["QueryStatus"] == "FINISHED"
    listed = reader.list_queries(EventDataStore=store, QueryStatus="FINISHED")["Queries"]
    assert query_id in [q["QueryId"] for q in listed]
    stranger: Any = server.client(account="111111111111")
    with pytest.raises(ClientError) as caught:
        stranger.get_query_results(QueryId=query_id)
    assert caught.value.response["Error"]["Code"] == "QueryIdNotFoundException"
    with pytest.raises(ClientError) as caught:
        stranger.start_query(QueryStatement=f"SELECT * FROM {store}")
    assert caught.value.response["Error"]["Code"] == "InvalidQueryStatementException"


def test_delivery_to_a_folder_bucket_verified_with_list_public_keys(
        lake_server: dict[str, Any]) -> None:
    server, client, store = lake_server["server"], lake_server["client"], lake_server["store"]
    (server.data_dir / "buckets" / "query-results").mkdir(parents=True, exist_ok=True)
    query_id = client.start_query(
        QueryStatement=f"SELECT eventsource, count(*) AS n FROM {store} WHERE {INVICTUS} "
                       "GROUP BY eventsource "
                       "ORDER BY n DESC", DeliveryS3Uri="s3://query-results/lake")["QueryId"]
    finish(client, query_id)
    wait_until(lambda: client.describe_query(QueryId=query_id)["DeliveryStatus"] != "PENDING",
               timeout=30)
    info = client.describe_query(QueryId=query_id)
    assert info["DeliveryStatus"] == "SUCCESS" and info["DeliveryS3Uri"] == \
        "s3://query-results/lake"
    sign_path = next((server.data_dir / "buckets" / "query-results").rglob("result_sign.json"))
    assert f"lake/AWSLogs/{ACCOUNT}/CloudTrail-Lake/Query/" in str(sign_path)
    assert sign_path.parent.name == query_id
    sign = json.loads(sign_path.read_text())
    body = (sign_path.parent / "result_1.csv.gz").read_bytes()
    assert sign["files"] == [{"fileHashValue": hashlib.sha256(body).hexdigest(),
                              "fileName": "result_1.csv.gz"}]
    keys = client.list_public_keys(StartTime=0)["PublicKeyList"]
    key = next(k for k in keys if k["Fingerprint"] == sign["publicKeyFingerprint"])
    value = key["Value"] if isinstance(key["Value"], bytes) else base64.b64decode(key["Value"])
    public: Any = serialization.load_der_public_key(value)
    public.verify(bytes.fromhex(sign["hashSignature"]), sign["files"][0]["fileHashValue"]
                  .encode(), padding.PKCS1v15(), hashes.SHA256())


def test_cancel_a_running_query(lake_server: dict[str, Any]) -> None:
    client, store = lake_server["client"], lake_server["store"]
    endless = f"SELECT count(*) FROM {store} a CROSS JOIN {store} b CROSS JOIN {store} c"
    query_id = client.start_query(QueryStatement=endless)["QueryId"]
    answer = client.cancel_query(QueryId=query_id)
    assert answer == {"QueryId": query_id, "QueryStatus": "CANCELLED",
                      "ResponseMetadata": answer["ResponseMetadata"]}
    assert finish(client, query_id)["QueryStatus"] == "CANCELLED"



def test_opentrail_query_command(lake_server: dict[str, Any]) -> None:
    server, store = lake_server["server"], lake_server["store"]
    records = lake_server["records"]
    sql = (f"SELECT eventsource, count(*) AS n FROM {store} WHERE {INVICTUS} "
           "GROUP BY eventsource ORDER BY n DESC, eventsource")
    expected = sorted(Counter(r["eventSource"] for r in records).items(),
                      key=lambda kv: (-kv[1], kv[0]))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "opentrail", "query", "--endpoint-url", server.endpoint,
             *args], capture_output=True, text=True, timeout=120,
            env=server.env(role="reader", account=ACCOUNT))

    out = cli("--output", "csv", sql)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "eventsource,n"
    assert lines[1:] == [f"{source},{n}" for source, n in expected]
    out = cli("--output", "json", sql)
    answer = json.loads(out.stdout)
    assert answer["QueryStatus"] == "FINISHED"
    assert answer["QueryResultRows"][0] == [{"eventsource": expected[0][0]},
                                            {"n": str(expected[0][1])}]
    out = cli(sql)
    assert out.returncode == 0 and expected[0][0] in out.stdout and "rows;" in out.stderr
    out = cli(f"DROP TABLE {store}")
    assert out.returncode == 1
    assert out.stderr.startswith("error: InvalidQueryStatementException:")
    out = cli(f"SELECT eventname, count(*) FROM {store}")
    assert out.returncode == 1 and "ended FAILED" in out.stderr and "GROUP BY" in out.stderr


def test_store_pending_deletion_cannot_be_queried(lake_server: dict[str, Any]) -> None:
    client = lake_server["client"]
    arn = client.create_event_data_store(Name="short-lived", TerminationProtectionEnabled=False)[
        "EventDataStoreArn"]
    store_id = arn.rsplit("/", 1)[1]
    assert run(client, f"SELECT count(*) AS n FROM {store_id} WHERE {INVICTUS}") == [
        [{"n": "0"}]]
    client.delete_event_data_store(EventDataStore=arn)
    with pytest.raises(ClientError) as caught:
        client.start_query(QueryStatement=f"SELECT * FROM {store_id}")
    assert caught.value.response["Error"]["Code"] == "InactiveEventDataStoreException"


def test_delivery_to_s3_through_the_server(tmp_path: Path, moto_url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """--s3-endpoint-url: results go to moto's S3 over the real protocol; the sign file
    verifies with the key ListPublicKeys returns."""
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3.create_bucket(Bucket="lake-answers")
    server = Server(tmp_path / "data", free_port(), ("--s3-endpoint-url", moto_url))
    server.start()
    try:
        client: Any = server.client()
        arn = client.create_event_data_store(Name="recent")["EventDataStoreArn"]
        store = arn.rsplit("/", 1)[1]
        events = [make_event(f"Call{i}", when=f"2026-11-20T10:0{i}:00Z") for i in range(5)]
        post_records(server, events)
        ours = f"SELECT eventname FROM {store} WHERE eventtime < '2026-11-21' ORDER BY eventname"
        wait_until(lambda: len(run(client, ours)) == 5, timeout=60)
        with pytest.raises(ClientError) as caught:
            client.start_query(QueryStatement=ours, DeliveryS3Uri="s3://no-such-answers")
        assert caught.value.response["Error"]["Code"] == "S3BucketDoesNotExistException"
        query_id = client.start_query(QueryStatement=ours,
                                      DeliveryS3Uri="s3://lake-answers/q")["QueryId"]
        finish(client, query_id)
        wait_until(lambda: client.describe_query(QueryId=query_id)["DeliveryStatus"]
                   != "PENDING", timeout=30)
        assert client.describe_query(QueryId=query_id)["DeliveryStatus"] == "SUCCESS"
        listed = s3.list_objects_v2(Bucket="lake-answers", Prefix="q/AWSLogs/")["Contents"]
        keys = {o["Key"].rsplit("/", 1)[1]: o["Key"] for o in listed}
        assert set(keys) == {"result_1.csv.gz", "result_sign.json"}
        assert f"/{query_id}/" in keys["result_sign.json"]
        body = s3.get_object(Bucket="lake-answers", Key=keys["result_1.csv.gz"])["Body"].read()
        assert gzip.decompress(body).decode().splitlines() == [
            "eventname", *[f"Call{i}" for i in range(5)]]
        sign = json.loads(s3.get_object(Bucket="lake-answers",
                                        Key=keys["result_sign.json"])["Body"].read())
        key = next(k for k in client.list_public_keys(StartTime=0)["PublicKeyList"]
                   if k["Fingerprint"] == sign["publicKeyFingerprint"])
        public: Any = serialization.load_der_public_key(key["Value"])
        public.verify(bytes.fromhex(sign["hashSignature"]),
                      hashlib.sha256(body).hexdigest().encode(), padding.PKCS1v15(),
                      hashes.SHA256())
    finally:
        server.kill(signal.SIGTERM)


def test_server_with_the_spark_engine(tmp_path: Path) -> None:
    """`opentrail serve --lake-engine spark`: a local Spark session in the server answers
    StartQuery (the module's only Spark session)."""
    server = Server(tmp_path / "data", free_port(), ("--lake-engine", "spark"))
    server.start()
    try:
        client: Any = server.client()
        store = client.create_event_data_store(Name="on-spark")["EventDataStoreArn"]
        store_id = store.rsplit("/", 1)[1]
        post_records(server, [make_event("Spark", when="2026-11-20T10:00:00Z"),
                              make_event("Spark", when="2026-11-20T10:01:00Z",
                                         readOnly=False)])
        sql = (f"SELECT eventname, count(*) AS n, max(eventtime) AS last, "
               f"element_at(array_agg(readonly), 1) IS NOT NULL AS ro FROM {store_id} "
               "WHERE eventtime < '2026-11-21' GROUP BY eventname")

        def answer() -> list[Any]:
            query_id = client.start_query(QueryStatement=sql)["QueryId"]
            info = finish(client, query_id)
            assert info["QueryStatus"] == "FINISHED", info
            return rows_of(client, query_id)

        wait_until(lambda: answer() != [], timeout=180)
        assert answer() == [[{"eventname": "Spark"}, {"n": "2"},
                             {"last": "2026-11-20 10:01:00.000"}, {"ro": "true"}]]
    finally:
        server.kill(signal.SIGTERM)
