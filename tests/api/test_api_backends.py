"""The API on either backend, in process: the same calls answer the same on SQLite and
PostgreSQL, and on PostgreSQL two nodes (two services, one database) share keys, trails,
channels and event data stores at once."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import TEST_MASTER_KEY, wait_until
from opentrail.api import build_app
from opentrail.api._app import TARGET_PREFIX
from opentrail.auth import Role
from opentrail.config import Settings
from opentrail.service import Service

ACCOUNT = "123456789012"
Call = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]


def _caller(service: Service, key: tuple[str, str]) -> Call:
    app = build_app(service)

    def call(op: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode()
        request = AWSRequest(method="POST", url="http://testserver/", data=data, headers={
            "X-Amz-Target": TARGET_PREFIX + op, "Content-Type": "application/x-amz-json-1.1"})
        SigV4Auth(Credentials(*key), "cloudtrail", "us-east-1").add_auth(request)

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://testserver") as client:
                return await client.post("/", content=data,
                                         headers=dict(request.headers.items()))

        answer = asyncio.run(send())
        return answer.status_code, json.loads(answer.content or b"{}")

    return call


def _nodes(url: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Service]]:
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    opened: list[Service] = []

    def open_one() -> Service:
        data = tmp_path / f"node{len(opened)}"
        service = Service.open(Settings(data_dir=data, database_url=url), indexer="thread")
        opened.append(service)
        return service

    yield open_one
    for service in opened:
        service.close()


@pytest.fixture
def open_node(backends: Any, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Service]]:
    """Opens a service (a node) on the test's backend, each with its own data dir."""
    yield from _nodes(backends.url, tmp_path, monkeypatch)


@pytest.fixture
def open_pg_node(postgres_url: str, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Service]]:
    """Opens nodes on one PostgreSQL database (the embedded mode has one node by design)."""
    yield from _nodes(postgres_url, tmp_path, monkeypatch)


def _admin(service: Service) -> tuple[str, str]:
    principal, secret = service.keys.create(account=ACCOUNT, organization=False,
                                            role=Role.ADMIN)
    return principal.access_key_id, secret


def test_configuration_calls_answer_the_same_on_both_backends(
        open_node: Callable[[], Service]) -> None:
    service = open_node()
    call = _caller(service, _admin(service))
    status, trail = call("CreateTrail", {"Name": "main", "S3BucketName": "audit-logs"})
    assert status == 200 and trail["Name"] == "main"
    assert call("CreateTrail", {"Name": "main", "S3BucketName": "audit-logs"})[1][
        "__type"] == "TrailAlreadyExistsException"
    assert [t["Name"] for t in call("DescribeTrails", {})[1]["trailList"]] == ["main"]
    status, channel = call("CreateChannel", {"Name": "apps", "Source": "Custom",
                                             "Destinations": [{"Type": "AWS_SERVICE",
                                                               "Location": "x"}]})
    assert status == 200
    assert call("GetChannel", {"Channel": channel["ChannelArn"]})[1]["Name"] == "apps"
    status, store = call("CreateEventDataStore", {"Name": "audit",
                                                  "TerminationProtectionEnabled": False})
    assert status == 200 and store["Status"] == "CREATED"
    listed = call("ListEventDataStores", {})[1]["EventDataStores"]
    assert [s["Name"] for s in listed] == ["audit"]
    assert call("DeleteTrail", {"Name": "main"})[0] == 200
    assert call("GetTrail", {"Name": "main"})[1]["__type"] == "TrailNotFoundException"


def test_two_nodes_on_one_database_share_what_either_creates(
        open_pg_node: Callable[[], Service]) -> None:
    one, two = open_pg_node(), open_pg_node()
    key = _admin(one)  # made on node one, used on node two at once
    on_one, on_two = _caller(one, key), _caller(two, key)
    assert on_one("CreateTrail", {"Name": "main", "S3BucketName": "audit-logs"})[0] == 200
    assert on_two("GetTrail", {"Name": "main"})[1]["Trail"]["Name"] == "main"
    on_two("CreateEventDataStore", {"Name": "audit", "TerminationProtectionEnabled": False})
    assert [s["Name"] for s in on_one("ListEventDataStores", {})[1]["EventDataStores"]] == [
        "audit"]
    two.keys.delete(key[0])  # node one stops taking it within its cache's refresh
    wait_until(lambda: on_one("ListTrails", {})[1].get("__type") ==
               "UnrecognizedClientException")


def _record(event_id: str) -> Any:
    import time

    from opentrail.events import parse_record

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return parse_record({"eventTime": now, "eventSource": "s3",
                         "eventName": "ListBuckets", "eventID": event_id},
                        default_account=ACCOUNT, default_region="us-east-1")


