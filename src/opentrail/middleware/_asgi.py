"""`AuditMiddleware`: ASGI middleware (Starlette, FastAPI) recording each HTTP request.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: no extra task per request, and
the response streams through untouched. The record is built after the response was
sent and handed to the buffer, which never waits on the network.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opentrail.client import EventBuffer
from opentrail.middleware._options import make_recorder
from opentrail.middleware._recorder import DEFAULT_REDACT, MAX_BODY, Identity

__all__ = ["AuditMiddleware"]


class AuditMiddleware:
    """`app.add_middleware(AuditMiddleware, app_name="myapp.example.com", identity=...)`.

    Options are those of `make_recorder`; `identity` gets a Starlette `Request`
    (its `state` is the one the app's handlers set) after the response was sent.
    """

    def __init__(self, app: ASGIApp, *, app_name: str, endpoint_url: str | None = None,
                 buffer: EventBuffer | None = None, identity: Identity | None = None,
                 redact: Iterable[str] = DEFAULT_REDACT, region: str = "on-premises",
                 account: str | None = None) -> None:
        self.app = app
        self.recorder = make_recorder(app_name=app_name, endpoint_url=endpoint_url,
                                      buffer=buffer, identity=identity, redact=redact,
                                      region=region, account=account)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.time()
        status = 500  # what the client sees when the app raises before answering
        body = bytearray() if _is_json(scope) else None

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        async def receiving() -> Message:
            message = await receive()
            if body is not None and message["type"] == "http.request" \
                    and len(body) <= MAX_BODY:
                body.extend(message.get("body", b""))
            return message

        try:
            await self.app(scope, receive if body is None else receiving, sending)
        finally:
            self._record(scope, status, body, started)

    def _record(self, scope: Scope, status: int, body: bytearray | None,
                started: float) -> None:
        headers = _headers(scope)
        client = scope.get("client")
        recorder = self.recorder
        recorder.record(
            method=scope["method"], route=_route(scope), status=status,
            who=recorder.who(Request(scope)),
            source_ip=client[0] if client else "", user_agent=headers.get("user-agent", ""),
            params=recorder.parameters(scope["query_string"].decode("latin-1"),
                                       bytes(body) if body and len(body) <= MAX_BODY else None),
            request_id=headers.get("x-request-id"), started=started)


def _headers(scope: Scope) -> dict[str, str]:
    wanted = (b"user-agent", b"x-request-id")
    return {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in wanted}


def _is_json(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key == b"content-type":
            return b"json" in value
    return False


def _route(scope: Scope) -> str:
    """The matched route's template (`/items/{item_id}`), else the path itself."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else str(scope["path"])
