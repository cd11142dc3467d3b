"""`opentrail import` of SIEM exports, end to end: real CloudTrail records from the
invictus dataset, re-shaped the way Elastic/Logstash, Elasticsearch/OpenSearch, Splunk
and Athena export them, imported with the real CLI into a real server, then looked up
with boto3: each comes back as the original record, the export's extra fields under
additionalEventData.

Before: every entry of these files was refused ("eventTime is required", or the whole
file "without a Records list" / "not JSON").
"""

from __future__ import annotations

import csv
import io
import json
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clirun import run_cli

from conftest import DATASETS, Server, free_port

pytestmark = pytest.mark.e2e

INVICTUS = DATASETS / "invictus-aws" / "CloudTrail"
ACCOUNT = "123837392027"
Record = dict[str, Any]


def _originals() -> list[Record]:
    """About 80 real records from three of the dataset's files."""
    files = sorted(INVICTUS.glob("*.json"))
    return [r for f in files[:3] for r in json.loads(f.read_bytes())["Records"]]


def _millis(record: Record) -> str:
    """Elastic writes @timestamp with milliseconds."""
    return record["eventTime"].replace("Z", ".000Z")


def _logstash(record: Record) -> Record:
    """Logstash's json codec + date filter: eventTime moved to @timestamp, fields added."""
    doc = {k: v for k, v in record.items() if k != "eventTime"}
    doc.update({"@timestamp": _millis(record), "@version": "1", "tags": ["cloudtrail"],
                "host": {"name": "logstash-01"}, "type": "cloudtrail"})
    return doc


def _hit(index: int, source: Record) -> Record:
    return {"_index": "cloudtrail-2023.07.10", "_id": f"doc{index}", "_score": 1.0,
            "_source": source}


def _nested(record: Record) -> Record:
    """Logstash's json filter with `target => "cloudtrail"` (the record nested)."""
    return {"@timestamp": _millis(record), "@version": "1",
            "cloudtrail": {k: v for k, v in record.items() if k != "eventTime"},
            "log": {"file": {"path": "/var/log/cloudtrail.json"}}}


def _splunk(record: Record) -> Record:
    """A Splunk result: the original in _raw, Splunk's metadata and extracted fields."""
    identity = record.get("userIdentity") or {}
    return {"_bkt": "aws~12~ABC", "_cd": "12:345", "_indextime": "1688990000",
            "_raw": json.dumps(record, separators=(",", ":")),
            "_serial": "0", "_si": ["idx-1", "aws"], "_sourcetype": "aws:cloudtrail",
            "_time": record["eventTime"].replace("Z", ".000+00:00"),
            "eventName": record["eventName"], "userIdentity.arn": identity.get("arn"),
            "host": "hf-01", "index": "aws", "linecount": "1",
            "source": "s3://trail-bucket/AWSLogs/file.json.gz",
            "sourcetype": "aws:cloudtrail", "splunk_server": "idx-1"}


_ATHENA = ["eventversion", "useridentity", "eventtime", "eventsource", "eventname",
           "awsregion", "sourceipaddress", "useragent", "errorcode", "errormessage",
           "requestparameters", "responseelements", "additionaleventdata", "requestid",
           "eventid", "resources", "eventtype", "apiversion", "readonly",
           "recipientaccountid", "serviceeventdetails", "sharedeventid", "vpcendpointid",
           "vpcendpointaccountid", "eventcategory", "addendum",
           "sessioncredentialfromconsole", "edgedevicedetails", "managementevent",
           "tlsdetails", "region", "year"]
_OBJECT_COLUMNS = {"useridentity", "requestparameters", "responseelements",
                   "additionaleventdata", "resources", "serviceeventdetails", "addendum",
                   "edgedevicedetails", "tlsdetails"}


def _athena_csv(records: list[Record]) -> str:
    """Athena's CSV result of the CloudTrail table: lower-case columns, nested columns as
    JSON text (json_format(CAST(... AS JSON))), booleans as true/false, partition columns
    (region, year) appended."""
    by_lower = {k.lower(): k for r in records for k in r}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_ATHENA)
    for record in records:
        row = []
        for column in _ATHENA:
            value = record.get(by_lower.get(column, column))
            if column == "region":
                value = record["awsRegion"]
            elif column == "year":
                value = record["eventTime"][:4]
            if value is None:
                row.append("")
            elif column in _OBJECT_COLUMNS:
                row.append(json.dumps(value))
            elif isinstance(value, bool):
                row.append(str(value).lower())
            else:
                row.append(str(value))
        writer.writerow(row)
    return out.getvalue()


def _ndjson(entries: list[Record]) -> str:
    return "".join(json.dumps(e) + "\n" for e in entries)


def _custom(record: Record) -> Record:
    """An in-house export: the time in epoch milliseconds under a nested field."""
    seconds = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).timestamp()
    return {"ingest": {"time": int(seconds * 1000)},
            "event": {k: v for k, v in record.items() if k != "eventTime"}}


