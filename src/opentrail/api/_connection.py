"""One HTTP connection's limits: header size, header time, and lingering after an answer.

uvicorn's httptools protocol bounds none of these: httptools buffers a header of any
size (a 100 MiB header was answered 200 and stalled the event loop for seconds), a
client may trickle a request's headers forever, and a client answered before it finished
sending its body (a 403 for a missing signature, a 413 for a declared size over the
limit) keeps the connection open for as long as it keeps trickling. This subclass of
uvicorn's protocol adds those three bounds; everything else is uvicorn's.

- Headers: from a request's first byte (or the connection's, for the first request) to
  the end of its headers, at most `max_header_bytes` and `header_timeout` seconds;
  beyond either the client gets 431 or 408 and the connection is closed. The size is
  counted per received chunk, so it may overcount by the tail of a pipelined body.
- Lingering: a response sent before the request body was all received leaves the rest
  of the body to be read and dropped; that gets `linger_timeout` seconds, then the
  connection is closed, however slowly the client keeps sending.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = ["ConnectionLimits", "limited_protocol"]


class ConnectionLimits:
    """The three bounds, in bytes and seconds."""

    def __init__(self, max_header_bytes: int, header_timeout: float,
                 linger_timeout: float) -> None:
        self.max_header_bytes = max_header_bytes
        self.header_timeout = header_timeout
        self.linger_timeout = linger_timeout


def limited_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol class, bounded by `limits` (pass as `http=`)."""
    return type("LimitedHttpToolsProtocol", (_LimitedProtocol,), {"limits": limits})


class _LimitedProtocol(HttpToolsProtocol):
    limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_headers = False
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_headers and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse(431, "The request headers are larger than "
                                  f"{self.limits.max_header_bytes} bytes.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:
            self._start_headers()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._cancel(self._header_timer)
        self._header_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel(self._linger_timer)
        self._linger_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        body_unread = self.cycle is not None and self.cycle.more_body
        super().on_response_complete()
        if body_unread and not self.transport.is_closing() and self._linger_timer is None:
            self._linger_timer = self.loop.call_later(self.limits.linger_timeout,
                                                      self._close)

    def _start_headers(self) -> None:
        self._in_headers = True
        self._header_bytes = 0
        self._cancel(self._header_timer)
        self._header_timer = self.loop.call_later(self.limits.header_timeout,
                                                  self._header_timeout)

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._in_headers and self._header_bytes == 0:
            self._close()  # an idle connection that never started a request: no answer
        elif self._in_headers:
            self._refuse(408, "The request headers did not arrive within "
                              f"{self.limits.header_timeout:g} seconds.")

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request the app never saw, and close: what uvicorn does for a 400."""
        self._in_headers = False
        if self.transport.is_closing():
            return
        body = message.encode()
        self.transport.write(b"".join([
            STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body]))
        self.transport.close()

    def _close(self) -> None:
        self._linger_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _cancel_timers(self) -> None:
        self._cancel(self._header_timer)
        self._cancel(self._linger_timer)
        self._header_timer = self._linger_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()
