-- The history index (LookupEvents), derived from `events` by one indexer at a time
-- (backends/postgres/_history.py). A term is one (account, region, category,
-- attribute, value); a posting is one event having it, keyed (term, time, seq) so a
-- lookup is one backward range scan of the primary key: newest first, keyset paging
-- by (time, seq), the time range as bounds. Nothing here is a source of truth: it is
-- rebuilt from the ledger if dropped.
CREATE TABLE history_terms (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key      bytea NOT NULL UNIQUE,      -- SHA-256 of the five fields: any value length
    account  text COLLATE "C" NOT NULL,
    region   text COLLATE "C" NOT NULL,
    category integer NOT NULL,
    attr     smallint NOT NULL,          -- history.Attr
    value    text COLLATE "C" NOT NULL,
    n        bigint NOT NULL DEFAULT 0   -- postings so far: the rarest term drives an AND
) WITH (fillfactor = 80);                -- room for `n`'s updates to stay HOT

CREATE TABLE history_postings (
    term bigint NOT NULL,
    time bigint NOT NULL,                -- epoch seconds of eventTime
    seq  bigint NOT NULL,                -- the event's seq in `events`
    PRIMARY KEY (term, time, seq)
) WITH (autovacuum_vacuum_insert_scale_factor = 0.02);  -- keeps index-only scans heap-free

-- Accounts with indexed events: lookups with an organization's keys read each.
CREATE TABLE history_accounts (
    account text COLLATE "C" PRIMARY KEY
);

-- The next ledger seq to index; moved in the transaction that stores the postings.
CREATE TABLE history_cursor (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq bigint NOT NULL
);
INSERT INTO history_cursor VALUES (true, 0);
