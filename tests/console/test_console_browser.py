"""The console end to end: Playwright driving Debian's Chromium against a real server.

Never skipped: scripts/test installs /usr/bin/chromium when it is missing, and these
tests fail loudly if it is still not there. Playwright never downloads a browser.
Each page is saved to artifacts/screenshots/ for people to look at.
"""

from __future__ import annotations

import csv
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCOUNT, Server, free_port, make_event, post_records, wait_until
from opentrail.console._export import CSV_COLUMNS, csv_row
from opentrail.sources.demo import generate

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real `opentrail serve` for this module: starting one costs seconds."""
    live = Server(tmp_path_factory.mktemp("console") / "data", free_port(),
                  ("--delivery-interval", "1", "--digest-interval", "2"))
    live.start()
    yield live
    live.kill(signal.SIGTERM)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
BUCKET = "arn:aws:s3:::audit-logs-bucket"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is not installed at /usr/bin/chromium: run scripts/test "
                    "(it installs it) or apt-get install -y chromium.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []  # script errors and CSP violations, which only the console shows
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    yield tab
    context.close()
    # A failed sign-in answers 401, which Chromium logs as a failed resource load.
    assert [p for p in problems if "status of 401" not in p] == []


def shot(tab: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _seed(server: Server) -> dict[str, Any]:
    """120 EC2 calls by alice (the two-attribute filter), bob's, a bucket's story, and
    a week of the demo generator's realistic activity around them."""
    now = time.time()
    records: list[dict[str, Any]] = []
    for i in range(120):
        records.append(make_event("DescribeInstances" if i % 3 else "RunInstances",
                                  when=_iso(now - 7200 - i * 60)))
    for i in range(30):
        bob = {"type": "IAMUser", "principalId": "AIDABOB", "accountId": ACCOUNT,
               "arn": f"arn:aws:iam::{ACCOUNT}:user/bob", "userName": "bob",
               "accessKeyId": "AKIABOB"}
        records.append(make_event("DescribeInstances", when=_iso(now - 7000 - i * 90),
                                  userIdentity=bob))
    story = [("CreateBucket", "bob", "198.51.100.20", None, 5000),
             ("PutBucketPolicy", "alice", "203.0.113.7", None, 4000),
             ("DeleteBucketPolicy", "mallory", "192.0.2.66", "AccessDenied", 3000)]
    for name, user, ip, error, ago in story:
        who = {"type": "IAMUser", "principalId": f"AIDA{user.upper()}", "accountId": ACCOUNT,
               "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "userName": user,
               "accessKeyId": f"AKIA{user.upper()}"}
        extra: dict[str, Any] = {}
        if error:
            extra = {"errorCode": error, "errorMessage": "Access Denied"}
        records.append(make_event(
            name, when=_iso(now - ago), eventSource="s3.amazonaws.com", userIdentity=who,
            sourceIPAddress=ip, readOnly=False, **extra,
            resources=[{"ARN": BUCKET, "accountId": ACCOUNT, "type": "AWS::S3::Bucket"}],
            requestParameters={"bucketName": "=HYPERLINK(\"http://evil\")"}))
    assert post_records(server, records)["accepted"] == len(records)
    demo = list(generate(seed=7, count=3000, start=now - 6 * 86400, end=now - 600))
    assert post_records(server, demo)["accepted"] == len(demo)
    ct: Any = server.client(role="reader")
    last = next(r["eventID"] for r in reversed(demo)
                if r.get("eventCategory", "Management") == "Management")
    wait_until(lambda: len(_lookup(ct, [("EventId", last)])) == 1, timeout=60)
    return {"now": now}


