"""Integrity checks: OT-03 (validate-logs), OT-04 (chain continuity), OT-05 (the ledger's
Merkle tree over the period) and OT-21 (digest keys published for their time).

OT-03 and OT-04 share one validator run per trail with validation on (`Validations`).
OT-04 reads its chain entries: digests missing, links whose previousDigestHashValue or
signature do not match, and restarts (a digest with no previous one) not explained by
CreateTrail, StartLogging or UpdateTrail turning validation on in the hour before.
"""

from __future__ import annotations

import base64
import shlex
from datetime import datetime, timedelta
from typing import Any

from opentrail.compliance._accounts import chain_accounts
from opentrail.compliance._evidence import Evidence, event_time, row_of
from opentrail.compliance._result import CheckResult, iso
from opentrail.compliance._timeline import trail_key
from opentrail.compliance._validation import TrailValidation, validate_trail
from opentrail.ledger import NoteVerifier, verify_consistency

__all__ = ["MAX_CONSISTENCY_PROOFS", "Validations", "ot03", "ot04", "ot05", "ot21",
           "validation_options"]

MAX_CONSISTENCY_PROOFS = 256  # window checkpoints proven against the first (evenly spread)
RESTARTS = ("CreateTrail", "StartLogging", "UpdateTrail")


def validation_options(evidence: Evidence) -> tuple[dict[str, Any], str | None]:
    """validate_trail's options for this report, and why it cannot run (None if it can)."""
    options = dict(evidence.options)
    if not options.get("s3_endpoint_url") and evidence.system.get("s3EndpointUrl"):
        options["s3_endpoint_url"] = evidence.system["s3EndpointUrl"]  # the server's own
    if evidence.system.get("trailStorage") == "folder" and not options.get("local_folder"):
        return options, ("the trails deliver to the server's local folder: give "
                         "--local-folder (the server's DATA_DIR/buckets, or a copy of it)")
    return options, None


class Validations:
    """One validate-logs run per trail with log file validation on, made once; for an
    organization trail, one per account's chain (compliance/_accounts.py)."""

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        self._runs: list[TrailValidation] | None = None

    def runs(self) -> list[TrailValidation]:
        if self._runs is None:
            e = self.evidence
            options, missing = validation_options(e)
            chains = [(str(t["TrailARN"]), account) for t in e.trails
                      if t.get("LogFileValidationEnabled")
                      for account in chain_accounts(e, t)]
            if missing:
                self._runs = [TrailValidation(arn, "", account, error=missing)
                              for arn, account in chains]
            else:
                self._runs = [validate_trail(arn, e.period.start, e.period.end,
                                             {**options, "account_id": account},
                                             e.source.session) for arn, account in chains]
        return self._runs


def ot03(evidence: Evidence, validations: Validations) -> CheckResult:
    runs = validations.runs()
    rows = [*(d for r in runs for d in r.digests), *(f for r in runs for f in r.logs)]
    counts = {"trails": len({r.arn for r in runs}), "chains": len(runs),
              "digests": sum(len(r.digests) for r in runs),
              "logFiles": sum(len(r.logs) for r in runs),
              "invalid": sum(r.invalid for r in runs)}
    cmd = "; ".join(r.command for r in runs) or "(no trail has log file validation on)"
    errors = [r for r in runs if r.error]
    if errors:
        return CheckResult("OT-03", "ERROR", f"validate-logs could not run for "
                           f"{errors[0].arn}: {errors[0].error}", counts, rows, cmd)
    if not runs:
        return CheckResult("OT-03", "FAIL", "No trail has log file validation on, so no "
                           "digest proves its log files.", counts, rows, cmd)
    if counts["invalid"]:
        return CheckResult("OT-03", "FAIL", f"{counts['invalid']} digest or log file(s) "
                           "INVALID or missing.", counts, rows, cmd)
    if not counts["digests"]:
        return CheckResult("OT-03", "FAIL", "No digest file was found for the period.",
                           counts, rows, cmd)
    return CheckResult("OT-03", "PASS", f"All {counts['digests']} digest and "
                       f"{counts['logFiles']} log files of the period are valid.", counts,
                       rows, cmd)


def _explained(evidence: Evidence, arn: str, when: datetime) -> dict[str, Any] | None:
    key = trail_key("", arn)
    for record in evidence.audit_early:
        params = record.get("requestParameters") or {}
        if (record.get("eventName") in RESTARTS and not record.get("errorCode")
                and trail_key(str(record.get("recipientAccountId")),
                              str(params.get("name"))) == key
                and when - timedelta(hours=1) <= event_time(record) <= when + timedelta(
                    seconds=5)):
            return record
    return None


