"""Elected roles' contract (backends/_role.py), the same body on SQLite and PostgreSQL:
of nodes racing for a role exactly one holds it, and a holder that lets go, loses its
session or dies (kill -9) hands it over at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import psycopg

from conftest import wait_until

HOLD = """
import sys, time
from pathlib import Path
from opentrail.backends.sqlite import SqliteBackend
from opentrail.backends.postgres import PostgresBackend
kind, where = sys.argv[1], sys.argv[2]
backend = (SqliteBackend(Path(where)) if kind == "sqlite"
           else PostgresBackend.open(where, b"\\x07" * 32, pool_size=1))
role = backend.role("checkpoint-signer")
while not role.held():
    time.sleep(0.05)
print("held", flush=True)
time.sleep(600)
"""


def test_of_two_nodes_exactly_one_holds_a_role(backends: Any) -> None:
    one, two = backends.open(), backends.open()
    first, second = one.role("trail-delivery"), two.role("trail-delivery")
    assert [first.held(), second.held()] == [True, False]
    assert first.held() and not second.held()  # a holder keeps it; the other keeps asking
    other = two.role("insights")  # roles are independent of each other
    assert other.held() and not one.role("insights").held()
    first.release()
    assert second.held() and not first.held()
    assert second.held()


def test_closing_the_holder_hands_the_role_over(backends: Any) -> None:
    one, two = backends.open(), backends.open()
    assert one.role("lake-writer").held()
    waiting = two.role("lake-writer")
    assert not waiting.held()
    one.close()
    backends.opened.remove(one)
    assert waiting.held()


def test_a_killed_holder_loses_the_role_at_once(backends: Any) -> None:
    where = str(backends.data_dir) if backends.kind == "sqlite" else backends.url
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, backends.kind, where],
                              stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        waiting = backends.open().role("checkpoint-signer")
        assert not waiting.held()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        wait_until(waiting.held)  # PostgreSQL ends the dead session; the kernel the flock
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_lost_session_loses_the_role_and_it_is_taken_again(postgres_url: str) -> None:
    from conftest import TEST_MASTER_KEY
    from opentrail.backends.postgres import PostgresBackend

    one = PostgresBackend.open(postgres_url, TEST_MASTER_KEY, pool_size=1)
    two = PostgresBackend.open(postgres_url, TEST_MASTER_KEY, pool_size=1)
    try:
        first, second = one.role("retention"), two.role("retention")
        assert first.held() and not second.held()
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # first's session dies
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_locks "
                         "WHERE locktype = 'advisory' AND granted")
        assert not first.held()  # it notices on its next check
        assert second.held()
        wait_until(lambda: not first.held())
        second.release()
        wait_until(first.held)  # reconnects and takes it again
    finally:
        one.close()
        two.close()
