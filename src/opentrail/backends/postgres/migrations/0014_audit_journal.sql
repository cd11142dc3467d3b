-- The self-audit journal (ledger/_journal.py; SQLite keeps it in DATA_DIR/audit-journal):
-- the record of each change in flight, committed before the change runs and deleted once
-- the ledger holds the record with its outcome. `node` is the writing node's session
-- advisory lock key (JOURNAL_LOCK_CLASS, node): when no session holds it, the node is
-- gone and any node replays its rows into the ledger, marked outcome unknown.
CREATE TABLE audit_journal (
    event_id text COLLATE "C" PRIMARY KEY,
    node     integer NOT NULL,
    written  double precision NOT NULL,  -- epoch seconds
    body     bytea NOT NULL,             -- the validated record, as the ledger stores it
    bad      boolean NOT NULL DEFAULT false  -- not a record: kept for a person to read
);
CREATE INDEX audit_journal_by_node ON audit_journal (node) WHERE NOT bad;
