"""/healthz and /readyz: unauthenticated probes with tiny bodies, on both backends; and a
database lost mid-run answering ServiceUnavailable with Retry-After until it is back."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import TEST_MASTER_KEY, wait_until
from opentrail.api import build_app
from opentrail.api._app import TARGET_PREFIX
from opentrail.auth import Role
from opentrail.backends.postgres import LATEST
from opentrail.config import Settings
from opentrail.service import Service


def _get(service: Service, path: str) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=build_app(service), client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.get(path)

    return asyncio.run(send())


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Service]:
    service = Service.open(Settings(data_dir=tmp_path / "data"), indexer="thread")
    yield service
    service.close()


def test_liveness_and_readiness_embedded(embedded: Service, tmp_path: Path) -> None:
    alive = _get(embedded, "/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    ready = _get(embedded, "/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    data = tmp_path / "data"
    os.rename(data, tmp_path / "moved")  # the data dir is gone from under the server
    try:
        gone = _get(embedded, "/readyz")
    finally:
        os.rename(tmp_path / "moved", data)
    assert gone.status_code == 503 and gone.json() == {"status": "not ready"}
    assert gone.headers["Retry-After"] == "5" and str(tmp_path) not in gone.text
    assert _get(embedded, "/readyz").status_code == 200  # back without a restart


def test_readiness_on_postgresql_follows_the_schema(tmp_path: Path, postgres_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    service = Service.open(Settings(data_dir=tmp_path / "data", database_url=postgres_url),
                           indexer="thread")
    try:
        assert service.backend is not None and service.backend.kind == "postgresql"
        assert _get(service, "/readyz").json() == {"status": "ready"}
        with psycopg.connect(postgres_url) as conn:
            conn.execute("UPDATE schema_version SET version = -1 WHERE version = %s",
                         (LATEST,))
        stale = _get(service, "/readyz")
        assert stale.status_code == 503 and "postgresql" not in stale.text
        with psycopg.connect(postgres_url) as conn:
            conn.execute("UPDATE schema_version SET version = %s WHERE version = -1",
                         (LATEST,))
        assert _get(service, "/readyz").status_code == 200
        assert _get(service, "/healthz").json() == {"status": "ok"}
    finally:
        service.close()


def _list_trails(service: Service, key: tuple[str, str]) -> httpx.Response:
    request = AWSRequest(method="POST", url="http://testserver/", data=b"{}", headers={
        "X-Amz-Target": TARGET_PREFIX + "ListTrails",
        "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(*key), "cloudtrail", "us-east-1").add_auth(request)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=build_app(service), client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post("/", content=b"{}", headers=dict(request.headers.items()))

    return asyncio.run(send())


def _allow_connections(url: str, allowed: bool) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(allowed).lower()}")
        if not allowed:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s", (name,))


def test_a_lost_database_answers_service_unavailable_then_recovers(
        tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    service = Service.open(Settings(data_dir=tmp_path / "data", database_url=postgres_url),
                           indexer="thread")
    try:
        principal, secret = service.keys.create(account="123456789012", organization=False,
                                                role=Role.ADMIN)
        key = (principal.access_key_id, secret)
        assert _list_trails(service, key).status_code == 200
        _allow_connections(postgres_url, False)
        try:
            lost = _list_trails(service, key)
        finally:
            _allow_connections(postgres_url, True)
        assert lost.status_code == 503 and lost.headers["Retry-After"] == "5"
        assert json.loads(lost.content)["__type"] == "ServiceUnavailable"
        wait_until(lambda: _list_trails(service, key).status_code == 200)  # no restart
    finally:
        service.close()


def test_verbose_readiness_names_the_roles_this_node_holds(embedded: Service) -> None:
    """Embedded, the one process holds every role it runs (flocks in the data dir);
    the probe reports them without taking any (Service.held_roles)."""
    wait_until(lambda: "trail-delivery" in _get(embedded, "/readyz?verbose").json()["roles"])
    answer = _get(embedded, "/readyz?verbose").json()
    assert answer["status"] == "ready" and answer["roles"] == sorted(answer["roles"])
    assert set(answer["roles"]) <= {"checkpoint-signer", "trail-delivery", "insights",
                                    "lake-writer", "retention", "verifier"}
    assert _get(embedded, "/readyz").json() == {"status": "ready"}  # terse without it
