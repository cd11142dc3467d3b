"""Slows down guessing: too many failed sign-ins from one address are refused for a while.

Counted per client address in memory (a restart forgets), in a sliding window. A refused
attempt is still recorded as a failed ConsoleLogin, so the guessing stays visible.
"""

from __future__ import annotations

import threading
from collections import deque

from opentrail.clock import Clock

__all__ = ["SignInLimiter"]

MAX_FAILURES = 10
WINDOW = 600.0
MAX_ADDRESSES = 100_000


class SignInLimiter:
    def __init__(self, clock: Clock, max_failures: int = MAX_FAILURES,
                 window: float = WINDOW) -> None:
        self._clock = clock
        self._max = max_failures
        self._window = window
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, address: str) -> bool:
        with self._lock:
            return len(self._recent(address)) >= self._max

    def failed(self, address: str) -> None:
        with self._lock:
            if len(self._failures) >= MAX_ADDRESSES:
                self._failures.clear()  # bounded memory beats perfect memory here
            self._recent(address).append(self._clock.now())

    def _recent(self, address: str) -> deque[float]:
        times = self._failures.setdefault(address, deque())
        while times and self._clock.now() - times[0] > self._window:
            times.popleft()
        return times
