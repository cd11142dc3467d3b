-- The ledger (ledger/_schema.py holds SQLite's): append-only events with consecutive
-- sequence numbers assigned under LEDGER_LOCK (backends/postgres/_ledger_sequencer.py).
CREATE TABLE events (
    seq        bigint PRIMARY KEY,              -- leaf index, from 0, no gaps
    account    text COLLATE "C" NOT NULL,
    region     text NOT NULL,
    category   integer NOT NULL,                -- events.Category
    event_time bigint NOT NULL,                 -- epoch seconds of eventTime
    ingested   bigint NOT NULL,                 -- epoch seconds of acknowledgement
    event_id   text COLLATE "C" NOT NULL,
    leaf       bytea NOT NULL,                  -- SHA-256(0x00 || body), kept after expiry
    body       bytea                            -- canonical record bytes; NULL once expired
);
CREATE UNIQUE INDEX events_by_id ON events (account, event_id);

-- The retention purge's cutoff: 0 outside the purge's own transaction (see the trigger).
CREATE TABLE ledger_purge (
    one    boolean PRIMARY KEY DEFAULT true CHECK (one),
    cutoff bigint NOT NULL
);
INSERT INTO ledger_purge VALUES (true, 0);

-- Every retention setting a writer ran with, for `opentrail verify`.
CREATE TABLE ledger_retention (
    since bigint PRIMARY KEY,   -- epoch seconds the writer started with this setting
    days  integer NOT NULL      -- history_retention_days; 0 keeps bodies forever
);

-- Append-only: no DELETE, no TRUNCATE, no UPDATE except the purge dropping a body (and
-- nothing else) of an event older by event time and by ingest time than the cutoff the
-- purge's transaction raised in ledger_purge.
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cut bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT cutoff INTO cut FROM ledger_purge;
        IF NEW.body IS NULL
           AND (NEW.seq, NEW.account, NEW.region, NEW.category, NEW.event_time,
                NEW.ingested, NEW.event_id, NEW.leaf)
               IS NOT DISTINCT FROM (OLD.seq, OLD.account, OLD.region, OLD.category,
                                     OLD.event_time, OLD.ingested, OLD.event_id, OLD.leaf)
           AND OLD.event_time < cut AND OLD.ingested < cut THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'the ledger is append-only: events cannot be changed';
    END IF;
    RAISE EXCEPTION 'the ledger is append-only: events cannot be deleted';
END
$$;
CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

CREATE FUNCTION ledger_purge_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the purge cutoff row cannot be deleted';
END
$$;
CREATE TRIGGER ledger_purge_no_delete BEFORE DELETE OR TRUNCATE ON ledger_purge
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_purge_kept();
