"""Receipts of delivered alerts, and their AlertDelivered records in the ledger.

Spec compliance.md §6 and OT-20: a delivered alert is a fact a report cannot rebuild
later, so it is recorded as it happens. The sender (in the rules' process, which has no
ledger writer) keeps a receipt of each success in rules.db, in the transaction that takes
the delivery out of the outbox (`RuleStore.delivered`). The `ReceiptPublisher`, in the
server's process, turns the receipts into internal `AlertDelivered` records, one per
(account, region, rule, target) and pass, with the count, the first and last delivery
time and the first matched eventIDs, so a busy rule costs the ledger a record per pass,
not one per delivery; then it drops the receipts. A crash between the two appends the
same records again: their eventIDs derive from the receipts' ids, and the ledger keeps
one (account, eventID).

Invariant: an alert about an AlertDelivered record leaves no receipt, so a rule matching
OpenTrail's own records cannot feed on its deliveries.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from opentrail.events import INTERNAL_SOURCE, internal_record, parse_record
from opentrail.ledger import LedgerWriter
from opentrail.rules._model import Delivery, rule_arn
from opentrail.rules._store import Receipt, RuleStore
from opentrail.rules._targets import kind_of

__all__ = ["ALERT_DELIVERED", "EVERY", "ReceiptPublisher", "receipt_of"]

log = logging.getLogger(__name__)

ALERT_DELIVERED = "AlertDelivered"
EVERY = 2.0  # seconds between passes
BATCH = 5_000  # receipts per pass
SAMPLE = 10  # matched eventIDs named per record
_NAMESPACE = uuid.UUID("6f1c7e0a-3b8e-4f43-9a1e-5c2d8b7a0d14")


def receipt_of(delivery: Delivery, now: float) -> Receipt | None:
    """The receipt of a successful delivery; None for an alert on an AlertDelivered."""
    event = delivery.event
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    assert isinstance(detail, dict)
    name = detail.get("eventName")
    if event.get("source") == INTERNAL_SOURCE and name == ALERT_DELIVERED:
        return None
    target = delivery.target
    event_id = detail.get("eventID") or detail.get("findingId") or event.get("id")
    kind = kind_of(str(target.get("Arn", ""))) or "unknown"
    return (delivery.account, delivery.region, delivery.rule, str(target.get("Id", "")), kind,
            None if event_id is None else str(event_id), None if name is None else str(name),
            now)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _records(rows: list[tuple[Any, ...]], now: float) -> list[dict[str, Any]]:
    """One AlertDelivered per (account, region, rule, target) of the rows."""
    groups: dict[tuple[str, str, str, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault((row[1], row[2], row[3], row[4]), []).append(row)
    out = []
    for (account, region, rule, target), group in groups.items():
        ids = [str(r[6]) for r in group if r[6] is not None]
        record = internal_record(ALERT_DELIVERED, account, region, {
            "rule": rule, "ruleArn": rule_arn(account, region, rule), "targetId": target,
            "targetKind": group[0][5], "deliveries": len(group),
            "firstDeliveredAt": _iso(group[0][8]), "lastDeliveredAt": _iso(group[-1][8]),
            "eventIds": ids[:SAMPLE], "eventNames": sorted({str(r[7]) for r in group
                                                            if r[7] is not None})}, now=now)
        record["eventID"] = str(uuid.uuid5(_NAMESPACE, f"{group[0][0]}-{group[-1][0]}/"
                                                       f"{account}/{region}/{rule}/{target}"))
        out.append(record)
    return out


class ReceiptPublisher:
    """Appends AlertDelivered records for the sender's receipts (the server's writer)."""

    def __init__(self, store: RuleStore, writer: LedgerWriter,
                 now: Callable[[], float] = time.time) -> None:
        self._store, self._writer, self._now = store, writer, now

    def step(self) -> int:
        """One pass; returns how many receipts it published."""
        rows = self._store.receipts(BATCH)
        if not rows:
            return 0
        records = [parse_record(r, default_account=r["recipientAccountId"],
                                default_region=r["awsRegion"])
                   for r in _records(rows, self._now())]
        self._writer.submit(records).result()  # durable before the receipts go
        self._store.drop_receipts(int(rows[-1][0]))
        return len(rows)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(EVERY):
            try:
                while self.step() >= BATCH and not stop.is_set():
                    pass
            except Exception:  # a full ledger queue must not end the record for good
                log.exception("rules: recording delivered alerts failed; retrying")
