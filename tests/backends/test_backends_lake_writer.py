"""The Lake writer's state (lake/_writer_rows.py) on both backends: the storage contract
(cursor and chains by compare-and-set, files, pending keys, the commit lock), and a
second node taking the writer over from a first that died mid-commit: it removes what
the first left unrecorded and goes on from the same cursor and the same manifest chain,
so the files hold every event exactly once and the chain validates."""

from __future__ import annotations

import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from conftest import make_event, wait_until
from opentrail.clock import ManualClock
from opentrail.events import parse_record
from opentrail.lake import (
    EventDataStore,
    FileEntry,
    FolderLocation,
    LakeWriter,
    LakeWriterMoved,
    StoredChain,
    receives,
    recorded_head,
    validate_lake,
)
from opentrail.lake._manifest import manifest_key
from opentrail.lake._writer_rows import EMPTY_CHAIN

T0 = 1_795_000_000.0
ACCOUNT = "123456789012"


def _entry(key: str, rows: int = 10, seqs: tuple[int | None, int | None] = (0, 9)
           ) -> FileEntry:
    return FileEntry(key, "ab" * 32, rows, rows * 100, *seqs)


def test_the_cursor_moves_only_from_where_its_writer_read_it(backend: Any) -> None:
    rows = backend.lake_writer_rows()
    with rows.read() as tx:
        assert tx.cursor() == 0
    with rows.write() as tx:
        assert tx.move(0, 40)
    with rows.write() as tx:
        assert not tx.move(0, 80)  # a stale writer's view
        assert tx.move(40, 80)
    with pytest.raises(RuntimeError), rows.write() as tx:  # a stale writer's commit
        tx.add_files("s1", [_entry("a.parquet")])
        if not tx.move(40, 90):
            raise RuntimeError("moved")
    with rows.read() as tx:
        assert tx.cursor() == 80
        assert tx.files("s1") == []  # rolled back with the refused move
    rows.close()


def test_chains_move_only_from_the_number_their_writer_read(backend: Any) -> None:
    rows = backend.lake_writer_rows()
    first = StoredChain(1, "h1", "[]", '{"id":"s1"}', None)
    with rows.write() as tx:
        assert tx.chain("s1") is None and tx.chains() == {}
        assert not tx.set_chain("s1", 1, first)  # no chain yet: only 0 is current
        assert tx.set_chain("s1", 0, first)
        assert tx.set_chain("s2", 0, StoredChain(0, None, "[[0, 5]]", "{}", T0))
    with rows.write() as tx:
        assert not tx.set_chain("s1", 0, EMPTY_CHAIN._replace(next=1))  # a second chain
        assert tx.set_chain("s1", 1, StoredChain(2, "h2", "[]", '{"id":"s1"}', None))
    with rows.read() as tx:
        assert tx.chain("s1") == StoredChain(2, "h2", "[]", '{"id":"s1"}', None)
        assert tx.chains() == {"s1": tx.chain("s1"),
                               "s2": StoredChain(0, None, "[[0, 5]]", "{}", T0)}
    assert recorded_head(rows, "s1") == (2, "h2")
    assert recorded_head(rows, "s3") is None
    rows.close()


