"""The rule engine's own process (embedded mode): its entry point and the workers it runs.

Kept out of service.py on purpose: a spawned child imports the module of its target,
and service.py pulls in everything (scipy for Insights, DuckDB and pyarrow for the Lake),
~80 MB of RSS a process that only matches events against rules never uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from opentrail.backends import open_backend
from opentrail.clock import Clock, SystemClock
from opentrail.config import Settings
from opentrail.ledger import LedgerReader
from opentrail.rules import RuleStore

__all__ = ["rules_workers", "run_rules_process"]


def rules_workers(settings: Settings, clock: Clock, store: RuleStore,
                   reader: Callable[[], LedgerReader]) -> tuple[Any, Any]:
    """The rule engine (following the ledger `reader` opens) and the sender it wakes when
    it enqueued deliveries."""
    from opentrail.rules import DeadLetterQueues, RuleEngine, Sender, Transport

    sender = Sender(store, clock, Transport(store, sns_endpoint_url=settings.sns_endpoint_url,
                                            smtp_url=settings.smtp_url),
                    dead_letters=DeadLetterQueues(settings.sqs_endpoint_url))
    engine = RuleEngine(settings.data_dir, clock, store, reader=reader, enqueued=sender.wake)
    return engine, sender


def run_rules_process(settings: Settings) -> None:
    """The rule engine's and sender's own process (the second core, as the Sigma
    detector's): rules.db, the ledger, and the key store's master key to unseal
    connection secrets. Exits when terminated or when its server dies."""
    from opentrail.rules import run_until_orphaned

    backend = open_backend(settings)
    keys = backend.keys()
    store = backend.rules(keys)
    engine, sender = rules_workers(settings, SystemClock(), store, backend.ledger_reader)

    def run(stop: threading.Event) -> None:
        sending = threading.Thread(target=lambda: sender.run(stop), name="rule-sender",
                                   daemon=True)
        sending.start()
        engine.run(stop)
        sending.join(timeout=10)

    try:
        run_until_orphaned(run)
    finally:
        for part in (engine, sender, store, keys, backend):
            part.close()