def _chain_rows(evidence: Evidence, run: TrailValidation) -> list[dict[str, Any]]:
    rows = []
    for d in run.digests:
        if d["backfill"]:
            continue
        if d["problem"] is not None:
            rows.append({**d, "kind": "missing" if "not found" in d["problem"] else "link",
                         "explainedBy": None})
        elif d["notice"] is not None or d["previousDigestHashValue"] is None:
            start = d["start"] or d["key"]
            when = datetime.fromisoformat(str(start).replace("Z", "+00:00")) if d[
                "start"] else evidence.period.start
            cause = _explained(evidence, run.arn, when)
            rows.append({**d, "kind": "restart",
                         "explainedBy": cause.get("eventID") if cause else None,
                         "explainedByName": cause.get("eventName") if cause else None})
    return rows


def ot04(evidence: Evidence, validations: Validations) -> CheckResult:
    runs = validations.runs()
    rows = [r for run in runs for r in _chain_rows(evidence, run)]
    bad = [r for r in rows if r["kind"] != "restart" or r["explainedBy"] is None]
    counts = {"trails": len({r.arn for r in runs}), "chains": len(runs),
              "digests": sum(len(r.digests) for r in runs),
              "gaps": sum(1 for r in rows if r["kind"] == "missing"),
              "brokenLinks": sum(1 for r in rows if r["kind"] == "link"),
              "restarts": sum(1 for r in rows if r["kind"] == "restart"),
              "unexplained": len(bad)}
    cmd = "; ".join(r.command for r in runs) or "(no trail has log file validation on)"
    if any(r.error for r in runs) or not runs:
        return CheckResult("OT-04", "ERROR" if runs else "FAIL", "No digest chain could be "
                           "checked (see OT-03).", counts, rows, cmd)
    if bad:
        first = bad[0]
        what = first["problem"] or "a chain restart with no CreateTrail, StartLogging or " \
            "validation turned on in the hour before"
        return CheckResult("OT-04", "FAIL", f"{len(bad)} break(s) in the digest chain; first: "
                           f"in account {first['accountId']}'s chain of {first['trailARN']}, "
                           f"s3://{first['bucket']}/{first['key']}: {what}.", counts, rows, cmd)
    return CheckResult("OT-04", "PASS", "Every digest chain is continuous: each digest starts "
                       "where the previous one ended and carries its hash and signature; "
                       "every restart follows a logged start.", counts, rows, cmd)


def _verify_note(key: NoteVerifier, note: str) -> bool:
    try:
        key.open(note)
        return True
    except Exception:
        return False


def _spread(items: list[Any], limit: int) -> list[Any]:
    if len(items) <= limit:
        return items
    step = len(items) / limit
    picked = [items[int(i * step)] for i in range(limit)]
    return picked if picked[-1] is items[-1] else [*picked[:-1], items[-1]]


def ot05(evidence: Evidence) -> CheckResult:
    p = evidence.period
    listed = evidence.source.checkpoints(p.start, p.end)
    key = NoteVerifier.parse(str(evidence.system["checkpointKey"]))
    closing = listed.get("periodEnd")
    checkpoints = listed["checkpoints"] + ([closing] if closing and all(
        c["treeSize"] != closing["treeSize"] for c in listed["checkpoints"]) else [])
    rows: list[dict[str, Any]] = []
    bad = [c for c in checkpoints if not _verify_note(key, c["checkpoint"])]
    first = checkpoints[0] if checkpoints else None
    previous = evidence.options.get("previous_report") or {}
    targets = _spread(checkpoints[1:], MAX_CONSISTENCY_PROOFS)
    extra = [previous] if previous.get("checkpointSize") else []
    for target in [*extra, *targets]:
        rows.append(_prove(evidence, first, target) if first else {})
    failed = [r for r in rows if not r.get("verified")]
    counts = {"checkpoints": len(checkpoints), "badSignatures": len(bad),
              "consistencyProofs": len(rows), "failedProofs": len(failed),
              "treeSizeStart": first["treeSize"] if first else None,
              "treeSizeEnd": checkpoints[-1]["treeSize"] if checkpoints else None,
              "witnesses": 0}
    cmd = (f"opentrail prove --consistency {counts['treeSizeStart']} {counts['treeSizeEnd']} "
           f"--endpoint-url {evidence.source.endpoint} -o grew.json && opentrail verify-proof "
           "--consistency grew.json --public-key checkpoint.pub")
    evidence.options["period_checkpoint"] = checkpoints[-1] if checkpoints else None
    if not checkpoints:
        return CheckResult("OT-05", "FAIL", "No signed checkpoint covers the period.", counts,
                           rows, cmd)
    if bad or failed:
        return CheckResult("OT-05", "FAIL", f"{len(bad)} checkpoint signature(s) and "
                           f"{len(failed)} consistency proof(s) failed.", counts, rows, cmd)
    return CheckResult("OT-05", "PASS", f"{len(checkpoints)} signed checkpoints; the tree at "
                       f"the end (size {counts['treeSizeEnd']}) extends the one the period "
                       f"began with (size {counts['treeSizeStart']}) and every one between."
                       + (" It also extends the previous report's checkpoint." if extra
                          else ""), counts, rows, cmd)


