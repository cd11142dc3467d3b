"""CloudTrail Lake SQL: translation of the spec's examples, refusals, and answers on the
invictus dataset computed independently in Python (DuckDB over test-written Parquet)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lakefiles import Store, empty_table, invictus_records, parse_time, store_files, write_store

from opentrail.errors import InvalidQueryStatement, NotFound
from opentrail.lake import (
    DuckDBEngine,
    EngineError,
    StoreFiles,
    Translation,
    render_row,
    translate,
)

ACCOUNT = "123837392027"
OTHER = "999999999999"
IDS = {"main": "6b1c5a62-0c2e-4e8f-8bd1-bcf6c3ee1f01",
       "eds1": "EXAMPLEf852-4e8f-8bd1-bcf6cEXAMPLE",
       "eds2": "0a2b4c6d-1111-4e8f-8bd1-000000000002",
       "eds3": "aaaa-bbbb-cccc-dddd-eeee",
       "other": "7f000000-0000-4000-8000-000000000000",
       "empty": "e0e0e0e0-0000-4000-8000-00000000e0e0"}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("lake")
    records = invictus_records()
    write_store(root, IDS["main"], records)
    write_store(root, IDS["eds1"], records[:1000])
    write_store(root, IDS["eds2"], records[800:2000])
    write_store(root, IDS["eds3"], records[1900:])
    stores = {name: Store(i, OTHER if name == "other" else ACCOUNT) for name, i in IDS.items()}
    return {"root": root, "records": records, "stores": stores}


def resolver(lake: dict[str, Any], account: str = ACCOUNT) -> Any:
    by_id = {s.id: s for s in lake["stores"].values()}

    def resolve(ref: str) -> Store:
        store = by_id.get(ref)
        if store is None or store.account != account:
            raise NotFound("The specified event data store was not found.",
                           code="EventDataStoreNotFoundException")
        return store

    return resolve


def run(lake: dict[str, Any], sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    root: Path = lake["root"]
    engine = DuckDBEngine(StoreFiles(lambda s: store_files(root, s), empty_table))
    execution = engine.open(translate(sql, resolver(lake), "duckdb"))
    try:
        rows = [row for batch in execution.batches(500) for row in batch]
        return execution.columns, rows
    finally:
        execution.close()


def when(record: dict[str, Any]) -> datetime:
    return parse_time(record["eventTime"])


# -- the spec's examples (§7), store ids in place of the placeholders --------------------

def test_time_bounded_scan_example(lake: dict[str, Any]) -> None:
    sql = ("SELECT * FROM eds-ID WHERE eventtime >='2023-01-05 13:51:00' and eventtime "
           "<='2023-01-19 13:51:00'").replace("eds-ID", IDS["main"])
    columns, rows = run(lake, sql)
    assert rows == []  # invictus is from July 2023
    assert columns[:3] == ["eventversion", "eventsource", "eventname"]
    assert "seq" in columns and "account" not in columns and "date" not in columns
    july = sql.replace("2023-01-05 13:51:00", "2023-07-10 12:00:00").replace(
        "2023-01-19 13:51:00", "2023-07-10 12:10:00")
    columns, rows = run(lake, july)
    low, high = parse_time("2023-07-10T12:00:00Z"), parse_time("2023-07-10T12:10:00Z")
    expected = {r["eventID"] for r in lake["records"] if low <= when(r) <= high}
    assert {row[columns.index("eventid")] for row in rows} == expected and expected


def test_console_login_without_mfa_example(lake: dict[str, Any]) -> None:
    sql = ("SELECT * FROM $EDS_ID WHERE eventsource = 'signin.amazonaws.com' AND eventname "
           "= 'ConsoleLogin'\n  AND element_at(additionaleventdata, 'MFAUsed') = 'No'"
           ).replace("$EDS_ID", IDS["main"])
    columns, rows = run(lake, sql)
    expected = [r["eventID"] for r in lake["records"]
                if r["eventSource"] == "signin.amazonaws.com" and r["eventName"] == "ConsoleLogin"
                and (r.get("additionalEventData") or {}).get("MFAUsed") == "No"]
    assert [row[columns.index("eventid")] for row in rows] == expected and expected


IDC = ("SELECT recipientAccountId, awsRegion, eventSource, eventName, readOnly, errorCode, "
       "errorMessage, eventTime, eventID\n") + """\
