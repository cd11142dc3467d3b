-- Placeholder on the pg-lakeq branch only: number 0013 belongs to another helper's
-- migration of issue 12. Drop this file when merging (their file replaces it).
SELECT 1;