def test_two_nodes_append_to_one_ledger_and_hand_roles_over(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from opentrail.ledger import scan
    from opentrail.service import CHECKPOINT_SIGNER, INSIGHTS, TRAIL_DELIVERY

    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    one, two = (Service.open(Settings(data_dir=tmp_path / name, database_url=postgres_url),
                             indexer="thread") for name in ("one", "two"))
    running = [one, two]
    try:
        sent = [f"event-{i:03}" for i in range(40)]
        for i, event_id in enumerate(sent):  # alternately through each node, in turn
            node = (one, two)[i % 2]
            assert node.writer.submit([_record(event_id)]).result(timeout=30) == [True]
        assert two.writer.submit([_record(sent[0])]).result(timeout=30) == [False]  # once
        rows = list(scan(two.ledger))  # type: ignore[arg-type]
        assert [row.seq for row in rows] == list(range(len(rows)))  # no gap
        ids = [json.loads(row.body or b"{}")["eventID"] for row in rows]
        assert [i for i in ids if i.startswith("event-")] == sent  # once each, in order
        key = _admin(two)
        wait_until(lambda: [e["EventId"] for e in _caller(one, key)("LookupEvents", {
            "LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": sent[1]}]
        })[1].get("Events", [])] == [sent[1]])  # sent through two, found through one
        wait_until(lambda: one.checkpoints is not None
                   and one.checkpoints.make_checkpoint().size >= len(rows))
        for name in (CHECKPOINT_SIGNER, TRAIL_DELIVERY, INSIGHTS):  # the first node's
            assert one.role(name).held() and not two.role(name).held()
        signed = one.checkpoints.latest_checkpoint()  # type: ignore[union-attr]
        running.remove(one)
        one.close()
        wait_until(two.role(CHECKPOINT_SIGNER).held)  # handed over as the holder closed
        assert two.writer.submit([_record("after")]).result(timeout=30) == [True]
        assert two.checkpoints is not None
        wait_until(lambda: two.checkpoints.make_checkpoint().size > signed.size)
        later = two.checkpoints.make_checkpoint()
        assert later.size > signed.size and later.origin == signed.origin  # one key
        assert two.checkpoints.public_key.open(later.note)
        assert two.role(TRAIL_DELIVERY).held() and two.role(INSIGHTS).held()
        # LookupEvents by an attribute answers from the database's history index (every
        # node's indexer feeds it), so the event sent after the first node left is found
        # on the second beside those the first indexed.
        by_name = {"LookupAttributes": [{"AttributeKey": "EventName",
                                         "AttributeValue": "ListBuckets"}],
                   "MaxResults": 50}
        wait_until(lambda: len(_caller(two, key)("LookupEvents", by_name)[1].get(
            "Events", [])) == len(sent) + 1)
        conn = psycopg.connect(postgres_url, autocommit=True)
        try:
            postings = conn.execute("SELECT count(*) FROM history_postings").fetchone()
        finally:
            conn.close()
        assert postings is not None and postings[0] > 0
    finally:
        for node in running:
            node.close()


def test_trail_delivery_moves_to_another_node_without_a_gap_or_a_duplicate(
        postgres_url: str, moto_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    import boto3

    from opentrail.service import TRAIL_DELIVERY

    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="handover")

    def node(name: str) -> Service:
        return Service.open(Settings(data_dir=tmp_path / name, database_url=postgres_url,
                                     trail_storage="s3", s3_endpoint_url=moto_url,
                                     delivery_interval=1, digest_interval=4),
                            indexer="thread")

    def delivered() -> list[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="handover")
        keys = [o["Key"] for p in pages for o in p.get("Contents", [])
                if "/CloudTrail/" in o["Key"]]
        return [r["eventID"] for k in keys for r in json.loads(gzip.decompress(
            s3.get_object(Bucket="handover", Key=k)["Body"].read()))["Records"]
            if r["eventID"].startswith("event-")]

    one = node("one")
    running = [one]
    try:
        call = _caller(one, _admin(one))
        assert call("CreateTrail", {"Name": "main", "S3BucketName": "handover",
                                    "EnableLogFileValidation": True})[0] == 200
        assert call("StartLogging", {"Name": "main"})[0] == 200
        two = node("two")
        running.append(two)
        sent = [f"event-{i:03}" for i in range(10)]
        for i, event_id in enumerate(sent):
            assert (one, two)[i % 2].writer.submit([_record(event_id)]).result(30) == [True]
        wait_until(lambda: sorted(delivered()) == sent, timeout=60)
        assert one.role(TRAIL_DELIVERY).held()
        running.remove(one)
        one.close()  # the delivering node goes; the other takes the role over
        more = [f"event-{i:03}" for i in range(10, 20)]
        for event_id in more:
            assert two.writer.submit([_record(event_id)]).result(30) == [True]
        wait_until(lambda: sorted(delivered()) == sent + more, timeout=60)
        assert two.role(TRAIL_DELIVERY).held()
    finally:
        for service in running:
            service.close()


