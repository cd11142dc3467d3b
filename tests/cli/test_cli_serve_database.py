"""`opentrail serve` on PostgreSQL, as a real process: the URL from the environment or the
config file, the per-node storage defaults refused, /healthz and /readyz (with the roles
this node holds), a database unreachable at start, a schema too new, and the database
lost mid-run and back without a restart."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from conftest import (
    TEST_MASTER_KEY,
    Server,
    free_port,
    make_event,
    post_records,
    signed_post,
    wait_until,
)
from opentrail.backends.postgres import LATEST
from opentrail.config import Settings, validate_settings

pytestmark = [pytest.mark.e2e]

KEY = base64.b64encode(TEST_MASTER_KEY).decode()
# What a node on PostgreSQL keeps in its data dir: its copy of the Merkle tree (derived
# from the shared ledger), the checkpoint key's public half (published for verifiers;
# the key is in the database), its name, and the settings it last started with (its
# SettingChanged records compare against them).
SCRATCH = {"tree.db", "tree.db-wal", "tree.db-shm", "checkpoint.pub", "node-id",
           "settings.last.json"}
ROLES = ["checkpoint-signer", "detector", "history-indexer", "insights", "lake-writer",
         "retention", "rules", "trail-delivery", "verifier"]


@pytest.fixture
def cluster_env(monkeypatch: pytest.MonkeyPatch, postgres_url: str, moto_url: str) -> str:
    """The environment a node of the test cluster gets: the database, the master key,
    S3 credentials for moto (trail files and the Lake)."""
    for name, value in (("OPENTRAIL_DATABASE_URL", postgres_url),
                        ("OPENTRAIL_MASTER_KEY", KEY), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    return postgres_url


def _serve_fails(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "opentrail", "serve", "--port",
                           str(free_port()), *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0, proc.stderr
    return proc


@pytest.mark.parametrize(("changes", "flag"), [
    ({}, "use --trail-storage s3, with --s3-endpoint-url"),
    ({"trail_storage": "folder", "lake_location": "s3://lake/x"}, "use --trail-storage s3"),
    ({"trail_storage": "s3"}, "set --lake-location s3://BUCKET/PREFIX"),
])
def test_database_mode_refuses_the_per_node_storage_defaults(
        changes: dict[str, str], flag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", KEY)
    with pytest.raises(ValueError) as info:
        validate_settings(Settings(database_url="postgresql://db/x", **changes))
    assert flag in str(info.value)
    validate_settings(Settings(**changes))  # embedded, the same settings are fine


@pytest.mark.parametrize("lake", ["s3://lake-bucket/stores", "/mnt/shared/lake"])
def test_database_mode_accepts_shared_storage(lake: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", KEY)
    settings = validate_settings(Settings(database_url="postgresql://db/x",
                                          s3_endpoint_url="http://127.0.0.1:9000",
                                          lake_location=lake))
    assert settings.trail_storage == "s3"  # the endpoint implies it


def test_serve_names_the_flag_to_set_for_trail_files(cluster_env: str) -> None:
    proc = _serve_fails()
    assert proc.returncode == 2 and "--trail-storage s3" in proc.stderr
    assert "DATA_DIR/buckets" in proc.stderr


@pytest.fixture
def node(cluster_env: str, moto_url: str, tmp_path: Path) -> Iterator[Server]:
    """One node: the URL from $OPENTRAIL_DATABASE_URL, the Lake location from a config
    file, trail files to moto."""
    config = tmp_path / "opentrail.toml"
    config.write_text('lake_location = "s3://lake-bucket/stores"\n')
    server = Server(tmp_path / "node", free_port(), extra_args=(
        "--config", str(config), "--s3-endpoint-url", moto_url, "--checkpoint-interval",
        "1"))
    server.start()
    yield server
    server.kill()


def _get(server: Server, path: str) -> httpx.Response:
    return httpx.get(server.endpoint + path, timeout=30)


def test_serve_on_postgresql_is_ready_and_holds_every_role_alone(node: Server,
                                                                 cluster_env: str) -> None:
    assert _get(node, "/healthz").json() == {"status": "ok"}
    assert _get(node, "/readyz").json() == {"status": "ready"}
    wait_until(lambda: _get(node, "/readyz?verbose").json()["roles"] == ROLES, timeout=30)
    log = node.log.read_text() if node.log else ""
    assert "(database postgresql://opentrail@127.0.0.1:" in log
    event = make_event()
    post_records(node, [event])
    with psycopg.connect(cluster_env) as conn:
        stored = conn.execute("SELECT count(*) FROM events WHERE event_id = %s",
                              (event["eventID"],)).fetchone()
    assert stored == (1,)
    wait_until(lambda: _get(node, "/readyz?verbose").json()["roles"] == ROLES)
    # The data dir is scratch: state every node shares is in the database, so what a node
    # keeps there is derived (its Merkle tree copy) or names the node; nothing is lost
    # with it.
    kept = {p.name for p in node.data_dir.iterdir()}
    assert kept <= SCRATCH, kept - SCRATCH


def _allow_connections(url: str, allowed: bool) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(allowed).lower()}")
        if not allowed:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s", (name,))


def _ingest(node: Server) -> httpx.Response:
    body = json.dumps({"Records": [make_event()]}).encode()
    return signed_post(node.endpoint, "/opentrail/v1/events", body, node.key("writer"))


def test_a_lost_database_answers_service_unavailable_until_it_is_back(
        node: Server, cluster_env: str) -> None:
    node.key("writer")  # made while the database answers
    assert _ingest(node).status_code == 200
    _allow_connections(cluster_env, False)
    try:
        lost = _ingest(node)
        assert lost.status_code == 503, lost.text
        assert lost.headers["Retry-After"] == "5"
        assert lost.json()["__type"] == "ServiceUnavailable"
        not_ready = _get(node, "/readyz")
        assert not_ready.status_code == 503 and not_ready.headers["Retry-After"] == "5"
    finally:
        _allow_connections(cluster_env, True)
    wait_until(lambda: _ingest(node).status_code == 200, timeout=30)  # no restart
    assert _get(node, "/readyz").status_code == 200


def test_serve_refuses_an_unreachable_database_naming_it_without_password(
        cluster_env: str, moto_url: str) -> None:
    proc = _serve_fails("--database-url", "postgresql://ops:hunter2@127.0.0.1:1/audit",
                        "--s3-endpoint-url", moto_url, "--lake-location", "s3://lake/x")
    assert proc.returncode == 1, proc.stderr
    assert "postgresql://ops:***@127.0.0.1:1/audit" in proc.stderr
    assert "hunter2" not in proc.stderr and "Traceback" not in proc.stderr


def test_serve_refuses_a_schema_newer_than_its_own(cluster_env: str, moto_url: str) -> None:
    subprocess.run([sys.executable, "-m", "opentrail", "keys", "list"], check=True,
                   capture_output=True, timeout=120)  # migrates the database
    with psycopg.connect(cluster_env) as conn:
        conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, 'future')",
                     (LATEST + 1,))
    proc = _serve_fails("--s3-endpoint-url", moto_url, "--lake-location", "s3://lake/x")
    assert proc.returncode == 1, proc.stderr
    assert f"schema version {LATEST + 1}, newer than this OpenTrail's {LATEST}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_refuses_another_master_key_than_the_clusters(cluster_env: str, moto_url: str,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    subprocess.run([sys.executable, "-m", "opentrail", "keys", "list"], check=True,
                   capture_output=True, timeout=120)  # records the cluster's key check
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(b"\x01" * 32).decode())
    proc = _serve_fails("--s3-endpoint-url", moto_url, "--lake-location", "s3://lake/x")
    assert proc.returncode == 1 and "master key is not the one" in proc.stderr, proc.stderr
