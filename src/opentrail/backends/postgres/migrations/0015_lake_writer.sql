-- The Lake writer's state (lake/_writer_rows.py; SQLite keeps it in lake-writer.db),
-- shared by every node: the node holding the lake-writer role goes on from the cursor,
-- manifest chains and file lists the previous holder committed, and every node's store
-- statistics and query EventsScanned read the same file list.
CREATE TABLE lake_writer_cursor (  -- one row, 'ledger': the next ledger seq to read
    name text COLLATE "C" PRIMARY KEY,
    seq  bigint NOT NULL
);
CREATE TABLE lake_writer_chains (  -- each store's manifest chain
    store_id text COLLATE "C" PRIMARY KEY,
    next     bigint NOT NULL,            -- number of the next manifest
    head     text,                       -- SHA-256 of the last manifest's bytes
    ranges   text NOT NULL DEFAULT '[]', -- ledger ranges examined, not yet in a manifest
    store    text,                       -- the store as those ranges were examined (JSON)
    since    double precision            -- when the first of those ranges was examined
);
CREATE TABLE lake_writer_files (  -- each store's committed files
    store_id  text COLLATE "C" NOT NULL,
    key       text COLLATE "C" NOT NULL,  -- relative to the store's folder
    sha256    text NOT NULL,
    rows      bigint NOT NULL,
    bytes     bigint NOT NULL,
    first_seq bigint,
    last_seq  bigint,
    PRIMARY KEY (store_id, key)
);
CREATE TABLE lake_writer_pending (  -- full keys being changed in the location
    key text COLLATE "C" PRIMARY KEY
);
