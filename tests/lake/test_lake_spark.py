"""The same queries on Spark (pyspark, local mode) and DuckDB, over the same store files:
every sample query's answer, rendered as GetQueryResults renders it, must be the same.
One Spark session for the module (it takes seconds to start)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lakefiles import Store, empty_table, invictus_records, store_files, write_store

from opentrail.lake import (
    DuckDBEngine,
    Engine,
    EngineError,
    SparkEngine,
    StoreFiles,
    render_row,
    translate,
)

pytestmark = pytest.mark.slow

ACCOUNT = "123837392027"
MAIN = "6b1c5a62-0c2e-4e8f-8bd1-bcf6c3ee1f01"
EDS1 = "EXAMPLEf852-4e8f-8bd1-bcf6cEXAMPLE"
EDS2 = "0a2b4c6d-1111-4e8f-8bd1-000000000002"
EDS3 = "aaaa-bbbb-cccc-dddd-eeee"
EMPTY = "e0e0e0e0-0000-4000-8000-00000000e0e0"

# spec §7 (ids in place of the placeholders), then the rest of the SQL surface
QUERIES = [
    f"SELECT * FROM {MAIN} WHERE eventtime >='2023-01-05 13:51:00' and eventtime "
    "<='2023-01-19 13:51:00'",
    f"SELECT * FROM {MAIN} WHERE eventtime >='2023-07-10 12:00:00' and eventtime "
    "<='2023-07-10 12:05:00'",
    f"SELECT * FROM {MAIN} WHERE eventsource = 'signin.amazonaws.com' AND eventname = "
    "'ConsoleLogin' AND element_at(additionaleventdata, 'MFAUsed') = 'No'",
    "SELECT recipientAccountId, awsRegion, eventSource, eventName, readOnly, errorCode, "
    f"errorMessage, eventTime, eventID FROM {MAIN} WHERE userIdentity.principalId LIKE "
    "'%' AND (errorCode = 'AccessDenied' OR errorCode LIKE '%Unauthorized%') AND eventTime "
    "> '2023-07-01 00:00:00' AND eventTime < '2023-07-17 00:00:00'",
    f"SELECT COUNT(*) AS apiCount, eventName, userIdentity.principalid FROM {MAIN} "
    "WHERE eventTime >= '2022-01-08 00:00:00' AND eventSource='iam.amazonaws.com' "
    "GROUP BY eventName, userIdentity.principalid ORDER BY apiCount DESC, eventName",
    f"SELECT eventId, eventName FROM {EDS1} UNION SELECT eventId, eventName FROM {EDS2} "
    f"UNION ALL SELECT eventId, eventName FROM {EDS3} ORDER BY eventId LIMIT 10",
    f"SELECT eventid, json_extract_scalar(element_at(requestparameters, 'filterSet'), "
    "'$.items[0].name') AS f, date_diff('second', from_iso8601_timestamp("
    "'2023-07-10T11:00:00Z'), eventtime) AS secs, useridentity.sessioncontext."
    f"sessionissuer.arn FROM {MAIN} WHERE element_at(requestparameters, 'bucketName') IS "
    "NOT NULL OR eventname = 'AssumeRole'",
    f"SELECT count(*), approx_distinct(eventname) > 0, max(eventtime), min(eventtime) "
    f"FROM {MAIN} WHERE eventtime > '2026-02-11' OR eventtime BETWEEN '2023-07-10' AND "
    "'2023-07-11'",
    f"""WITH errors AS (SELECT useridentity.arn AS who, errorcode FROM {MAIN}
        WHERE errorcode IS NOT NULL)
      SELECT who, n, rank() OVER (ORDER BY n DESC, who) AS place FROM (
        SELECT who, count(*) AS n FROM errors GROUP BY who) ranked ORDER BY place LIMIT 5""",
    f"SELECT a.eventname, count(*) AS n FROM {MAIN} a INNER JOIN {EDS1} b ON a.eventid = "
    "b.eventid WHERE b.readonly = true GROUP BY a.eventname",
    f"SELECT eventname, resources, tlsdetails, readonly, useridentity FROM {MAIN} WHERE "
    "resources IS NOT NULL ORDER BY eventid LIMIT 20",
    f"SELECT eventid FROM {EDS1} EXCEPT SELECT eventid FROM {EDS2}",
    f"SELECT eventid FROM {EDS1} INTERSECT SELECT eventid FROM {EDS2}",
    f"SELECT eventname, useridentity.arn FROM {EMPTY}",
    f"SELECT count(*) / 1000, 7 / 2, -7 / 2, count(*) * 100 / count(*) FROM {MAIN}",
]


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root: Path = tmp_path_factory.mktemp("lake")
    records = invictus_records()
    write_store(root, MAIN, records)
    write_store(root, EDS1, records[:1000])
    write_store(root, EDS2, records[800:2000])
    write_store(root, EDS3, records[1900:])
    files = StoreFiles(lambda s: store_files(root, s), empty_table)
    spark = SparkEngine(files)
    try:
        yield {"duckdb": DuckDBEngine(files), "spark": spark}
    finally:
        spark.close()


def resolve(ref: str) -> Store:
    return Store(ref, ACCOUNT)


def answer(engine: Engine, sql: str) -> tuple[list[str], list[list[dict[str, str]]]]:
    execution = engine.open(translate(sql, resolve, engine.dialect))
    try:
        rows = [render_row(execution.columns, row) for batch in execution.batches(1000)
                for row in batch]
        return execution.columns, rows
    finally:
        execution.close()


def _key(row: list[dict[str, str]]) -> str:
    return repr(row)


@pytest.mark.parametrize("sql", QUERIES)
def test_spark_answers_as_duckdb(engines: dict[str, Any], sql: str) -> None:
    duck_columns, duck = answer(engines["duckdb"], sql)
    spark_columns, spark = answer(engines["spark"], sql)
    assert spark_columns == duck_columns
    if "ORDER BY" in sql:
        assert spark == duck
    else:
        assert sorted(spark, key=_key) == sorted(duck, key=_key)
    assert len(duck) == len(spark)


def test_spark_errors_are_one_line(engines: dict[str, Any]) -> None:
    with pytest.raises(EngineError) as caught:
        answer(engines["spark"], f"SELECT eventname, count(*) FROM {MAIN}")
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_query_runner_on_spark_finishes_and_cancels(engines: dict[str, Any],
                                                    tmp_path: Path) -> None:
    """StartQuery's lifecycle on the Spark engine: rows as DuckDB renders them, and a
    cancel that stops Spark's jobs."""
    import time

    from opentrail.clock import ManualClock
    from opentrail.lake import QueryRunner

    class Shared:  # the module's session stays open for the other tests
        dialect = "spark"
        open = engines["spark"].open

        def close(self) -> None:
            return None

    runner = QueryRunner(tmp_path, ManualClock(1_780_000_000.0), Shared(),
                         lambda ref, owner, region: resolve(ref))
    try:
        query_id = runner.start(ACCOUNT, QUERIES[4])
        endless = runner.start(ACCOUNT, f"SELECT count(*) FROM {MAIN} a CROSS JOIN {MAIN} b "
                                        f"CROSS JOIN {MAIN} c")
        deadline = time.monotonic() + 120
        while runner.describe(ACCOUNT, query_id).status in ("QUEUED", "RUNNING"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert runner.describe(ACCOUNT, query_id).status == "FINISHED"
        assert runner.results(ACCOUNT, query_id).rows == answer(engines["duckdb"], QUERIES[4])[1]
        assert runner.cancel(ACCOUNT, endless) == "CANCELLED"
    finally:
        runner.close()
    reopened = QueryRunner(tmp_path, ManualClock(1_780_000_000.0), engines["duckdb"],
                           lambda ref, owner, region: resolve(ref))
    assert reopened.describe(ACCOUNT, endless).status == "CANCELLED"
    reopened.close()


def test_spark_that_cannot_start_fails_the_query_with_a_reason(tmp_path: Path) -> None:
    files = StoreFiles(lambda s: store_files(tmp_path, s), empty_table)
    engine = SparkEngine(files, remote="sc://127.0.0.1:1")  # nothing listens there
    with pytest.raises(EngineError, match=r"Spark \(sc://127.0.0.1:1\) could not start"):
        engine.open(translate(f"SELECT * FROM {MAIN}", resolve, "spark"))
