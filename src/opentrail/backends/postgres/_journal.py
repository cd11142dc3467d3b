"""The self-audit journal in PostgreSQL: `Journal` (ledger/_journal.py) over the
`audit_journal` table (migration 0014), so a node lost for good does not take the audit
records of its changes in flight with it.

Each node journals under a number of its own, for which it holds the session advisory
lock (JOURNAL_LOCK_CLASS, number) on a connection of its own (a `PgRole`) for as long as
it lives; it picks a fresh number at every start. A row is committed before its change
runs and deleted once the ledger holds the record with its outcome. `recover` (at start,
then periodically, on every node) looks for rows of other numbers: a number whose lock it
can take inside its transaction belongs to a node that is gone (killed, or its session
lost), and no other node can replay it meanwhile; it appends their records, marked
outcome unknown, then deletes them in the same transaction. A crash in between leaves
the rows for the next recovery, and the ledger's (account, eventID) de-duplication keeps
each record once. A node writes only while it holds its lock (checked on every write):
one whose session broke is refused (ServiceUnavailable) until it holds it again, so its
rows are never replayed while it still runs their changes.
"""

from __future__ import annotations

import logging
import secrets
import time

from opentrail.backends._errors import DatabaseUnreachable
from opentrail.backends.postgres._db import JOURNAL_LOCK_CLASS, PgDb
from opentrail.backends.postgres._role import PgRole
from opentrail.errors import OpenTrailError, ServiceUnavailable
from opentrail.events import Record
from opentrail.ledger import LedgerWriter
from opentrail.ledger._journal import unknown_outcome

__all__ = ["PgAuditJournal"]

log = logging.getLogger(__name__)

TRIES = 10  # numbers tried at start before giving up (a clash is a 1-in-2^31 event)


class PgAuditJournal:
    def __init__(self, db: PgDb) -> None:
        self._db = db
        self.node, self.lease = _claim_number(db)

    def close(self) -> None:
        self.lease.release()

    def write(self, record: Record) -> None:
        if not self.lease.held():
            raise ServiceUnavailable(
                "This node lost its session with the database, so it cannot journal the "
                "audit record of this change; nothing was changed. Retry in a few seconds.")
        with self._db.transaction() as conn:
            conn.execute("INSERT INTO audit_journal (event_id, node, written, body) VALUES "
                         "(%s, %s, %s, %s)", (record.event_id, self.node, time.time(),
                                              record.body))

    def remove(self, record: Record) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute("DELETE FROM audit_journal WHERE event_id = %s AND node = %s",
                             (record.event_id, self.node))
        except OpenTrailError as exc:  # the row stays; it is offered to the ledger again
            log.warning("audit journal: %s not removed (%s)", record.event_id, exc.message)

    def recover(self, writer: LedgerWriter) -> int:
        with self._db.transaction() as conn:
            nodes = [r[0] for r in conn.execute(
                "SELECT DISTINCT node FROM audit_journal WHERE NOT bad AND node <> %s",
                (self.node,))]
        count = sum(self._replay(node, writer) for node in nodes)
        if count:
            log.warning("audit journal: recorded %d call(s) whose outcome is unknown (the "
                        "node running them stopped or lost the database)", count)
        return count

    def _replay(self, node: int, writer: LedgerWriter) -> int:
        """The rows of `node` if it is gone (its lock is free): appended, then deleted."""
        with self._db.transaction() as conn:
            row = conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s)",
                               (JOURNAL_LOCK_CLASS, node)).fetchone()
            if not (row and row[0]):
                return 0  # alive, or another node is replaying it right now
            rows = conn.execute("SELECT event_id, body FROM audit_journal WHERE node = %s "
                                "AND NOT bad ORDER BY written, event_id", (node,)).fetchall()
            records, done = [], []
            for event_id, body in rows:
                record = unknown_outcome(bytes(body), event_id)
                if record is None:
                    conn.execute("UPDATE audit_journal SET bad = true WHERE event_id = %s",
                                 (event_id,))
                    continue
                records.append(record)
                done.append(event_id)
            if records:
                writer.submit(records).result()
            conn.execute("DELETE FROM audit_journal WHERE event_id = ANY(%s)", (done,))
        return len(records)


def _claim_number(db: PgDb) -> tuple[int, PgRole]:
    """A number no live node holds and no row carries, with its lock held."""
    for _ in range(TRIES):
        node = secrets.randbelow(2**31 - 1) + 1
        lease = PgRole(db.url, f"audit-journal node {node}", keys=(JOURNAL_LOCK_CLASS, node))
        if lease.held():
            with db.transaction() as conn:
                used = conn.execute("SELECT 1 FROM audit_journal WHERE node = %s LIMIT 1",
                                    (node,)).fetchone()
            if used is None:
                return node, lease
        lease.release()
    raise DatabaseUnreachable(f"The database {db.where} did not give this node a lock for "
                              "its audit journal; is it reachable?")
