-- The console's activity overview counts errors per hour over every errorCode term of
-- an (account, region, category) (history/_activity_rows.py). This partial index finds
-- those terms without reading the others (one per eventID: as many as events).
-- 8 is history.Attr.ERROR_CODE.
CREATE INDEX history_terms_errors ON history_terms (account, region, category)
    WHERE attr = 8;
