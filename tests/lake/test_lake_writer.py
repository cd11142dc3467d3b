"""The Lake writer: real Parquet files from a real ledger, read back by pyarrow and
DuckDB (the documented glob), redo safety after a crash or kill -9, compaction,
retention, and the service thread behind the real API."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest
from lakewriting import (
    INVICTUS_ACCOUNT,
    NOW,
    drain,
    ingest,
    invictus,
    make_store,
    make_writer,
    management_ids,
)

from conftest import ACCOUNT, make_event, post_records, wait_until
from opentrail.clock import ManualClock
from opentrail.events import canonical_bytes
from opentrail.lake import FolderLocation, LakeLocation, receives, schema_of, validate_lake
from opentrail.ledger import load_signer, open_reader
from opentrail.storage import StorageError

WRITE_ONLY = ({"Name": "writes", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Management"]},
    {"Field": "readOnly", "Equals": ["false"]}]},)


def duck(data_dir: Path, store_id: str, sql: str) -> list[tuple[Any, ...]]:
    """`sql` over the documented glob (docs/lake.md), as a user without OpenTrail runs it."""
    files = f"{data_dir}/lake/{store_id}/*/*/*/*.parquet"
    view = (f"CREATE VIEW t AS SELECT * FROM read_parquet('{files}', hive_partitioning=true, "
            "hive_types_autocast=false)")
    con = duckdb.connect()
    con.execute(view)
    return con.execute(sql).fetchall()


def check(data_dir: Path, location: LakeLocation, store_id: str) -> list[str]:
    ledger = open_reader(data_dir)
    try:
        report = validate_lake(location, store_id, load_signer(data_dir).verifier(), ledger,
                               receives)
    finally:
        ledger.close()
    return report.problems


def test_stores_hold_exactly_their_selected_events(tmp_path: Path) -> None:
    data = tmp_path / "data"
    records = invictus()
    others = [make_event(account=ACCOUNT, region="eu-west-1"),
              make_event(account=INVICTUS_ACCOUNT, region="eu-west-1",
                         when="2023-07-11T00:00:01Z"),
              make_event("PutObject", account=INVICTUS_ACCOUNT, eventCategory="Data",
                         managementEvent=False, readOnly=False)]
    size = ingest(data, records + others)
    everything, writes, other = (make_store(), make_store(selectors=WRITE_ONLY),
                                 make_store(ACCOUNT))
    writer = make_writer(data, [everything, writes, other])
    drain(writer, size)

    mgmt = management_ids(records + others)
    assert {r[0] for r in duck(data, everything.id, "SELECT eventid FROM t")} == mgmt
    assert duck(data, everything.id, "SELECT count(*) FROM t") == [(len(mgmt),)]
    assert {r[0] for r in duck(data, writes.id, "SELECT eventid FROM t")} == \
        management_ids(records + others, readOnly=False)
    assert {r[0] for r in duck(data, other.id, "SELECT eventid FROM t")} == \
        {str(others[0]["eventID"])}
    # partitions: account, region, event date, as strings (12 digits stay text)
    parts = duck(data, everything.id, "SELECT DISTINCT account, region, date FROM t ORDER BY 3")
    assert parts == [(INVICTUS_ACCOUNT, "us-east-1", "2023-07-10"),
                     (INVICTUS_ACCOUNT, "eu-west-1", "2023-07-11")]
    for store in (everything, writes, other):
        assert check(data, writer.location, store.id) == []
    status = writer.status(everything.id)
    assert (status.events, status.files, status.last_error) == (len(mgmt), 2, None)


def test_columns_follow_the_spec_schema(tmp_path: Path) -> None:
    data = tmp_path / "data"
    records = invictus()
    size = ingest(data, records)
    store = make_store()
    writer = make_writer(data, [store])
    drain(writer, size)
    [path] = (data / "lake" / store.id).glob("*/*/*/*.parquet")
    table = pq.read_table(path)
    assert table.schema.equals(schema_of("cloudtrail"))
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    by_id = {r["eventID"]: r for r in records}
    rows = duck(data, store.id, "SELECT eventid, useridentity.arn, "
                "useridentity.sessioncontext.sessionissuer.username, eventtime, readonly, "
                "requestparameters, eventjson, eventjsonchecksum, seq, "
                "resources[1].arn FROM t")
    assert len(rows) == len(records)
    seqs = set()
    for eid, arn, issuer, when, read_only, params, text, checksum, seq, res_arn in rows:
        record = by_id[eid]
        identity = record.get("userIdentity") or {}
        assert arn == identity.get("arn")
        session = identity.get("sessionContext") or {}
        assert issuer == (session.get("sessionIssuer") or {}).get("userName")
        assert when.strftime("%Y-%m-%dT%H:%M:%SZ") == record["eventTime"]
        assert read_only == record["readOnly"]
        assert text.encode() == canonical_bytes(record)
        assert checksum == hashlib.sha256(text.encode()).hexdigest()
        expect = record.get("requestParameters")
        if isinstance(expect, dict):  # nested values are JSON text, strings themselves
            assert params.keys() == expect.keys()
            for key, value in expect.items():
                if isinstance(value, str) or value is None:
                    assert params[key] == value
                else:
                    assert orjson.loads(params[key]) == value
        else:
            assert params is None
        resources = record.get("resources") or [{}]
        assert res_arn == resources[0].get("ARN")
        seqs.add(seq)
    assert seqs == set(range(size))


def test_a_store_receives_only_events_from_its_start_seq(tmp_path: Path) -> None:
    data = tmp_path / "data"
    records = invictus()
    size = ingest(data, records)
    store = make_store(start_seq=1000)
    writer = make_writer(data, [store])
    drain(writer, size)
    assert duck(data, store.id, "SELECT min(seq), count(*) FROM t") == [(1000, size - 1000)]
    assert check(data, writer.location, store.id) == []


class Flaky:
    """A folder location whose puts fail after `budget` successes (disk full)."""

    def __init__(self, inner: FolderLocation, budget: int) -> None:
        self.inner, self.budget = inner, budget

    def put(self, key: str, data: bytes) -> None:
        if self.budget <= 0:
            raise StorageError("DiskFull", "No space left on device.")
        self.budget -= 1
        self.inner.put(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


FAIL_AT = [0, 1, 8, "manifest", "commit"]  # puts allowed before the location fails


@pytest.mark.parametrize("fail_at", FAIL_AT)
def test_a_failed_batch_is_redone_without_duplicates(tmp_path: Path, fail_at: Any) -> None:
    """Fail at each step of a batch: before any file, after some, after every file but
    before the manifest, and after the manifest but before the cursor is committed."""
    data = tmp_path / "data"
    records = invictus()
    extra = [make_event(account=INVICTUS_ACCOUNT, region=f"eu-west-{i % 3 + 1}",
                        when=f"2023-07-1{i % 5}T00:00:00Z") for i in range(40)]
    size = ingest(data, records + extra)
    store = make_store()
    files = 1 + 15  # us-east-1 on 2023-07-10, and 3 regions x 5 dates
    budget = {"manifest": files, "commit": files + 1}.get(fail_at, fail_at)
    flaky = Flaky(FolderLocation(data / "lake"), budget=budget)
    writer = make_writer(data, [store], location=flaky)  # type: ignore[arg-type]
    if fail_at == "commit":
        writer._record = _crash  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            writer.step(force=True)
    else:
        with pytest.raises(StorageError):
            writer.step(force=True)
        status = writer.status(store.id)
        assert status.last_error is not None and "DiskFull" in status.last_error
    assert writer.cursor == 0
    left = list((data / "lake" / store.id).glob("*/*/*/*.parquet"))
    assert len(left) == min(budget, files)  # what the failed batch left behind
    writer.close()
    # a restarted writer removes what the failed batch left, then redoes it
    restarted = make_writer(data, [store])
    drain(restarted, size)
    assert duck(data, store.id, "SELECT count(*), count(DISTINCT seq) FROM t") == \
        [(size, size)]
    assert check(data, restarted.location, store.id) == []
    assert restarted.status(store.id).last_error is None


def _crash(*args: Any) -> None:
    raise RuntimeError("killed between the manifest and the commit")


KILLED_WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from pathlib import Path
    from lakewriting import make_writer, make_store
    import lakewriting, dataclasses
    store = make_store(id=sys.argv[3])
    writer = make_writer(Path(sys.argv[1]), [store])
    while True:
        writer.step(force=True)
""")


