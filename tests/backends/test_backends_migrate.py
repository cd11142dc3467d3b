"""`opentrail migrate`: a data dir made by a real server moves into PostgreSQL and reads
back the same through the PostgreSQL backend; a tampered leaf, another master key,
another installation's database and an unreachable URL are refused clearly; a run cut
short goes on where it stopped; a migrated trail delivers on from where it stopped."""

from __future__ import annotations

import base64
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from conftest import TEST_MASTER_KEY, Server, free_port, make_event, post_records
from opentrail.backends.postgres import PostgresBackend
from opentrail.backends.sqlite import SqliteBackend
from opentrail.ledger import open_ledger_reader, scan

pytestmark = pytest.mark.e2e

KEY = base64.b64encode(TEST_MASTER_KEY).decode()
EVENTS = 30


def _env(**extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENTRAIL_")}
    return {**env, "OPENTRAIL_MASTER_KEY": KEY, **extra}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opentrail", *args], capture_output=True,
                          text=True, env=env or _env(), timeout=300)


def migrate(data_dir: Path, url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run("migrate", "--from", str(data_dir), "--to", url, env=_env(**env))


def _sign_checkpoint(server: Server, event_id: str) -> None:
    """An inclusion proof makes the server sign a checkpoint covering the event."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key = server.key("reader")
    url = f"{server.endpoint}/opentrail/v1/proofs/inclusion?eventId={event_id}"
    request = AWSRequest(method="GET", url=url, data=b"")
    SigV4Auth(Credentials(key.access_key_id, key.secret), "opentrail",
              "us-east-1").add_auth(request)
    assert httpx.get(url, headers=dict(request.headers.items()), timeout=60).status_code == 200


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    """A data dir a real server filled (events, keys, a trail, a channel, a Lake store,
    digest signing keys, a signed checkpoint), the server stopped."""
    server = Server(tmp_path_factory.mktemp("source") / "data", free_port())
    server.start()
    events = [make_event() for _ in range(EVENTS)]
    post_records(server, events)
    ct: Any = server.client()
    trail = ct.create_trail(Name="main", S3BucketName="audit-migrate",
                            EnableLogFileValidation=True)["TrailARN"]
    store = ct.create_event_data_store(Name="lake", AdvancedEventSelectors=[
        {"Name": "apps", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["ActivityAuditLog"]}]}])["EventDataStoreArn"]
    channel = ct.create_channel(Name="apps", Source="Custom", Destinations=[
        {"Type": "EVENT_DATA_STORE", "Location": store}])["ChannelArn"]
    _sign_checkpoint(server, str(events[-1]["eventID"]))
    proof = server.data_dir.parent / "proof.json"
    proved = subprocess.run([sys.executable, "-m", "opentrail", "prove",
                             str(events[3]["eventID"]), "--endpoint-url", server.endpoint,
                             "-o", str(proof)], capture_output=True, text=True,
                            env=server.env("reader"), timeout=120)
    assert proved.returncode == 0, proved.stderr
    server.kill(signal.SIGTERM)
    for region in ("us-east-1", "eu-west-1"):  # the keys digests would be signed with
        SqliteBackend(server.data_dir).signing_keys(_clock(), 30).current(region)
    yield server, {"trail": trail, "channel": channel, "store": store, "proof": proof}


@pytest.fixture
def source(made: tuple[Server, dict[str, Any]], tmp_path: Path) -> Path:
    """A copy of the filled data dir, for this test alone."""
    shutil.copytree(made[0].data_dir, tmp_path / "data")
    return tmp_path / "data"


def _backend(url: str, master_key: bytes = TEST_MASTER_KEY) -> PostgresBackend:
    return PostgresBackend.open(url, master_key, pool_size=2)


def test_migrate_moves_the_installation_and_it_reads_back_the_same(
        made: tuple[Server, dict[str, Any]], source: Path, postgres_url: str) -> None:
    proc = migrate(source, postgres_url)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    size = open_ledger_reader(source).size()  # the events sent and the self-audit's
    assert size >= EVENTS
    assert f"ledger: {size}/{size} events copied" in proc.stdout
    assert "every leaf recomputed, 0 signed" not in proc.stdout  # at least one matched
    assert "digest signing keys: 2 copied" in proc.stdout
    assert "access keys: 3 copied" in proc.stdout  # admin, reader, writer (the CLI's)
    sqlite_reader = open_ledger_reader(source)
    backend = _backend(postgres_url)
    try:
        assert list(scan(backend.ledger_reader())) == list(scan(sqlite_reader))
        server, arns = made
        for key in server.keys_made.values():
            found = backend.keys().lookup(key.access_key_id)
            assert found is not None and found[1] == key.secret
        assert [t.name for t in backend.trails(own_buckets=True).list()] == ["main"]
        channels = backend.channels().list("123456789012", "us-east-1")
        assert [c.arn for c in channels] == [arns["channel"]]
        stores = backend.catalog(_clock()).list("123456789012", "us-east-1")
        assert len(stores) == 1
        signer = backend.checkpoint_signer()
        assert signer.text() + "\n" == (source / "checkpoint.key").read_text()
        # organization trails go on delivering under the same o-... prefix
        own = (source / "organization-id").read_text().strip()
        assert backend.organization_id("auto") == own
        for region in ("us-east-1", "eu-west-1"):
            theirs = backend.signing_keys(_clock(), 30).current(region)
            ours = SqliteBackend(source).signing_keys(_clock(), 30).current(region)
            assert theirs.fingerprint == ours.fingerprint
    finally:
        backend.close()
        sqlite_reader.close()
    again = migrate(source, postgres_url)
    assert again.returncode == 0, again.stderr
    assert f"0 events copied by this run, {size} were already" in again.stdout
    assert "access keys: 0 copied" in again.stdout and "trails: 0 copied, 1" in again.stdout


def _clock() -> Any:
    from opentrail.clock import SystemClock

    return SystemClock()


def test_a_tampered_leaf_is_refused_naming_its_seq(source: Path, postgres_url: str) -> None:
    conn = sqlite3.connect(source / "ledger.db", isolation_level=None)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("UPDATE events SET body = CAST(replace(CAST(body AS TEXT), 'alice', "
                 "'mallory') AS BLOB) WHERE seq = 7")
    conn.close()
    proc = migrate(source, postgres_url)
    assert proc.returncode == 1
    assert "event seq 7: stored bytes do not match the leaf hash" in proc.stderr
    assert "was not migrated" in proc.stderr
    backend = _backend(postgres_url)
    try:
        assert backend.ledger_reader().size() == 0  # nothing written
    finally:
        backend.close()


def test_a_second_run_with_another_master_key_is_refused(source: Path,
                                                         postgres_url: str) -> None:
    assert migrate(source, postgres_url).returncode == 0
    other = base64.b64encode(b"\x01" * 32).decode()
    proc = migrate(source, postgres_url, OPENTRAIL_MASTER_KEY=other)
    assert proc.returncode == 1
    assert "master key is not the one" in proc.stderr


def test_the_data_dirs_own_master_key_must_open_its_secrets(source: Path,
                                                            postgres_url: str,
                                                            tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.key"
    wrong.write_text(base64.b64encode(b"\x02" * 32).decode())
    proc = run("migrate", "--from", str(source), "--to", postgres_url,
               "--from-master-key-file", str(wrong))
    assert proc.returncode == 1
    assert "Cannot decrypt the secret of access key OTAK" in proc.stderr
    assert "--from-master-key-file" in proc.stderr


def test_a_database_of_another_installation_is_refused(source: Path, postgres_url: str,
                                                       tmp_path: Path) -> None:
    made = run("keys", "create", "--account", "123456789012", "--database-url",
               postgres_url)
    assert made.returncode == 0, made.stderr
    proc = migrate(source, postgres_url)
    assert proc.returncode == 1
    assert "already holds OpenTrail state that did not come from" in proc.stderr
    assert "1 rows in access_keys" in proc.stderr


def test_a_database_migrated_from_another_data_dir_is_refused(
        source: Path, postgres_url: str, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    assert migrate(other, postgres_url).returncode == 0  # an empty installation
    proc = migrate(source, postgres_url)
    assert proc.returncode == 1
    assert "belongs to another installation: its checkpoint key is" in proc.stderr


def test_an_unreachable_database_is_named_without_its_password(source: Path) -> None:
    proc = migrate(source, "postgresql://ops:hunter2@127.0.0.1:1/audit")
    assert proc.returncode == 1
    assert "postgresql://ops:***@127.0.0.1:1/audit" in proc.stderr
    assert "hunter2" not in proc.stderr + proc.stdout


def test_a_run_cut_short_goes_on_where_it_stopped(source: Path, postgres_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from opentrail.backends.transfer import _ledger, migrate_data_dir

    monkeypatch.setattr(_ledger, "CHUNK", 8)

    def cut(line: str) -> None:
        if line.startswith("ledger: 16/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=cut)
    backend = _backend(postgres_url)
    try:
        assert backend.ledger_reader().size() == 16
    finally:
        backend.close()
    lines: list[str] = []
    size, _root = migrate_data_dir(source, postgres_url, TEST_MASTER_KEY,
                                   progress=lines.append)
    assert size == open_ledger_reader(source).size()
    assert f"ledger: {size - 16} events copied by this run, 16 were already" in lines
    assert any("resuming in" in line for line in lines)
    assert json.dumps(lines)  # progress lines are plain text


def _head(proc: subprocess.CompletedProcess[str]) -> str:
    return next(line for line in proc.stdout.splitlines() if line.startswith("tree head:"))


def _signed(proc: subprocess.CompletedProcess[str]) -> int:
    found = re.search(r"signed checkpoints matched: (\d+)", proc.stdout)
    assert found, proc.stdout
    return int(found.group(1))


def test_verify_reads_the_database_and_finds_the_same_tree_head(source: Path,
                                                                postgres_url: str) -> None:
    assert migrate(source, postgres_url).returncode == 0
    local = run("verify", "--data-dir", str(source))
    assert local.returncode == 0, local.stdout + local.stderr
    remote = run("verify", "--database-url", postgres_url, "--data-dir", "/nonexistent")
    assert remote.returncode == 0, remote.stdout + remote.stderr
    assert _head(remote) == _head(local)
    assert "mismatches: 0" in remote.stdout and "recorded by the server" in remote.stdout
    # The signed checkpoints moved too: verify matches the same ones in the database.
    assert _signed(remote) == _signed(local) and _signed(local) > 0
    conn = psycopg.connect(postgres_url, autocommit=True)
    try:
        conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_change")
        conn.execute("UPDATE events SET body = convert_to(replace(convert_from(body, 'UTF8'),"
                     " 'alice', 'mallory'), 'UTF8') WHERE seq = 5")
    finally:
        conn.close()
    tampered = run("verify", "--database-url", postgres_url)
    assert tampered.returncode == 1
    assert "MISMATCH\tevent seq 5\tstored bytes do not match the leaf hash" in tampered.stdout
    assert "append-only trigger events_no_change is disabled" in tampered.stdout


def test_verify_names_an_unreachable_database_without_its_password() -> None:
    proc = run("verify", "--database-url", "postgresql://ops:hunter2@127.0.0.1:1/audit")
    assert proc.returncode == 1
    assert "postgresql://ops:***@127.0.0.1:1/audit" in proc.stderr
    assert "hunter2" not in proc.stderr + proc.stdout


def _append(data_dir: Path, count: int) -> None:
    import uuid

    from opentrail.clock import SystemClock
    from opentrail.events import parse_record

    writer = SqliteBackend(data_dir).ledger_writer(SystemClock())
    writer.start()
    records = [parse_record({"eventTime": "2026-01-01T00:00:00Z", "eventSource": "s3",
                             "eventName": "ListBuckets", "eventID": str(uuid.uuid4())},
                            default_account="123456789012", default_region="us-east-1")
               for _ in range(count)]
    assert writer.submit(records).result(timeout=30) == [True] * count
    writer.close()


def test_events_appended_during_a_run_are_named_and_copied_by_the_next(
        source: Path, postgres_url: str) -> None:
    from opentrail.backends.transfer import migrate_data_dir

    lines: list[str] = []

    def meanwhile(line: str) -> None:
        lines.append(line)
        if "recomputes the same tree head" in line:
            _append(source, 3)  # the embedded server was left running

    size, _ = migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=meanwhile)
    assert any("gained 3 events while this ran" in line for line in lines)
    again = migrate(source, postgres_url)
    assert again.returncode == 0, again.stderr
    assert f"ledger: 3 events copied by this run, {size} were already" in again.stdout
    assert "gained" not in again.stdout
    local, remote = run("verify", "--data-dir", str(source)), run(
        "verify", "--database-url", postgres_url)
    assert _head(local) == _head(remote) and f"size {size + 3} " in _head(remote)


def test_a_proof_issued_before_the_move_holds_on_the_database(
        made: tuple[Server, dict[str, Any]], source: Path, postgres_url: str,
        tmp_path: Path) -> None:
    """`opentrail prove` from the embedded server: after the move the database's ledger
    gives the same audit path and root, and the proof verifies with the cluster's key."""
    from opentrail.ledger import TreeReader, open_checkpoint

    assert migrate(source, postgres_url).returncode == 0
    proof = json.loads(made[1]["proof"].read_text())
    backend = _backend(postgres_url)
    ledger = backend.ledger_reader()
    (tmp_path / "node").mkdir()
    tree = TreeReader(tmp_path / "node", ledger)  # each node derives its own tree.db
    try:
        index, size = proof["leafIndex"], proof["treeSize"]
        assert [h.hex() for h in tree.inclusion(index, size)] == proof["hashes"]
        key = backend.ledger_audit().public_key()
        assert key is not None
        assert tree.root(size) == open_checkpoint(proof["checkpoint"], key).root
    finally:
        tree.close()
        backend.close()
    (tmp_path / "cluster.pub").write_text(key.text() + "\n")
    checked = run("verify-proof", str(made[1]["proof"]), "--public-key",
                  str(tmp_path / "cluster.pub"))
    assert checked.returncode == 0 and checked.stdout.startswith("VALID"), checked.stderr


def _call(service: Any, op: str, body: dict[str, Any]) -> dict[str, Any]:
    """One signed CloudTrail call to the service's app, in process, as its admin."""
    import asyncio

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from opentrail.api import build_app
    from opentrail.api._app import TARGET_PREFIX
    from opentrail.auth import Role

    principal, secret = service.keys.create(account="123456789012", organization=False,
                                            role=Role.ADMIN)
    data = json.dumps(body).encode()
    request = AWSRequest(method="POST", url="http://testserver/", data=data, headers={
        "X-Amz-Target": TARGET_PREFIX + op, "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(principal.access_key_id, secret), "cloudtrail",
              "us-east-1").add_auth(request)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=build_app(service), client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post("/", content=data, headers=dict(request.headers.items()))

    answer = asyncio.run(send())
    assert answer.status_code == 200, answer.content
    return dict(json.loads(answer.content or b"{}"))


def _submit(service: Any, event_ids: list[str]) -> None:
    import time

    from opentrail.events import parse_record

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for event_id in event_ids:
        record = parse_record({"eventTime": now, "eventSource": "s3",
                               "eventName": "ListBuckets", "eventID": event_id},
                              default_account="123456789012", default_region="us-east-1")
        assert service.writer.submit([record]).result(30) == [True]


def _objects(s3: Any, bucket: str, part: str) -> dict[str, bytes]:
    import gzip

    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: gzip.decompress(s3.get_object(Bucket=bucket, Key=o["Key"])[
        "Body"].read()) for p in pages for o in p.get("Contents", []) if part in o["Key"]}


def _delivered_ids(s3: Any, bucket: str) -> list[str]:
    return sorted(r["eventID"] for body in _objects(s3, bucket, "/CloudTrail/").values()
                  for r in json.loads(body)["Records"] if r["eventID"].startswith("event-"))


def test_a_migrated_trail_goes_on_where_it_stopped(
        tmp_path: Path, postgres_url: str, moto_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Delivery state moves too: the database holds the data dir's cursor and digest
    chains, and a node on it delivers only the new events, its first digest linking to
    the data dir's last one."""
    import boto3

    from conftest import wait_until
    from opentrail.backends.transfer import MigrationRefused, migrate_data_dir
    from opentrail.config import Settings
    from opentrail.service import Service

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("OPENTRAIL_MASTER_KEY", raising=False)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="carry-on")

    def node(data_dir: Path, url: str | None = None) -> Service:
        return Service.open(Settings(data_dir=data_dir, database_url=url or "",
                                     trail_storage="s3", s3_endpoint_url=moto_url,
                                     delivery_interval=1, digest_interval=3),
                            indexer="thread")

    source = tmp_path / "data"
    embedded = node(source)
    try:
        arn = _call(embedded, "CreateTrail", {"Name": "main", "S3BucketName": "carry-on",
                                              "EnableLogFileValidation": True})["TrailARN"]
        _call(embedded, "StartLogging", {"Name": "main"})
        sent = [f"event-{i:03}" for i in range(6)]
        _submit(embedded, sent)
        wait_until(lambda: _delivered_ids(s3, "carry-on") == sent and _objects(
            s3, "carry-on", "/CloudTrail-Digest/"), timeout=60)
    finally:
        embedded.close()
    before = set(_objects(s3, "carry-on", "/CloudTrail-Digest/"))
    rows = SqliteBackend(source).delivery_rows()
    with rows.read() as tx:
        cursor, chains = tx.cursor(arn), tx.chains(arn)
    rows.close()
    assert cursor is not None and chains and all(prev for _, _, prev in chains)

    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY)
    lines: list[str] = []
    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=lines.append)
    assert "trail delivery cursors: 0 copied, 1 already there" in lines  # safe again
    backend = _backend(postgres_url)
    try:
        with backend.delivery_rows().read() as tx:
            assert tx.cursor(arn) == cursor and tx.chains(arn) == chains
    finally:
        backend.close()

    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", KEY)
    links = {json.loads(prev)["key"]: json.loads(prev)["sha256"] for _, _, prev in chains
             if prev}
    cluster = node(tmp_path / "node", postgres_url)
    try:
        more = [f"event-{i:03}" for i in range(6, 10)]
        _submit(cluster, more)

        def linked() -> list[dict[str, Any]]:
            new = [json.loads(body) for key, body in _objects(
                s3, "carry-on", "/CloudTrail-Digest/").items() if key not in before]
            return [d for d in new if d["previousDigestS3Object"] in links]

        wait_until(lambda: _delivered_ids(s3, "carry-on") == sent + more and linked(),
                   timeout=60)
        for digest in linked():
            assert digest["previousDigestHashValue"] == links[
                digest["previousDigestS3Object"]]
        assert _delivered_ids(s3, "carry-on") == sent + more  # nothing delivered twice
    finally:
        cluster.close()
    with pytest.raises(MigrationRefused, match=f"{arn} in the database .* differs from"):
        migrate_data_dir(source, postgres_url, TEST_MASTER_KEY)  # the cluster moved on


