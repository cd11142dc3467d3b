"""`opentrail compliance report` end to end: real actions on a real server, then the
report's JSON says what each check found; `compliance verify` catches tampering; the
HTML opens in Chromium and the PDF renders to PNG (both kept under the test's tmp dir).

One server for the module (starting one costs seconds); each scenario uses its own
account, so its report sees only its own trails, events and health records.
"""

from __future__ import annotations

import gzip
import json
import shutil
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

FAST = ("--delivery-interval", "1", "--digest-interval", "3", "--checkpoint-interval", "1",
        "--health-sample-interval", "1", "--history-retention-days", "0",
        "--verifier-interval", "2")
CHROMIUM = Path("/usr/bin/chromium")


def now_iso(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    live = Server(tmp_path_factory.mktemp("compliance") / "data", free_port(), FAST)
    live.start()
    yield live
    live.kill(signal.SIGTERM)


@dataclass
class Run:
    code: int
    out: str
    err: str
    dir: Path

    @property
    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.dir / "report.json").read_text())
        return doc

    def check(self, check_id: str) -> dict[str, Any]:
        return next(c for c in self.doc["checks"] if c["id"] == check_id)

    def result(self, check_id: str) -> str:
        return str(self.check(check_id)["result"])

    def rows(self, check_id: str) -> list[dict[str, Any]]:
        path = self.dir / "evidence" / f"{check_id}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


def report(server: Server, account: str, start: str, end: str, out: Path,
           *extra: str) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "opentrail", "compliance", "report", "--profile", "pci-dss-4",
         "--start-time", start, "--end-time", end, "--output", str(out),
         "--endpoint-url", server.endpoint, "--local-folder",
         str(server.data_dir / "buckets"), *extra],
        capture_output=True, text=True, env=server.env("admin", account), timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return Run(proc.returncode, proc.stdout, proc.stderr, out)


def bucket(account: str) -> str:
    """Each account its own bucket: a folder bucket belongs to the first trail's account."""
    return f"audit-{account}"


def digests_of(server: Server, account: str) -> list[Path]:
    folder = (server.data_dir / "buckets" / bucket(account) / "AWSLogs" / account
              / "CloudTrail-Digest")
    return sorted(folder.rglob("*.json.gz"))


def logging_trail(server: Server, account: str, digests: int = 2) -> Any:
    """A multi-region trail with validation, logging, with events and `digests` digests."""
    ct: Any = server.client(account=account)
    ct.create_trail(Name="main", S3BucketName=bucket(account), EnableLogFileValidation=True,
                    IsMultiRegionTrail=True)
    ct.start_logging(Name="main")
    time.sleep(1.1)  # the period starts after StartLogging
    post_records(server, [make_event("RunInstances", account=account, when=now_iso())
                          for _ in range(10)], account=account)
    wait_until(lambda: len(digests_of(server, account)) >= digests, timeout=90)
    return ct


def keys_file(run: Run, path: Path) -> Path:
    system = run.doc["system"]
    path.write_text(f"{system['checkpointKey']}\n{system['reportKey']}\n")
    return path


def verify(bundle: Path, *keys: Path) -> subprocess.CompletedProcess[str]:
    args = [a for k in keys for a in ("--public-key", str(k))]
    return subprocess.run([sys.executable, "-m", "opentrail", "compliance", "verify",
                           str(bundle), *args], capture_output=True, text=True, timeout=120)


# --- a trail that does everything right ------------------------------------------------


@dataclass
class Good:
    account: str
    start: str
    end: str
    first: Run
    second: Run


@pytest.fixture(scope="module")
def good(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Good:
    account = "111111111111"
    ct = logging_trail(server, account)
    start = ct.get_trail_status(Name="main")["StartLoggingTime"]
    start_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start.timestamp() + 1))
    ct.lookup_events(MaxResults=5)  # a read of the audit trail, by this account's admin
    time.sleep(1.1)
    end = now_iso()
    time.sleep(5)  # the digest covering the end is delivered before either run
    out = tmp_path_factory.mktemp("good")
    first = report(server, account, start_iso, end, out / "first", "--format", "html,pdf")
    second = report(server, account, start_iso, end, out / "second", "--format", "html,pdf")
    return Good(account, start_iso, end, first, second)


