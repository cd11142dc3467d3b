"""The record a request becomes: redaction, error codes, failing hooks, app exceptions."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any, cast

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import opentrail.middleware
from opentrail.client import EventBuffer
from opentrail.middleware import (
    DEFAULT_REDACT,
    HIDDEN,
    AuditMiddleware,
    AuditWSGIMiddleware,
    Recorder,
    error_code,
)
from opentrail.middleware._recorder import event_id


class Kept:
    """Stands in for an EventBuffer: keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, event: dict[str, Any]) -> bool:
        self.events.append(event)
        return True


def buffer(kept: Kept) -> EventBuffer:
    return cast(EventBuffer, kept)


def test_redaction_ignores_case_and_separators_at_any_depth() -> None:
    recorder = Recorder(buffer(Kept()), app_name="a")
    params = recorder.parameters("X-Api-Key=1&q=ok", b'{"user": {"newPassword": "p", '
                                 b'"tokens": [{"refresh_token": "r"}]}, "name": "n"}')
    assert params == {"X-Api-Key": HIDDEN, "q": "ok", "name": "n",
                      "user": {"newPassword": HIDDEN, "tokens": HIDDEN}}
    assert recorder.parameters("", b"not json") is None
    assert "password" in DEFAULT_REDACT


def test_error_codes_and_event_ids() -> None:
    assert (error_code(404), error_code(500), error_code(403)) == \
        ("NotFound", "InternalServerError", "Forbidden")
    assert error_code(599) == "599"
    ids = {event_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(uuid.UUID(i).version == 4 for i in ids)


def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("app bug")


def test_asgi_app_exception_and_failing_hook_are_recorded(
        caplog: pytest.LogCaptureFixture) -> None:
    kept = Kept()

    def hook(request: Request) -> dict[str, Any]:
        raise KeyError("no user")

    app = Starlette(routes=[Route("/boom", boom, methods=["DELETE"])])
    app.add_middleware(AuditMiddleware, app_name="a.example", buffer=buffer(kept),
                       identity=hook, region="dc-1", account="123456789012")
    async def call() -> int:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return (await client.delete("/boom")).status_code
    assert asyncio.run(call()) == 500
    (event,) = kept.events
    assert (event["eventName"], event["errorCode"], event["readOnly"]) == \
        ("DELETE /boom", "InternalServerError", False)
    assert event["userIdentity"] == {"type": "Unknown"}
    assert (event["awsRegion"], event["recipientAccountId"]) == ("dc-1", "123456789012")
    assert "identity hook failed" in caplog.text


def test_wsgi_exception_is_recorded_and_raised() -> None:
    kept = Kept()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise ValueError("bug")

    wrapped = AuditWSGIMiddleware(app, app_name="w.example", buffer=buffer(kept))
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/jobs", "QUERY_STRING": "",
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "13",
               "wsgi.input": io.BytesIO(b'{"secret": 1}'), "opentrail.route": "/jobs"}
    with pytest.raises(ValueError):
        wrapped(environ, lambda *a: None)
    (event,) = kept.events
    assert (event["eventName"], event["errorCode"]) == ("POST /jobs", "InternalServerError")
    assert event["requestParameters"] == {"secret": HIDDEN}
    assert environ["wsgi.input"].read() == b'{"secret": 1}'  # the app can still read it


def test_app_name_is_required_and_exports() -> None:
    with pytest.raises(ValueError, match="app_name"):
        AuditWSGIMiddleware(lambda e, s: [], app_name="", buffer=buffer(Kept()))
    assert all(hasattr(opentrail.middleware, n) for n in opentrail.middleware.__all__)
    assert {"AuditMiddleware", "AuditWSGIMiddleware"} <= set(opentrail.middleware.__all__)