def _lookup(ct: Any, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    attrs = [{"AttributeKey": k, "AttributeValue": v} for k, v in pairs]
    pages = ct.get_paginator("lookup_events").paginate(LookupAttributes=attrs)
    return [e for p in pages for e in p["Events"]]


def _sign_in(tab: Any, server: Server, role: str = "reader") -> None:
    key = server.key(role)
    tab.goto(f"{server.endpoint}/events")
    tab.wait_for_url("**/signin**")
    tab.get_by_label("Access key ID").fill(key.access_key_id)
    tab.get_by_label("Secret access key").fill(key.secret)
    tab.keyboard.press("Enter")  # the form works from the keyboard
    tab.wait_for_url("**/events**")


def _filter(tab: Any, pairs: list[tuple[str, str]]) -> None:
    for i, (key, value) in enumerate(pairs):
        if i:
            tab.get_by_role("button", name="+ Add attribute").click()
        rows = tab.locator("[data-attr-row]")
        row = rows.nth(rows.count() - 1)
        row.get_by_label("Attribute").select_option(key)
        row.get_by_label("Value").fill(value)
    tab.get_by_role("button", name="Apply").click()
    tab.wait_for_load_state()


def _table_ids(tab: Any) -> list[str]:
    hrefs = tab.locator("table.events tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.href)")
    return [h.split("/events/")[1].split("?")[0] for h in hrefs]


def test_console_journey(server: Server, page: Any) -> None:
    _seed(server)
    ct: Any = server.client(role="reader")
    tab = page
    tab.goto(f"{server.endpoint}/")
    tab.wait_for_url("**/signin**")
    shot(tab, "01-signin")
    _sign_in(tab, server)
    shot(tab, "02-events")

    pairs = [("Username", "alice"), ("EventSource", "ec2.amazonaws.com")]
    _filter(tab, pairs)
    expected = [e["EventId"] for e in _lookup(ct, pairs)]
    assert len(expected) >= 120
    assert _table_ids(tab) == expected[:50]
    assert tab.locator(".chips li").count() == 2
    shot(tab, "03-events-filtered")

    _page_through(tab, expected)
    _download_matches(tab, ct, pairs)
    _open_event(tab, expected[50])
    _timeline(tab)
    tab.goto(f"{server.endpoint}/activity")
    assert tab.locator("svg.chart").count() == 3
    shot(tab, "08-activity")
    _trails(tab, server)
    _insights(tab, server)
    _phone(tab, server)

    tab.get_by_role("button", name="Sign out").click()
    tab.wait_for_url("**/signin**")
    assert "You are signed out" in tab.content()
    tab.goto(f"{server.endpoint}/events")
    tab.wait_for_url("**/signin**")


def _page_through(tab: Any, expected: list[str]) -> None:
    """Older twice, then Newer: each page is the next 50 of LookupEvents' answer."""
    tab.get_by_role("link", name="Older →").first.click()
    tab.wait_for_load_state()
    assert _table_ids(tab) == expected[50:100]
    tab.get_by_role("link", name="Older →").first.click()
    tab.wait_for_load_state()
    assert _table_ids(tab) == expected[100:150]
    assert "Page 3" in tab.locator(".toolbar").inner_text()
    if len(expected) <= 150:
        assert tab.locator("span.button.disabled", has_text="Older →").count() == 1
    shot(tab, "04-events-page3")
    tab.get_by_role("link", name="← Newer").first.click()
    tab.wait_for_load_state()
    assert _table_ids(tab) == expected[50:100]


def _trails(tab: Any, server: Server) -> None:
    admin: Any = server.client(role="admin")
    admin.create_trail(Name="security-trail", S3BucketName="audit-logs",
                       EnableLogFileValidation=True, IsMultiRegionTrail=True)
    admin.start_logging(Name="security-trail")
    tab.goto(f"{server.endpoint}/trails")
    assert "security-trail" in tab.locator("main").inner_text()
    assert tab.locator(".badge.ok", has_text="Logging").count() == 1
    shot(tab, "09-trails")
    wait_until(lambda: "LatestDigestDeliveryTime" in admin.get_trail_status(
        Name="security-trail"), timeout=60)
    tab.get_by_label("Check digests and log files of the last").select_option("1h")
    tab.get_by_role("button", name="Validate now").click()
    tab.wait_for_url("**/trails/validate")
    assert tab.get_by_role("heading", name="Every file is valid").count() == 1
    assert tab.locator("table.validation tbody tr").count() >= 1
    shot(tab, "09b-trail-validation")


def _download_matches(tab: Any, ct: Any, pairs: list[tuple[str, str]]) -> None:
    with tab.expect_download() as info:
        tab.get_by_role("link", name="Download CSV").click()
    path = info.value.path()
    assert info.value.suggested_filename.endswith(".csv")
    with open(path, newline="", encoding="utf-8") as fh:
        got = list(csv.reader(fh))
    assert tuple(got[0]) == CSV_COLUMNS
    want = []
    for event in _lookup(ct, pairs):
        when = event["EventTime"]  # boto3 parses it; the console has epoch seconds
        epoch = when.timestamp() if isinstance(when, datetime) else when
        want.append(csv_row({**event, "EventTime": epoch}))
    assert got[1:] == want
    assert len(want) >= 120


def _open_event(tab: Any, event_id: str) -> None:
    tab.locator(f'tr[data-href*="{event_id}"] td').first.click()  # a click on the row
    tab.wait_for_url(f"**/events/{event_id}**")
    record = tab.locator("#record-json").inner_text()
    assert f'"eventID": "{event_id}"' in record

    def verified() -> bool:  # the Merkle tree follows the ledger a moment behind
        if tab.locator(".badge.ok", has_text="Verified").count():
            return True
        tab.reload()
        return False

    wait_until(verified, timeout=60)
    tab.get_by_role("button", name="Copy JSON").click()
    tab.locator("[data-copy-status]", has_text="Copied").wait_for()
    assert event_id in tab.evaluate("navigator.clipboard.readText()")
    shot(tab, "05-event")


def _timeline(tab: Any) -> None:
    tab.get_by_role("link", name="Resources").click()
    tab.get_by_label("Resource name or ARN").fill(BUCKET)
    tab.get_by_role("button", name="Apply").click()
    tab.wait_for_load_state()
    items = tab.locator("ol.timeline li")
    assert items.count() == 3
    texts = items.all_inner_texts()
    assert ["CreateBucket" in texts[0], "PutBucketPolicy" in texts[1],
            "DeleteBucketPolicy" in texts[2]] == [True, True, True]
    assert "mallory" in texts[2] and "192.0.2.66" in texts[2] and "AccessDenied" in texts[2]
    shot(tab, "06-resource-timeline")


def _burst(origin: float) -> list[dict[str, Any]]:
    """mallory calling UpdateInstanceInformation 50 times a minute for 4 minutes, an API
    the demo week calls a few times an hour: what the Insights engine turns into an
    Insight."""
    mallory = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/mallory",
               "accountId": ACCOUNT, "userName": "mallory"}
    return [make_event("UpdateInstanceInformation", when=_iso(origin + minute * 60 + i),
                       eventSource="ssm.amazonaws.com", readOnly=False,
                       userIdentity=mallory) for minute in range(4) for i in range(50)]


