"""The CloudTrail record: parse, validate, canonical bytes.

`split_batch` turns a request body into parsed records, `parse_record` validates one and
returns the `Record` the ledger stores (its `body` is the canonical bytes), and
`wrap_audit_event` turns a PutAuditEvents `eventData` into an ActivityAuditLog record.
`prepare_batch` does all of that for a request body; `ParserPool` runs it in worker
processes, off the server's GIL.
See docs/design/contracts.md, section "events/".
"""

from opentrail.events._activity import ACTIVITY_EVENT_VERSION, wrap_audit_event
from opentrail.events._batch import MAX_BATCH_BYTES, split_batch
from opentrail.events._canonical import canonical_bytes
from opentrail.events._category import Category
from opentrail.events._internal import (
    INTERNAL_EVENT_NAMES,
    INTERNAL_SOURCE,
    internal_record,
    is_internal,
)
from opentrail.events._origin import (
    ORIGIN_FIELD,
    SERVER_ORIGIN,
    check_unclaimed,
    is_server_made,
)
from opentrail.events._parsers import ParserPool
from opentrail.events._prepared import MAX_BATCH_RECORDS, Owner, Prepared, prepare_batch
from opentrail.events._record import MAX_RECORD_BYTES, Record, parse_record

__all__ = [
    "ACTIVITY_EVENT_VERSION",
    "INTERNAL_EVENT_NAMES",
    "INTERNAL_SOURCE",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RECORDS",
    "MAX_RECORD_BYTES",
    "ORIGIN_FIELD",
    "SERVER_ORIGIN",
    "Category",
    "Owner",
    "ParserPool",
    "Prepared",
    "Record",
    "canonical_bytes",
    "check_unclaimed",
    "internal_record",
    "is_internal",
    "is_server_made",
    "parse_record",
    "prepare_batch",
    "split_batch",
    "wrap_audit_event",
]
