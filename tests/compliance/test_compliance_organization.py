"""A compliance report over an organization: an organization trail (made with an
organization key, log file validation on) delivers every account's events under
AWSLogs/o-ORGID/ACCOUNT/ with one digest chain per account. The report made with the
organization key covers every account (OT-03/04 validate each account's chain, OT-06 and
OT-12 list principals of every account, the report says which accounts it covers); one
made with a member account's admin key covers that account only. A digest of one member's
chain deleted makes the organization report's OT-04 FAIL naming that account's chain.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, free_port, make_event, post_records, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ORG = "o-q1w2e3r4t5"
MASTER = "000000000000"  # --organization-account (default)
MEMBERS = ("222222222222", "333333333333")
BUCKET = "org-audit"
FAST = ("--delivery-interval", "1", "--digest-interval", "3", "--checkpoint-interval", "1",
        "--health-sample-interval", "1", "--history-retention-days", "0",
        "--verifier-interval", "2", "--organization-id", ORG)


def now_iso(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


@dataclass
class Run:
    code: int
    err: str
    dir: Path

    @property
    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.dir / "report.json").read_text())
        return doc

    def check(self, check_id: str) -> dict[str, Any]:
        return next(c for c in self.doc["checks"] if c["id"] == check_id)

    def rows(self, check_id: str) -> list[dict[str, Any]]:
        path = self.dir / "evidence" / f"{check_id}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


def report(server: Server, account: str | None, start: str, end: str, out: Path) -> Run:
    """`compliance report --profile all` with `account`'s admin key (None: organization)."""
    proc = subprocess.run(
        [sys.executable, "-m", "opentrail", "compliance", "report", "--profile", "all",
         "--start-time", start, "--end-time", end, "--output", str(out),
         "--endpoint-url", server.endpoint, "--local-folder",
         str(server.data_dir / "buckets")],
        capture_output=True, text=True, env=server.env("admin", account), timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return Run(proc.returncode, proc.stderr, out)


def digests_of(server: Server, account: str) -> list[Path]:
    folder = (server.data_dir / "buckets" / BUCKET / "AWSLogs" / ORG / account
              / "CloudTrail-Digest")
    return sorted(folder.rglob("*.json.gz"))


@dataclass
class Org:
    server: Server
    start: str
    end: str
    org: Run
    member: Run


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    server = Server(tmp_path_factory.mktemp("org-compliance") / "data", free_port(), FAST)
    server.start()
    try:
        yield _scenario(server, tmp_path_factory.mktemp("org-reports"))
    finally:
        server.kill(signal.SIGTERM)


def _scenario(server: Server, out: Path) -> Org:
    trail: Any = server.client(account=None)
    trail.create_trail(Name="org", S3BucketName=BUCKET, IsMultiRegionTrail=True,
                       IsOrganizationTrail=True, EnableLogFileValidation=True)
    trail.start_logging(Name="org")
    begun = trail.get_trail_status(Name="org")["StartLoggingTime"]
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(begun.timestamp() + 1))
    time.sleep(1.1)
    for account in MEMBERS:
        member: Any = server.client(account=account)
        # A logging-configuration change (OT-06) and a read of the audit trail (OT-12).
        member.create_trail(Name="scratch", S3BucketName=f"scratch-{account}")
        member.delete_trail(Name="scratch")
        member.lookup_events(MaxResults=5)
        post_records(server, [make_event("RunInstances", account=account, when=now_iso())
                              for _ in range(5)], account=account)
    for account in MEMBERS:
        wait_until(lambda a=account: len(digests_of(server, a)) >= 3,  # type: ignore[misc]
                   timeout=90)
    end = now_iso()
    time.sleep(7)  # the digests covering the end are delivered before the reports
    return Org(server, start, end, report(server, None, start, end, out / "org"),
               report(server, MEMBERS[0], start, end, out / "member"))


def test_organization_report_covers_every_account(org: Org) -> None:
    run = org.org
    covered = run.doc["accounts"]
    assert covered["scope"] == "organization"
    assert set(MEMBERS) <= set(covered["accounts"])
    for check_id in ("OT-03", "OT-04"):
        assert run.check(check_id)["result"] == "PASS", run.check(check_id)["reason"]
    digests = [r for r in run.rows("OT-03") if "previousDigestHashValue" in r]
    for account in MEMBERS:
        mine = [r for r in digests if r["key"].startswith(f"AWSLogs/{ORG}/{account}/")]
        assert mine and all(r["accountId"] == account for r in mine), account
        # The chain is linked: a digest names its predecessor's hash.
        assert any(r["previousDigestHashValue"] for r in mine), account
    assert "--account-id" in run.check("OT-03")["command"]
    # One chain each: the management account and both members, of one trail.
    assert run.check("OT-03")["counts"]["trails"] == 1
    assert run.check("OT-03")["counts"]["chains"] >= 3
    for check_id in ("OT-06", "OT-12"):
        accounts = {r.get("accountId") for r in run.rows(check_id)}
        assert set(MEMBERS) <= accounts, (check_id, accounts)


def test_member_report_covers_its_account_only(org: Org) -> None:
    run, other = org.member, MEMBERS[1]
    assert run.doc["accounts"] == {"scope": "account", "accounts": [MEMBERS[0]]}
    for path in sorted((run.dir / "evidence").glob("*.jsonl")):
        assert other not in path.read_text(), path.name
    assert {r.get("accountId") for r in run.rows("OT-12")} == {MEMBERS[0]}
    assert {r.get("accountId") for r in run.rows("OT-06")} == {MEMBERS[0]}


def test_a_member_digest_deleted_fails_the_organization_chain(
        org: Org, tmp_path: Path) -> None:
    victim = MEMBERS[1]
    linked = [r for r in org.org.rows("OT-03") if "previousDigestHashValue" in r
              and r["accountId"] == victim and not r["backfill"]]
    assert len(linked) >= 2
    target = sorted(linked, key=lambda r: str(r["start"]))[-2]  # one with a successor
    (org.server.data_dir / "buckets" / target["bucket"] / target["key"]).unlink()
    run = report(org.server, None, org.start, org.end, tmp_path / "broken")
    ot04 = run.check("OT-04")
    assert ot04["result"] == "FAIL", ot04["reason"]
    assert victim in ot04["reason"] and f"AWSLogs/{ORG}/{victim}/" in ot04["reason"]
    missing = [r for r in run.rows("OT-04") if r["kind"] == "missing"]
    assert [r["accountId"] for r in missing] == [victim]
    assert run.check("OT-03")["result"] == "FAIL"
