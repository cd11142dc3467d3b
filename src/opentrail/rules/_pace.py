"""Pacing API destinations to their InvocationRateLimitPerSecond.

Invariant: at most `rate` requests start per second per destination (slots 1/rate apart,
no burst); `Pacer.wait` either reserves the next slot (sleeping for it when it is less
than MAX_SLEEP away) or raises `Throttled` with how long until it, without reserving it,
so the sender puts the delivery back without counting an attempt.
"""

from __future__ import annotations

import threading
import time

__all__ = ["MAX_SLEEP", "Pacer", "Throttled"]

MAX_SLEEP = 0.2  # longer waits go back to the outbox: a worker is not held


class Throttled(Exception):
    def __init__(self, delay: float) -> None:
        super().__init__(f"rate limit: next slot in {delay:.2f} s")
        self.delay = delay


class Pacer:
    def __init__(self) -> None:
        self._next: dict[str, float] = {}  # destination ARN -> monotonic time of its next slot
        self._lock = threading.Lock()

    def wait(self, key: str, rate: int | None) -> None:
        if not rate or rate <= 0:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(key, now))
            if slot - now > MAX_SLEEP:
                raise Throttled(slot - now)
            self._next[key] = slot + 1.0 / rate
        if slot > now:
            time.sleep(slot - now)
