"""The delivery worker: sends what the outbox holds, at least once, with retries.

Invariants:
* A delivery leaves the outbox only once its target accepted it (or it is dead-lettered),
  so a crash or restart resends what was pending: at-least-once, as EventBridge.
* Retries back off exponentially (BASE_DELAY doubling, at most MAX_DELAY, with jitter) and
  stop after the target's RetryPolicy: MaximumRetryAttempts retries or an event older than
  MaximumEventAgeInSeconds; then, or at once for a final error, the delivery becomes a dead
  letter (state DEAD, with its last error), listed by `RuleStore.dead_letters`.
* Sending happens on worker threads of its own: it never holds up the ledger or the engine.
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor

from opentrail.clock import Clock
from opentrail.errors import OpenTrailError
from opentrail.rules._model import Delivery
from opentrail.rules._send import SendError, Transport
from opentrail.rules._store import RuleStore
from opentrail.rules._targets import retry_policy

__all__ = ["BASE_DELAY", "MAX_DELAY", "Sender"]

log = logging.getLogger(__name__)

BASE_DELAY = 1.0
MAX_DELAY = 300.0
WORKERS = 8
BATCH = 256
POLL = 0.05


class Sender:
    def __init__(self, store: RuleStore, clock: Clock, transport: Transport, *,
                 base_delay: float = BASE_DELAY) -> None:
        self._store, self._clock, self._transport = store, clock, transport
        self._base_delay = base_delay
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="rule-send")
        self._wake = threading.Event()
        self.sent = 0

    def wake(self) -> None:
        """New deliveries are due (the engine calls this): stop waiting for the poll."""
        self._wake.set()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._transport.close()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                busy = self.step()
            except Exception:
                log.exception("rule deliveries: a pass failed; retrying")
                stop.wait(1.0)
                continue
            if not busy:
                self._wake.wait(POLL)
                self._wake.clear()

    def step(self) -> int:
        """Send every due delivery (a batch at a time, in parallel); the ones delivered
        leave the outbox together, in one transaction. Returns how many were due."""
        due = self._store.due(self._clock.now(), BATCH)
        done = [d.id for d, ok in zip(due, self._pool.map(self._one, due), strict=True) if ok]
        if done:
            self._store.delivered(done)
            self.sent += len(done)
        return len(due)

    def _one(self, delivery: Delivery) -> bool:
        """Send; True when delivered, else its retry or dead letter is recorded."""
        try:
            self._transport.send(delivery)
        except SendError as err:
            self._failed(delivery, str(err), err.retryable)
            return False
        except (OpenTrailError, KeyError, ValueError, TypeError) as exc:
            self._failed(delivery, f"{type(exc).__name__}: {exc}", False)
            return False
        return True

    def _failed(self, delivery: Delivery, error: str, retryable: bool) -> None:
        attempts = delivery.attempts + 1
        try:
            max_retries, max_age = retry_policy(delivery.target)
        except OpenTrailError:
            max_retries, max_age = 0, 0
        delay = min(MAX_DELAY, self._base_delay * 2 ** (attempts - 1))
        next_try = self._clock.now() + delay * random.uniform(0.8, 1.2)
        too_old = next_try - delivery.enqueued > max_age
        if not retryable or attempts > max_retries or too_old:
            log.warning("rule %s: delivery %d to %s dead-lettered after %d attempt(s): %s",
                        delivery.rule, delivery.id, delivery.target.get("Id"), attempts, error)
            self._store.dead(delivery.id, attempts, error)
        else:
            self._store.retry(delivery.id, attempts, next_try, error)