def _prove(evidence: Evidence, first: dict[str, Any], target: dict[str, Any]
           ) -> dict[str, Any]:
    size_a, size_b = int(first["treeSize"]), int(target.get("treeSize")
                                                  or target["checkpointSize"])
    a, b = sorted((size_a, size_b))
    row: dict[str, Any] = {"first": a, "second": b, "verified": False}
    try:
        proof = evidence.source.consistency(a, b) if a else {"hashes": []}
        roots = {int(c["treeSize"]): bytes.fromhex(c["rootHash"]) for c in (first, target)
                 if c.get("rootHash")}
        if a == 0 or b not in roots or a not in roots:
            row["verified"] = a == 0 or _roots_from_notes(proof, a, b, row)
            return row
        verify_consistency(a, b, [bytes.fromhex(h) for h in proof["hashes"]], roots[a],
                           roots[b])
        row["verified"] = True
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def _roots_from_notes(proof: dict[str, Any], a: int, b: int, row: dict[str, Any]) -> bool:
    """Roots read from the proof's own signed checkpoints (the previous report's size)."""
    notes = [proof.get("firstCheckpoint"), proof.get("secondCheckpoint")]
    if not all(notes):
        row["error"] = "no checkpoint was published at one of the sizes"
        return False
    roots = [base64.b64decode(str(n).split("\n")[2]) for n in notes]
    verify_consistency(a, b, [bytes.fromhex(h) for h in proof["hashes"]], roots[0], roots[1])
    return True


def ot21(evidence: Evidence, validations: Validations) -> CheckResult:
    p = evidence.period
    keys = evidence.source.public_keys(p.start - timedelta(days=1), p.end)
    by_fp = {k["Fingerprint"]: k for k in keys}
    rows, unknown = [], 0
    for run in validations.runs():
        for d in run.digests:
            fp = d.get("digestPublicKeyFingerprint")
            if fp is None:
                continue
            k = by_fp.get(fp)
            ok = k is not None and _covers(k, d["end"])
            unknown += not ok
            rows.append({"trailARN": run.arn, "digest": d["key"], "fingerprint": fp,
                         "keyListed": k is not None, "validForDigestTime": ok})
    key_rows = [{"fingerprint": k["Fingerprint"], "validityStart": iso(k["ValidityStartTime"]),
                 "validityEnd": iso(k["ValidityEndTime"])} for k in keys]
    rotated = [row_of(r, **(r.get("serviceEventDetails") or {}))
               for r in evidence.internal_named("KeyRotated")]
    loose = [r for r in rotated if r.get("fileMode") not in (None, "0o600")]
    counts = {"keys": len(keys), "rotations": max(0, len(keys) - 1), "digests": len(rows),
              "unlisted": unknown, "keyRotatedEvents": len(rotated),
              "keyFilesNot0600": len(loose)}
    cmd = shlex.join(["aws", "cloudtrail", "list-public-keys", "--endpoint-url",
                      evidence.source.endpoint, "--start-time", iso(p.start), "--end-time",
                      iso(p.end)])
    rows = key_rows + rotated + rows
    if loose:
        return CheckResult("OT-21", "FAIL", f"{len(loose)} signing key file(s) were created "
                           f"readable by others (mode {loose[0]['fileMode']}).", counts, rows,
                           cmd)
    if unknown:
        return CheckResult("OT-21", "FAIL", f"{unknown} digest(s) were signed with a key "
                           "ListPublicKeys does not list for their time.", counts, rows, cmd)
    if not counts["digests"]:
        return CheckResult("OT-21", "N/A", "No digest in the period to check keys against.",
                           counts, rows, cmd)
    return CheckResult("OT-21", "PASS", f"Every digest's key is listed for its time "
                       f"({len(keys)} key(s); {len(rotated)} rotation(s) logged, their key "
                       "files 0600).", counts, rows, cmd)


def _covers(key: dict[str, Any], when: str | None) -> bool:
    if when is None:
        return False
    t = datetime.fromisoformat(when.replace("Z", "+00:00"))
    return bool(key["ValidityStartTime"] <= t <= key["ValidityEndTime"] + timedelta(seconds=1))
