-- Placeholder on branch pg-rules only: 0011 belongs to another helper of issue 12.
-- DROP THIS FILE WHEN MERGING (the real 0011 replaces it).
SELECT 1;