def test_good_trail_passes_integrity_and_logging_checks(good: Good) -> None:
    run = good.first
    for check_id in ("OT-01", "OT-02", "OT-03", "OT-04", "OT-05", "OT-07", "OT-08", "OT-10",
                     "OT-16", "OT-21"):
        assert run.result(check_id) == "PASS", (check_id, run.check(check_id)["reason"])
    assert run.check("OT-03")["counts"]["digests"] >= 2
    assert run.check("OT-03")["counts"]["invalid"] == 0
    assert run.check("OT-05")["counts"]["consistencyProofs"] >= 1
    assert run.check("OT-21")["counts"]["keyRotatedEvents"] >= 1  # the first key, logged
    # The background verifier ran (every 2 s here) and logged each run.
    assert run.result("OT-22") == "PASS", run.check("OT-22")["reason"]
    background = [r for r in run.rows("OT-22") if r.get("trailARN")]
    assert {r["result"] for r in background} <= {"PASS", "N/A"}  # N/A: no digest yet
    assert any(r["result"] == "PASS" for r in background)
    assert all(r["ledger"]["result"] == "PASS" for r in background)
    # The ledger's files and the bucket folder are the service user's and closed to others.
    assert run.result("OT-13") == "PASS", run.check("OT-13")["reason"]
    files = {r["file"]: r for r in run.rows("OT-13")}
    assert {".", "ledger.db", "checkpoint.key", f"buckets/{bucket(good.account)}"} <= set(files)
    assert all(r["ownedByService"] and not r["openToOthers"] for r in files.values())
    # Honest where the facts say no: a local folder is not WORM.
    assert run.result("OT-14") == "FAIL"
    assert "not WORM" in run.check("OT-14")["reason"]
    assert run.code == 1  # a FAIL anywhere
    readers = {r["principal"] for r in run.rows("OT-12")}
    assert any("user/opentrail/admin" in r for r in readers)
    lookups = [r for r in run.rows("OT-12") if r["eventName"] == "LookupEvents"]
    assert lookups and all(isinstance(r["leafIndex"], int) for r in lookups)


def test_report_is_deterministic(good: Good) -> None:
    a, b = good.first.dir, good.second.dir
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    for name in names:
        if name in ("manifest.json", "manifest.sig"):
            continue
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert "generated_at" in json.loads((a / "manifest.json").read_text())
    assert "generated_at" not in (a / "report.html").read_text()


def test_verify_accepts_the_bundle_and_catches_tampering(good: Good, tmp_path: Path) -> None:
    keys = keys_file(good.first, tmp_path / "keys.pub")
    ok = verify(good.first.dir, keys)
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.startswith("VALID:")

    changed = tmp_path / "changed-evidence"
    shutil.copytree(good.first.dir, changed)
    rows = (changed / "evidence" / "OT-07.jsonl")
    rows.write_text(rows.read_text() + '{"forged": true}\n')
    bad = verify(changed, keys)
    assert bad.returncode == 1
    assert "INVALID: evidence/OT-07.jsonl was changed" in bad.stdout

    forged = tmp_path / "changed-manifest"
    shutil.copytree(good.first.dir, forged)
    manifest = json.loads((forged / "manifest.json").read_text())
    manifest["results"][0]["result"] = "PASS" if manifest["results"][0]["result"] != "PASS" \
        else "FAIL"
    (forged / "manifest.json").write_text(json.dumps(manifest))
    bad = verify(forged, keys)
    assert bad.returncode == 1
    assert "manifest.sig signs another manifest" in bad.stdout

    checkpoint_only = tmp_path / "checkpoint.pub"
    checkpoint_only.write_text(good.first.doc["system"]["checkpointKey"] + "\n")
    bad = verify(good.first.dir, checkpoint_only)
    assert bad.returncode == 1
    assert "manifest.sig is not signed by any of the given keys" in bad.stdout


