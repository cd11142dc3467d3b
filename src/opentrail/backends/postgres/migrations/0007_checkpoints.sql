-- Signed checkpoints of the ledger's Merkle tree (ledger/_checkpoint.py), shared by every
-- node: one elected node signs, every node hands them out. One row per tree size; rows
-- are statements OpenTrail published, so they are never changed or deleted.
CREATE TABLE checkpoints (
    size bigint PRIMARY KEY,  -- tree size
    root bytea  NOT NULL,     -- RFC 9162 root hash
    time bigint NOT NULL,     -- epoch seconds it was signed
    note text   NOT NULL      -- the signed note, byte for byte as published
);
CREATE INDEX checkpoints_by_time ON checkpoints (time);

CREATE FUNCTION checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'checkpoints are append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION checkpoints_append_only();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION checkpoints_append_only();