def test_kill_9_then_restart_writes_no_duplicates(tmp_path: Path) -> None:
    data = tmp_path / "data"
    base = invictus()
    records = []
    for i in range(12):  # 34,800 events: two batches or more
        for r in base:
            records.append({**r, "eventID": f"{r['eventID'][:-4]}{i:04d}",
                            "awsRegion": f"us-east-{i % 2 + 1}"})
    size = ingest(data, records)
    store = make_store()
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(script), str(data),
                             str(Path(__file__).parent), store.id], env=env)
    try:
        first = data / "lake" / store.id
        wait_until(lambda: any(first.glob("*/*/*/*.parquet")), timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    writer = make_writer(data, [store])
    drain(writer, size)
    assert duck(data, store.id, "SELECT count(*), count(DISTINCT seq) FROM t") == \
        [(size, size)]
    assert check(data, writer.location, store.id) == []


def test_small_files_are_compacted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    records = invictus()
    clock = ManualClock(NOW)
    store = make_store()
    size = 0
    writer = None
    for i in range(5):  # five batches: five small files in one partition
        size = ingest(data, records[i * 500:(i + 1) * 500], clock)
        writer = writer or make_writer(data, [store], clock=clock)
        drain(writer, size)
    assert writer is not None
    folder = data / "lake" / store.id
    assert len(list(folder.glob("*/*/*/*.parquet"))) == 5
    writer.maintain()
    [merged] = folder.glob("*/*/*/*.parquet")
    assert merged.name == f"{0:020d}-{size - 1:020d}.parquet"
    assert duck(data, store.id, "SELECT count(*), count(DISTINCT seq) FROM t") == [(size, size)]
    assert check(data, writer.location, store.id) == []
    assert writer.status(store.id).files == 1


def test_retention_deletes_whole_partitions_past_the_period(tmp_path: Path) -> None:
    data = tmp_path / "data"
    now = 1_700_000_000  # 2023-11-14
    old = [make_event(account=INVICTUS_ACCOUNT, when="2023-10-01T12:00:00Z") for _ in range(3)]
    recent = [make_event(account=INVICTUS_ACCOUNT, when="2023-11-10T12:00:00Z")]
    clock = ManualClock(now)
    size = ingest(data, old + recent, clock)
    store = make_store(retention_days=30)
    writer = make_writer(data, [store], clock=clock)
    drain(writer, size)  # writes both dates; once caught up, maintenance runs retention
    manifests = sorted((data / "lake" / store.id / "_manifests").glob("*.json"))
    removed = [item for m in manifests for item in orjson.loads(m.read_bytes())["removed"]]
    assert [item["reason"] for item in removed] == ["retention"]
    assert "date=2023-10-01" in removed[0]["key"]
    assert duck(data, store.id, "SELECT DISTINCT date FROM t") == [("2023-11-10",)]
    assert not (data / "lake" / store.id / f"account={INVICTUS_ACCOUNT}" / "region=us-east-1"
                / "date=2023-10-01").exists()
    assert check(data, writer.location, store.id) == []  # deleted by retention, not lost


def test_changed_selectors_are_validated_range_by_range(tmp_path: Path) -> None:
    data = tmp_path / "data"
    records = invictus()
    store = make_store()
    stores = [store]
    size = ingest(data, records[:1500])
    writer = make_writer(data, stores)
    drain(writer, size)
    stores[0] = replace(store, selectors=WRITE_ONLY, updated=NOW + 1)
    size = ingest(data, records[1500:])
    drain(writer, size)
    want = management_ids(records[:1500]) | management_ids(records[1500:], readOnly=False)
    assert {r[0] for r in duck(data, store.id, "SELECT eventid FROM t")} == want
    assert check(data, writer.location, store.id) == []


@pytest.mark.e2e
def test_the_server_writes_a_created_store(live_server: Any) -> None:
    client: Any = live_server.client()
    arn = client.create_event_data_store(Name="all-management")["EventDataStoreArn"]
    store_id = arn.rsplit("/", 1)[1]
    events = [make_event(f"Call{i}") for i in range(25)]
    post_records(live_server, events)
    data = live_server.data_dir

    def written() -> bool:
        if not list((data / "lake" / store_id).glob("*/*/*/*.parquet")):
            return False
        ids = {r[0] for r in duck(data, store_id, "SELECT eventid FROM t")}
        return {str(e["eventID"]) for e in events} <= ids

    wait_until(written, timeout=30)

    def valid() -> bool:  # a file is put just before its batch's manifest: retry once
        proc = subprocess.run([sys.executable, "-m", "opentrail", "validate-lake",
                               "--data-dir", str(data), arn],
                              capture_output=True, text=True, timeout=120)
        return proc.returncode == 0 and "VALID" in proc.stdout

    wait_until(valid, timeout=60)


ACTIVITY = [{"Name": "apps", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["ActivityAuditLog"]}]}]


