"""Request bodies in flight: a read deadline per request, a byte budget for the server.

An ASGI middleware around the whole app, so every route is covered, whatever reads the
body. A request's body must arrive within `timeout` seconds of the request reaching the
app (else `RequestTimeout`, HTTP 408), and the bodies of all requests being served hold
at most `budget` bytes between them (else `Throttled`, which clients retry): credentials
are checked before a body is read, but an access key ID is no secret, so a client that
knows one could otherwise make the server hold many large uploads at once. A request's
bytes count against the budget until its response is finished.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from opentrail.errors import OpenTrailError, RequestTimeout, Throttled

__all__ = ["BodyLimits"]

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any  # Callable[[], Awaitable[Message]]
Send = Any  # Callable[[Message], Awaitable[None]]


class BodyLimits:
    """Bounds the time to read a body and the bytes of all bodies being read."""

    def __init__(self, app: Any, *, timeout: float, budget: int) -> None:
        self.app = app
        self.timeout = timeout
        self.budget = budget
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _Body(self, receive)
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, body.receive, watched_send)
        except (RequestTimeout, Throttled) as err:
            if not body.refused:
                raise
            # Raised by our receive and not answered by the route (AWS routes answer
            # it in their own shape): answer it here, with one log line.
            log.warning("request body refused: %s", err.message)
            if not started:
                await _plain(send, err)
        finally:
            self.in_flight -= body.held


async def _plain(send: Send, err: OpenTrailError) -> None:
    text = err.message.encode()
    await send({"type": "http.response.start", "status": err.status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(text)).encode())]})
    await send({"type": "http.response.body", "body": text})


class _Body:
    """One request's receive channel, with its deadline and the bytes it holds."""

    def __init__(self, limits: BodyLimits, receive: Receive) -> None:
        self._limits = limits
        self._receive = receive
        self._deadline = asyncio.get_running_loop().time() + limits.timeout
        self._complete = False
        self.held = 0
        self.refused = False

    async def receive(self) -> Message:
        if self._complete:  # after the body: waiting for a disconnect is not bounded
            message: Message = await self._receive()
            return message
        remaining = self._deadline - asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(max(remaining, 0)):
                message = await self._receive()
        except TimeoutError:
            raise self._refuse(RequestTimeout(
                f"The request body did not arrive within {self._limits.timeout:g} "
                "seconds.")) from None
        if message["type"] == "http.request":
            self._count(len(message.get("body", b"")))
            self._complete = not message.get("more_body", False)
        return message

    def _count(self, size: int) -> None:
        limits = self._limits
        if limits.in_flight + size > limits.budget:
            raise self._refuse(Throttled(
                f"The server is already holding {limits.in_flight} bytes of request "
                f"bodies, its limit is {limits.budget}; retry shortly."))
        limits.in_flight += size
        self.held += size

    def _refuse(self, err: OpenTrailError) -> OpenTrailError:
        self.refused = True
        return err