def test_next_report_proves_the_previous_one_and_its_verifier_run(
        good: Good, server: Server, tmp_path: Path) -> None:
    """The reports above recorded VerifierRun and ReportGenerated: a report of a period
    holding them names the previous report, proves its event and passes OT-22."""
    time.sleep(1.1)
    run = report(server, good.account, good.start, now_iso(), tmp_path / "next")
    previous = run.doc["previous_report"]
    first = json.loads((good.first.dir / "manifest.json").read_text())
    second_sha = __import__("hashlib").sha256(
        (good.second.dir / "manifest.json").read_bytes()).hexdigest()
    assert previous["id"] == first["report_id"]
    assert previous["manifest_sha256"] == second_sha  # the newest of the two runs
    proofs = [json.loads(line) for line in
              (run.dir / "evidence" / "proofs.jsonl").read_text().splitlines()]
    assert proofs[0]["eventID"] == previous["eventID"] and "leafIndex" in proofs[0]
    assert run.result("OT-22") == "PASS", run.check("OT-22")["reason"]
    assert "extends the previous report's checkpoint" in run.check("OT-05")["reason"]
    assert verify(run.dir, keys_file(run, tmp_path / "k.pub")).returncode == 0


def test_html_opens_in_chromium_without_scripts_or_fetches(good: Good, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is not installed at /usr/bin/chromium: run scripts/test.")
    from playwright.sync_api import sync_playwright

    html = (good.first.dir / "report.html").read_text()
    assert "<script" not in html.lower()
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: requested.append(request.url))
        page.goto((good.first.dir / "report.html").as_uri())
        assert page.locator("h1").inner_text() == "Audit-trail compliance evidence"
        assert page.locator("#OT-03 .result").inner_text() == "PASS"
        assert page.locator("#OT-14 .result").inner_text() == "FAIL"
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert requested == [(good.first.dir / "report.html").as_uri()]
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_pdf_renders_to_png(good: Good, tmp_path: Path) -> None:
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.fail("pdftoppm is missing: scripts/test installs poppler-utils.")
    pdf = good.first.dir / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    subprocess.run([pdftoppm, "-png", "-r", "50", "-f", "1", "-l", "2", str(pdf),
                    str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 2 and all(p.stat().st_size > 5_000 for p in pages)


# --- failing cases, each from a real action ---------------------------------------------


def test_stop_logging_without_restart_fails(server: Server, tmp_path: Path) -> None:
    account = "222222222222"
    ct = logging_trail(server, account)
    start = now_iso(-1)
    time.sleep(1.1)
    ct.stop_logging(Name="main")
    ct.lookup_events(MaxResults=1)
    time.sleep(3)
    desc = tmp_path / "system.txt"
    desc.write_text("Card processing platform, production, eu-west-1.")
    run = report(server, account, start, now_iso(), tmp_path / "r", "--stop-tolerance", "1",
                 "--approved-admin", "arn:aws:iam::222222222222:user/someone-else",
                 "--approved-reader", "arn:aws:iam::222222222222:user/someone-else",
                 "--organization", "Example Bank", "--system-description", str(desc))
    assert run.result("OT-07") == "FAIL"
    assert "never restarted" in run.check("OT-07")["reason"]
    interval = run.rows("OT-07")[0]
    assert interval["end"] is None
    assert interval["initiator"]["eventName"] == "StopLogging"
    assert "user/opentrail/admin" in interval["initiator"]["principal"]
    assert run.result("OT-01") == "FAIL"
    assert run.result("OT-06") == "FAIL"  # StopLogging by a principal not approved
    stop = next(r for r in run.rows("OT-06") if r["eventName"] == "StopLogging")
    assert stop["alertedBy"] == []  # and no event rule alerted on it
    assert run.check("OT-06")["counts"]["unalerted"] >= 1
    assert run.result("OT-12") == "FAIL"  # LookupEvents by a reader not approved
    html = (run.dir / "report.html").read_text()
    assert "Example Bank" in html and "Card processing platform" in html


def test_approved_principals_pass_ot06(server: Server, tmp_path: Path) -> None:
    account = "333333333333"
    ct = logging_trail(server, account)
    start = now_iso(-1)
    events: Any = server.client("events", account=account)
    events.put_rule(Name="config-changes", EventPattern=json.dumps({
        "source": ["aws.cloudtrail"], "detail": {"eventName": ["PutEventSelectors"]}}))
    events.put_targets(Rule="config-changes", Targets=[
        {"Id": "chat", "Arn": "slack:http://127.0.0.1:9/services/T0/B0/secret"}])
    ct.put_event_selectors(TrailName="main", EventSelectors=[
        {"ReadWriteType": "All", "IncludeManagementEvents": True}])
    time.sleep(1.1)
    found = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "PutEventSelectors"}])["Events"]
    principal = json.loads(found[0]["CloudTrailEvent"])["userIdentity"]["arn"]
    run = report(server, account, start, now_iso(), tmp_path / "r",
                 "--approved-admin", principal)
    assert run.result("OT-06") == "PASS", run.check("OT-06")["reason"]
    assert run.rows("OT-06")[0]["eventName"] == "PutEventSelectors"
    assert run.rows("OT-06")[0]["alertedBy"] == ["config-changes"]


