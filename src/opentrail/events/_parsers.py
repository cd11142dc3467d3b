"""Parse workers: request bodies split, validated and canonicalised in other processes.

Parsing and canonicalising a batch is most of the server's CPU per event (docs/
benchmarks.md, "Where the time goes"), and in the server's process it holds the one GIL
the ledger writer, the HTTP loop and SigV4 also need. A worker process does it on
another core and sends back `Wire` (events/_prepared.py); the server only rebuilds the
records and commits them. Nothing is acknowledged before the ledger's commit, so a
worker that dies loses nothing: that request is parsed in the server instead and the
pool is replaced.

Bodies under `min_bytes` are parsed in the calling thread: a few records cost less than
the two trips to a worker. Workers are spawned (not forked: the server has threads) when
the first large body arrives, and import this package only (~20 MB each).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from opentrail.events._prepared import Owner, Prepared, from_wire, prepare_batch, prepare_wire

__all__ = ["ParserPool"]

log = logging.getLogger(__name__)

MIN_WORKER_BYTES = 64 * 1024


class ParserPool:
    """`prepare` is thread-safe and blocking; with `workers=0` it parses in the caller."""

    def __init__(self, workers: int, *, min_bytes: int = MIN_WORKER_BYTES) -> None:
        self.workers = workers
        self._min_bytes = min_bytes
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def prepare(self, body: bytes, owner: Owner, max_bytes: int) -> Prepared:
        """`prepare_batch(body, owner, max_bytes)`, in a worker when it is worth it."""
        pool = self._current() if len(body) >= self._min_bytes else None
        if pool is None:
            return prepare_batch(body, owner, max_bytes)
        try:
            wire = pool.submit(prepare_wire, body, owner, max_bytes).result()
        except BrokenProcessPool:
            log.error("a parse worker died; replacing the pool and parsing this request "
                      "in the server")
            self._discard(pool)
            return prepare_batch(body, owner, max_bytes)
        except RuntimeError:  # another thread just discarded this pool, or close() ran
            return prepare_batch(body, owner, max_bytes)
        return from_wire(wire)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _current(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self.workers <= 0 or self._closed:
                return None
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent, initargs=(os.getpid(),))
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)


def _exit_with_parent(parent: int) -> None:
    """In a worker: exit once the server is gone. A worker holds both ends of its task
    queue, so a server killed with SIGKILL would otherwise leave it (and multiprocessing's
    resource tracker) waiting forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
