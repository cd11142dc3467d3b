"""A request body turned into validated records, and the compact form that crosses
a process boundary.

`prepare_batch` is the whole per-request CPU work of ingest before the ledger: split the
body, parse and check each record, write its canonical bytes, check it belongs to the
caller's account. It depends on nothing but its arguments, so a parse worker process can
run it (events/_parsers.py). What it sends back is `Wire`: plain lists and bytes, which
pickle several times faster than `Record` objects or exceptions (an `InvalidRecord` does
not even survive pickling: its constructor takes the field first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opentrail.errors import InvalidRecord, OpenTrailError, PayloadTooLarge, ValidationError
from opentrail.events._batch import split_batch
from opentrail.events._category import Category
from opentrail.events._origin import check_unclaimed
from opentrail.events._record import Record, parse_record

__all__ = ["MAX_BATCH_RECORDS", "Owner", "Prepared", "Wire", "from_wire", "prepare_batch",
           "prepare_wire"]

MAX_BATCH_RECORDS = 10_000
_CATEGORIES = tuple(Category)  # by value: Category(n) is ~10x slower than a tuple index
# Per record: eventID, event time, account, region, category (one byte), canonical body.
Columns = tuple[list[str], list[int], list[str], list[str], bytes, list[bytes]]
Failure = tuple[int, str, str, str]  # (input index, field, message, code)
_REQUEST_ERRORS: dict[str, type[OpenTrailError]] = {
    "ValidationError": ValidationError, "PayloadTooLarge": PayloadTooLarge}


@dataclass(frozen=True)
class Owner:
    """Who writes: the account records default to, the one they may name (None: any,
    an organization key), and the key, for the error message."""

    default_account: str
    default_region: str
    writable: str | None
    access_key_id: str


@dataclass(frozen=True, slots=True)
class Wire:
    """`Prepared` as plain values, or the request's own error (class name, message, code)."""

    columns: Columns
    positions: list[int]
    failed: list[Failure]
    error: tuple[str, str, str] | None = None


@dataclass
class Prepared:
    records: list[Record] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # input index of each record
    failed: list[tuple[int, InvalidRecord]] = field(default_factory=list)


def prepare_batch(body: bytes, owner: Owner, max_bytes: int) -> Prepared:
    """Every record of `body` checked; a bad one fails alone. ValidationError (or
    PayloadTooLarge) when the body as a whole cannot be read."""
    items = split_batch(body, max_bytes=max_bytes)
    if len(items) > MAX_BATCH_RECORDS:
        raise PayloadTooLarge(f"A request may hold at most {MAX_BATCH_RECORDS} records; "
                              f"this one holds {len(items)}. Split it.")
    out = Prepared()
    for index, item in enumerate(items):
        try:
            if isinstance(item, InvalidRecord):
                raise item
            check_unclaimed(item)  # only the server's own records say they are server-made
            record = parse_record(item, default_account=owner.default_account,
                                  default_region=owner.default_region)
            _check_owner(owner, record)
        except InvalidRecord as err:
            out.failed.append((index, err))
            continue
        out.records.append(record)
        out.positions.append(index)
    return out


def _check_owner(owner: Owner, record: Record) -> None:
    if owner.writable is not None and record.account != owner.writable:
        raise InvalidRecord(
            "recipientAccountId",
            f"The event belongs to account {record.account}, but access key "
            f"{owner.access_key_id} may write only to account {owner.writable}.",
            code="InvalidRecipient")


def prepare_wire(body: bytes, owner: Owner, max_bytes: int) -> Wire:
    """`prepare_batch` in a parse worker: its result, or its request-level error, as
    plain values."""
    try:
        prepared = prepare_batch(body, owner, max_bytes)
    except OpenTrailError as err:
        return Wire(([], [], [], [], b"", []), [], [],
                    (type(err).__name__, err.message, err.code))
    records = prepared.records
    columns = (
        [r.event_id for r in records], [r.event_time for r in records],
        [r.account for r in records], [r.region for r in records],
        bytes([r.category for r in records]), [r.body for r in records])
    failed = [(i, e.field, e.message, e.code) for i, e in prepared.failed]
    return Wire(columns, prepared.positions, failed)


def from_wire(wire: Wire) -> Prepared:
    """The `Prepared` a worker's `prepare_wire` describes; raises its request error."""
    if wire.error is not None:
        name, message, code = wire.error
        raise _REQUEST_ERRORS.get(name, ValidationError)(message, code=code)
    ids, times, accounts, regions, categories, bodies = wire.columns
    records = [Record(*row) for row in zip(ids, times, accounts, regions,
                                           [_CATEGORIES[c] for c in categories], bodies,
                                           strict=True)]
    return Prepared(records, wire.positions,
                    [(i, InvalidRecord(f, m, code=c)) for i, f, m, c in wire.failed])
