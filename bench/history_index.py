"""The history indexer alone: CPU per event and history.db bytes per event.

`python -m bench.history_index DATA_DIR [--repeat N]` copies DATA_DIR's ledger (a bench
store's `data/`) into a scratch directory, indexes all of it in this one process N times
(a fresh history.db each time) and prints the CPU time per event (user + system of this
process, so what else runs on the machine matters little) and history.db's size.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from opentrail.clock import SystemClock
from opentrail.history import HISTORY_FILE, HistoryIndexer


def index_once(scratch: Path) -> tuple[int, float, int]:
    """(events, CPU seconds, history.db bytes) of one full indexing."""
    for name in ("history.db", "history.db-wal", "history.db-shm"):
        (scratch / name).unlink(missing_ok=True)
    indexer = HistoryIndexer(scratch, SystemClock(), 0)
    events, cpu = 0, time.process_time()
    while n := indexer.step():
        events += n
    cpu = time.process_time() - cpu
    indexer.close()
    conn = sqlite3.connect(scratch / HISTORY_FILE)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return events, cpu, (scratch / HISTORY_FILE).stat().st_size


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.history_index")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)  # as the indexer process does
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        scratch = Path(tmp)
        for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm"):
            if (args.data_dir / name).exists():
                shutil.copy(args.data_dir / name, scratch / name)
        for _ in range(args.repeat):
            events, cpu, size = index_once(scratch)
            print(f"{events:,} events: {cpu / events * 1e6:.1f} us CPU per event, "
                  f"history.db {size / events:.0f} B per event ({size:,} B)", flush=True)


if __name__ == "__main__":
    main()
