"""The delivery worker: sends what the outbox holds, at least once, with retries.

Invariants:
* A delivery leaves the outbox only once its target accepted it (or it is dead-lettered),
  so a crash or restart resends what was pending: at-least-once, as EventBridge.
* Retries back off exponentially (BASE_DELAY doubling, at most MAX_DELAY, with jitter) and
  stop after the target's RetryPolicy: MaximumRetryAttempts retries or an event older than
  MaximumEventAgeInSeconds; then, or at once for a final error, the delivery becomes a dead
  letter (state DEAD, with its last error), listed by `RuleStore.dead_letters`; a target
  with a DeadLetterConfig also has it sent to that SQS queue first (the error says whether
  the queue took it), so a crash in between sends it again rather than never.
* Sending happens on worker threads of its own: it never holds up the ledger or the engine.
* `run` starts a term (`RuleStore.fence`): once another sender started a newer one (the
  node that took the `rules` role over), this one is handed no more deliveries, so two
  nodes never both start sending what the outbox holds.
* Each success leaves a receipt (rules/_receipts.py), stored in the transaction that takes
  the delivery out of the outbox: the server turns receipts into AlertDelivered records.
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor

from opentrail.clock import Clock
from opentrail.errors import OpenTrailError
from opentrail.rules._deadletter import DeadLetterQueues
from opentrail.rules._model import Delivery
from opentrail.rules._pace import Throttled
from opentrail.rules._receipts import receipt_of
from opentrail.rules._send import SendError, Transport
from opentrail.rules._store import Receipt, RuleStore
from opentrail.rules._targets import retry_policy

__all__ = ["BASE_DELAY", "MAX_DELAY", "Sender"]

log = logging.getLogger(__name__)

BASE_DELAY = 1.0
MAX_DELAY = 300.0
WORKERS = 8
MAX_INFLIGHT = 4 * WORKERS
POLL = 0.05


class Sender:
    def __init__(self, store: RuleStore, clock: Clock, transport: Transport, *,
                 base_delay: float = BASE_DELAY,
                 dead_letters: DeadLetterQueues | None = None) -> None:
        self._store, self._clock, self._transport = store, clock, transport
        self._dead_letters = dead_letters or DeadLetterQueues()
        self._base_delay = base_delay
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="rule-send")
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._inflight: set[int] = set()  # submitted, and not yet out of the outbox
        self._done: list[int] = []  # delivered, to be removed from the outbox
        self._receipts: list[Receipt] = []  # theirs, written in the same transaction
        self.sent = 0
        self._term: int | None = None  # set by `run`: the outbox answers only the latest

    def wake(self) -> None:
        """New deliveries are due (the engine calls this): stop waiting for the poll."""
        self._wake.set()

    @property
    def sending(self) -> int:
        """Deliveries handed to the workers whose outcome is not known yet."""
        with self._lock:
            return len(self._inflight) - len(self._done)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._flush()
        self._transport.close()

    def run(self, stop: threading.Event) -> None:
        """Send until `stop`, in a term of its own (see `RuleStore.fence`)."""
        self._term = None
        while not stop.is_set():
            try:
                if self._term is None:
                    self._term = self._store.fence()
                busy = self.step()
            except Exception:
                log.exception("rule deliveries: a pass failed; retrying")
                stop.wait(1.0)
                continue
            if not busy:
                self._wake.wait(POLL)
                self._wake.clear()

    def step(self) -> int:
        """Remove what was delivered from the outbox (one transaction), then hand the due
        deliveries to the workers, never more than MAX_INFLIGHT at once; a slow target
        holds up only its own deliveries. Returns how many were handed out."""
        self._flush()
        with self._lock:
            inflight = set(self._inflight)
        room = MAX_INFLIGHT - len(inflight)
        if room <= 0:
            return 0
        due = self._store.due(self._clock.now(), room, exclude=inflight, term=self._term)
        with self._lock:
            self._inflight.update(d.id for d in due)
        for delivery in due:
            self._pool.submit(self._one, delivery)
        return len(due)

    def _flush(self) -> None:
        with self._lock:
            done, self._done = self._done, []
            receipts, self._receipts = self._receipts, []
        if done:
            self._store.delivered(done, receipts)
            self.sent += len(done)
            with self._lock:
                self._inflight.difference_update(done)

    def _one(self, delivery: Delivery) -> None:
        """Send; a success waits in `_done` for the next flush, a failure records its
        retry or dead letter at once."""
        try:
            self._transport.send(delivery)
        except Throttled as wait:  # not an attempt: back to the outbox until its slot
            self._store.retry(delivery.id, delivery.attempts, self._clock.now() + wait.delay,
                              delivery.last_error)
        except SendError as err:
            self._failed(delivery, str(err), err.retryable)
        except (OpenTrailError, KeyError, ValueError, TypeError) as exc:
            self._failed(delivery, f"{type(exc).__name__}: {exc}", False)
        except Exception as exc:  # never leave a delivery in flight for good
            log.exception("rule %s: delivery %d failed unexpectedly", delivery.rule,
                          delivery.id)
            self._failed(delivery, f"{type(exc).__name__}", True)
        else:
            receipt = receipt_of(delivery, self._clock.now())
            with self._lock:
                self._done.append(delivery.id)
                if receipt is not None:
                    self._receipts.append(receipt)
            self._wake.set()
            return
        with self._lock:
            self._inflight.discard(delivery.id)

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
            condition = ("" if not retryable else "MaximumRetryAttempts"
                         if attempts > max_retries else "MaximumEventAgeInSeconds")
            error += self._dead_letters.send(delivery, error, condition, attempts)
            log.warning("rule %s: delivery %d to %s dead-lettered after %d attempt(s): %s",
                        delivery.rule, delivery.id, delivery.target.get("Id"), attempts, error)
            self._store.dead(delivery.id, attempts, error)
        else:
            self._store.retry(delivery.id, attempts, next_try, error)
