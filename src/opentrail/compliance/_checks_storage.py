"""Storage checks: OT-13 (access to the destination), OT-14 (Object Lock), OT-15
(encryption), OT-16 (retention settings), OT-17 (retention achieved).

They read what the server's storage reports in the system description (GET
/opentrail/v1/compliance/system) and, for OT-14, every delivered object as the bucket
shows it now (compliance/_object_lock.py). Where the server reports nothing, the check
says "not evidenced" instead of guessing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from opentrail.compliance._evidence import Evidence
from opentrail.compliance._object_lock import ObjectLockFindings, examine_objects
from opentrail.compliance._result import CheckResult, iso

__all__ = ["ot13", "ot14", "ot15", "ot16", "ot17"]


def _system_cmd(evidence: Evidence) -> str:
    return (f"opentrail compliance report --endpoint-url {evidence.source.endpoint} ... "
            "(GET /opentrail/v1/compliance/system)")


def _file_problems(evidence: Evidence) -> tuple[list[dict[str, Any]], list[str], str]:
    """The server's audit files (GET .../compliance/system "fileAccess") as rows, the
    problems among them, and the service user."""
    access = evidence.system.get("fileAccess") or {}
    rows = [{"file": e["path"], **{k: v for k, v in e.items() if k != "path"}}
            for e in access.get("entries") or []]
    user = str(access.get("serviceUser") or "?")
    bad = [r for r in rows if not r["ownedByService"] or r["openToOthers"]]
    problems = [f"{len(bad)} of the server's audit files are not owned by the service user "
                f"({user}) or are open to others (first: {bad[0]['file']}, owner "
                f"{bad[0]['owner']}, mode {bad[0]['mode']})"] if bad else []
    return rows, problems, user


def ot13(evidence: Evidence) -> CheckResult:
    storage = evidence.system.get("trailStorage")
    buckets = sorted({str(t["S3BucketName"]) for t in evidence.trails})
    rows, problems, user = _file_problems(evidence)
    review = [] if rows else ["the server does not report its files' owners (fileAccess)"]
    if storage != "folder":
        from opentrail.compliance._bucket_access import bucket_access
        from opentrail.compliance._object_lock import s3_client

        client = s3_client(evidence) if buckets else None
        for bucket in buckets:
            row = bucket_access(client, bucket)
            rows.append(row)
            problems += [f"{bucket}: {p}" for p in row["problems"]]
            review += [f"{bucket}: {r}" for r in row["review"]]
    counts = {"buckets": len(buckets), "problems": len(problems), "toReview": len(review),
              "files": sum(1 for r in rows if "file" in r)}
    cmd = ("ls -ld DATA_DIR DATA_DIR/ledger.db DATA_DIR/buckets/BUCKET" if storage == "folder"
           else "aws s3api get-public-access-block --bucket BUCKET; aws s3api "
           "get-bucket-policy --bucket BUCKET; aws s3api get-bucket-acl --bucket BUCKET")
    if problems:
        return CheckResult("OT-13", "FAIL", "; ".join(problems).capitalize() + ".", counts,
                           rows, cmd)
    if review:
        return CheckResult("OT-13", "WARN", "Not public, but: " + "; ".join(review) + ".",
                           counts, rows, cmd)
    where = ("its bucket folders (a folder has no bucket policy or public access: only "
             "the service user and root can change them)" if storage == "folder" else
             f"{len(buckets)} bucket(s) with the public access block fully on, no public "
             "policy or ACL, and no bucket-policy grant to delete or unlock (identity "
             "policies are not visible from the bucket: who holds those rights through IAM "
             "is MANUAL)")
    return CheckResult("OT-13", "PASS", f"The ledger's files are owned by the service user "
                       f"({user}) and closed to others, and so are {where}.", counts, rows,
                       cmd)


def _lock_result(lock: dict[str, Any], days: int) -> tuple[str, str]:
    mode, period = lock.get("mode"), int(lock.get("days") or 0)
    if not lock.get("enabled"):
        return "FAIL", "Object Lock is off on the trail bucket."
    if period < days:
        return "FAIL", f"The lock period ({period} days) is shorter than the policy ({days})."
    if mode != "COMPLIANCE":
        return "WARN", f"Object Lock mode is {mode}: it can be bypassed (COMPLIANCE cannot)."
    return "PASS", f"Object Lock COMPLIANCE for {period} days (>= {days})."


def _objects_result(found: ObjectLockFindings, bucket: tuple[str, str]
                    ) -> tuple[str, str]:
    """The bucket-level verdict, then the objects': any object problem FAILs, any object
    locked only in GOVERNANCE mode WARNs."""
    problems = found.problems
    if problems:
        first = problems[0]
        return "FAIL", (f"{len(problems)} of {len(found.objects)} delivered object(s) are "
                        f"not locked as required (first: {first['key']}: "
                        f"{'; '.join(first['problems'])}). {bucket[1]}")
    if bucket[0] == "FAIL":
        return bucket
    if not found.objects:
        return "WARN", f"{bucket[1]} No object was delivered in the period to check."
    if bucket[0] == "WARN" or any(o["now"].get("mode") != "COMPLIANCE"
                                  for o in found.objects):
        return "WARN", (f"{bucket[1]} Every delivered object is locked, but not all in "
                        "COMPLIANCE mode (GOVERNANCE can be bypassed).")
    return "PASS", (f"{bucket[1]} All {len(found.objects)} delivered object(s), read by "
                    "version ID, are locked in COMPLIANCE mode long enough, with no delete "
                    "marker or other version.")


def ot14(evidence: Evidence) -> CheckResult:
    storage, lock = evidence.system.get("trailStorage"), evidence.system.get("objectLock")
    days = evidence.profile.retention_days
    params = {"requiredDays": days}
    cmd = ("aws s3api get-object-lock-configuration --bucket BUCKET; aws s3api head-object "
           "--bucket BUCKET --key KEY --version-id VERSION; aws s3api list-object-versions "
           "--bucket BUCKET --prefix FOLDER")
    found = examine_objects(evidence, days)
    counts = {"objects": len(found.objects), "objectsWithProblems": len(found.problems)}
    rows = [*found.storage, *found.objects]
    if storage == "folder":
        said = next((s["Guarantee"] for s in found.storage), "A local folder is not WORM.")
        return CheckResult("OT-14", "FAIL", f"Trails deliver to a local folder, which is not "
                           f"WORM. {said} Deliver to an S3 bucket with Object Lock in "
                           "COMPLIANCE mode.", counts, [{"trailStorage": storage}, *rows],
                           cmd, params)
    if not isinstance(lock, dict):
        return CheckResult("OT-14", "N/A", "Not evidenced: the server's storage does not "
                           "report Object Lock settings.", counts,
                           [{"trailStorage": storage}, *rows], cmd, params)
    result, reason = _objects_result(found, _lock_result(lock, days))
    counts.update({k: v for k, v in lock.items() if isinstance(v, int | bool)})
    return CheckResult("OT-14", result, reason, counts,
                       [{"trailStorage": storage, **lock}, *rows], cmd, params)


def ot15(evidence: Evidence) -> CheckResult:
    rows = [{"trailARN": t["TrailARN"], "kmsKeyId": t.get("KmsKeyId")} for t in evidence.trails]
    without = [r["trailARN"] for r in rows if not r["kmsKeyId"]]
    cmd = f"aws cloudtrail describe-trails --endpoint-url {evidence.source.endpoint}"
    if evidence.system.get("trailStorage") == "folder":
        return CheckResult("OT-15", "MANUAL", "Trails deliver to a local folder: disk "
                           "encryption of DATA_DIR is the operator's to show.",
                           {"trails": len(rows)}, rows, cmd)
    if without:
        return CheckResult("OT-15", "WARN", f"{len(without)} trail(s) without SSE-KMS "
                           "(the bucket's default encryption applies).",
                           {"trails": len(rows), "withoutKms": len(without)}, rows, cmd)
    return CheckResult("OT-15", "PASS", "Every trail names a KMS key.",
                       {"trails": len(rows)}, rows, cmd)


def ot16(evidence: Evidence) -> CheckResult:
    profile = evidence.profile
    days = int(evidence.system.get("historyRetentionDays") or 0)
    kept = "forever" if days == 0 else f"{days} days"
    row = {"historyRetentionDays": days, "requiredRetentionDays": profile.retention_days,
           "requiredQueryWindowDays": profile.query_window_days,
           "trailFiles": "kept until deleted (no lifecycle rule is set by OpenTrail)"}
    problems = []
    if days and days < profile.retention_days:
        problems.append(f"the ledger keeps event bodies {kept}, less than the "
                        f"{profile.retention_days} days {profile.name} requires")
    if days and days < profile.query_window_days:
        problems.append(f"LookupEvents can query {kept}, less than "
                        f"{profile.query_window_days} days (3 months immediately available)")
    changes = [r.get("serviceEventDetails") or {} for r in evidence.internal_named(
        "SettingChanged") if (r.get("serviceEventDetails") or {}).get("setting")
        == "history_retention_days"]
    for c in changes:
        old, new = int(c.get("old") or 0), int(c.get("new") or 0)
        if new and (old == 0 or new < old):
            problems.append(f"retention was shortened from {old or 'forever'} to {new} days "
                            "during the period")
    row["changes"] = changes
    cmd = "opentrail serve --history-retention-days N (see docs/configuration.md)"
    counts = {"historyRetentionDays": days, "retentionChanges": len(changes)}
    if problems:
        return CheckResult("OT-16", "FAIL", "; ".join(problems).capitalize() + ".", counts,
                           [row], cmd, {"requiredDays": profile.retention_days})
    return CheckResult("OT-16", "PASS", f"Event bodies are kept {kept} (>= "
                       f"{profile.retention_days} days) and queryable all that time.",
                       counts, [row], cmd, {"requiredDays": profile.retention_days})


def ot17(evidence: Evidence) -> CheckResult:
    from opentrail.compliance._checks_integrity import validation_options
    from opentrail.compliance._retention_sample import (
        FIRST_MONTH,
        LAST_MONTH,
        SAMPLES,
        sample_retention,
    )

    p = evidence.period
    days = evidence.profile.query_window_days
    cmd = (f"aws cloudtrail lookup-events --endpoint-url {evidence.source.endpoint} "
           f"--start-time {iso(p.end - timedelta(days=days))} --end-time {iso(p.end)} "
           "--max-results 50  # the 3-month query; each sample row carries its "
           "validate-logs command")
    params = {"months": f"{FIRST_MONTH}-{LAST_MONTH}", "samplesPerMonth": SAMPLES}
    options, missing = validation_options(evidence)
    if missing:
        return CheckResult("OT-17", "ERROR", f"Samples cannot be validated: {missing}.", {},
                           [], cmd, params)
    found = sample_retention(evidence, options)
    counts = {"monthsSampled": found.checked, "digestsValidated": found.digests,
              "problems": len(found.problems)}
    if not any(t.get("LogFileValidationEnabled") for t in evidence.trails):
        return CheckResult("OT-17", "FAIL", "No trail has log file validation on: no digest "
                           "proves that old records are intact.", counts, found.rows, cmd,
                           params)
    if found.problems:
        return CheckResult("OT-17", "FAIL", f"{len(found.problems)} retention problem(s); "
                           f"first: {found.problems[0]}.", counts, found.rows, cmd, params)
    if not found.checked:
        return CheckResult("OT-17", "N/A", f"The trails went live less than {FIRST_MONTH - 1} "
                           "months before the period's end: no month 4-12 to sample yet.",
                           counts, found.rows, cmd, params)
    return CheckResult("OT-17", "PASS", f"{found.digests} digest(s) sampled over "
                       f"{found.checked} month(s) between {FIRST_MONTH} and {LAST_MONTH} "
                       "months back validate with all their log files; months before "
                       "go-live are N/A.", counts, found.rows, cmd, params)
