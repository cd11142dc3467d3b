"""Event rules' state (rules/_store.py's RuleStore) on both backends: what one node (or
process) writes, another reads at once; the engine's cursor moves by compare-and-set, so
an engine that lost the `rules` role cannot enqueue a match the new holder enqueued; a
sender of an older term is handed nothing; a new holder goes on from the shared cursor
and outbox."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from opentrail.clock import ManualClock
from opentrail.events import parse_record
from opentrail.rules import ApiDestination, Connection, Delivery, Rule, RuleEngine

T0 = 1_795_000_000.0
ACCOUNT, OTHER = "123456789012", "210987654321"
REGION = "us-east-1"


def _stores(backends: Any) -> tuple[Any, Any]:
    one, two = backends.open(), backends.open()
    return one.rules(one.keys()), two.rules(two.keys())


def test_what_one_node_writes_another_reads_at_once(backends: Any) -> None:
    one, two = _stores(backends)
    for name in ("b-rule", "a-rule", "B-rule", "é-rule"):
        one.put_rule(Rule(ACCOUNT, REGION, name, '{"source": ["aws.s3"]}', "ENABLED",
                          "d", T0))
    one.put_rule(Rule(OTHER, REGION, "a-rule", None, "DISABLED", "", T0))
    one.put_rule(Rule(ACCOUNT, REGION, "a-rule", '{"source": ["x"]}', "DISABLED", "new", 1.0))
    assert [r.name for r in two.rules(ACCOUNT, REGION)] == ["B-rule", "a-rule", "b-rule",
                                                            "é-rule"]  # byte-wise
    assert [r.name for r in two.rules(ACCOUNT, REGION, "a")] == ["a-rule"]
    assert two.rule(ACCOUNT, REGION, "a-rule") == Rule(
        ACCOUNT, REGION, "a-rule", '{"source": ["x"]}', "DISABLED", "new", T0)  # created kept
    assert two.rule(OTHER, REGION, "b-rule") is None and len(two.all_rules()) == 5
    one.put_targets(ACCOUNT, REGION, "a-rule", [{"Id": "t2", "Arn": "mailto:b@c.d"},
                                                {"Id": "t1", "Arn": "mailto:a@c.d"}])
    assert [t["Id"] for t in two.targets(ACCOUNT, REGION, "a-rule")] == ["t1", "t2"]
    one.remove_targets(ACCOUNT, REGION, "a-rule", ["t2"])
    assert two.all_targets() == {(ACCOUNT, REGION, "a-rule"): [
        {"Id": "t1", "Arn": "mailto:a@c.d"}]}
    arn = Rule(ACCOUNT, REGION, "a-rule", None, "ENABLED").arn
    one.tag(arn, {"team": "sec", "env": "prod"})
    one.untag(arn, ["env"])
    assert two.tags(arn) == {"team": "sec"}
    one.set_state(ACCOUNT, REGION, "b-rule", "DISABLED")
    assert two.rule(ACCOUNT, REGION, "b-rule").state == "DISABLED"  # type: ignore[union-attr]
    one.delete_rule(ACCOUNT, REGION, "a-rule", arn)
    assert two.rule(ACCOUNT, REGION, "a-rule") is None and two.tags(arn) == {}


def test_connections_and_destinations_are_shared_with_their_secrets_sealed(
        backends: Any) -> None:
    one, two = _stores(backends)
    conn = Connection(ACCOUNT, REGION, "siem", "u-1", "API_KEY",
                      {"ApiKeyAuthParameters": {"ApiKeyName": "X-Key"}}, "", "AUTHORIZED",
                      T0, T0, T0)
    one.save_connection(conn, {"ApiKeyAuthParameters": {"ApiKeyValue": "very-secret"}})
    assert two.connection(ACCOUNT, REGION, "siem") == conn
    assert two.secrets(conn) == {"ApiKeyAuthParameters": {"ApiKeyValue": "very-secret"}}
    assert two.connection(OTHER, REGION, "siem") is None
    changed = Connection(ACCOUNT, REGION, "siem", "u-1", "BASIC",
                         {"BasicAuthParameters": {"Username": "u"}}, "x", "AUTHORIZED",
                         T0, T0 + 5, T0 + 5)
    one.save_connection(changed, {"BasicAuthParameters": {"Password": "p"}})
    assert [c.auth_type for c in two.connections(ACCOUNT, REGION, "s")] == ["BASIC"]
    assert two.secrets(changed) == {"BasicAuthParameters": {"Password": "p"}}
    dest = ApiDestination(ACCOUNT, REGION, "hook", "u-2", conn.arn, "https://x/hook", "POST",
                          10, "", T0, T0)
    one.save_destination(dest)
    one.save_destination(ApiDestination(ACCOUNT, REGION, "other", "u-3", "arn:else",
                                        "https://y", "PUT", None, "", T0, T0))
    assert two.destination(ACCOUNT, REGION, "hook") == dest
    assert two.destinations(ACCOUNT, REGION, connection_arn=conn.arn) == [dest]
    assert [d.name for d in two.destinations(ACCOUNT, REGION)] == ["hook", "other"]
    one.delete_destination(ACCOUNT, REGION, "hook")
    one.delete_connection(ACCOUNT, REGION, "siem")
    assert two.destination(ACCOUNT, REGION, "hook") is None
    assert two.connection(ACCOUNT, REGION, "siem") is None and two.secrets(conn) == {}


def test_the_target_limit_holds_with_two_nodes_adding_at_once(backends: Any) -> None:
    import threading

    one, two = _stores(backends)
    one.put_rule(Rule(ACCOUNT, REGION, "r", '{"source": ["x"]}', "ENABLED"))
    assert one.put_targets(ACCOUNT, REGION, "r", [_target("a"), _target("b")], limit=5)
    assert one.put_targets(ACCOUNT, REGION, "r", [_target("a"), _target("b")], limit=2)
    assert not two.put_targets(ACCOUNT, REGION, "r", [_target(i) for i in "cdef"], limit=5)
    assert [t["Id"] for t in one.targets(ACCOUNT, REGION, "r")] == ["a", "b"]  # unchanged
    start, done = threading.Barrier(2), []

    def add(store: Any, ids: str) -> None:
        start.wait()
        done.append(store.put_targets(ACCOUNT, REGION, "r", [_target(i) for i in ids],
                                      limit=5))

    racers = [threading.Thread(target=add, args=(store, ids))
              for store, ids in ((one, "cde"), (two, "xyz"))]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(done) == [False, True]  # one of them counted the other's
    assert len(two.targets(ACCOUNT, REGION, "r")) == 5


def _target(target_id: str) -> dict[str, Any]:
    return {"Id": target_id, "Arn": "mailto:a@b.c"}


def _delivery(target: str) -> Delivery:
    return Delivery(0, ACCOUNT, REGION, "r", {"Id": target, "Arn": "mailto:a@b.c"},
                    {"detail": {"eventID": target}}, T0, next_try=T0)


def test_the_cursor_moves_only_from_where_its_writer_read_it(backends: Any) -> None:
    one, two = _stores(backends)
    assert one.cursor_or_none() is None
    assert one.advance(None, 5, [_delivery("a")])
    assert not two.advance(None, 9, [_delivery("b")])  # another engine began first
    assert two.advance(5, 7, [_delivery("c")])
    assert not one.advance(5, 8, [_delivery("d")])  # a stale engine: refused, rolled back
    assert one.cursor_or_none() == 7
    assert [d.target["Id"] for d in one.due(T0, 10)] == ["a", "c"]


def test_a_sender_of_an_older_term_is_handed_nothing(backends: Any) -> None:
    one, two = _stores(backends)
    one.enqueue(0, [_delivery("a"), _delivery("b")])
    old = one.fence()
    assert [d.target["Id"] for d in one.due(T0, 10, term=old)] == ["a", "b"]
    new = two.fence()
    assert new > old and one.due(T0, 10, term=old) == []
    first = two.due(T0, 10, term=new)
    assert [d.target["Id"] for d in first] == ["a", "b"]
    assert [d.target["Id"] for d in two.due(T0, 10, [first[0].id], term=new)] == ["b"]
    two.delivered([first[0].id], [(ACCOUNT, REGION, "r", "a", "email", "a", None, T0)])
    two.retry(first[1].id, 1, T0 + 60, "HTTP 503")
    assert two.due(T0, 10) == [] and two.next_due() == T0 + 60 and one.pending() == 1
    one.dead(first[1].id, 2, "HTTP 400")
    assert [(d.state, d.attempts, d.last_error) for d in two.dead_letters(ACCOUNT)] == [
        ("DEAD", 2, "HTTP 400")]
    assert two.dead_letters(OTHER) == [] and one.pending() == 0
    receipts = one.receipts(10)
    assert [r[1:] for r in receipts] == [(ACCOUNT, REGION, "r", "a", "email", "a", None, T0)]
    two.drop_receipts(receipts[-1][0])
    assert one.receipts(10) == []


def _ingest(writer: Any, names: list[str]) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in names]
    records = [parse_record({"eventTime": "2026-11-18T11:00:00Z", "eventSource":
                             "cloudtrail.amazonaws.com", "eventType": "AwsApiCall",
                             "readOnly": False, "eventName": name, "eventID": i},
                            default_account=ACCOUNT, default_region=REGION)
               for name, i in zip(names, ids, strict=True)]
    assert writer.submit(records).result(timeout=30) == [True] * len(records)
    return ids


def _enqueued(store: Any) -> list[str]:
    return [d.event["detail"]["eventID"] for d in store.due(T0 + 1e9, 1000)]


def test_a_new_engine_goes_on_where_the_last_stopped_and_a_stale_one_adds_nothing(
        backends: Any, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    nodes = backends.open(), backends.open()
    writer = nodes[0].ledger_writer(clock)
    writer.start()
    one, two = (node.rules(node.keys()) for node in nodes)
    first, second = (RuleEngine(tmp_path, clock, store, reader=node.ledger_reader)
                     for store, node in ((one, nodes[0]), (two, nodes[1])))
    try:
        first.step()  # the first run starts at the head
        one.put_rule(Rule(ACCOUNT, REGION, "stop", json.dumps(
            {"detail": {"eventName": ["StopLogging"]}}), "ENABLED"))
        one.put_targets(ACCOUNT, REGION, "stop", [{"Id": "t", "Arn": "mailto:a@b.c"}])
        sent = _ingest(writer, ["StopLogging", "ListBuckets", "StopLogging"])
        while first.step():
            pass
        assert sorted(_enqueued(two)) == sorted([sent[0], sent[2]])
        second.resume()  # takes the role over (as `run` does): from the stored cursor
        assert second.cursor == first.cursor
        sent += _ingest(writer, ["StopLogging"])
        while second.step():
            pass
        sent += _ingest(writer, ["StopLogging"])
        assert first.step() == 0  # the stale engine's batch is refused...
        assert first.cursor == second.cursor  # ...and it took the stored cursor
        while second.step():
            pass
        enqueued = _enqueued(one)
        assert sorted(enqueued) == sorted([sent[0], sent[2], sent[3], sent[4]])
        assert len(enqueued) == len(set(enqueued))  # no match enqueued twice
    finally:
        first.close()
        second.close()
        writer.close()



class _Recorded:
    """A transport that accepts everything and records what it was handed."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, delivery: Delivery) -> None:
        self.sent.append(str(delivery.target["Id"]))

    def close(self) -> None:
        pass