def test_files_pending_keys_and_a_dropped_store(backend: Any) -> None:
    rows = backend.lake_writer_rows()
    with rows.write() as tx:
        tx.add_files("s1", [_entry("b.parquet"), _entry("a.parquet", 5),
                            _entry("B.parquet", 7, (None, None))])
        tx.add_files("s1", [_entry("b.parquet", 20)])  # replaced
        tx.add_files("s2", [_entry("a.parquet", 3)])
        tx.add_pending(["s1/x", "s1/y"])
        tx.add_pending(["s1/x"])
        tx.set_chain("s1", 0, StoredChain(1, "h", "[]", None, None))
    with rows.read() as tx:
        assert [e.key for e in tx.files("s1")] == ["B.parquet", "a.parquet", "b.parquet"]
        assert tx.files("s1")[0] == _entry("B.parquet", 7, (None, None))
        assert tx.totals("s1") == (3, 32, 3200) and tx.totals("s9") == (0, 0, 0)
        assert tx.recorded("s2") == {"a.parquet": (3, 300)}
        assert tx.has_file("s1", "a.parquet") and not tx.has_file("s2", "b.parquet")
        assert tx.pending() == ["s1/x", "s1/y"]
    with rows.write() as tx:
        tx.remove_files("s1", ["a.parquet", "missing.parquet"])
        tx.clear_pending()
        tx.drop_store("s2")
    with rows.read() as tx:
        assert [e.key for e in tx.files("s1")] == ["B.parquet", "b.parquet"]
        assert tx.pending() == [] and tx.files("s2") == []
        assert tx.chain("s1") is not None
    with rows.write() as tx:
        tx.drop_store("s1")
    with rows.read() as tx:
        assert tx.files("s1") == [] and tx.chain("s1") is None
    rows.close()


def test_the_commit_lock_is_reentrant(backend: Any) -> None:
    rows = backend.lake_writer_rows()
    with rows.exclusive(), rows.exclusive(), rows.write() as tx:  # re-entered
        tx.add_pending(["s1/x"])
    with rows.exclusive(), rows.read() as tx:  # and let go
        assert tx.pending() == ["s1/x"]
    rows.close()


def _store() -> EventDataStore:
    return EventDataStore(
        id=str(uuid.uuid4()), account=ACCOUNT, region="us-east-1", name="store",
        status="ENABLED", selectors=({"Name": "mgmt", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]}]},),
        multi_region=True, organization=False, retention_days=3653,
        termination_protection=False, billing_mode="EXTENDABLE_RETENTION_PRICING",
        kms_key_id=None, created=T0, updated=T0, start_seq=0)


def _ingest(writer: Any, count: int) -> None:
    records = [parse_record(make_event(when=f"2026-11-{18 + i % 2}T10:00:00Z",
                                       region=("us-east-1", "eu-west-1")[i % 2]),
                            default_account=ACCOUNT, default_region="us-east-1")
               for i in range(count)]
    assert writer.submit(records).result(timeout=30) == [True] * count


def _writer(backend: Any, folder: Path, lake: Path, store: EventDataStore,
            clock: ManualClock) -> LakeWriter:
    folder.mkdir(parents=True, exist_ok=True)
    return LakeWriter(folder, clock, FolderLocation(lake), lambda: [store], receives,
                      backend.checkpoint_signer(), ledger=backend.ledger_reader(),
                      rows=backend.lake_writer_rows())


def _drain(writer: LakeWriter, size: int) -> None:
    for _ in range(100):
        if writer.cursor >= size:
            break
        writer.step(force=True)
    writer.step(force=True)  # caught up: the examined ranges get their manifest
    assert writer.cursor == size


def _counts(lake: Path, store_id: str) -> tuple[int, int]:
    files = f"{lake}/{store_id}/*/*/*/*.parquet"
    found = duckdb.connect().execute(
        f"SELECT count(*), count(DISTINCT seq) FROM read_parquet('{files}', "
        "hive_partitioning=true, hive_types_autocast=false)").fetchone()
    assert found is not None
    return int(found[0]), int(found[1])


def _killed(*args: Any) -> None:
    raise RuntimeError("the node died between its files and its commit")