@pytest.mark.e2e
def test_a_channel_delivers_only_into_its_destination_store(live_server: Any) -> None:
    import json

    ct: Any = live_server.client()
    named = ct.create_event_data_store(Name="payroll", AdvancedEventSelectors=ACTIVITY)
    other = ct.create_event_data_store(Name="other-apps", AdvancedEventSelectors=ACTIVITY)
    channel = ct.create_channel(Name="payroll", Source="Custom", Destinations=[
        {"Type": "EVENT_DATA_STORE", "Location": named["EventDataStoreArn"]}])["ChannelArn"]
    event = {"version": "1.0", "userIdentity": {"type": "CustomUser", "principalId": "jdoe",
                                                "details": {"team": "payroll"}},
             "eventSource": "payroll.example.com", "eventName": "ApprovePayment",
             "eventTime": "2026-11-20T10:00:00Z", "UID": "u-1", "recipientAccountId": ACCOUNT,
             "requestParameters": {"amount": 12, "to": {"iban": "X"}}}
    data: Any = live_server.client("cloudtrail-data", role="writer")
    assert data.put_audit_events(channelArn=channel, auditEvents=[
        {"id": "one", "eventData": json.dumps(event)}])["successful"]
    post_records(live_server, [make_event()])  # a management event: in neither store
    folder = live_server.data_dir
    named_id = named["EventDataStoreArn"].rsplit("/", 1)[1]
    wait_until(lambda: any((folder / "lake" / named_id).glob("*/*/*/*.parquet")), timeout=30)
    rows = duck(folder, named_id, "SELECT eventcategory, eventdata.eventname, "
                "eventdata.useridentity.details, eventdata.requestparameters, "
                "metadata.channelarn FROM t")
    assert rows == [("ActivityAuditLog", "ApprovePayment", {"team": "payroll"},
                     {"amount": "12", "to": '{"iban":"X"}'}, channel)]
    other_id = other["EventDataStoreArn"].rsplit("/", 1)[1]
    assert not list((folder / "lake" / other_id).glob("*/*/*/*.parquet"))


