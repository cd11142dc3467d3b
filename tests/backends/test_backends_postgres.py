"""The PostgreSQL backend's own duties: migrations, refusals at start, the master key."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from conftest import TEST_MASTER_KEY, free_port, wait_until
from opentrail.auth import Role
from opentrail.backends import (
    DatabaseUnreachable,
    MasterKeyMismatch,
    SchemaTooNew,
    open_backend,
    redact_url,
)
from opentrail.backends.postgres import LATEST, MIGRATIONS, PostgresBackend, migrate
from opentrail.config import Settings
from opentrail.errors import ServiceUnavailable
from opentrail.trails import Trail


def _schema(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "ORDER BY 1, 2").fetchall()
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes "
                               "WHERE schemaname = 'public' ORDER BY 1").fetchall()
        triggers = conn.execute(
            "SELECT event_object_table, trigger_name, event_manipulation, action_statement "
            "FROM information_schema.triggers WHERE trigger_schema = 'public' "
            "ORDER BY 1, 2, 3").fetchall()
    return columns + indexes + triggers


def _versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


def test_migrations_from_every_earlier_version_reach_the_same_schema(
        postgres_server: Any) -> None:
    fresh = postgres_server.new_database()
    with psycopg.connect(fresh, autocommit=True) as conn:
        assert migrate(conn, "fresh") == 0
        assert migrate(conn, "fresh") == LATEST  # a second run applies nothing
    expected = _schema(fresh)
    assert _versions(fresh) == list(range(1, LATEST + 1)) and len(MIGRATIONS) == LATEST
    for start in range(LATEST):
        url = postgres_server.new_database()
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn, "old", target=start)
            assert migrate(conn, "old") == start
        assert _schema(url) == expected, f"from version {start}"
        assert _versions(url) == list(range(1, LATEST + 1))
        postgres_server.drop_database(url)
    postgres_server.drop_database(fresh)


def test_event_rules_migration_keeps_the_state_before_it_and_seeds_its_counters(
        postgres_url: str) -> None:
    """0012 (event rules) over a database at 0011 holding state: that state stays, and
    the change counter and sender term it seeds work (a rule bumps the counter)."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        migrate(conn, "old", target=11)
        conn.execute("INSERT INTO trails (arn, account, home_region, name, multi_region, "
                     "config, status) VALUES ('arn:t', 'a', 'r', 'n', false, '\\x7b7d', '\\x7b7d')")
        migrate(conn, "old")
        assert conn.execute("SELECT count(*) FROM trails").fetchone() == (1,)
        assert conn.execute("SELECT n FROM rule_sender_term").fetchone() == (0,)
        before = conn.execute("SELECT n FROM rule_changes").fetchone()
        conn.execute("INSERT INTO rules (account, region, name, state, description, created) "
                     "VALUES ('a', 'r', 'n', 'ENABLED', '', 0)")
        after = conn.execute("SELECT n FROM rule_changes").fetchone()
    assert before == (0,) and after == (1,)


def test_a_schema_newer_than_the_code_is_refused_naming_both_versions(
        postgres_url: str) -> None:
    PostgresBackend.open(postgres_url, TEST_MASTER_KEY).close()
    with psycopg.connect(postgres_url) as conn:
        conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, 'future')",
                     (LATEST + 5,))
    with pytest.raises(SchemaTooNew) as info:
        PostgresBackend.open(postgres_url, TEST_MASTER_KEY)
    assert f"schema version {LATEST + 5}" in info.value.message
    assert f"this OpenTrail's {LATEST}" in info.value.message


def test_an_unreachable_database_is_named_without_its_password() -> None:
    url = f"postgresql://audit:s3cr3t-pw@127.0.0.1:{free_port()}/opentrail"
    with pytest.raises(DatabaseUnreachable) as info:
        PostgresBackend.open(url, TEST_MASTER_KEY)
    message = info.value.message
    assert "s3cr3t-pw" not in message
    assert "postgresql://audit:***@127.0.0.1:" in message and "/opentrail" in message