FROM <EDS ID> WHERE userIdentity.principalId LIKE '%alice@example.com'
  AND (errorCode = 'AccessDenied' OR errorCode LIKE '%Unauthorized%')
  AND eventTime > '2023-01-01 00:00:00' AND eventTime < '2023-01-07 00:00:00'"""


def test_denied_activity_example(lake: dict[str, Any]) -> None:
    columns, rows = run(lake, IDC.replace("<EDS ID>", IDS["main"]))
    assert columns == ["recipientaccountid", "awsregion", "eventsource", "eventname",
                       "readonly", "errorcode", "errormessage", "eventtime", "eventid"]
    assert rows == []
    sql = IDC.replace("<EDS ID>", IDS["main"]).replace("%alice@example.com", "%").replace(
        "2023-01-01 00:00:00", "2023-07-10").replace("2023-01-07 00:00:00", "2023-07-11")
    columns, rows = run(lake, sql)
    expected = sorted(r["eventID"] for r in lake["records"]
                      if r["userIdentity"].get("principalId") is not None
                      and (r.get("errorCode") == "AccessDenied"
                           or "Unauthorized" in (r.get("errorCode") or "")))
    assert sorted(row[-1] for row in rows) == expected and expected
    first = next(r for r in lake["records"] if r["eventID"] == rows[0][-1])
    cells = render_row(columns, rows[0])
    assert cells[4] == {"readonly": str(first["readOnly"]).lower()}
    assert cells[7]["eventtime"] == first["eventTime"].replace("T", " ").replace("Z", ".000")


def test_top_iam_actions_example(lake: dict[str, Any]) -> None:
    sql = f"""SELECT COUNT(*) AS apiCount, eventName, userIdentity.principalid FROM {IDS["main"]}
