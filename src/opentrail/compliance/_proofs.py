"""Inclusion proofs of evidence rows against the period-end checkpoint.

Each evidence row that names a ledger event (`eventID`, `accountId`) gets its
`leafIndex`; its inclusion proof (leaf hash and audit path, never the event's body,
which may hold PHI) goes to evidence/proofs.jsonl, and `opentrail compliance verify`
checks every one offline against the checkpoint embedded in the manifest. At most
`limit` events are proven (the first in check and row order); the rest say so. The
previous report's ReportGenerated event is always proven first.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from opentrail.compliance._result import CheckResult
from opentrail.compliance._source import ApiError, ServerSource

__all__ = ["WORKERS", "prove_rows"]

WORKERS = 8  # proof requests in flight


def _wanted(results: Iterable[CheckResult], previous: dict[str, Any] | None
            ) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    if previous and previous.get("eventID"):
        seen[(str(previous["accountId"]), str(previous["eventID"]))] = None
    for result in results:
        for row in result.rows:
            if row.get("eventID") and row.get("accountId"):
                seen.setdefault((str(row["accountId"]), str(row["eventID"])), None)
    return list(seen)


def _prove(source: ServerSource, account: str, event_id: str, size: int) -> dict[str, Any]:
    try:
        answer = source.inclusion(event_id, account, size)
    except ApiError as exc:  # e.g. an event the checkpoint does not hold
        return {"eventID": event_id, "accountId": account, "error": str(exc)}
    return {"eventID": event_id, "accountId": account, "leafIndex": int(answer["leafIndex"]),
            "treeSize": answer["treeSize"], "leafHash": answer["leafHash"],
            "hashes": answer["hashes"]}


def prove_rows(source: ServerSource, results: Iterable[CheckResult],
               previous: dict[str, Any] | None, checkpoint: dict[str, Any] | None,
               limit: int) -> list[dict[str, Any]]:
    results = list(results)
    wanted = _wanted(results, previous)
    size = int(checkpoint["treeSize"]) if checkpoint else 0
    chosen = wanted[:limit] if size else []
    with ThreadPoolExecutor(WORKERS) as pool:  # in wanted's order: deterministic output
        proofs = list(pool.map(lambda w: _prove(source, w[0], w[1], size), chosen))
    index: dict[tuple[str, str], int | None] = dict.fromkeys(wanted)
    for (account, event_id), proof in zip(chosen, proofs, strict=True):
        index[(account, event_id)] = proof.get("leafIndex")
    for result in results:
        for row in result.rows:
            if row.get("eventID") and row.get("accountId"):
                row["leafIndex"] = index.get((str(row["accountId"]), str(row["eventID"])))
    return proofs
