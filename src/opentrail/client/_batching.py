"""Cut a list of records into request bodies that stay under the server's limits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import orjson

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_RECORDS", "encode_body", "encode_records", "split"]

# Half of the server's per-request caps (10,000 records, 64 MiB decoded), so that one
# request never takes the writer long and a retry never resends much.
MAX_BATCH_RECORDS = 5_000
MAX_BATCH_BYTES = 16 * 1024 * 1024
_FRAME = len(b'{"Records":[]}')


def _with_event_id(record: object) -> object:
    # The server gives an eventID-less record a fresh UUID on every request, so a retried
    # request would store it twice. Choosing the ID here, once, makes retries idempotent.
    if isinstance(record, dict) and not record.get("eventID"):
        return {**record, "eventID": str(uuid.uuid4())}
    return record


def encode_records(records: Sequence[object]) -> list[bytes]:
    """Each record as JSON bytes, with an eventID chosen for those that have none."""
    return [orjson.dumps(_with_event_id(r)) for r in records]


def split(parts: Sequence[bytes], *, max_records: int = MAX_BATCH_RECORDS,
          max_bytes: int = MAX_BATCH_BYTES) -> Iterator[Sequence[bytes]]:
    """Consecutive runs of `parts` within both caps (a lone oversized record goes alone)."""
    start, size = 0, _FRAME
    for i, part in enumerate(parts):
        grown = size + len(part) + 1
        if i > start and (i - start >= max_records or grown > max_bytes):
            yield parts[start:i]
            start, grown = i, _FRAME + len(part) + 1
        size = grown
    if start < len(parts):
        yield parts[start:]


def encode_body(parts: Sequence[bytes]) -> bytes:
    """`{"Records":[...]}` from already-encoded records."""
    return b'{"Records":[' + b",".join(parts) + b"]}"
