"""The storage contract of Lake queries (`QueryRows`) and imports (`ImportRows`) on both
backends, and with two nodes on one database (`backends.open()` twice): the same
answers, orderings and guards on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from typing import Any

from opentrail.lake._import_rows import NewImport
from opentrail.lake._query_rows import DeliveredResult, NewQuery

ACCOUNT = "123456789012"
T0 = 1_795_000_000.0


def _query(qid: str, created: float = T0, node: str = "one") -> NewQuery:
    return NewQuery(qid, ACCOUNT, ACCOUNT, "us-east-1", "SELECT 1", created, None, None,
                    node)


def test_queries_are_found_newest_first_ties_by_id_bytewise(backend: Any) -> None:
    rows = backend.lake_queries()
    for qid, created in (("a", T0), ("B", T0), ("c", T0 + 1), ("d", T0 - 1)):
        rows.add(_query(qid, created), ["store"], 100)
    rows.add(_query("other-store"), ["elsewhere"], 100)
    found = rows.find(ACCOUNT, "store", start=None, end=None, status=None, limit=10,
                      offset=0)
    assert found == ["c", "B", "a", "d"]
    assert rows.find(ACCOUNT, "store", start=T0, end=T0, status="QUEUED", limit=1,
                     offset=1) == ["a"]
    assert rows.find("999999999999", "store", start=None, end=None, status=None,
                     limit=10, offset=0) == []
    rows.close()


def test_a_query_ends_once_and_its_rows_and_record_follow(backend: Any) -> None:
    rows = backend.lake_queries()
    rows.add(_query("q")._replace(delivery_uri="s3://b/p", delivery_status="PENDING"),
             ["s2", "s1"], 10)
    rows.set_running("q", T0 + 1)
    assert rows.add_rows("q", 0, [b"[1]", b"[2]"]) == "RUNNING"
    rows.end("q", "CANCELLED", None, T0 + 2, 5, "CANCELLED")
    rows.end("q", "FINISHED", None, T0 + 3, 9, None)  # ended already: unchanged
    assert rows.add_rows("q", 2, [b"[3]"]) == "CANCELLED"  # a node learns it ended
    info = rows.info("q")
    assert info is not None and (info.status, info.ended, info.millis, info.total,
                                 info.delivery_status) == ("CANCELLED", T0 + 2, 5, 3,
                                                           "CANCELLED")
    assert rows.rows("q", 1, 5) == [b"[2]", b"[3]"] and rows.stores_of("q") == ["s1", "s2"]
    sign = DeliveredResult("q", "b", "p/result_sign.json", None, None, None, T0)
    part = DeliveredResult("q", "b", "p/result_2.csv.gz", "v", "COMPLIANCE", T0 + 9, T0)
    rows.record_delivery(ACCOUNT, [sign, part])
    again = dataclasses.replace(part, version_id="v2")
    rows.record_delivery(ACCOUNT, [again])  # replaced by query and key
    assert rows.delivered(ACCOUNT, "q") == [again, sign]
    assert rows.delivered("999999999999", "q") == []
    assert rows.purge(T0 + 2) == 0 and rows.purge(T0 + 3) == 1
    assert rows.info("q") is None and rows.rows("q", 0, 5) == [] and rows.stores_of("q") == []
    assert len(rows.delivered(ACCOUNT, "q")) == 2  # evidence outlives the results
    rows.close()


def test_the_active_limit_and_heartbeats_across_two_nodes(backends: Any) -> None:
    one, two = backends.open().lake_queries(), backends.open().lake_queries()
    assert [one.add(_query(f"q{n}"), ["s"], 3) for n in range(2)] == [0, 1]
    assert two.add(_query("q2", node="two"), ["s"], 3) == 2
    assert one.add(_query("q3"), ["s"], 3) == 3 and one.info("q3") is None  # refused
    assert two.heartbeat("two", T0 + 50, ["q2", "q0"]) == {"q2": "QUEUED", "q0": "QUEUED"}
    assert one.fail_orphans("silent", T0 + 60, before=T0 + 10) == 2  # q0, q1: not q2
    assert [two.info(q).status for q in ("q0", "q1", "q2")] == [  # type: ignore[union-attr]
        "FAILED", "FAILED", "QUEUED"]
    assert one.add(_query("q3"), ["s"], 3) == 1
    one.close()
    two.close()


def _import(iid: str, account: str = ACCOUNT) -> NewImport:
    return NewImport(iid, account, "store", "arn:store", '{"S3": {"S3LocationUri": "x"}}',
                     None, T0 + 86_400, T0)


def test_one_ongoing_import_per_account_across_two_nodes(backends: Any) -> None:
    one, two = backends.open().lake_imports(), backends.open().lake_imports()
    assert one.add(_import("i1")) is None
    assert two.add(_import("i2")) == "i1" and two.get("i2") is None
    assert two.add(_import("j1", "210987654321")) is None
    assert two.ongoing_in("store") in ("i1", "j1")
    got = two.get("i1", ACCOUNT)
    assert got is not None and got.source == {"S3": {"S3LocationUri": "x"}}
    assert got.end_time == T0 + 86_400 and two.get("i1", "210987654321") is None
    one.stop("i1", T0 + 1)
    assert two.status("i1") == "STOPPED" and one.add(_import("i2")) is None
    assert one.retry(ACCOUNT, "i1", T0 + 2) == "i2"  # i2 is ongoing now
    assert [i.id for i in two.find(ACCOUNT, None, None)] == ["i1", "i2"]
    assert [i.id for i in two.find(ACCOUNT, "store", "STOPPED")] == ["i1"]
    one.close()
    two.close()


def test_an_import_resumed_elsewhere_counts_each_file_once(backends: Any) -> None:
    one, two = backends.open().lake_imports(), backends.open().lake_imports()
    one.add(_import("i"))
    assert sorted([one.take_file_number("i"), two.take_file_number("i"),
                   one.take_file_number("i")]) == [0, 1, 2]
    one.begin("i", 2, 0, T0 + 1)
    one.fail("i", "s3://b/x", "AccessDenied", "denied", T0 + 1)
    one.flush("i", ["s3://b/a"], 10, T0 + 2)
    two.flush("i", ["s3://b/a", "s3://b/x"], 3, T0 + 3)  # a stale node flushes a again
    one.prefix_done("i", T0 + 3)
    done = two.get("i")
    assert done is not None and (done.status, done.files_completed, done.events_completed,
                                 done.prefixes_completed, done.failed_entries) == (
        "IN_PROGRESS", 2, 13, 1, 0)
    assert two.done("i") == {"s3://b/a", "s3://b/x"}
    assert [f.status for f in one.failures(ACCOUNT, "i")] == ["SUCCEEDED"]
    assert one.next_ongoing() is not None
    two.finish("i", T0 + 4)
    assert one.status("i") == "COMPLETED" and one.next_ongoing() is None
    one.close()
    two.close()


def test_a_failed_file_fails_the_import_until_a_retry_reads_it(backend: Any) -> None:
    rows = backend.lake_imports()
    rows.add(_import("i"))
    rows.fail("i", "s3://b/x", "CorruptFile", "bad", T0 + 1)
    rows.finish("i", T0 + 2)
    assert rows.status("i") == "FAILED"
    assert rows.retry(ACCOUNT, "i", T0 + 3) is None and rows.status("i") == "INITIALIZING"
    assert [f.status for f in rows.failures(ACCOUNT, "i")] == ["RETRY"]
    rows.finish("i", T0 + 4)  # still not read: FAILED again
    assert rows.status("i") == "FAILED"
    assert [(f.status, f.error_type) for f in rows.failures(ACCOUNT, "i")] == [
        ("FAILED", "CorruptFile")]
    rows.close()
