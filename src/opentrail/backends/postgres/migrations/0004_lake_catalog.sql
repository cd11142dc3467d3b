-- The Lake's event data stores (lake/_catalog.py keeps the rules).
CREATE TABLE lake_stores (
    id           text PRIMARY KEY,
    account      text NOT NULL,
    region       text NOT NULL,
    name         text NOT NULL,
    record       bytea NOT NULL,     -- the EventDataStore's fields as JSON
    tags         bytea NOT NULL,     -- JSON
    prior_status text,               -- the status DeleteEventDataStore replaced
    UNIQUE (account, region, name)
);