def test_lake_queries_and_imports_move_with_the_installation(source: Path,
                                                              postgres_url: str) -> None:
    """lake-queries.db (queries, their stores, result rows, delivery record) and
    lake-imports.db (imports, done files, failures) land in the database as they were:
    any node then reads a query's results and an import's progress; a second run copies
    nothing; a row that differs is refused, naming it."""
    from opentrail.backends.sqlite import SqliteImportRows, SqliteQueryRows
    from opentrail.backends.transfer import MigrationRefused, migrate_data_dir
    from opentrail.lake._import_rows import NewImport
    from opentrail.lake._query_rows import DeliveredResult, NewQuery

    queries, imports = SqliteQueryRows(source), SqliteImportRows(source)
    query = NewQuery("q-1", "123456789012", "123456789012", "us-east-1", "SELECT 1",
                     1_795_000_000.0, "s3://results/q", "PENDING", "old-node")
    queries.add(query, ["store-1"], 10)
    queries.set_columns("q-1", b'["eventid"]')
    queries.add_rows("q-1", 0, [b'[{"eventid":"a"}]', b'[{"eventid":"b"}]'])
    queries.end("q-1", "FINISHED", None, 1_795_000_001.0, 12, None)
    written = [DeliveredResult("q-1", "results", "q/result_1.csv.gz", "v1", None, None,
                               1_795_000_002.0)]
    queries.record_delivery("123456789012", written)
    imports.add(NewImport("i-1", "123456789012", "store-1", "arn:store", '{"S3": {}}',
                          None, None, 1_795_000_000.0))
    imports.flush("i-1", ["s3://bkt/a.json.gz"], 7, 1_795_000_003.0)
    imports.fail("i-1", "s3://bkt/b.json.gz", "CorruptFile", "bad", 1_795_000_004.0)
    queries.close()
    imports.close()
    lines: list[str] = []
    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=lines.append)
    assert "Lake query results: 2 copied, 0 already there" in lines
    assert "Lake imported files: 1 copied, 0 already there" in lines
    backend = _backend(postgres_url)
    try:
        rows = backend.lake_queries()
        assert rows.info("q-1") == SqliteQueryRows(source).info("q-1")
        assert rows.rows("q-1", 0, 10) == [b'[{"eventid":"a"}]', b'[{"eventid":"b"}]']
        assert rows.delivered("123456789012", "q-1") == written
        assert rows.find("123456789012", "store-1", start=None, end=None, status=None,
                         limit=5, offset=0) == ["q-1"]
        moved = backend.lake_imports()
        assert moved.get("i-1") == SqliteImportRows(source).get("i-1")
        assert moved.done("i-1") == {"s3://bkt/a.json.gz"}
        assert [f.error_type for f in moved.failures("123456789012", "i-1")] == [
            "CorruptFile"]
    finally:
        backend.close()
    lines.clear()
    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=lines.append)
    assert "Lake queries: 0 copied, 1 already there" in lines
    backend = _backend(postgres_url)
    try:  # a node goes on numbering the import's files from the data dir's number
        assert backend.lake_imports().take_file_number("i-1") == 0
    finally:
        backend.close()
    with sqlite3.connect(source / "lake-imports.db") as conn:
        conn.execute("UPDATE imports SET events_completed = 8")
    with pytest.raises(MigrationRefused, match="Lake imports: i-1 in the database"):
        migrate_data_dir(source, postgres_url, TEST_MASTER_KEY)