def _insights(tab: Any, server: Server) -> None:
    """An Insight the server's engine detected is shown with its chart and attributions.
    (Insights records ingested through the API are not: only server-made ones show.)"""
    post_records(server, _burst((time.time() // 60 - 180) * 60))
    admin: Any = server.client()  # the engine counts the backlog once a trail asks
    admin.create_trail(Name="insights-trail", S3BucketName="audit-logs")
    admin.put_insight_selectors(TrailName="insights-trail",
                                InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    ct: Any = server.client(role="reader")

    def detected() -> bool:
        events = ct.lookup_events(EventCategory="insight", LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "UpdateInstanceInformation"}])["Events"]
        return len(events) == 2  # its Start and its End

    wait_until(detected, timeout=120)
    tab.get_by_role("link", name="Insights").click()
    card = tab.locator("section.insight").filter(has_text="UpdateInstanceInformation")
    assert card.count() == 1
    assert "mallory" in card.inner_text()
    assert card.locator("svg rect.shade").count() == 1
    shot(tab, "10-insights")


def _phone(tab: Any, server: Server) -> None:
    tab.set_viewport_size({"width": 390, "height": 844})
    tab.goto(f"{server.endpoint}/events")
    assert tab.locator("table.events tbody tr").count() == 50
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page itself must not scroll sideways on a phone"
    shot(tab, "07-events-phone")
    tab.set_viewport_size({"width": 1280, "height": 900})


def test_failed_sign_in_is_shown_and_recorded(server: Server, page: Any) -> None:
    key = server.key("reader")
    tab = page
    tab.goto(f"{server.endpoint}/signin")
    tab.get_by_label("Access key ID").fill(key.access_key_id)
    tab.get_by_label("Secret access key").fill("not-the-secret")
    tab.get_by_role("button", name="Sign in").click()
    alert = tab.get_by_role("alert")
    assert "do not match" in alert.inner_text()
    assert tab.get_by_label("Secret access key").input_value() == ""
    shot(tab, "11-signin-failed")
    unknown = "OTAK" + uuid.uuid4().hex[:16].upper()
    tab.get_by_label("Access key ID").fill(unknown)
    tab.get_by_label("Secret access key").fill("whatever")
    tab.get_by_role("button", name="Sign in").click()
    tab.get_by_role("alert").wait_for()

    ct: Any = server.client(role="reader")
    wait_until(lambda: len(_lookup(ct, [("EventName", "ConsoleLogin")])) >= 1)
    import json

    mine = [json.loads(e["CloudTrailEvent"]) for e in _lookup(ct, [("EventName", "ConsoleLogin")])]
    failure = next(r for r in mine if r["userIdentity"].get("accessKeyId") == key.access_key_id)
    assert failure["responseElements"] == {"ConsoleLogin": "Failure"}
    assert failure["eventType"] == "AwsConsoleSignIn"
    assert failure["eventSource"] == "signin.amazonaws.com"
    assert failure["errorMessage"] == "Failed authentication"
    assert failure["sourceIPAddress"] == "127.0.0.1"
    assert "Chrome" in failure["userAgent"]
