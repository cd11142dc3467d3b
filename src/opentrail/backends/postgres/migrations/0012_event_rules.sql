-- Event rules' state (rules/_store.py's RuleStore; SQLite keeps it in rules.db), shared by
-- every node: what one node's API creates, every node reads at once; the engine and the
-- sender run on the node holding the `rules` role and go on from the cursor and outbox
-- the previous holder committed. Names are in the "C" collation (byte-wise, as SQLite).
CREATE TABLE rules (
    account     text COLLATE "C" NOT NULL,
    region      text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    pattern     text,
    state       text NOT NULL,
    description text NOT NULL,
    created     double precision NOT NULL,
    PRIMARY KEY (account, region, name)
);
CREATE TABLE rule_targets (
    account text COLLATE "C" NOT NULL,
    region  text COLLATE "C" NOT NULL,
    rule    text COLLATE "C" NOT NULL,
    id      text COLLATE "C" NOT NULL,
    body    bytea NOT NULL,  -- the target as PutTargets gave it (JSON)
    PRIMARY KEY (account, region, rule, id)
);
CREATE TABLE rule_tags (
    arn   text COLLATE "C" NOT NULL,
    key   text COLLATE "C" NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (arn, key)
);
CREATE TABLE rule_connections (
    account     text COLLATE "C" NOT NULL,
    region      text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    uuid        text NOT NULL,
    auth_type   text NOT NULL,
    params      bytea NOT NULL,  -- AuthParameters without their secrets (JSON)
    sealed      bytea NOT NULL,  -- the secrets, sealed with the master key
    description text NOT NULL,
    state       text NOT NULL,
    created     double precision NOT NULL,
    modified    double precision NOT NULL,
    authorized  double precision NOT NULL,
    PRIMARY KEY (account, region, name)
);
CREATE TABLE rule_destinations (
    account        text COLLATE "C" NOT NULL,
    region         text COLLATE "C" NOT NULL,
    name           text COLLATE "C" NOT NULL,
    uuid           text NOT NULL,
    connection_arn text COLLATE "C" NOT NULL,
    endpoint       text NOT NULL,
    method         text NOT NULL,
    rate           integer,
    description    text NOT NULL,
    created        double precision NOT NULL,
    modified       double precision NOT NULL,
    PRIMARY KEY (account, region, name)
);
CREATE TABLE rule_cursor (  -- the engine's ledger cursor: the next seq to match
    name text COLLATE "C" PRIMARY KEY,
    seq  bigint NOT NULL
);
CREATE TABLE rule_outbox (  -- one event on its way to one target
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account    text COLLATE "C" NOT NULL,
    region     text COLLATE "C" NOT NULL,
    rule       text COLLATE "C" NOT NULL,
    target     bytea NOT NULL,
    event      bytea NOT NULL,
    enqueued   double precision NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    next_try   double precision NOT NULL,
    state      text NOT NULL DEFAULT 'PENDING',
    last_error text NOT NULL DEFAULT ''
);
CREATE INDEX rule_outbox_due ON rule_outbox (state, next_try);
CREATE TABLE rule_receipts (  -- successful deliveries not yet in the ledger
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account    text COLLATE "C" NOT NULL,
    region     text COLLATE "C" NOT NULL,
    rule       text COLLATE "C" NOT NULL,
    target     text NOT NULL,
    kind       text NOT NULL,
    event_id   text,
    event_name text,
    delivered  double precision NOT NULL
);
-- Bumped by every change to rules or targets: an engine re-arms its rules when it moves.
CREATE TABLE rule_changes (
    id integer PRIMARY KEY CHECK (id = 0),
    n  bigint NOT NULL
);
INSERT INTO rule_changes (id, n) VALUES (0, 0);
CREATE FUNCTION rule_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rule_changes SET n = n + 1 WHERE id = 0;
    RETURN NULL;
END $$;
CREATE TRIGGER rules_changed AFTER INSERT OR UPDATE OR DELETE ON rules
    FOR EACH STATEMENT EXECUTE FUNCTION rule_changed();
CREATE TRIGGER rule_targets_changed AFTER INSERT OR UPDATE OR DELETE ON rule_targets
    FOR EACH STATEMENT EXECUTE FUNCTION rule_changed();
-- The sender's term: a sender hands out deliveries only while its term is the latest.
CREATE TABLE rule_sender_term (
    id integer PRIMARY KEY CHECK (id = 0),
    n  bigint NOT NULL
);
INSERT INTO rule_sender_term (id, n) VALUES (0, 0);
