"""The audit journal: a change's record is durable before the change is made, and a
record left behind by a stop mid-call is written at the next start."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.applications import Starlette
from starlette.routing import Route

from opentrail.api._app import TARGET_PREFIX, JsonApi
from opentrail.api._operations import Operation
from opentrail.auth import KeyStore, Role
from opentrail.config import Settings
from opentrail.service import Service

ACCOUNT = "123456789012"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service.open(Settings(data_dir=tmp_path / "data"), indexer="thread")
    yield svc
    svc.close()


def _signed(app: Starlette, key: tuple[str, str], op: str,
            body: dict[str, Any]) -> httpx.Response:
    """A SigV4-signed call to the app in this process."""
    data = json.dumps(body).encode()
    request = AWSRequest(method="POST", url="http://testserver/", data=data, headers={
        "X-Amz-Target": TARGET_PREFIX + op, "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(*key), "cloudtrail", "us-east-1").add_auth(request)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post("/", content=data, headers=dict(request.headers.items()))

    return asyncio.run(send())


def _admin(service: Service) -> tuple[str, str]:
    with KeyStore(service.settings.data_dir) as store:
        principal, secret = store.create(account=ACCOUNT, organization=False, role=Role.ADMIN)
    return principal.access_key_id, secret


def _audit_records(data_dir: Path, op: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(data_dir / "ledger.db")
    try:
        rows = conn.execute("SELECT body FROM events WHERE instr(body, ?)", (op.encode(),))
        return [r for (b,) in rows if (r := json.loads(b))["eventName"] == op]
    finally:
        conn.close()


def test_the_record_is_journaled_before_the_change_runs(service: Service) -> None:
    api = JsonApi(service)
    seen: list[list[dict[str, Any]]] = []
    real = api.ops["CreateTrail"]
    assert service.audit_journal is not None
    journal = service.audit_journal.path

    def probe(params: dict[str, Any], ctx: Any) -> Any:
        seen.append([json.loads(f.read_bytes()) for f in journal.glob("*.json")])
        return real.handler(params, ctx)

    api.ops["CreateTrail"] = Operation("CreateTrail", probe, read_only=False)
    app = Starlette(routes=[Route("/", api.handle, methods=["POST"])])
    response = _signed(app, _admin(service), "CreateTrail",
                       {"Name": "first", "S3BucketName": "audit-bucket"})
    assert response.status_code == 200, response.text
    [journaled] = seen[0]  # while the handler ran, its record was already on disk
    assert journaled["eventName"] == "CreateTrail"
    assert journaled["requestID"] == response.headers["x-amzn-RequestId"]
    assert list(journal.glob("*.json")) == []  # forgotten once the ledger committed it
    [stored] = _audit_records(service.settings.data_dir, "CreateTrail")
    assert stored["eventID"] == journaled["eventID"]
    assert stored["responseElements"]["name"] == "first"


def test_a_record_left_in_the_journal_is_written_at_start(tmp_path: Path) -> None:
    from opentrail.api._audit import audit_record, prepare
    from opentrail.auth import AuthContext

    data_dir = tmp_path / "data"
    service = Service.open(Settings(data_dir=data_dir), indexer="thread")
    with KeyStore(data_dir) as store:
        principal, _ = store.create(account=ACCOUNT, organization=False, role=Role.ADMIN)
    ctx = AuthContext(principal=principal, region="us-east-1", service="cloudtrail")
    record = prepare(audit_record(ctx, "DeleteTrail", {"Name": "gone"}, source_ip="127.0.0.1",
                                  user_agent="test", request_id="r-1", read_only=False,
                                  organization_account=ACCOUNT))
    assert service.audit_journal is not None
    service.audit_journal.write(record)  # the server "stops" while DeleteTrail runs
    service.close()
    assert _audit_records(data_dir, "DeleteTrail") == []

    for _ in range(2):  # a second start does not record it twice
        service = Service.open(Settings(data_dir=data_dir), indexer="thread")
        service.close()
    [stored] = _audit_records(data_dir, "DeleteTrail")
    assert stored["eventID"] == record.event_id
    assert stored["additionalEventData"] == {"outcome": "unknown"}
    assert stored["requestParameters"] == {"name": "gone"}
    assert list((data_dir / "audit-journal").iterdir()) == []