def test_a_second_node_goes_on_from_the_first_ones_cursor_and_chain(
        backends: Any, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    one, two = backends.open(), backends.open()
    ledger = one.ledger_writer(clock)
    ledger.start()
    store, lake = _store(), tmp_path / "lake"
    first = _writer(one, tmp_path / "node-one", lake, store, clock)
    _ingest(ledger, 30)
    _drain(first, ledger.size)
    assert _counts(lake, store.id) == (30, 30)
    _ingest(ledger, 20)
    first._record = _killed  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        first.step(force=True)  # files and a manifest put, nothing recorded
    assert _counts(lake, store.id)[0] > 30  # what it left behind is in the location
    # The second node takes the lake-writer role over.
    second = _writer(two, tmp_path / "node-two", lake, store, clock)
    _drain(second, ledger.size)
    assert _counts(lake, store.id) == (50, 50)
    # The first node, not knowing it lost the role, writes on: from the shared cursor.
    del first._record
    _ingest(ledger, 10)
    _drain(first, ledger.size)
    second.step(force=True)
    assert _counts(lake, store.id) == (60, 60)
    assert first.status(store.id)[2:5] == second.status(store.id)[2:5]  # one file list
    assert first.status(store.id).events == 60
    rows = two.lake_writer_rows()
    head = recorded_head(rows, store.id)
    assert head is not None and (lake / manifest_key(store.id, head[0] - 1)).exists()
    assert not (lake / manifest_key(store.id, head[0])).exists()  # one chain, no fork
    reader = two.ledger_reader()
    report = validate_lake(FolderLocation(lake), store.id,
                           two.checkpoint_signer().verifier(), reader, receives, head)
    assert report.problems == [] and report.rows == 60 and report.manifests == head[0]
    reader.close()
    first.cursor = 30  # a view from before the second node's commits: refused
    with pytest.raises(LakeWriterMoved):
        first._record([], {}, {}, 40, clock.now())
    with rows.read() as tx:
        assert tx.cursor() == 60
    rows.close()
    first.close()
    second.close()
    ledger.close()


def test_a_commit_waits_for_the_other_nodes_commit(postgres_url: str, tmp_path: Path
                                                   ) -> None:
    """On PostgreSQL the lock spans nodes: an import on one node never puts files while
    the writer on another is between its pending keys and its record."""
    from conftest import TEST_MASTER_KEY
    from opentrail.backends.postgres import PostgresBackend

    one = PostgresBackend.open(postgres_url, TEST_MASTER_KEY, pool_size=3)
    two = PostgresBackend.open(postgres_url, TEST_MASTER_KEY, pool_size=3)
    clock = ManualClock(T0)
    store, lake = _store(), tmp_path / "lake"
    first = _writer(one, tmp_path / "one", lake, store, clock)
    second = _writer(two, tmp_path / "two", lake, store, clock)
    seen: list[int] = []

    def waiting() -> bool:
        with psycopg.connect(postgres_url) as conn:
            found = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = "
                                 "'advisory' AND NOT granted").fetchone()
        return found is not None and found[0] >= 1

    with first.exclusive():
        thread = threading.Thread(target=lambda: (second.step(force=True),
                                                  seen.append(1)))
        thread.start()
        wait_until(waiting, timeout=30)  # the other node's step waits for the lock
        assert seen == []
    thread.join(timeout=30)
    assert seen == [1]
    first.close()
    second.close()
    one.close()
    two.close()


def test_migration_0015_adds_the_tables_to_an_older_database(postgres_server: Any) -> None:
    from opentrail.backends.postgres import LATEST, migrate

    url = postgres_server.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, "old", target=14)
        found = conn.execute("SELECT to_regclass('lake_writer_files')").fetchone()
        assert found == (None,)
        assert migrate(conn, "old") == 14
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE "
                              "'lake_writer_%' ORDER BY 1").fetchall()
    assert LATEST >= 15
    assert [t for (t,) in tables] == ["lake_writer_chains", "lake_writer_cursor",
                                      "lake_writer_files", "lake_writer_pending"]
    postgres_server.drop_database(url)


KILLED_NODE = textwrap.dedent("""
    import sys
    from pathlib import Path
    import base64
    import opentrail.lake._writer as lake_writer
    from opentrail.backends.postgres import PostgresBackend
    from opentrail.clock import ManualClock
    from opentrail.lake import EventDataStore, FolderLocation, LakeWriter, receives

    lake_writer.BATCH = 500  # many commits: the kill lands in the middle of the work
    url, lake, store_id, key = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    backend = PostgresBackend.open(url, base64.b64decode(key))
    store = EventDataStore(
        id=store_id, account="123456789012", region="us-east-1", name="store",
        status="ENABLED", selectors=({"Name": "mgmt", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]}]},),
        multi_region=True, organization=False, retention_days=3653,
        termination_protection=False, billing_mode="EXTENDABLE_RETENTION_PRICING",
        kms_key_id=None, created=1795000000.0, updated=1795000000.0, start_seq=0)
    writer = LakeWriter(lake.parent / "killed", ManualClock(1795000000.0),
                        FolderLocation(lake), lambda: [store], receives,
                        backend.checkpoint_signer(), ledger=backend.ledger_reader(),
                        rows=backend.lake_writer_rows())
    while True:
        writer.step(force=True)
""")


