"""Client side of OpenTrail's batch ingest: `IngestClient(endpoint).send(records)`, and
`EventBuffer.connect(endpoint)` for applications (buffered, background, never blocking)."""

from opentrail.client._batching import MAX_BATCH_BYTES, MAX_BATCH_RECORDS
from opentrail.client._buffer import BufferStats, EventBuffer
from opentrail.client._errors import (
    IngestAuthError,
    IngestConnectionError,
    IngestError,
    error_from_response,
)
from opentrail.client._ingest import INGEST_PATH, IngestClient
from opentrail.client._result import FailedRecord, IngestResult
from opentrail.client._retry import RetryPolicy
from opentrail.client._signer import Signer

__all__ = [
    "INGEST_PATH",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RECORDS",
    "BufferStats",
    "EventBuffer",
    "FailedRecord",
    "IngestAuthError",
    "IngestClient",
    "IngestConnectionError",
    "IngestError",
    "IngestResult",
    "RetryPolicy",
    "Signer",
    "error_from_response",
]