def test_deleted_digest_and_rewritten_log_file_fail(server: Server, tmp_path: Path) -> None:
    account = "444444444444"
    ct = logging_trail(server, account, digests=4)
    start = ct.get_trail_status(Name="main")["StartLoggingTime"]
    start_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start.timestamp() + 1))
    end = now_iso()
    time.sleep(5)
    digests = digests_of(server, account)
    victim = digests[1]
    victim.unlink()
    Path(str(victim) + ".meta.json").unlink(missing_ok=True)
    listed = [f["s3Object"] for d in (digests[2], digests[3], digests[0])
              for f in json.loads(gzip.decompress(d.read_bytes()))["logFiles"]]
    assert listed, "no kept digest lists a log file"
    rewritten = server.data_dir / "buckets" / bucket(account) / listed[0]
    doc = json.loads(gzip.decompress(rewritten.read_bytes()))
    doc["Records"][0]["eventName"] = "Rewritten"
    rewritten.write_bytes(gzip.compress(json.dumps(doc).encode()))
    run = report(server, account, start_iso, end, tmp_path / "r")
    assert run.result("OT-03") == "FAIL"
    problems = [r for r in run.rows("OT-03") if r.get("problem")]
    assert any(r["key"] == victim.name or victim.name in r["key"] for r in problems
               if "not found" in r["problem"]), problems
    assert any("hash value doesn't match" in r["problem"] for r in problems), problems
    assert run.result("OT-04") == "FAIL"
    assert run.check("OT-04")["counts"]["gaps"] >= 1


def test_bucket_folder_open_to_others_fails_ot13(server: Server, tmp_path: Path) -> None:
    account = "121212121212"
    ct: Any = server.client(account=account)
    ct.create_trail(Name="main", S3BucketName=bucket(account))
    folder = server.data_dir / "buckets" / bucket(account)
    folder.mkdir(exist_ok=True)
    folder.chmod(0o755)  # an operator made it readable by every local user
    start = now_iso(-1)
    time.sleep(1.1)
    run = report(server, account, start, now_iso(), tmp_path / "r")
    check = run.check("OT-13")
    assert check["result"] == "FAIL" and f"buckets/{bucket(account)}" in check["reason"]
    row = next(r for r in run.rows("OT-13") if r["file"] == f"buckets/{bucket(account)}")
    assert row["mode"] == "0755" and row["openToOthers"] is True