def test_event_rules_move_with_their_secrets_cursor_and_outbox(
        source: Path, postgres_url: str) -> None:
    """rules.db moves: rules, targets, tags, destinations, the engine's cursor and the
    outbox as they are, connection secrets resealed with the cluster's master key; a
    second run copies nothing, and a row changed in the database since is refused by
    name."""
    from opentrail.auth import KeyStore
    from opentrail.backends.transfer import MigrationRefused, migrate_data_dir
    from opentrail.rules import ApiDestination, Connection, Delivery, Rule, SqliteRuleStore

    account, region = "123456789012", "us-east-1"
    keys = KeyStore(source)
    rules = SqliteRuleStore(source, keys)
    conn = Connection(account, region, "siem", "u-1", "API_KEY",
                      {"ApiKeyAuthParameters": {"ApiKeyName": "X-Key"}}, "", "AUTHORIZED",
                      1.0, 2.0, 3.0)
    rules.save_connection(conn, {"ApiKeyAuthParameters": {"ApiKeyValue": "s3cret"}})
    dest = ApiDestination(account, region, "hook", "u-2", conn.arn, "https://x/h", "POST", 5,
                          "", 1.0, 1.0)
    rules.save_destination(dest)
    rule = Rule(account, region, "stop", '{"source": ["aws.cloudtrail"]}', "ENABLED", "d",
                1.0)
    rules.put_rule(rule)
    rules.put_targets(account, region, "stop", [{"Id": "t", "Arn": dest.arn}])
    rules.tag(rule.arn, {"team": "sec"})
    rules.enqueue(17, [Delivery(0, account, region, "stop", {"Id": "t", "Arn": dest.arn},
                                {"id": "e-1"}, 1.0, next_try=1.0)])
    rules.delivered([], [(account, region, "stop", "t", "api-destination", "e-0", "X", 1.0)])
    pending = rules.due(10.0, 10)
    rules.close()
    keys.close()

    lines: list[str] = []
    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=lines.append)
    assert "event rule connections: 1 copied (secrets resealed with the cluster's master " \
           "key), 0 already there" in lines
    assert "event rule outbox: 1 copied, 0 already there" in lines
    lines.clear()
    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=lines.append)
    assert "event rule connections: 0 copied (secrets resealed with the cluster's master " \
           "key), 1 already there" in lines and "event rules: 0 copied, 1 already there" in lines
    backend = _backend(postgres_url)
    try:
        store = backend.rules(backend.keys())
        assert store.rule(account, region, "stop") == rule
        assert store.targets(account, region, "stop") == [{"Id": "t", "Arn": dest.arn}]
        assert store.tags(rule.arn) == {"team": "sec"}
        assert store.connection(account, region, "siem") == conn
        assert store.secrets(conn) == {"ApiKeyAuthParameters": {"ApiKeyValue": "s3cret"}}
        assert store.destination(account, region, "hook") == dest
        assert store.cursor_or_none() == 17 and store.due(10.0, 10) == pending
        assert [r[1:] for r in store.receipts(10)] == [
            (account, region, "stop", "t", "api-destination", "e-0", "X", 1.0)]
        store.enqueue(18, [pending[0]])  # the identity goes on after the copied ids
        assert [d.id for d in store.due(10.0, 10)] == [pending[0].id, pending[0].id + 1]
    finally:
        backend.close()
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE rules SET state = 'DISABLED'")
    with pytest.raises(MigrationRefused, match=r"event rules: 123456789012 us-east-1 stop "
                                               r"in the database .* differs"):
        migrate_data_dir(source, postgres_url, TEST_MASTER_KEY)
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE rules SET state = 'ENABLED'")
        db.execute("UPDATE rule_connections SET auth_type = 'BASIC'")
    with pytest.raises(MigrationRefused, match=f"connection {conn.arn} in the database"):
        migrate_data_dir(source, postgres_url, TEST_MASTER_KEY)


