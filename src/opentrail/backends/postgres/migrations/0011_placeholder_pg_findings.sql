-- PLACEHOLDER on branch pg-findings only: 0011 belongs to a parallel helper's branch.
-- The coordinator deletes this file when merging (migrations must have no gaps).
SELECT 1;
