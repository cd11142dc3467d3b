"""The test PostgreSQL server itself: a real server, one empty database per test."""

from __future__ import annotations

import psycopg


def test_each_test_gets_an_empty_database_of_a_real_server(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        conn.execute("CREATE TABLE probe (x int)")
    assert version is not None and int(version[0]) >= 150000
    assert tables == (0,)


def test_databases_are_separate(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        found = conn.execute("SELECT to_regclass('public.probe')").fetchone()
    assert found == (None,)