def test_sigma_findings_and_the_audit_journal_move(source: Path, postgres_url: str) -> None:
    """findings.db (findings, their state, the detector's cursor) and the records of
    changes in flight when the server stopped: the first node to start records those."""
    from opentrail.backends.transfer import MigrationRefused, migrate_data_dir
    from opentrail.clock import ManualClock
    from opentrail.detect import Finding, SqliteFindingStore
    from opentrail.events import parse_record

    store = SqliteFindingStore(source)
    made = [Finding(f"finding-{n}", "123456789012", "us-east-1", 1_790_000_000.0 + n,
                    {"ruleTitle": "t", "eventId": f"e-{n}"}) for n in (1, 2)]
    assert store.save(made, 7, store.cursor())
    store.acknowledge("finding-1", None, "AKIDEXAMPLE", 1_790_000_100.0)
    store.mark_published(["finding-2"])
    before = [f.describe() for f in store.listed(None, None, 10)]
    store.close()
    flying = parse_record({"eventTime": "2026-12-02T10:00:00Z", "eventName": "DeleteTrail",
                           "eventSource": "cloudtrail.amazonaws.com", "eventID": "in-flight",
                           "recipientAccountId": "123456789012", "awsRegion": "us-east-1"},
                          default_account="123456789012", default_region="us-east-1")
    (source / "audit-journal").mkdir(exist_ok=True)
    (source / "audit-journal" / "in-flight.json").write_bytes(flying.body)
    for run in (0, 1):  # the second run finds everything there
        lines: list[str] = []
        migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=lines.append)
        assert f"Sigma findings: {2 - 2 * run} copied, {2 * run} already there" in lines
        assert f"the Sigma detector's cursor: {1 - run} copied, {run} already there" in lines
        assert any(line.startswith(f"audit journal: {1 - run} record(s)") for line in lines)
    backend = _backend(postgres_url)
    try:
        findings = backend.findings()
        assert [f.describe() for f in findings.listed(None, None, 10)] == before
        assert findings.cursor() == 7 and [f.id for f in findings.unpublished(10)] == [
            "finding-1"]
        writer = backend.ledger_writer(ManualClock(1_790_000_000.0))
        writer.start()
        journal = backend.audit_journal()
        assert journal.recover(writer) == 1  # a node's start records it, outcome unknown
        writer.close()
        journal.close()
        [stored] = [json.loads(row.body) for row in scan(backend.ledger_reader())
                    if row.body and b"in-flight" in row.body]
        assert stored["additionalEventData"] == {"outcome": "unknown"}
        assert findings.acknowledge("finding-2", None, "AKIDNODE", 1_790_000_200.0)
    finally:
        backend.close()
    with pytest.raises(MigrationRefused) as info:  # acknowledged since, on a node
        migrate_data_dir(source, postgres_url, TEST_MASTER_KEY)
    assert "Sigma findings: finding-2" in info.value.message