def test_validation_turned_off_fails_ot02(server: Server, tmp_path: Path) -> None:
    account = "555555555555"
    ct = logging_trail(server, account)
    start = now_iso(-1)
    ct.update_trail(Name="main", EnableLogFileValidation=False)
    time.sleep(1.1)
    run = report(server, account, start, now_iso(), tmp_path / "r")
    assert run.result("OT-02") == "FAIL"
    turned = run.rows("OT-02")[0]["turnedOff"]
    assert turned and turned[0]["eventName"] == "UpdateTrail"


def test_shortened_retention_fails_ot16(tmp_path: Path) -> None:
    """Retention shortened by restarting with a smaller --history-retention-days: the
    restart records SettingChanged, and OT-16 fails on both the value and the change."""
    start = now_iso(-1)
    server = Server(tmp_path / "data", free_port(), ("--history-retention-days", "400",
                                                     "--checkpoint-interval", "1"))
    server.start()
    try:
        server.key("admin", "666666666666")  # the account sees server-wide changes
        server.kill(signal.SIGTERM)
        server.extra_args = ("--history-retention-days", "30", "--checkpoint-interval", "1")
        server.start()
        time.sleep(1.1)
        run = report(server, "666666666666", start, now_iso(), tmp_path / "r")
    finally:
        server.kill(signal.SIGTERM)
    assert run.result("OT-16") == "FAIL"
    reason = run.check("OT-16")["reason"]
    assert "30 days" in reason and "shortened from 400 to 30 days" in reason, reason
    changes = [r for r in run.rows("OT-06") if r["eventName"] == "SettingChanged"]
    assert changes, "the restart's SettingChanged is listed with the configuration changes"


def test_health_records_stay_out_of_trails_and_default_lookups(good: Good,
                                                                 server: Server) -> None:
    ct: Any = server.client(account=good.account)
    default = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": "opentrail.internal"}])
    assert default["Events"] == []
    internal = ct.lookup_events(EventCategory="internal", LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "ClockSample"}], MaxResults=5)
    assert internal["Events"]
    record = json.loads(internal["Events"][0]["CloudTrailEvent"])
    assert record["eventSource"] == "opentrail.internal"
    assert record["opentrailOrigin"] == "server"
    assert record["recipientAccountId"] == good.account
    delivered = (server.data_dir / "buckets" / bucket(good.account) / "AWSLogs" / good.account
                 / "CloudTrail")
    for log in delivered.rglob("*.json.gz"):
        assert b"opentrail.internal" not in gzip.decompress(log.read_bytes())