def test_a_sender_that_lost_the_role_is_handed_nothing_once_the_new_one_runs(
        backends: Any) -> None:
    import threading

    from conftest import wait_until
    from opentrail.rules import Sender

    one, two = _stores(backends)
    clock = ManualClock(T0)
    old, new = _Recorded(), _Recorded()
    senders = [Sender(one, clock, old), Sender(two, clock, new)]  # type: ignore[arg-type]
    stops = [threading.Event(), threading.Event()]
    threads = [threading.Thread(target=s.run, args=(stop,), daemon=True)
               for s, stop in zip(senders, stops, strict=True)]
    try:
        threads[0].start()
        one.enqueue(0, [_delivery("before")])
        wait_until(lambda: old.sent == ["before"] and one.pending() == 0)
        threads[1].start()  # the node that took the role over (the old one never noticed)
        wait_until(lambda: senders[1]._term is not None)
        one.enqueue(1, [_delivery(f"after-{i}") for i in range(5)])
        wait_until(lambda: len(new.sent) == 5 and two.pending() == 0)
        assert old.sent == ["before"]  # the old sender was handed none of them
        assert sorted(new.sent) == [f"after-{i}" for i in range(5)]
    finally:
        for stop, thread, sender in zip(stops, threads, senders, strict=True):
            stop.set()
            if thread.is_alive():
                thread.join()
            sender.close()
