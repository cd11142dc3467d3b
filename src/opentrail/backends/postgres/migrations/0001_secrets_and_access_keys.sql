-- Shared secrets, sealed with the cluster's master key (backends/postgres/_vault.py):
-- the row 'key-check' proves which master key sealed them.
CREATE TABLE secrets (
    name    text PRIMARY KEY,
    sealed  bytea NOT NULL,          -- version || nonce || AES-GCM(secret), name as data
    created timestamptz NOT NULL DEFAULT now()
);

-- Access keys; secrets sealed with the 'access-key-seal' secret (auth/_keys.py).
CREATE TABLE access_keys (
    access_key_id text PRIMARY KEY,
    account       text,              -- NULL for organization keys
    organization  boolean NOT NULL,
    role          text NOT NULL,
    name          text NOT NULL,
    created       double precision NOT NULL,
    sealed_secret bytea NOT NULL
);

-- Bumped by every change to access_keys, so each node drops its cache of keys.
CREATE TABLE access_key_changes (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint NOT NULL
);
INSERT INTO access_key_changes VALUES (true, 0);
