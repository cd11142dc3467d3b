"""Target 1 and 2: sustained durable ingest over HTTP, and how soon an acked event is
returned by LookupEvents, probed while the ingest runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench.client import ApiClient, Key
from bench.events import Batch
from bench.parallel import run_threads

__all__ = ["IngestResult", "run_ingest"]

CLIENTS = 2
PROBE_TIMEOUT = 60.0
POLL_PAUSE = 0.02  # between polls of one probe
PROBE_EVERY = 0.25  # between the starts of two probes: sampling, so they barely load


@dataclass
class IngestResult:
    events: int
    seconds: float
    accepted: int
    visibility: dict[str, list[float]] = field(default_factory=dict)  # probe -> seconds

    @property
    def rate(self) -> float:
        return self.events / self.seconds


class _Acks:
    """The latest acknowledged batch, for the probes to pick up."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.latest: tuple[int, Batch, float] | None = None
        self.done = False

    def ack(self, index: int, batch: Batch) -> None:
        now = time.perf_counter()
        with self.cond:
            if self.latest is None or index > self.latest[0]:
                self.latest = (index, batch, now)
            self.cond.notify_all()

    def next_after(self, seen: int) -> tuple[int, Batch, float] | None:
        with self.cond:
            while not self.done and (self.latest is None or self.latest[0] <= seen):
                self.cond.wait()
            return None if self.done else self.latest

    def finish(self) -> None:
        with self.cond:
            self.done = True
            self.cond.notify_all()


class _Senders:
    """CLIENTS threads taking batches in order from one shared list."""

    def __init__(self, endpoint: str, key: Key, bodies: Sequence[Batch], acks: _Acks) -> None:
        self._endpoint, self._key, self._acks = endpoint, key, acks
        self._work = list(enumerate(bodies))[::-1]  # popped from the end: sent in order
        self._lock = threading.Lock()
        self.accepted = 0

    def send(self) -> None:
        client = ApiClient(self._endpoint, self._key)
        try:
            while True:
                with self._lock:
                    if not self._work:
                        return
                    index, batch = self._work.pop()
                answer = client.ingest(batch.body)
                self._acks.ack(index, batch)
                with self._lock:
                    self.accepted += int(answer["accepted"])
        finally:
            client.close()


Query = Callable[[Batch], dict[str, Any]]
PROBES: dict[str, Query] = {
    # Served from the ledger's own table: visible as soon as the commit is acknowledged.
    "EventId": lambda b: {"LookupAttributes": [
        {"AttributeKey": "EventId", "AttributeValue": b.probe_id}]},
    # Served from the history index: visible once the indexer has caught up.
    "ResourceName": lambda b: {"LookupAttributes": [
        {"AttributeKey": "ResourceName", "AttributeValue": b.probe_arn}]},
}


def _probe(endpoint: str, key: Key, acks: _Acks, name: str, out: list[float]) -> None:
    """Take the newest acked batch, poll until its probe event is returned, repeat."""
    client = ApiClient(endpoint, key)
    seen = -1
    try:
        while (latest := acks.next_after(seen)) is not None:
            seen, batch, acked = latest
            out.append(_wait_visible(client, PROBES[name](batch), acked))
            time.sleep(max(0.0, PROBE_EVERY - (time.perf_counter() - acked)))
    finally:
        client.close()


def _wait_visible(client: ApiClient, params: dict[str, Any], acked: float) -> float:
    while time.perf_counter() - acked < PROBE_TIMEOUT:
        if client.lookup(params).events:
            return time.perf_counter() - acked
        time.sleep(POLL_PAUSE)
    return float("inf")


def run_ingest(endpoint: str, key: Key, bodies: Sequence[Batch], *, probe: bool = True
               ) -> IngestResult:
    """Send every batch from CLIENTS threads; probes sample visibility meanwhile."""
    acks = _Acks()
    senders = _Senders(endpoint, key, bodies, acks)
    visibility: dict[str, list[float]] = {name: [] for name in PROBES} if probe else {}
    probes = [partial(_probe, endpoint, key, acks, name, out)
              for name, out in visibility.items()]
    failed: list[BaseException] = []
    watcher = threading.Thread(target=_collect, args=(probes, failed), daemon=True)
    watcher.start()
    start = time.perf_counter()
    try:
        run_threads([senders.send] * CLIENTS)
    finally:
        seconds = time.perf_counter() - start
        acks.finish()
        watcher.join()
    if failed:
        raise failed[0]
    return IngestResult(sum(b.count for b in bodies), seconds, senders.accepted, visibility)


def _collect(targets: list[Callable[[], None]], failed: list[BaseException]) -> None:
    try:
        run_threads(targets)
    except BaseException as exc:  # handed to run_ingest's thread
        failed.append(exc)
