-- Channels for PutAuditEvents (channels/_registry.py keeps the rules).
CREATE TABLE channels (
    arn          text PRIMARY KEY,
    account      text NOT NULL,
    region       text NOT NULL,
    name         text NOT NULL,
    source       text NOT NULL,
    destinations bytea NOT NULL,     -- JSON
    tags         bytea NOT NULL,     -- JSON
    ingestion    bytea NOT NULL DEFAULT '\x7b7d'::bytea,  -- JSON, '{}'
    UNIQUE (account, region, name)
);
