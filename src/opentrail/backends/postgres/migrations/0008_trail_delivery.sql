-- Trail delivery's state (trails/_delivery_rows.py; SQLite keeps it in delivery.db),
-- shared by every node: the node holding the trail-delivery role goes on from the cursor,
-- outbox and digest chains the previous holder committed.
CREATE TABLE delivery_cursors (
    arn      text COLLATE "C" PRIMARY KEY,
    created  double precision NOT NULL,  -- the trail's creation time
    seq      bigint NOT NULL,            -- last ledger seq considered (the cursor - 1)
    period   double precision,           -- start_logging_time of the period delivered
    last_run double precision NOT NULL   -- delivery time of the last delivery
);
CREATE TABLE delivery_outbox (  -- finished objects not yet confirmed by the destination
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    arn       text COLLATE "C" NOT NULL,
    kind      text NOT NULL,
    bucket    text NOT NULL,
    key       text NOT NULL,
    body      bytea NOT NULL,
    metadata  text NOT NULL,
    first_seq bigint,
    last_seq  bigint,
    created   double precision NOT NULL
);
CREATE INDEX delivery_outbox_by_arn ON delivery_outbox (arn, id);
CREATE TABLE delivery_record (  -- every object delivered, with its version and lock
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    arn          text COLLATE "C" NOT NULL,
    kind         text NOT NULL,
    bucket       text NOT NULL,
    key          text NOT NULL,
    first_seq    bigint,
    last_seq     bigint,
    created      double precision NOT NULL,
    delivered    double precision NOT NULL,
    version_id   text,
    lock_mode    text,
    retain_until double precision
);
CREATE INDEX delivery_record_by_arn ON delivery_record (arn, id);
CREATE TABLE delivery_undigested (  -- log files the next digest of their chain lists
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    arn   text COLLATE "C" NOT NULL,
    chain text COLLATE "C" NOT NULL,
    file  text NOT NULL
);
CREATE INDEX delivery_undigested_by_chain ON delivery_undigested (arn, chain, id);
CREATE TABLE delivery_chains (  -- open digest chains: next window start, last digest
    arn   text COLLATE "C" NOT NULL,
    chain text COLLATE "C" NOT NULL,
    start double precision NOT NULL,
    prev  text,
    PRIMARY KEY (arn, chain)
);