def test_console_runs_a_report_and_downloads_the_bundle(good: Good, server: Server,
                                                          tmp_path: Path) -> None:
    """The Compliance page in Chromium: pick a profile and period, run, watch it finish,
    read the summary, download the bundle (which verifies) and find it among past reports."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is not installed at /usr/bin/chromium: run scripts/test.")
    import zipfile

    from playwright.sync_api import sync_playwright

    key = server.key("admin", good.account)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        tab = browser.new_context(accept_downloads=True).new_page()
        tab.set_default_timeout(120_000)
        tab.goto(f"{server.endpoint}/compliance")
        tab.wait_for_url("**/signin**")
        tab.get_by_label("Access key ID").fill(key.access_key_id)
        tab.get_by_label("Secret access key").fill(key.secret)
        tab.keyboard.press("Enter")
        tab.wait_for_url("**/compliance")
        tab.get_by_label("Profile").select_option("pci-dss-4")
        tab.get_by_label("Period").select_option("24h")
        tab.get_by_role("button", name="Run report").click()
        tab.wait_for_url("**/compliance/runs/**")
        tab.get_by_role("heading", name="Report ready").wait_for()
        assert tab.locator("table.summary tbody tr").count() == 22  # PCI maps every check
        tab.screenshot(path=str(tmp_path / "run.png"), full_page=True)
        with tab.expect_download() as download:
            tab.get_by_role("link", name="Download the bundle").click()
        archive = tmp_path / "bundle.zip"
        download.value.save_as(archive)
        tab.goto(f"{server.endpoint}/compliance")
        assert tab.locator("table.reports tbody tr").count() >= 1
        tab.screenshot(path=str(tmp_path / "past.png"), full_page=True)
        browser.close()
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "unzipped")
    bundle = next((tmp_path / "unzipped").iterdir())
    keys = keys_file(Run(0, "", "", bundle), tmp_path / "keys.pub")
    checked = verify(bundle, keys)
    assert checked.returncode == 0, checked.stdout


def test_folder_trails_without_local_folder_are_an_error(good: Good, server: Server,
                                                          tmp_path: Path) -> None:
    """A check that cannot run is ERROR, never PASS (and the command exits 1)."""
    proc = subprocess.run(
        [sys.executable, "-m", "opentrail", "compliance", "report", "--profile", "soc2",
         "--start-time", good.start, "--end-time", good.end, "--output", str(tmp_path / "r"),
         "--endpoint-url", server.endpoint], capture_output=True, text=True,
        env=server.env("admin", good.account), timeout=300)
    assert proc.returncode == 1, proc.stderr
    run = Run(proc.returncode, proc.stdout, proc.stderr, tmp_path / "r")
    assert [c["id"] for c in run.doc["checks"]] == ["OT-01", "OT-06", "OT-09", "OT-19",
                                                   "OT-20", "OT-22"]
    bare = subprocess.run(
        [sys.executable, "-m", "opentrail", "compliance", "report", "--profile", "pci-dss-4",
         "--start-time", good.start, "--end-time", good.end, "--output", str(tmp_path / "b"),
         "--endpoint-url", server.endpoint], capture_output=True, text=True,
        env=server.env("admin", good.account), timeout=300)
    bare_run = Run(bare.returncode, bare.stdout, bare.stderr, tmp_path / "b")
    assert bare_run.result("OT-03") == "ERROR"
    assert "--local-folder" in bare_run.check("OT-03")["reason"]
    assert bare_run.result("OT-04") == "ERROR"


def test_delivery_error_open_too_long_fails_ot08(server: Server, tmp_path: Path) -> None:
    """The trail's bucket folder replaced by a file: delivery fails, the health log records
    DeliveryError; with a 1 s tolerance, OT-08 fails and lists it."""
    account = "777777777777"
    ct = logging_trail(server, account, digests=1)
    start = now_iso(-1)
    folder = server.data_dir / "buckets" / bucket(account)
    # A rename, not rmtree: delivery may be writing into the folder at this moment, and
    # rmtree then fails with "Directory not empty".
    folder.rename(folder.with_name(folder.name + ".gone"))
    folder.write_text("not a folder")
    post_records(server, [make_event("RunInstances", account=account, when=now_iso())],
                 account=account)
    wait_until(lambda: ct.get_trail_status(Name="main").get("LatestDeliveryError"),
               timeout=60)
    time.sleep(3)  # a health sample sees it, and it stays open
    end = now_iso()
    run = report(server, account, start, end, tmp_path / "r", "--error-tolerance", "1")
    folder.unlink()
    assert run.result("OT-08") == "FAIL", run.check("OT-08")["reason"]
    error = run.rows("OT-08")[0]
    assert error["eventName"] == "DeliveryError" and error["end"] is None
    assert error["durationSeconds"] >= 2
    assert error["alertedBy"] == []
    # An event rule on OpenTrail's own DeliveryError records: the error was alerted on,
    # so it is a WARN (rules are read as they are when the report runs).
    events: Any = server.client("events", account=account)
    events.put_rule(Name="delivery-errors", EventPattern=json.dumps({
        "source": ["opentrail.internal"], "detail": {"eventName": ["DeliveryError"]}}))
    events.put_targets(Rule="delivery-errors", Targets=[
        {"Id": "chat", "Arn": "slack:http://127.0.0.1:9/services/T0/B0/secret"}])
    run = report(server, account, start, end, tmp_path / "alerted", "--error-tolerance", "1")
    assert run.result("OT-08") == "WARN", run.check("OT-08")["reason"]
    assert run.rows("OT-08")[0]["alertedBy"] == ["delivery-errors"]
