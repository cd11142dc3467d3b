"""The composition root: builds every component from Settings, in one visible place.

    api  ──▶ events (parse) ──▶ ledger.LedgerWriter ──▶ ledger.db
                                        │ (cursor)
                                        ▼
                           history.HistoryIndexer (own process) ──▶ history.db
    api  ◀── history.HistoryReader ◀──────────────────────────────────┘

The indexer runs in a child process by default so that indexing uses the second core
instead of competing with request handling for the GIL.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Literal

from opentrail.auth import KeyStore, SigV4Verifier
from opentrail.channels import ChannelRegistry
from opentrail.clock import Clock, SystemClock
from opentrail.config import Settings
from opentrail.history import (
    HistoryIndexer,
    HistoryReader,
    create_history,
    run_indexer_process,
    start_indexer_thread,
)
from opentrail.ledger import LedgerWriter

__all__ = ["Service"]

log = logging.getLogger(__name__)

IndexerMode = Literal["process", "thread"]
MAINTENANCE_EVERY = 3600.0


@dataclass
class Service:
    settings: Settings
    clock: Clock
    keys: KeyStore
    verifier: SigV4Verifier
    writer: LedgerWriter
    history: HistoryReader
    channels: ChannelRegistry
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _process: BaseProcess | None = None
    _indexer: HistoryIndexer | None = None
    indexer_mode: IndexerMode = "process"

    @classmethod
    def open(cls, settings: Settings, clock: Clock | None = None,
             indexer: IndexerMode = "process") -> Service:
        clock = clock or SystemClock()
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = KeyStore(settings.data_dir)
        writer = LedgerWriter(settings.data_dir, clock,
                              max_pending=settings.max_pending_events)
        create_history(settings.data_dir).close()
        service = cls(settings, clock, keys, SigV4Verifier(keys, clock), writer,
                      HistoryReader(settings.data_dir, clock, settings.history_retention_days),
                      ChannelRegistry(settings.data_dir), indexer_mode=indexer)
        service._start()
        return service

    def _start(self) -> None:
        self.writer.start()
        if self.indexer_mode == "thread":
            self._indexer = HistoryIndexer(self.settings.data_dir, self.clock,
                                           self.settings.history_retention_days)
            thread, stop = start_indexer_thread(self._indexer)
            self._threads.append(thread)
            self._stop_indexer = stop
        else:
            self._spawn_indexer()
        self._spawn(self._maintain, "maintenance")

    def _spawn(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _spawn_indexer(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._process = ctx.Process(
            target=run_indexer_process, name="opentrail-indexer", daemon=True,
            args=(str(self.settings.data_dir), self.settings.history_retention_days))
        self._process.start()

    def _maintain(self) -> None:
        """Keep the indexer alive and run the retention purge once an hour."""
        last_purge = 0.0
        while not self._stop.wait(1.0):
            if self._process is not None and not self._process.is_alive():
                log.error("history indexer exited (%s); restarting", self._process.exitcode)
                self._spawn_indexer()
            days = self.settings.history_retention_days
            if days > 0 and self.clock.now() - last_purge >= MAINTENANCE_EVERY:
                last_purge = self.clock.now()
                purged = self.writer.purge(int(self.clock.now()) - days * 86400)
                if purged:
                    log.info("retention: dropped the bodies of %d expired events", purged)

    def close(self) -> None:
        self._stop.set()
        if self._indexer is not None:
            self._stop_indexer.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._process is not None:
            self._process.terminate()
            self._process.join(timeout=10)
        if self._indexer is not None:
            self._indexer.close()
        self.writer.close()
        self.channels.close()
