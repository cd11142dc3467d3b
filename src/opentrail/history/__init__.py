"""Event history: LookupEvents over a derived index of the ledger, with retention."""

from opentrail.history._activity import AWS_REGIONS, ActivityIndex, Overview
from opentrail.history._activity_rows import MANAGEMENT, ActivityRows, HistoryDbActivityRows
from opentrail.history._csv import CSV_COLUMNS, csv_row, escape_cell, event_record, time_text
from opentrail.history._fields import ATTRIBUTE_KEYS, INSIGHT_KEYS, Attr, lookup_terms, summarize
from opentrail.history._index import (
    HISTORY_FILE,
    HistoryIndexer,
    create_history,
    run_indexer_process,
    start_indexer_thread,
)
from opentrail.history._index_rows import (
    Found,
    HistoryIndex,
    Hit,
    IndexedEvent,
    Indexer,
    IndexRows,
    Lookups,
    Scope,
    Term,
)
from opentrail.history._query import (
    HistoryReader,
    LookupQuery,
    LookupResult,
    open_history_reader,
)
from opentrail.history._rows_indexer import RowsIndexer
from opentrail.history._rows_reader import RowsReader

__all__ = [
    "ATTRIBUTE_KEYS",
    "AWS_REGIONS",
    "CSV_COLUMNS",
    "HISTORY_FILE",
    "INSIGHT_KEYS",
    "MANAGEMENT",
    "ActivityIndex",
    "ActivityRows",
    "Attr",
    "Found",
    "HistoryDbActivityRows",
    "HistoryIndex",
    "HistoryIndexer",
    "HistoryReader",
    "Hit",
    "IndexRows",
    "IndexedEvent",
    "Indexer",
    "LookupQuery",
    "LookupResult",
    "Lookups",
    "Overview",
    "RowsIndexer",
    "RowsReader",
    "Scope",
    "Term",
    "create_history",
    "csv_row",
    "escape_cell",
    "event_record",
    "lookup_terms",
    "open_history_reader",
    "run_indexer_process",
    "start_indexer_thread",
    "summarize",
    "time_text",
]
