-- Placeholder for migration 0011, which a parallel branch of issue 12 adds: this
-- branch (pg-lakew) owns 0015 only. Drop this file when merging that branch.
SELECT 1;