def test_lake_queries_and_imports_answer_on_any_node(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """StartQuery and StartImport on one node; DescribeQuery, GetQueryResults,
    ListQueries, GetImport and ListImports answer the same on the other (the nodes share
    the database and a Lake location)."""
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    nodes = [Service.open(Settings(data_dir=tmp_path / f"node{n}", database_url=postgres_url,
                                   lake_location=str(tmp_path / "lake")), indexer="thread")
             for n in range(2)]
    try:
        key = _admin(nodes[0])
        one, two = _caller(nodes[0], key), _caller(nodes[1], key)
        arn = one("CreateEventDataStore", {"Name": "audit", "TerminationProtectionEnabled":
                                           False})[1]["EventDataStoreArn"]
        query_id = one("StartQuery", {"QueryStatement": "SELECT count(*) FROM "
                                      + arn.rsplit("/", 1)[1]})[1]["QueryId"]
        wait_until(lambda: two("DescribeQuery", {"QueryId": query_id})[1][
            "QueryStatus"] == "FINISHED", timeout=60)
        rows = two("GetQueryResults", {"QueryId": query_id})[1]["QueryResultRows"]
        assert rows == one("GetQueryResults", {"QueryId": query_id})[1]["QueryResultRows"]
        assert rows == [[{"_col0": "0"}]]
        listed = two("ListQueries", {"EventDataStore": arn})[1]["Queries"]
        assert [q["QueryId"] for q in listed] == [query_id]
        for n in range(2):  # an empty source bucket in the folder storage of each node
            (tmp_path / f"node{n}" / "buckets" / "import-source").mkdir(parents=True)
        status, started = one("StartImport", {"Destinations": [arn], "ImportSource": {"S3": {
            "S3LocationUri": "s3://import-source/", "S3BucketRegion": "us-east-1",
            "S3BucketAccessRoleArn": "arn:aws:iam::123456789012:role/Import"}}})
        assert status == 200, started
        got = two("GetImport", {"ImportId": started["ImportId"]})[1]
        assert got["ImportId"] == started["ImportId"] and got["Destinations"] == [arn]
        assert [i["ImportId"] for i in two("ListImports", {})[1]["Imports"]] == [
            started["ImportId"]]
        wait_until(lambda: two("GetImport", {"ImportId": started["ImportId"]})[1][
            "ImportStatus"] == "COMPLETED", timeout=60)  # run on the lake-writer's node
    finally:
        for node in nodes:
            node.close()


def _lake_ids(lake: Path, store_id: str) -> list[str]:
    import duckdb

    files = f"{lake}/{store_id}/*/*/*/*.parquet"
    if not list(lake.glob(f"{store_id}/*/*/*/*.parquet")):
        return []
    return [r[0] for r in duckdb.connect().execute(
        f"SELECT eventid FROM read_parquet('{files}', hive_partitioning=true, "
        "hive_types_autocast=false) WHERE eventid LIKE 'lake-%' ORDER BY 1").fetchall()]


def test_the_lake_writer_moves_to_another_node_and_every_node_reports_its_files(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lake writer's state is in the database: a store's files and events read the
    same on a node that does not hold the lake-writer role, and when the holder leaves,
    the other node goes on from its cursor and chain (each event once, a valid chain)."""
    from opentrail.lake import receives, recorded_head, validate_lake
    from opentrail.service import LAKE_WRITER

    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    lake = tmp_path / "lake"  # the shared Lake location
    one, two = (Service.open(Settings(data_dir=tmp_path / name, database_url=postgres_url,
                                      lake_location=str(lake)), indexer="thread")
                for name in ("one", "two"))
    running = [one, two]
    try:
        key = _admin(one)
        status, made = _caller(one, key)("CreateEventDataStore", {"Name": "shared"})
        assert status == 200, made
        store_id = made["EventDataStoreArn"].rsplit("/", 1)[-1]
        first = [f"lake-{i:03}" for i in range(12)]
        assert one.writer.submit([_record(i) for i in first]).result(timeout=30) == \
            [True] * 12
        wait_until(lambda: _lake_ids(lake, store_id) == first, timeout=60)
        holder, other = (one, two) if one.role(LAKE_WRITER).held() else (two, one)
        assert other.lake_writer is not None and holder.lake_writer is not None
        wait_until(lambda: other.lake_writer.status(store_id).events  # type: ignore
                   == holder.lake_writer.status(store_id).events > 0)  # type: ignore
        running.remove(holder)
        holder.close()
        wait_until(other.role(LAKE_WRITER).held)
        more = [f"lake-{i:03}" for i in range(12, 20)]
        assert other.writer.submit([_record(i) for i in more]).result(timeout=30) == \
            [True] * 8
        wait_until(lambda: _lake_ids(lake, store_id) == first + more, timeout=60)
        backend = other.backend
        assert backend is not None
        rows = backend.lake_writer_rows()
        wait_until(lambda: (recorded_head(rows, store_id) or (0, None))[0] >= 2)
        with other.lake_writer.exclusive():  # no commit while the chain is checked
            report = validate_lake(other.lake_writer.location, store_id,
                                   backend.checkpoint_signer().verifier(),
                                   backend.ledger_reader(), receives,
                                   recorded_head(rows, store_id))
        assert report.problems == []
    finally:
        for node in running:
            node.close()
