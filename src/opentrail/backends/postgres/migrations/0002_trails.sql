-- Trails (trails/_store.py keeps the rules) and folder-mode bucket owners.
CREATE TABLE trails (
    arn          text PRIMARY KEY,
    account      text NOT NULL,
    home_region  text NOT NULL,
    name         text NOT NULL,
    multi_region boolean NOT NULL,
    config       bytea NOT NULL,     -- JSON of the configuration fields
    status       bytea NOT NULL,     -- JSON of the TrailStatus
    UNIQUE (account, home_region, name)
);
CREATE INDEX trails_by_account ON trails (account, name);

CREATE TABLE bucket_owners (
    bucket  text PRIMARY KEY,
    account text NOT NULL
);