def test_without_stores_the_cursor_moves_and_a_new_store_starts_at_its_creation(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    records = invictus()
    size = ingest(data, records[:2000])
    stores: list[Any] = []
    writer = make_writer(data, stores)
    drain(writer, size)
    assert not (data / "lake").exists()
    store = make_store(start_seq=size)  # created now: the ledger's size is its start
    stores.append(store)
    total = ingest(data, records[2000:])
    drain(writer, total)
    assert duck(data, store.id, "SELECT min(seq), count(*) FROM t") == [(size, total - size)]
    assert check(data, writer.location, store.id) == []


def test_imported_files_join_the_store_and_its_manifest(tmp_path: Path) -> None:
    from opentrail.lake import LakeEntry, to_table

    data = tmp_path / "data"
    records = invictus()
    size = ingest(data, records[:100])
    store = make_store()
    writer = make_writer(data, [store])
    drain(writer, size)
    old = [make_event(account=INVICTUS_ACCOUNT, when=f"2022-01-0{i % 2 + 1}T10:00:00Z")
           for i in range(6)]
    table = to_table("cloudtrail", [LakeEntry(None, canonical_bytes(r), r) for r in old])
    entries = writer.write_import(store, table, "import-11111111-2222-3333-4444-555555555555-"
                                                "000000")
    assert sorted(e.key.split("/")[2] for e in entries) == ["date=2022-01-01", "date=2022-01-02"]
    assert duck(data, store.id, "SELECT count(*), count(seq) FROM t") == [(106, 100)]
    assert check(data, writer.location, store.id) == []  # hashed; not ledger events
    again = writer.write_import(store, table, entries[0].key.rsplit("/", 1)[1][:-8])
    assert again == entries  # a retried chunk rewrites the same files
    assert duck(data, store.id, "SELECT count(*) FROM t") == [(106,)]
    assert check(data, writer.location, store.id) == []


def test_a_changed_file_is_never_compacted_and_batches_go_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    records = invictus()
    clock = ManualClock(NOW)
    store = make_store()
    writer = make_writer(data, [store], clock=clock)
    for i in range(4):
        writer._last_maintain = float("inf")  # no maintenance while the files are made
        drain(writer, ingest(data, records[i * 500:(i + 1) * 500], clock))
    folder = data / "lake" / store.id
    victim = sorted(folder.glob("*/*/*/*.parquet"))[1]
    victim.write_bytes(victim.read_bytes() + b"tampered")
    writer.maintain()
    status = writer.status(store.id)
    assert status.last_error is not None and "FileChanged" in status.last_error
    assert len(list(folder.glob("*/*/*/*.parquet"))) == 4  # nothing merged
    size = ingest(data, records[2000:], clock)
    drain(writer, size)  # batches are not held up by the failing maintenance
    assert writer.cursor == size
    assert any("was changed" in p for p in check(data, writer.location, store.id))


def test_an_insight_store_holds_insights_events_in_the_insights_schema(
        tmp_path: Path) -> None:
    import uuid

    data = tmp_path / "data"
    insight = {
        "eventVersion": "1.07", "eventTime": "2023-07-10T12:00:00Z", "awsRegion": "us-east-1",
        "eventID": str(uuid.uuid4()), "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": INVICTUS_ACCOUNT, "sharedEventID": str(uuid.uuid4()),
        "eventCategory": "Insight",
        "insightDetails": {
            "state": "Start", "eventSource": "iam.amazonaws.com", "eventName": "ListUsers",
            "insightType": "ApiCallRateInsight",
            "insightContext": {
                "statistics": {"baseline": {"average": 0.5}, "insight": {"average": 12.0},
                               "insightDuration": 1, "baselineDuration": 1440},
                "attributions": [{"attribute": "userIdentityArn",
                                  "insight": [{"value": "arn:aws:iam::1:user/a",
                                               "average": 12.0}],
                                  "baseline": [{"value": "arn:aws:iam::1:user/b",
                                                "average": 0.5}]}]}}}
    # an ApiErrorRateInsight the source did not ask for: not routed to the store
    other = {**insight, "eventID": str(uuid.uuid4()), "sharedEventID": str(uuid.uuid4()),
             "insightDetails": {**insight["insightDetails"],  # type: ignore[dict-item]
                                "insightType": "ApiErrorRateInsight",
                                "errorCode": "AccessDenied"}}
    size = ingest(data, [insight, other, make_event(account=INVICTUS_ACCOUNT)])
    source = ("arn:aws:cloudtrail:us-east-1:" + INVICTUS_ACCOUNT
              + ":eventdatastore/source-id")
    # Routing comes from the sources that name the store as InsightsDestination (the
    # catalog derives insight_sources); the store's rows name their source.
    store = make_store(selectors=({"Name": "insights", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Insight"]}]},), insights_source="source-id",
        insight_sources=({"id": "source-id", "arn": source, "account": INVICTUS_ACCOUNT,
                          "region": "us-east-1", "organization": False,
                          "multiRegion": True, "insightTypes": ["ApiCallRateInsight"]},))
    writer = make_writer(data, [store])
    drain(writer, size)
    rows = duck(data, store.id, "SELECT insightstate, insighteventname, insighttype, "
                "insightcontext.baselineaverage, insightcontext.insightaverage, "
                "insightcontext.baselineduration, "
                "insightcontext.attributions[1].insight[1].value, insightsource, "
                "eventtime FROM t")
    assert len(rows) == 1
    assert rows[0][:8] == ("Start", "ListUsers", "ApiCallRateInsight", 0.5, 12.0, 1440,
                           "arn:aws:iam::1:user/a", source)
    assert check(data, writer.location, store.id) == []


def test_odd_values_convert_without_losing_the_row() -> None:
    from opentrail.lake import LakeEntry, to_table

    odd = [
        {"eventTime": "2023-07-10T11:42:36.250Z", "eventName": 5, "readOnly": "true",
         "requestParameters": "not an object", "userIdentity": None,
         "resources": [{"ARN": "arn:a"}, {"accountId": 7}]},
        {"eventTime": "2023-07-10T11:42:37Z", "readOnly": False,
         "requestParameters": {"n": 1, "s": "x", "z": None, "o": {"b": [1, 2]}},
         "userIdentity": {"type": "Root", "sessionContext": {"attributes": {
             "creationDate": "2023-01-01T00:00:00Z", "mfaAuthenticated": False}}}},
        {"eventTime": "not a time", "tlsDetails": {"tlsVersion": "TLSv1.3"}},
    ]
    table = to_table("cloudtrail", [LakeEntry(i, canonical_bytes(o), o)
                                    for i, o in enumerate(odd)])
    rows = table.to_pylist()
    assert [r["eventname"] for r in rows] == ["5", None, None]
    assert [r["readonly"] for r in rows] == [True, False, None]
    assert [r["requestparameters"] for r in rows] == [
        None, [("n", "1"), ("s", "x"), ("z", None), ("o", '{"b":[1,2]}')], None]
    assert rows[0]["useridentity"] is None and rows[2]["useridentity"] is None
    identity = rows[1]["useridentity"]
    assert identity["type"] == "Root" and identity["arn"] is None
    assert identity["sessioncontext"]["attributes"]["mfaauthenticated"] == "false"
    assert identity["sessioncontext"]["attributes"]["creationdate"].year == 2023
    assert identity["sessioncontext"]["sessionissuer"] is None
    assert rows[0]["resources"] == [
        {"accountid": None, "type": None, "arn": "arn:a", "arnprefix": None},
        {"accountid": "7", "type": None, "arn": None, "arnprefix": None}]
    assert rows[1]["resources"] is None
    assert rows[2]["tlsdetails"] == {"tlsversion": "TLSv1.3", "ciphersuite": None,
                                     "clientprovidedhostheader": None}
    assert rows[0]["eventtime"].microsecond == 250_000
    assert rows[2]["eventtime"] is None
    assert [r["seq"] for r in rows] == [0, 1, 2]


def test_rows_ordered_by_source_and_name_in_row_groups_of_8192(tmp_path: Path) -> None:
    """Within a file, rows go by (eventsource, eventname, eventtime) in row groups of
    8,192: each group's min/max of eventsource lets an engine skip it (bench.lake)."""
    from opentrail.sources.demo import generate

    data = tmp_path / "data"
    start = NOW - 86400 * 3  # well inside one UTC day: one file
    records = list(generate(seed=7, count=10_000, start=start, end=start + 3600,
                            account=INVICTUS_ACCOUNT))
    size = ingest(data, records)
    store = make_store()
    writer = make_writer(data, [store])
    drain(writer, size)
    [path] = (data / "lake" / store.id).glob("*/*/*/*.parquet")
    table = pq.read_table(path, partitioning=None)
    keys = list(zip(*(table.column(c).to_pylist()
                      for c in ("eventsource", "eventname", "eventtime")), strict=True))
    assert len(keys) > 8192
    assert keys == sorted(keys)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == -(-len(keys) // 8192)
    column = table.schema.get_field_index("eventsource")
    ranges = [(meta.row_group(g).column(column).statistics.min,
               meta.row_group(g).column(column).statistics.max)
              for g in range(meta.num_row_groups)]
    assert ranges[0][1] <= ranges[1][0]  # the groups' sources do not interleave
    # the ledger's order is still there: one seq per management event, once each
    seqs = table.column("seq").to_pylist()
    assert len(set(seqs)) == len(seqs) == len(management_ids(records))


def test_a_closed_day_is_compacted_whole_and_today_is_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of a day that ended over an hour ago are merged into one file sorted by
    (eventsource, eventname, eventtime), even when none is small; recorded in the
    manifest, so validation still holds. Today's full files stay as they are."""
    from opentrail.lake import _writer

    monkeypatch.setattr(_writer, "SMALL_FILE", 50)  # the batches below are all "full"
    data = tmp_path / "data"
    clock = ManualClock(NOW)
    today = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 60))
    names = ["RunInstances", "GetObject", "ConsoleLogin", "ListBuckets"]
    store = make_store()
    writer = None
    for i in range(3):  # three batches: three files per day, past and today
        batch = [make_event(names[(i + n) % 4], account=INVICTUS_ACCOUNT,
                            when=f"2026-09-19T{n % 24:02d}:00:00Z") for n in range(60)]
        batch += [make_event(names[n % 4], account=INVICTUS_ACCOUNT, when=today)
                  for n in range(60)]
        size = ingest(data, batch, clock)
        writer = writer or make_writer(data, [store], clock=clock)
        writer._last_maintain = float("inf")
        drain(writer, size)
    assert writer is not None
    folder = data / "lake" / store.id / f"account={INVICTUS_ACCOUNT}" / "region=us-east-1"
    assert len(list((folder / "date=2026-09-19").glob("*.parquet"))) == 3
    writer.maintain()
    [merged] = (folder / "date=2026-09-19").glob("*.parquet")
    assert len(list((folder / "date=2026-09-21").glob("*.parquet"))) == 3
    table = pq.read_table(merged, partitioning=None)
    assert table.num_rows == 180
    keys = list(zip(table.column("eventsource").to_pylist(),
                    table.column("eventname").to_pylist(),
                    table.column("eventtime").to_pylist(), strict=True))
    assert keys == sorted(keys)
    manifests = sorted((data / "lake" / store.id / "_manifests").glob("*.json"))
    last = orjson.loads(manifests[-1].read_bytes())
    assert [r["reason"] for r in last["removed"]] == ["compaction"] * 3
    assert check(data, writer.location, store.id) == []
    writer.maintain()  # compact already: nothing is rewritten
    assert list((folder / "date=2026-09-19").glob("*.parquet")) == [merged]


def test_unique_columns_have_no_dictionary(tmp_path: Path) -> None:
    """eventjson, eventjsonchecksum, eventid and requestid: no dictionary, lengths delta-
    encoded; the other columns (struct leaves included) keep their dictionaries."""
    data = tmp_path / "data"
    size = ingest(data, invictus()[:300])
    store = make_store()
    writer = make_writer(data, [store])
    drain(writer, size)
    path = next((data / "lake" / store.id).glob("*/*/*/*.parquet"))
    meta = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: set(meta.column(i).encodings)
                 for i in range(meta.num_columns)}
    for name in ("eventjson", "eventjsonchecksum", "eventid", "requestid"):
        assert "DELTA_LENGTH_BYTE_ARRAY" in encodings[name], (name, encodings[name])
        assert not encodings[name] & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
    for name in ("eventsource", "useridentity.arn"):
        assert encodings[name] & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}, name