def _submit_events(writer: Any, count: int) -> None:
    from opentrail.events import parse_record

    records = [parse_record(make_event(when="2026-11-20T10:00:00Z"),
                            default_account="123456789012", default_region="us-east-1")
               for _ in range(count)]
    assert writer.submit(records).result(timeout=30) == [True] * count


def _lake_counts(lake: Path, store_id: str) -> tuple[int, int]:
    import duckdb

    files = f"{lake}/{store_id}/*/*/*/*.parquet"
    found = duckdb.connect().execute(
        f"SELECT count(*), count(DISTINCT seq) FROM read_parquet('{files}', "
        "hive_partitioning=true, hive_types_autocast=false)").fetchone()
    assert found is not None
    return int(found[0]), int(found[1])


def _crashed(*args: Any) -> None:
    raise RuntimeError("the server died between its files and its commit")


def test_the_lake_writers_state_moves_and_a_node_goes_on(
        source: Path, postgres_url: str, tmp_path: Path) -> None:
    """lake-writer.db moves (cursor, chains, files, the pending keys of a commit cut
    short): a node on the database removes what the cut commit left, goes on from the
    same cursor and chain, and validate-lake --database-url finds the store valid."""
    import time as _time

    from opentrail.backends.sqlite._lake_writer import SqliteWriterRows
    from opentrail.backends.transfer import MigrationRefused, migrate_data_dir
    from opentrail.clock import ManualClock
    from opentrail.lake import EventDataStore, FolderLocation, LakeWriter, receives
    from opentrail.ledger import LedgerWriter, load_signer

    clock, lake = ManualClock(_time.time()), source / "lake"
    ledger = LedgerWriter(source, clock)
    ledger.start()
    store = EventDataStore(
        id="9a1b2c3d-0000-4000-8000-000000000015", account="123456789012",
        region="us-east-1", name="mgmt", status="ENABLED", selectors=(
            {"Name": "m", "FieldSelectors": [
                {"Field": "eventCategory", "Equals": ["Management"]},
                {"Field": "eventName", "Equals": ["DescribeInstances"]}]},),
        multi_region=True, organization=False, retention_days=3653,
        termination_protection=False, billing_mode="EXTENDABLE_RETENTION_PRICING",
        kms_key_id=None, created=clock.now(), updated=clock.now(), start_seq=ledger.size)
    writer = LakeWriter(source, clock, FolderLocation(lake), lambda: [store], receives,
                        load_signer(source))
    _submit_events(ledger, 12)
    for _ in range(5):
        writer.step(force=True)
    _submit_events(ledger, 8)
    writer._record = _crashed  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        writer.step(force=True)
    writer.close()
    ledger.close()
    assert _lake_counts(lake, store.id) == (20, 20)  # 12 recorded, 8 left unrecorded

    lines: list[str] = []
    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=lines.append)
    assert "Lake files: 1 copied, 0 already there" in lines
    again: list[str] = []
    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=again.append)
    assert "Lake files: 0 copied, 1 already there" in again
    backend = _backend(postgres_url)
    embedded, shared = SqliteWriterRows(source), backend.lake_writer_rows()
    with embedded.read() as a, shared.read() as b:
        assert a.cursor() == b.cursor() and a.chains() == b.chains()
        assert a.files(store.id) == b.files(store.id)
        assert a.pending() == b.pending() and len(b.pending()) == 2  # a file, a manifest
    embedded.close()
    try:
        node_ledger = backend.ledger_writer(clock)
        node_ledger.start()
        _submit_events(node_ledger, 5)
        node = LakeWriter(tmp_path / "node", clock, FolderLocation(lake), lambda: [store],
                          receives, backend.checkpoint_signer(),
                          ledger=backend.ledger_reader(), rows=shared)
        for _ in range(5):
            node.step(force=True)
        assert node.cursor == node_ledger.size
        assert _lake_counts(lake, store.id) == (25, 25)
        node.close()
        node_ledger.close()
    finally:
        backend.close()
    proc = run("validate-lake", store.id, "--database-url", postgres_url, "--data-dir",
               "/nonexistent", "--lake-location", str(lake))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rows 25" in proc.stdout and proc.stdout.strip().endswith("VALID")
    with pytest.raises(MigrationRefused, match="Lake writer cursor: ledger in the database"):
        migrate_data_dir(source, postgres_url, TEST_MASTER_KEY)  # the node moved on
