"""The audit journal: a change's record is durable before the change is made, and a
record left behind by a stop mid-call is written at the next start. Both backends: the
data dir's folder, and the database's table (`backends` fixture)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.applications import Starlette
from starlette.routing import Route

from conftest import TEST_MASTER_KEY
from opentrail.api._app import TARGET_PREFIX, JsonApi
from opentrail.api._operations import Operation
from opentrail.auth import Role
from opentrail.config import Settings
from opentrail.ledger import scan
from opentrail.service import Service

ACCOUNT = "123456789012"


@pytest.fixture
def open_service(backends: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Service]:
    """Opens the server of the test's backend (SQLite under backends.data_dir, or its
    database)."""
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    return lambda: Service.open(Settings(data_dir=backends.data_dir,
                                         database_url=backends.url), indexer="thread")


@pytest.fixture
def service(open_service: Callable[[], Service]) -> Iterator[Service]:
    svc = open_service()
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
    principal, secret = service.keys.create(account=ACCOUNT, organization=False,
                                            role=Role.ADMIN)
    return principal.access_key_id, secret


def _audit_records(backends: Any, op: str) -> list[dict[str, Any]]:
    reader = backends.open().ledger_reader()
    try:
        bodies = [row.body for row in scan(reader) if row.body and op.encode() in row.body]
        return [r for b in bodies if (r := json.loads(b))["eventName"] == op]
    finally:
        reader.close()


def _journaled(backends: Any) -> list[dict[str, Any]]:
    """The records in the journal now (the folder's files, or the table's rows)."""
    if backends.kind == "sqlite":
        return [json.loads(f.read_bytes())
                for f in (backends.data_dir / "audit-journal").glob("*.json")]
    with psycopg.connect(backends.url) as conn:
        return [json.loads(bytes(body)) for (body,) in conn.execute(
            "SELECT body FROM audit_journal ORDER BY written")]


def test_the_record_is_journaled_before_the_change_runs(service: Service,
                                                        backends: Any) -> None:
    api = JsonApi(service)
    seen: list[list[dict[str, Any]]] = []
    real = api.ops["CreateTrail"]
    assert service.audit_journal is not None

    def probe(params: dict[str, Any], ctx: Any) -> Any:
        seen.append(_journaled(backends))
        return real.handler(params, ctx)

    api.ops["CreateTrail"] = Operation("CreateTrail", probe, read_only=False)
    app = Starlette(routes=[Route("/", api.handle, methods=["POST"])])
    response = _signed(app, _admin(service), "CreateTrail",
                       {"Name": "first", "S3BucketName": "audit-bucket"})
    assert response.status_code == 200, response.text
    [journaled] = seen[0]  # while the handler ran, its record was already on disk
    assert journaled["eventName"] == "CreateTrail"
    assert journaled["requestID"] == response.headers["x-amzn-RequestId"]
    assert _journaled(backends) == []  # forgotten once the ledger committed it
    [stored] = _audit_records(backends, "CreateTrail")
    assert stored["eventID"] == journaled["eventID"]
    assert stored["responseElements"]["name"] == "first"


def test_a_record_left_in_the_journal_is_written_at_start(
        open_service: Callable[[], Service], backends: Any) -> None:
    from opentrail.api._audit import audit_record, prepare
    from opentrail.auth import AuthContext

    service = open_service()
    principal, _ = service.keys.create(account=ACCOUNT, organization=False, role=Role.ADMIN)
    ctx = AuthContext(principal=principal, region="us-east-1", service="cloudtrail")
    record = prepare(audit_record(ctx, "DeleteTrail", {"Name": "gone"}, source_ip="127.0.0.1",
                                  user_agent="test", request_id="r-1", read_only=False,
                                  organization_account=ACCOUNT))
    assert service.audit_journal is not None
    service.audit_journal.write(record)  # the server "stops" while DeleteTrail runs
    service.close()
    assert _audit_records(backends, "DeleteTrail") == []

    for _ in range(2):  # a second start does not record it twice
        service = open_service()
        service.close()
    [stored] = _audit_records(backends, "DeleteTrail")
    assert stored["eventID"] == record.event_id
    assert stored["additionalEventData"] == {"outcome": "unknown"}
    assert stored["requestParameters"] == {"name": "gone"}
    assert _journaled(backends) == []
    if backends.kind == "sqlite":
        assert list((backends.data_dir / "audit-journal").iterdir()) == []