WHERE eventTime >= '2022-01-08 00:00:00' AND eventSource='iam.amazonaws.com'
GROUP BY eventName, userIdentity.principalid ORDER BY apiCount DESC"""
    columns, rows = run(lake, sql)
    assert columns == ["apicount", "eventname", "principalid"]
    expected = Counter((r["eventName"], r["userIdentity"].get("principalId"))
                       for r in lake["records"] if r["eventSource"] == "iam.amazonaws.com")
    assert {(name, who): n for n, name, who in rows} == dict(expected)
    assert [n for n, _, _ in rows] == sorted(expected.values(), reverse=True)


def test_several_stores_example(lake: dict[str, Any]) -> None:
    sql = ("SELECT eventId, eventName FROM EDS1 UNION SELECT eventId, eventName FROM EDS2\n"
           "UNION ALL SELECT eventId, eventName FROM EDS3 ORDER BY eventId LIMIT 10;")
    for name in ("EDS1", "EDS2", "EDS3"):
        sql = sql.replace(name, IDS[name.lower()])
    _, rows = run(lake, sql)
    records = lake["records"]
    union = {(r["eventID"], r["eventName"]) for r in records[:2000]}
    expected = sorted(list(union) + [(r["eventID"], r["eventName"]) for r in records[1900:]])
    assert rows == expected[:10]


# -- the rest of the SQL surface ---------------------------------------------------------

def test_identifiers_are_case_insensitive(lake: dict[str, Any]) -> None:
    sql = f'SELECT EventName, "EVENTSOURCE", UserIdentity.ARN FROM {IDS["main"]} LIMIT 1'
    columns, rows = run(lake, sql)
    assert columns == ["eventname", "eventsource", "arn"] and len(rows) == 1


def test_maps_json_text_and_trino_functions(lake: dict[str, Any]) -> None:
    sql = f"""SELECT eventid,
        json_extract_scalar(element_at(requestParameters, 'filterSet'), '$.items[0].name') AS f,
        element_at(requestparameters, 'bucketName') AS bucket,
        date_diff('second', from_iso8601_timestamp('2023-07-10T11:00:00Z'), eventtime) AS secs
      FROM {IDS["main"]} WHERE element_at(requestparameters, 'bucketName') IS NOT NULL
      ORDER BY eventid"""
    _, rows = run(lake, sql)
    expected = sorted(r["eventID"] for r in lake["records"]
                      if (r.get("requestParameters") or {}).get("bucketName") is not None)
    assert [row[0] for row in rows] == expected and expected
    by_id = {r["eventID"]: r for r in lake["records"]}
    for eventid, _, bucket, secs in rows:
        record = by_id[eventid]
        assert bucket == record["requestParameters"]["bucketName"]
        assert secs == int((when(record) - parse_time("2023-07-10T11:00:00Z")).total_seconds())


def test_nested_map_value_is_json_text(lake: dict[str, Any]) -> None:
    record = next(r for r in lake["records"] if any(
        isinstance(v, dict) for v in (r.get("requestParameters") or {}).values()))
    key = next(k for k, v in record["requestParameters"].items() if isinstance(v, dict))
    inner = next(iter(record["requestParameters"][key]))
    value = record["requestParameters"][key][inner]
    sql = (f"SELECT json_extract_scalar(element_at(requestparameters, '{key}'), '$.{inner}') "
           f"FROM {IDS['main']} WHERE eventid = '{record['eventID']}'")
    columns, rows = run(lake, sql)
    assert columns == ["_col0"]
    # Trino: an object or array is not a scalar, so json_extract_scalar gives NULL
    assert rows == [(None if isinstance(value, dict | list) else str(value),)]
    inner_json = json.dumps(value, separators=(",", ":"))
    columns, rows = run(lake, sql.replace("json_extract_scalar", "json_extract"))
    assert json.loads(rows[0][0]) == json.loads(inner_json)


def test_date_only_literal_and_between(lake: dict[str, Any]) -> None:
    for condition in ("eventtime > '2026-02-11'", "eventtime < '2023-07-10'",
                      "eventtime BETWEEN '2023-07-10' AND '2023-07-11'",
                      "'2023-07-10 12:00:00' <= eventtime"):
        _, rows = run(lake, f"SELECT count(*) FROM {IDS['main']} WHERE {condition}")
        noon = parse_time("2023-07-10T12:00:00Z")
        expected = {"eventtime > '2026-02-11'": 0, "eventtime < '2023-07-10'": 0,
                    "eventtime BETWEEN '2023-07-10' AND '2023-07-11'": len(lake["records"]),
                    "'2023-07-10 12:00:00' <= eventtime":
                        sum(when(r) >= noon for r in lake["records"])}[condition]
        assert rows == [(expected,)], condition


def test_window_cte_subquery_and_join(lake: dict[str, Any]) -> None:
    main, eds1 = IDS["main"], IDS["eds1"]
    sql = f"""WITH errors AS (
        SELECT useridentity.arn AS who, errorcode FROM {main} WHERE errorcode IS NOT NULL)
      SELECT who, n, rank() OVER (ORDER BY n DESC, who) AS place FROM (
        SELECT who, count(*) AS n FROM errors GROUP BY who) ranked
      ORDER BY place LIMIT 3"""
    _, rows = run(lake, sql)
    counts = Counter(r["userIdentity"].get("arn") for r in lake["records"] if r.get("errorCode"))
    best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))[:3]
    assert [(who, n) for who, n, _ in rows] == best
    assert [place for _, _, place in rows] == [1, 2, 3]
    sql = (f"SELECT count(*) FROM {main} a INNER JOIN {eds1} b ON a.eventid = b.eventid "
           f"WHERE b.readonly = true")
    _, rows = run(lake, sql)
    assert rows == [(sum(bool(r["readOnly"]) for r in lake["records"][:1000]),)]
    sql = (f"SELECT count(*) FROM {main} WHERE eventid NOT IN "
           f"(SELECT eventid FROM {eds1}) AND eventname IN ('ListBuckets', 'GetCallerIdentity')")
    _, rows = run(lake, sql)
    assert rows == [(sum(r["eventName"] in ("ListBuckets", "GetCallerIdentity")
                         for r in lake["records"][1000:]),)]


def test_resources_array_and_unnest(lake: dict[str, Any]) -> None:
    sql = (f"SELECT count(*) FROM {IDS['main']} CROSS JOIN UNNEST(resources) AS t(r) "
           "WHERE r.type = 'AWS::IAM::Role'")
    _, rows = run(lake, sql)
    expected = sum(1 for rec in lake["records"] for res in rec.get("resources") or []
                   if res.get("type") == "AWS::IAM::Role")
    assert rows == [(expected,)]


def test_integer_division_is_trino_s(lake: dict[str, Any]) -> None:
    _, rows = run(lake, f"SELECT count(*) / 1000, 7 / 2, -7 / 2, 7.0 / 2 FROM {IDS['main']}")
    assert rows == [(2, 3, -3, 3.5)]


def test_empty_store_has_the_columns(lake: dict[str, Any]) -> None:
    columns, rows = run(lake, f"SELECT eventname, useridentity.arn FROM {IDS['empty']}")
    assert columns == ["eventname", "arn"] and rows == []


def test_translation_names_unnamed_columns_like_trino(lake: dict[str, Any]) -> None:
    translation = translate(f"SELECT count(*), max(eventtime) AS last FROM {IDS['main']}",
                            resolver(lake), "spark")
    assert '`_col0`' in translation.sql and "last" in translation.sql
    assert [s.id for s in translation.stores] == [IDS["main"]]


# -- refusals ------------------------------------------------------------------------------

@pytest.mark.parametrize(("sql", "problem"), [
    ("DELETE FROM {main}", "only SELECT"),
    ("DROP TABLE {main}", "only SELECT"),
    ("INSERT INTO {main} SELECT * FROM {main}", "only SELECT"),
    ("CREATE TABLE x AS SELECT * FROM {main}", "only SELECT"),
    ("UPDATE {main} SET eventname = 'x'", "only SELECT"),
    ("SELECT * FROM {main}; SELECT * FROM {main}", "2 statements"),
    ("SELECT * FROM {main}; DROP TABLE {main}", "2 statements"),
    ("SHOW TABLES", "only SELECT"),
    ("EXPLAIN SELECT * FROM {main}", "only SELECT"),
    ("SET SESSION query_max_run_time = '1h'", "only SELECT"),
    ("SELECT * FROM {other}", "not an event data store you can query"),
    ("SELECT * FROM 12345678-aaaa-bbbb-cccc-000000000000", "not an event data store you"),
    ("SELECT * FROM read_parquet('/etc/passwd')", "is not a table"),
    ("SELECT * FROM system.runtime.queries", "name a store by its ID alone"),
    ("SELECT 1", "reads no event data store"),
    ("SELECT eventname FROM {main} WHERE", "syntax error"),
    ("   ", "empty"),
    ("SELECT reflect('java.lang.System', 'exit', 0) FROM {main}", "function reflect"),
    ("SELECT java_method('java.lang.System', 'getenv') FROM {main}", "function java_method"),
    ("SELECT getenv('HOME') FROM {main}", "function getenv"),
    ("SELECT * FROM read_files('/etc')", "function read_files"),
    ("SELECT * FROM parquet.`/etc/x`", "syntax error"),
    ('SELECT * FROM parquet."/etc/x"', "name a store by its ID alone"),
])
def test_refused_before_running(lake: dict[str, Any], sql: str, problem: str) -> None:
    with pytest.raises(InvalidQueryStatement) as caught:
        translate(sql.format(main=IDS["main"], other=IDS["other"]), resolver(lake), "duckdb")
    assert problem in caught.value.message
    assert caught.value.code == "InvalidQueryStatementException"


def test_store_id_inside_a_string_is_not_a_table(lake: dict[str, Any]) -> None:
    sql = f"SELECT count(*) FROM {IDS['main']} WHERE eventname = 'FROM {IDS['other']}'"
    _, rows = run(lake, sql)
    assert rows == [(0,)]


def test_duckdb_reads_nothing_but_the_stores(lake: dict[str, Any]) -> None:
    """A table function is refused by translation; and should one slip through, the
    engine itself may read only the query's own store files."""
    other = store_files(lake["root"], lake["stores"]["eds2"]).paths[0]
    sql = f"SELECT count(*) FROM {IDS['main']} WHERE eventname = (SELECT content FROM " \
          f"read_text('{other}'))"
    with pytest.raises(InvalidQueryStatement):
        run(lake, sql)
    bound = translate(f"SELECT count(*) FROM {IDS['main']}", resolver(lake), "duckdb")
    sneaky = Translation(f"SELECT count(*) FROM read_parquet('{other}')", bound.tables)
    engine = DuckDBEngine(StoreFiles(lambda s: store_files(lake["root"], s), empty_table))
    execution = engine.open(sneaky)
    with pytest.raises(EngineError, match="disabled by configuration"):
        list(execution.batches(10))
    execution.close()