def test_wrong_password_is_refused_without_showing_it(postgres_server: Any,
                                                      postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE ROLE auditor LOGIN PASSWORD 'right-pw'")
    # The test server trusts every local user, so refuse by database name instead.
    url = postgres_url.replace("opentrail@", "auditor:wrong-pw@") + "_missing"
    with pytest.raises(DatabaseUnreachable) as info:
        PostgresBackend.open(url, TEST_MASTER_KEY)
    assert "wrong-pw" not in info.value.message and "auditor:***@" in info.value.message


def test_redact_url() -> None:
    assert redact_url("postgresql://u:p%40ss@db:5432/x?sslmode=require&password=q") == (
        "postgresql://u:***@db:5432/x?sslmode=require&password=***")
    assert redact_url("postgresql://u@db/x") == "postgresql://u@db/x"
    assert redact_url("postgresql:///x?host=/run/pg") == "postgresql:///x?host=/run/pg"
    assert redact_url("postgres://:pw@h/x") == "postgres://:***@h/x"


def test_a_node_with_another_master_key_refuses_to_start(postgres_url: str) -> None:
    first = PostgresBackend.open(postgres_url, TEST_MASTER_KEY)
    keys = first.keys()
    keys.create(account="111111111111", organization=False, role=Role.WRITER)
    with pytest.raises(MasterKeyMismatch) as info:
        PostgresBackend.open(postgres_url, b"\x08" * 32)
    assert "master key" in info.value.message
    keys.close()
    first.close()


def test_secrets_are_stored_sealed_and_shared_by_every_node(postgres_url: str) -> None:
    one = PostgresBackend.open(postgres_url, TEST_MASTER_KEY)
    two = PostgresBackend.open(postgres_url, TEST_MASTER_KEY)
    made = one.vault.secret("digest-signing-key", lambda: b"k" * 48)
    assert two.vault.secret("digest-signing-key") == made == b"k" * 48
    keys = one.keys()
    _, secret = keys.create(account="111111111111", organization=False, role=Role.WRITER)
    with psycopg.connect(postgres_url) as conn:
        stored = b"".join(bytes(r[0]) for r in conn.execute("SELECT sealed FROM secrets"))
        stored += b"".join(bytes(r[0]) for r in conn.execute(
            "SELECT sealed_secret FROM access_keys"))
    assert b"k" * 48 not in stored and secret.encode() not in stored
    assert one.vault.secret("access-key-seal") == two.vault.secret("access-key-seal")
    keys.close()
    one.close()
    two.close()


def test_readiness(postgres_url: str, tmp_path: Path) -> None:
    backend = PostgresBackend.open(postgres_url, TEST_MASTER_KEY)
    assert backend.problems() == []
    with psycopg.connect(postgres_url) as conn:
        conn.execute("DELETE FROM schema_version WHERE version = %s", (LATEST,))
    assert backend.problems() == [
        f"the database {redact_url(postgres_url)} has schema version {LATEST - 1}, this "
        f"node needs {LATEST}"]
    backend.close()


def test_open_backend_picks_by_settings(postgres_url: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    embedded = open_backend(Settings(data_dir=tmp_path, database_url=""))
    assert embedded.kind == "sqlite" and embedded.where == str(tmp_path)
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    shared = open_backend(Settings(data_dir=tmp_path, database_url=postgres_url))
    assert shared.kind == "postgresql" and shared.problems() == []
    shared.close()
    key_file = tmp_path / "master.key"
    key_file.write_text(base64.b64encode(b"\x09" * 32).decode() + "\n")
    with pytest.raises(MasterKeyMismatch):  # the file wins over the environment
        open_backend(Settings(data_dir=tmp_path, database_url=postgres_url,
                              master_key_file=str(key_file)))


def test_connections_dropped_by_the_server_are_replaced(postgres_url: str) -> None:
    backend = PostgresBackend.open(postgres_url, TEST_MASTER_KEY)
    trails = backend.trails(own_buckets=False)
    assert trails.list(None) == []
    with psycopg.connect(postgres_url) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
            "datname = current_database() AND pid <> pg_backend_pid()").fetchone()
    assert killed is not None and killed[0] >= 1
    assert trails.list(None) == []  # a fresh connection, no error, no restart
    assert backend.problems() == []
    backend.close()


def test_a_read_is_lent_unchecked_and_runs_again_if_its_connection_was_dropped(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`PgDb.read` (LookupEvents' path) skips the pool's check of the connection (a
    round trip); one the server dropped fails the read, which runs again on a fresh one."""
    checks: list[object] = []
    check = ConnectionPool.check_connection
    monkeypatch.setattr(ConnectionPool, "check_connection",
                        staticmethod(lambda conn: (checks.append(conn), check(conn))[1]))
    backend = PostgresBackend.open(postgres_url, TEST_MASTER_KEY, pool_size=1)

    def pid(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        return int(row[0])

    checks.clear()  # opening the backend used transactions
    first = backend.db.read(pid)
    assert checks == []
    with backend.db.transaction() as conn:
        assert pid(conn) == first
    assert len(checks) == 1  # transactions still check
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    second = backend.db.read(pid)  # no error: read again on a checked connection
    assert second != first
    backend.close()


def test_a_database_lost_mid_run_is_service_unavailable_until_it_is_back(
        postgres_url: str) -> None:
    backend = PostgresBackend.open(postgres_url, TEST_MASTER_KEY, wait=1.0)
    trails = backend.trails(own_buckets=False)
    name = postgres_url.rsplit("/", 1)[1]
    admin = postgres_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s", (name,))
    try:
        with pytest.raises(ServiceUnavailable) as info:
            trails.create(Trail(name="t", account="111111111111", home_region="us-east-1",
                                s3_bucket_name="b"))
        assert info.value.status == 503 and "nothing was changed" in info.value.message
        assert backend.problems() != []
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    wait_until(lambda: backend.problems() == [])  # the pool reconnects by itself
    assert trails.list(None) == []  # the refused change was never made
    backend.close()


def test_synchronous_commit_off_is_warned_about_at_start(
        postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    PostgresBackend.open(postgres_url, TEST_MASTER_KEY).close()
    assert "synchronous_commit" not in caplog.text
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
    PostgresBackend.open(postgres_url, TEST_MASTER_KEY).close()
    assert "synchronous_commit = off" in caplog.text and "can lose" in caplog.text


def test_migration_16_adds_lake_queries_and_imports_beside_existing_state(
        postgres_server: Any) -> None:
    """A database at version 15 holding state (an event data store) gains the Lake
    queries' and imports' tables at 16; what it held is untouched and both stores work."""
    from opentrail.lake._import_rows import NewImport
    from opentrail.lake._query_rows import NewQuery

    url = postgres_server.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, "old", target=15)
        assert conn.execute("SELECT to_regclass('lake_queries')").fetchone() == (None,)
        conn.execute("INSERT INTO lake_stores (id, account, region, name, record, tags) "
                     "VALUES ('s-1', '123456789012', 'us-east-1', 'audit', '{}', '{}')")
    backend = PostgresBackend.open(url, TEST_MASTER_KEY, pool_size=2)
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT name FROM lake_stores").fetchall() == [("audit",)]
            assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (
                LATEST,)
        queries, imports = backend.lake_queries(), backend.lake_imports()
        assert queries.add(NewQuery("q", "123456789012", "123456789012", "us-east-1",
                                    "SELECT 1", 1.0, None, None, "n"), ["s-1"], 10) == 0
        assert imports.add(NewImport("i", "123456789012", "s-1", "arn", "{}", None, None,
                                     1.0)) is None
        assert queries.stores_of("q") == ["s-1"] and imports.status("i") == "INITIALIZING"
    finally:
        backend.close()
        postgres_server.drop_database(url)
