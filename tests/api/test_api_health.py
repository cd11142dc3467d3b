"""/healthz and /readyz: unauthenticated probes with tiny bodies, on both backends."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from conftest import TEST_MASTER_KEY
from opentrail.api import build_app
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
