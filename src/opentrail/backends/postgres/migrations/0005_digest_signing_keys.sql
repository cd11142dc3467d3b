-- Digest signing keys per region (trails/_signing.py), the PEM sealed with the master key.
CREATE TABLE digest_signing_keys (
    region      text NOT NULL,
    valid_from  double precision NOT NULL,
    fingerprint text NOT NULL,
    sealed_pem  bytea NOT NULL,      -- Vault.seal('digest-signing-key/REGION/VALID_FROM', PEM)
    PRIMARY KEY (region, valid_from)
);
