-- Sigma findings (detect/_store.py; SQLite keeps them in findings.db), shared by every
-- node: a finding acknowledged on one node is acknowledged on all, and the node holding
-- the `detector` role goes on from the cursor the previous holder committed.
CREATE TABLE findings (
    id              text COLLATE "C" PRIMARY KEY,  -- the finding record's eventID
    account         text COLLATE "C" NOT NULL,
    region          text NOT NULL,
    created         double precision NOT NULL,     -- epoch seconds the rule matched
    state           text NOT NULL DEFAULT 'open',
    acknowledged_by text,
    acknowledged_at double precision,
    detail          text NOT NULL,                 -- serviceEventDetails (JSON), as made
    published       boolean NOT NULL DEFAULT false -- true once the ledger holds the record
);
CREATE INDEX findings_unpublished ON findings (created, id) WHERE NOT published;
CREATE INDEX findings_by_account ON findings (account, created, id);
CREATE INDEX findings_by_time ON findings (created, id);
CREATE TABLE detect_cursor (  -- the detector's cursor: the next ledger seq to evaluate
    name text COLLATE "C" PRIMARY KEY,
    seq  bigint NOT NULL
);