def test_a_node_killed_mid_run_is_continued_by_another(postgres_url: str,
                                                       tmp_path: Path) -> None:
    """kill -9 of the node writing the Lake: its session (and the commit lock) goes with
    it, and another node goes on from the database: each event once, a valid chain."""
    import base64
    import os
    import signal
    import subprocess
    import sys

    from conftest import TEST_MASTER_KEY
    from opentrail.backends.postgres import PostgresBackend

    backend = PostgresBackend.open(postgres_url, TEST_MASTER_KEY, pool_size=3)
    clock = ManualClock(T0)
    ledger = backend.ledger_writer(clock)
    ledger.start()
    for _ in range(6):
        _ingest(ledger, 1000)
    store, lake = _store(), tmp_path / "lake"
    (tmp_path / "killed").mkdir()
    script = tmp_path / "node.py"
    script.write_text(KILLED_NODE)
    proc = subprocess.Popen([sys.executable, str(script), postgres_url, str(lake), store.id,
                             base64.b64encode(TEST_MASTER_KEY).decode()], env=os.environ)
    try:
        wait_until(lambda: len(list(lake.glob(f"{store.id}/*/*/*/*.parquet"))) >= 4,
                   timeout=120)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with backend.lake_writer_rows().read() as tx:
        assert tx.cursor() > 0  # it committed some (where it stopped is up to timing)
    second = _writer(backend, tmp_path / "second", lake, store, clock)
    _drain(second, ledger.size)
    assert _counts(lake, store.id) == (6000, 6000)
    rows = backend.lake_writer_rows()
    reader = backend.ledger_reader()
    report = validate_lake(FolderLocation(lake), store.id,
                           backend.checkpoint_signer().verifier(), reader, receives,
                           recorded_head(rows, store.id))
    assert report.problems == [] and report.rows == 6000
    second.close()
    ledger.close()
    backend.close()


def test_an_import_on_another_node_joins_the_same_chain(backends: Any, tmp_path: Path
                                                        ) -> None:
    """Imports run on whichever node got StartImport: their files go into the same
    chain the role holder's batches extend, and both nodes see them."""
    from opentrail.events import canonical_bytes
    from opentrail.lake import LakeEntry, to_table

    clock = ManualClock(T0)
    one, two = backends.open(), backends.open()
    ledger = one.ledger_writer(clock)
    ledger.start()
    store, lake = _store(), tmp_path / "lake"
    batches = _writer(one, tmp_path / "one", lake, store, clock)
    importer = _writer(two, tmp_path / "two", lake, store, clock)
    _ingest(ledger, 10)
    _drain(batches, ledger.size)
    old = [make_event(account=ACCOUNT, when="2022-01-01T10:00:00Z") for _ in range(4)]
    table = to_table("cloudtrail", [LakeEntry(None, canonical_bytes(r), r) for r in old])
    with importer.exclusive():  # as the import runner holds it
        importer.write_import(store, table, "import-0000-000000")
    _ingest(ledger, 5)
    _drain(batches, ledger.size)
    assert batches.status(store.id).events == importer.status(store.id).events == 19
    rows = two.lake_writer_rows()
    reader = one.ledger_reader()
    report = validate_lake(FolderLocation(lake), store.id,
                           one.checkpoint_signer().verifier(), reader, receives,
                           recorded_head(rows, store.id))
    assert report.problems == [] and report.rows == 19
    rows.close()
    batches.close()
    importer.close()
    ledger.close()