LOGSTASH_EXTRAS = {"@version": "1", "tags": ["cloudtrail"], "host": {"name": "logstash-01"},
                   "type": "cloudtrail"}
SPLUNK_EXTRAS = {"host": "hf-01", "index": "aws", "linecount": "1",
                 "source": "s3://trail-bucket/AWSLogs/file.json.gz",
                 "sourcetype": "aws:cloudtrail", "splunk_server": "idx-1"}

# (file name, builder, extra import args, every field expected under additionalEventData
# besides the record's own)
SHAPES: list[tuple[str, Callable[[list[Record]], str], list[str], Record]] = [
    ("logstash.ndjson", lambda rs: _ndjson([_logstash(r) for r in rs]), [], LOGSTASH_EXTRAS),
    ("elasticsearch-hits.json",
     lambda rs: json.dumps({"took": 12, "timed_out": False,
                            "hits": {"total": {"value": len(rs), "relation": "eq"},
                                     "hits": [_hit(i, _logstash(r))
                                              for i, r in enumerate(rs)]}}),
     [], LOGSTASH_EXTRAS),
    ("opensearch-elasticdump.ndjson",
     lambda rs: _ndjson([_hit(i, _nested(r)) for i, r in enumerate(rs)]), [],
     {"@version": "1", "log": {"file": {"path": "/var/log/cloudtrail.json"}}}),
    ("splunk-export.json",
     lambda rs: _ndjson([{"preview": False, "offset": i, "result": _splunk(r)}
                         for i, r in enumerate(rs)]), [], SPLUNK_EXTRAS),
    ("splunk-results.json", lambda rs: json.dumps({"preview": False, "init_offset": 0,
                                                   "results": [_splunk(r) for r in rs]}),
     [], SPLUNK_EXTRAS),
    ("athena.csv", _athena_csv, [], {"region": "us-east-1", "year": "2023"}),
    ("custom.ndjson", lambda rs: _ndjson([_custom(r) for r in rs]),
     ["--time-field", "ingest.time"], {}),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module, keeping 2023's events (retention 0 = forever)."""
    root = tmp_path_factory.mktemp("siem")
    server = Server(root / "data", free_port(), ("--history-retention-days", "0"))
    server.start()
    yield server
    server.kill(signal.SIGTERM)


@pytest.mark.parametrize(("name", "build", "args", "extras"), SHAPES,
                         ids=[s[0] for s in SHAPES])
def test_a_siem_export_imports_as_the_original_records(
        server: Server, tmp_path: Path, name: str, build: Callable[[list[Record]], str],
        args: list[str], extras: Record) -> None:
    originals = _originals()
    # Each shape gets its own eventIDs, so no shape passes on another's stored events.
    records = [{**r, "eventID": f"{name[:8]}-{r['eventID'][9:]}"} for r in originals]
    path = tmp_path / name
    path.write_text(build(records))
    result = run_cli("import", str(path), "--endpoint-url", server.endpoint, *args,
                     env=server.env(role="writer", account=ACCOUNT))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Events: {len(records)} accepted, 0 duplicates, 0 rejected" in result.stdout

    client: Any = server.client(role="reader", account=ACCOUNT)
    for original in records[:: max(1, len(records) // 8)]:
        stored = _lookup(client, original)
        expected = dict(original)
        if extras:
            expected["additionalEventData"] = {**extras,
                                               **original.get("additionalEventData", {})}
        assert stored == expected, name


def _lookup(client: Any, record: Record) -> Record:
    when = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
    found = client.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": record["eventID"]}],
        StartTime=when.replace(tzinfo=UTC), EndTime=when.replace(tzinfo=UTC))["Events"]
    assert len(found) == 1, record["eventID"]
    stored: Record = json.loads(found[0]["CloudTrailEvent"])
    return stored


def test_an_elastic_export_without_the_time_field_names_the_option(
        server: Server, tmp_path: Path) -> None:
    """An export whose time is in a field nobody could guess: the server's refusal
    names eventTime, and --time-field fixes it."""
    record = {**_originals()[0], "eventID": "odd-time-0000-0000-000000000000"}
    doc = {k: v for k, v in record.items() if k != "eventTime"}
    doc.update({"@version": "1", "observed_at": record["eventTime"]})
    path = tmp_path / "odd.ndjson"
    path.write_text(json.dumps(doc) + "\n")
    env = server.env(role="writer", account=ACCOUNT)
    refused = run_cli("import", str(path), "--endpoint-url", server.endpoint, env=env)
    assert refused.returncode == 1
    assert "eventTime" in refused.stdout
    fixed = run_cli("import", str(path), "--endpoint-url", server.endpoint,
                    "--time-field", "observed_at", env=env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    stored = _lookup(server.client(role="reader", account=ACCOUNT), record)
    assert stored["eventTime"] == record["eventTime"]
    assert stored["additionalEventData"]["@version"] == "1"
    assert "observed_at" not in stored["additionalEventData"]
