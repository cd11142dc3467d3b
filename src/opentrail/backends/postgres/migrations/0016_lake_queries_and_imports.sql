-- Lake queries (lake/_query_rows.py; SQLite keeps them in lake-queries.db) and imports
-- (lake/_import_rows.py; lake-imports.db), shared by every node: a query started on one
-- node is described, read, listed and cancelled on any; an import is run by the node
-- holding the lake-writer role, and the next holder resumes it from its done files.
CREATE TABLE lake_queries (
    id              text COLLATE "C" PRIMARY KEY,
    account         text COLLATE "C" NOT NULL,
    owner           text NOT NULL,
    region          text NOT NULL,
    statement       text NOT NULL,
    status          text NOT NULL,
    created         double precision NOT NULL,
    started         double precision,
    ended           double precision,
    error           text,
    columns         bytea,             -- the result's column names (JSON)
    total           bigint NOT NULL DEFAULT 0,
    events_scanned  bigint NOT NULL DEFAULT 0,
    bytes_scanned   bigint NOT NULL DEFAULT 0,
    millis          bigint NOT NULL DEFAULT 0,
    delivery_uri    text,
    delivery_status text,
    node            text,              -- the node running it
    heartbeat       double precision   -- when that node last said it still runs it
);
CREATE INDEX lake_queries_ended ON lake_queries (ended);
CREATE INDEX lake_queries_account ON lake_queries (account, status);
CREATE INDEX lake_queries_active ON lake_queries (node) WHERE status IN ('QUEUED', 'RUNNING');
CREATE TABLE lake_query_stores (
    store text COLLATE "C" NOT NULL,
    query text COLLATE "C" NOT NULL,
    PRIMARY KEY (store, query)
);
CREATE INDEX lake_query_stores_by_query ON lake_query_stores (query);
CREATE TABLE lake_delivered_results (  -- kept after the query expires: evidence
    query        text COLLATE "C" NOT NULL,
    account      text COLLATE "C" NOT NULL,
    bucket       text NOT NULL,
    key          text COLLATE "C" NOT NULL,
    version_id   text,
    lock_mode    text,
    retain_until double precision,
    delivered    double precision NOT NULL,
    PRIMARY KEY (query, key)
);
CREATE TABLE lake_query_rows (
    query text COLLATE "C" NOT NULL,
    n     bigint NOT NULL,
    row   bytea NOT NULL,               -- one result row as rendered (JSON)
    PRIMARY KEY (query, n)
);
CREATE TABLE lake_imports (
    id                 text COLLATE "C" PRIMARY KEY,
    account            text COLLATE "C" NOT NULL,
    store_id           text COLLATE "C" NOT NULL,
    store_arn          text NOT NULL,
    source             text NOT NULL,  -- ImportSource as given (JSON)
    start_time         double precision,
    end_time           double precision,
    status             text NOT NULL,
    created            double precision NOT NULL,
    updated            double precision NOT NULL,
    prefixes_found     bigint NOT NULL DEFAULT 0,
    prefixes_completed bigint NOT NULL DEFAULT 0,
    files_completed    bigint NOT NULL DEFAULT 0,
    events_completed   bigint NOT NULL DEFAULT 0,
    next_file          bigint NOT NULL DEFAULT 0  -- n of the next import-<id>-<n>.parquet
);
CREATE INDEX lake_imports_account ON lake_imports (account, created);
CREATE TABLE lake_import_done (  -- source files whose events are durable in the store
    import_id text COLLATE "C" NOT NULL,
    location  text COLLATE "C" NOT NULL,
    PRIMARY KEY (import_id, location)
);
CREATE TABLE lake_import_failures (
    import_id  text COLLATE "C" NOT NULL,
    location   text COLLATE "C" NOT NULL,
    status     text NOT NULL,           -- FAILED | RETRY | SUCCEEDED
    error_type text NOT NULL,
    message    text NOT NULL,
    updated    double precision NOT NULL,
    PRIMARY KEY (import_id, location)
);
