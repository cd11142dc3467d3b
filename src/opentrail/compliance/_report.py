"""One compliance report run: gather, check, prove, write, sign, record.

The order matters for tamper evidence: the evidence files and the HTML are written
first, then the manifest hashes them, then the server records the report (a
`ReportGenerated` event holding the manifest's hash, so the next report proves this
one) and signs the hash with its report key (`manifest.sig`). Everything but the
manifest and its signature depends only on the ledger, the configuration, the profile,
the period and the version: a re-run writes byte-identical evidence and HTML.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opentrail import __version__
from opentrail.compliance._accounts import covered_accounts
from opentrail.compliance._bundle import (
    MANIFEST,
    SIGNATURE,
    canonical,
    file_entry,
    jsonl,
    write_file,
)
from opentrail.compliance._catalog import CHECKS, FRAMEWORK_NAMES, Profile
from opentrail.compliance._checks_access import ot10, ot11, ot12
from opentrail.compliance._checks_health import ot08, ot09, ot18, ot22
from opentrail.compliance._checks_integrity import Validations, ot03, ot04, ot05, ot21
from opentrail.compliance._checks_logging import ot01, ot02, ot06, ot07
from opentrail.compliance._checks_review import ot19, ot20
from opentrail.compliance._checks_storage import ot13, ot14, ot15, ot16, ot17
from opentrail.compliance._evidence import Evidence, gather
from opentrail.compliance._proofs import prove_rows
from opentrail.compliance._render import render_html, render_pdf
from opentrail.compliance._result import CheckResult, Period, iso
from opentrail.compliance._source import ServerSource

__all__ = ["ReportOptions", "ReportOutcome", "run_report"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ReportOptions:
    profile: Profile
    period: Period
    output: Path
    formats: tuple[str, ...] = ("html", "json")
    local_folder: Path | None = None
    s3_endpoint_url: str | None = None
    approved_admins: tuple[str, ...] = ()
    approved_readers: tuple[str, ...] = ()
    max_proofs: int = 2000
    organization: str = ""
    operator_text: str = ""


@dataclass(frozen=True)
class ReportOutcome:
    report_id: str
    results: dict[str, str]
    manifest_sha256: str
    output: Path


def _runners(validations: Validations) -> dict[str, Callable[[Evidence], CheckResult]]:
    v = validations
    return {"OT-01": ot01, "OT-02": ot02, "OT-03": lambda e: ot03(e, v),
            "OT-04": lambda e: ot04(e, v), "OT-05": ot05, "OT-06": ot06, "OT-07": ot07,
            "OT-08": ot08, "OT-09": ot09, "OT-10": ot10, "OT-11": ot11, "OT-12": ot12,
            "OT-13": ot13, "OT-14": ot14, "OT-15": ot15, "OT-16": ot16, "OT-17": ot17,
            "OT-18": ot18, "OT-19": ot19, "OT-20": ot20, "OT-21": lambda e: ot21(e, v),
            "OT-22": ot22}


def _run_check(check_id: str, fn: Callable[[Evidence], CheckResult],
               evidence: Evidence) -> CheckResult:
    try:
        return fn(evidence)
    except Exception as exc:  # a check that cannot run is an ERROR, never a pass
        return CheckResult(check_id, "ERROR", f"The check could not run: "
                           f"{type(exc).__name__}: {exc}")


def _previous_report(source: ServerSource, period: Period) -> dict[str, Any] | None:
    for record in source.events(period.end - timedelta(days=400), period.end - timedelta(
            seconds=1), attribute=("EventName", "ReportGenerated"), category="internal"):
        details = record.get("serviceEventDetails") or {}
        return {"id": details.get("reportId"), "manifest_sha256": details.get(
            "manifestSha256"), "eventID": record.get("eventID"),
            "accountId": record.get("recipientAccountId"),
            "checkpointSize": details.get("checkpointSize")}
    return None


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
                             check=False, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _check_doc(profile: Profile, result: CheckResult, evidence_file: dict[str, Any]
               ) -> dict[str, Any]:
    info = next(c for c in CHECKS if c.id == result.id)
    return {**result.summary(), "title": info.title, "rule": info.rule,
            "clauses": profile.clauses(info), "evidence": evidence_file,
            "excerpt": result.rows[:20]}


def _report_id(profile: Profile, period: Period, checkpoint: dict[str, Any] | None) -> str:
    seed = canonical([profile.name, period.to_json(),
                      checkpoint.get("rootHash") if checkpoint else None])
    return "otr-" + hashlib.sha256(seed).hexdigest()[:20]


def run_report(source: ServerSource, options: ReportOptions,
               progress: Progress = lambda step, done, total: None) -> ReportOutcome:
    profile, period, out = options.profile, options.period, options.output
    checks = profile.checks()
    total = len(checks) + 4
    progress("gathering evidence", 0, total)
    evidence = gather(source, profile, period, {
        "endpoint_url": source.endpoint, "local_folder": options.local_folder,
        "s3_endpoint_url": options.s3_endpoint_url,
        "approved_admins": options.approved_admins,
        "approved_readers": options.approved_readers,
        "previous_report": _previous_report(source, period)})
    validations = Validations(evidence)
    runners = _runners(validations)
    order = sorted(checks, key=lambda c: (c.id != "OT-05", c.id))  # OT-05 sets the checkpoint
    results: dict[str, CheckResult] = {}
    for done, info in enumerate(order, start=1):
        progress(f"{info.id} {info.title}", done, total)
        results[info.id] = _run_check(info.id, runners[info.id], evidence)
    checkpoint = evidence.options.get("period_checkpoint")
    evidence.options["accounts"] = covered_accounts(evidence, validations.runs())
    progress("proving evidence rows", len(checks) + 1, total)
    proofs = prove_rows(source, results.values(), evidence.options.get("previous_report"),
                        checkpoint, options.max_proofs)
    report_id = _report_id(profile, period, checkpoint)
    progress("writing the report", len(checks) + 2, total)
    doc = _write(out, options, evidence, report_id, [results[c.id] for c in checks], proofs,
                 checkpoint)
    progress("signing and recording", len(checks) + 3, total)
    manifest_sha = _manifest(out, options, evidence, doc, checkpoint, source)
    progress("done", total, total)
    return ReportOutcome(report_id, {r["id"]: r["result"] for r in doc["checks"]},
                         manifest_sha, out)


def _write(out: Path, options: ReportOptions, evidence: Evidence, report_id: str,
           results: list[CheckResult], proofs: list[dict[str, Any]],
           checkpoint: dict[str, Any] | None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    checks = []
    for result in results:
        entry = write_file(out, f"evidence/{result.id}.jsonl", jsonl(result.rows))
        checks.append(_check_doc(options.profile, result, {**entry, "rows": len(result.rows)}))
    proofs_entry = write_file(out, "evidence/proofs.jsonl", jsonl(proofs))
    doc = {"report_id": report_id, "profile": options.profile.name,
           "frameworks": [FRAMEWORK_NAMES[f] for f in options.profile.frameworks],
           "period": options.period.to_json(), "version": __version__,
           "organization": options.organization, "operator_text": options.operator_text,
           "system": evidence.system, "trails": evidence.trails,
           "accounts": evidence.options.get("accounts"),
           "checkpoint": checkpoint, "previous_report": evidence.options.get("previous_report"),
           "proofs": {**proofs_entry, "rows": len(proofs)}, "checks": checks,
           "crosswalk": _crosswalk(options.profile)}
    write_file(out, "report.json", canonical(doc) + b"\n")
    html = render_html(doc)
    write_file(out, "report.html", html.encode())
    if "pdf" in options.formats:
        write_file(out, "report.pdf", render_pdf(html))
    return doc


def _crosswalk(profile: Profile) -> list[dict[str, Any]]:
    rows: dict[str, list[str]] = {}
    for info in profile.checks():
        for clause in profile.clauses(info):
            rows.setdefault(clause, []).append(info.id)
    return [{"clause": k, "checks": v} for k, v in sorted(rows.items())]


def _manifest(out: Path, options: ReportOptions, evidence: Evidence, doc: dict[str, Any],
              checkpoint: dict[str, Any] | None, source: ServerSource) -> str:
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*")
                   if p.is_file() and p.name not in (MANIFEST, SIGNATURE))
    system_sha = hashlib.sha256(canonical(evidence.system)).hexdigest()
    previous = evidence.options.get("previous_report")
    manifest = {
        "report_id": doc["report_id"], "profile": options.profile.name,
        "period": options.period.to_json(), "generated_at": iso(datetime.now(UTC)),
        "generator": {"version": __version__, "commit": _commit()},
        "system_description_sha256": system_sha,
        "checkpoint": checkpoint["checkpoint"] if checkpoint else None,
        "checkpoint_key": evidence.system.get("checkpointKey"),
        "report_key": evidence.system.get("reportKey"),
        "previous_report": {"id": previous["id"], "manifest_sha256": previous[
            "manifest_sha256"]} if previous else None,
        "files": [file_entry(out, n) for n in names],
        "results": [{"id": c["id"], "result": c["result"], "counts": c["counts"]}
                    for c in doc["checks"]]}
    data = canonical(manifest) + b"\n"
    (out / MANIFEST).write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    verifier = {c["id"]: c["result"] for c in doc["checks"]
                if c["id"] in ("OT-03", "OT-04", "OT-05")}
    answer = source.record_report({
        "reportId": doc["report_id"], "manifestSha256": sha, "profile": options.profile.name,
        "periodStart": doc["period"]["start"], "periodEnd": doc["period"]["end"],
        "checkpointSize": checkpoint["treeSize"] if checkpoint else None,
        "verifier": verifier})
    (out / SIGNATURE).write_text(answer["signature"])
    return sha
