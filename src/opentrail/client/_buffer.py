"""`EventBuffer`: record events from an application without ever blocking or failing it.

`record(event)` appends to a bounded in-memory deque and returns: no I/O, no waiting.
One background thread takes batches and sends them with `IngestClient`; while the
server is unreachable the events wait and the thread retries with capped, jittered
backoff. When the buffer is full, new events are dropped and counted (`stats().dropped`,
and one warning per overflow episode), because the application's own work comes first.
Each event gets its eventID when recorded, so a batch sent twice (answer lost, then
retried) is stored once: the server counts the second copy as duplicates.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.session

from opentrail.client._errors import IngestError
from opentrail.client._ingest import IngestClient
from opentrail.client._retry import RetryPolicy

__all__ = ["BufferStats", "EventBuffer"]

log = logging.getLogger("opentrail.client")


@dataclass(frozen=True, slots=True)
class BufferStats:
    """Counts since the buffer was made; `pending` includes the batch being sent."""

    pending: int
    sent: int  # stored by the server (new or duplicate)
    rejected: int  # refused one by one by the server (invalid records), logged
    dropped: int  # not buffered because the buffer was full
    last_error: str | None  # the most recent failure to send, until a send succeeds


class EventBuffer:
    """A bounded buffer of CloudTrail events and the thread that sends them."""

    def __init__(self, client: IngestClient | Callable[[], IngestClient], *,
                 capacity: int = 10_000, batch_size: int = 500, interval: float = 1.0,
                 backoff: RetryPolicy | None = None, flush_at_exit: float = 5.0) -> None:
        self._client_factory = client if callable(client) and not isinstance(
            client, IngestClient) else None
        self._client = client if isinstance(client, IngestClient) else None
        self.capacity, self.batch_size, self.interval = capacity, batch_size, interval
        self._backoff = backoff or RetryPolicy(max_attempts=1_000_000, base=0.5, cap=30.0)
        self._queue: deque[dict[str, Any]] = deque()
        self._inflight = 0
        self._flushing = 0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._counts = {"sent": 0, "rejected": 0, "dropped": 0}
        self._last_error: str | None = None
        self._overflowing = False
        self._exit_timeout = flush_at_exit
        atexit.register(self._at_exit)
        self._thread = threading.Thread(target=self._run, name="opentrail-sender", daemon=True)
        self._thread.start()

    @classmethod
    def connect(cls, endpoint_url: str, *, session: botocore.session.Session | None = None,
                region: str | None = None, timeout: float = 10.0,
                **options: Any) -> EventBuffer:
        """A buffer sending to `endpoint_url` with the standard AWS credential chain.

        The client is made in the sender thread, so missing credentials or a bad URL are
        logged and retried there instead of failing the application at start-up.
        """
        def client() -> IngestClient:
            # One attempt per send: the buffer's own backoff retries, forever.
            return IngestClient(endpoint_url, session=session, region=region,
                                timeout=timeout, retry=RetryPolicy(max_attempts=1))
        return cls(client, **options)

    def record(self, event: dict[str, Any]) -> bool:
        """Queue `event`; False (and counted) when the buffer is full. Never blocks on I/O."""
        if "eventID" not in event:
            event["eventID"] = str(uuid.uuid4())
        with self._cond:
            if len(self._queue) + self._inflight >= self.capacity:
                self._overflow()
                return False
            self._queue.append(event)
            if len(self._queue) >= self.batch_size:
                self._cond.notify()
        return True

    def _overflow(self) -> None:
        self._counts["dropped"] += 1
        if not self._overflowing:  # one line per episode, not one per event
            self._overflowing = True
            log.warning("OpenTrail buffer full (%d events): dropping new events until the "
                        "server takes some (%s)", self.capacity, self._last_error or "slow")

    def stats(self) -> BufferStats:
        with self._cond:
            return BufferStats(len(self._queue) + self._inflight, self._counts["sent"],
                               self._counts["rejected"], self._counts["dropped"],
                               self._last_error)

    @property
    def dropped(self) -> int:
        return self._counts["dropped"]

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event recorded so far was sent; False if `timeout` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flushing += 1  # the sender stops waiting for full batches meanwhile
            self._cond.notify_all()
            try:
                while self._queue or self._inflight:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(0.05 if left is None else min(left, 0.05))
            finally:
                self._flushing -= 1
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Flush (up to `timeout` seconds), then stop the thread. True if nothing was left."""
        atexit.unregister(self._at_exit)
        flushed = self.flush(timeout)
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=max(timeout, 1.0))
        if self._client is not None:
            self._client.close()
        if not flushed:
            log.warning("OpenTrail buffer closed with %d events unsent",
                        self.stats().pending)
        return flushed

    def _at_exit(self) -> None:
        self.close(self._exit_timeout)

    # --- the sender thread ------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            batch = self._take()
            if not batch:
                continue
            if self._send(batch):
                failures = 0
                continue
            failures += 1
            self._stopping.wait(self._backoff.delay(min(failures, 30)))

    def _take(self) -> list[dict[str, Any]]:
        with self._cond:
            if len(self._queue) < self.batch_size and not self._flushing \
                    and not self._stopping.is_set():
                self._cond.wait(self.interval)
            count = min(len(self._queue), self.batch_size)
            batch = [self._queue.popleft() for _ in range(count)]
            self._inflight = count
            return batch

    def _send(self, batch: list[dict[str, Any]]) -> bool:
        try:
            result = self._ingest().send(batch)
        except (IngestError, ValueError) as exc:
            with self._cond:  # back to the front, in order, to be sent again
                self._queue.extendleft(reversed(batch))
                self._inflight = 0
                if self._last_error is None:
                    log.warning("OpenTrail unreachable; events wait in the buffer: %s", exc)
                self._last_error = str(exc)
            return False
        for failed in result.failed:
            log.error("OpenTrail rejected an event (%s: %s)", failed.error_code,
                      failed.error_message)
        with self._cond:
            self._counts["sent"] += result.accepted + result.duplicates
            self._counts["rejected"] += result.rejected
            self._inflight, self._last_error, self._overflowing = 0, None, False
            self._cond.notify_all()
        return True

    def _ingest(self) -> IngestClient:
        if self._client is None:
            assert self._client_factory is not None
            self._client = self._client_factory()
        return self._client
