"""The console's Lake page end to end: Playwright driving Debian's Chromium against a real
server whose store holds the invictus events (ingested through the API, written by the
Lake writer). Signs in, runs sample queries, pages, downloads, sees the history; and an
attacking event and query whose values are markup must stay text.

Screenshots go to artifacts/screenshots/ (not committed) for people to look at.
"""

from __future__ import annotations

import csv
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lakefiles import invictus_records

from conftest import Server, free_port, make_event, post_records, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACCOUNT = "123837392027"  # the invictus records' account
INVICTUS = "eventtime < '2024-01-01'"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TIMEOUT_MS = 60_000
XSS_AGENT = "<img src=x onerror=\"window.pwned='agent'\">"
XSS_MESSAGE = "<script>window.pwned='message'</script>"


def _finish(client: Any, query_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        info: dict[str, Any] = client.describe_query(QueryId=query_id)
        if info["QueryStatus"] not in ("QUEUED", "RUNNING"):
            return info
        assert time.monotonic() < deadline, info
        time.sleep(0.1)


def _rows(client: Any, query_id: str) -> list[Any]:
    rows: list[Any] = []
    token = None
    while True:
        kw: dict[str, Any] = {"QueryId": query_id, **({"NextToken": token} if token else {})}
        answer = client.get_query_results(**kw)
        rows += answer["QueryResultRows"]
        token = answer.get("NextToken")
        if not token:
            return rows


def _count(client: Any, store: str, where: str) -> int:
    query_id = client.start_query(
        QueryStatement=f"SELECT count(*) AS n FROM {store} WHERE {where}")["QueryId"]
    assert _finish(client, query_id)["QueryStatus"] == "FINISHED"
    return int(_rows(client, query_id)[0][0]["n"])


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    server = Server(tmp_path_factory.mktemp("lakebrowser") / "data", free_port())
    server.start()
    try:
        client: Any = server.client(account=ACCOUNT)
        store = client.create_event_data_store(Name="investigations", RetentionPeriod=3653)
        store_id = store["EventDataStoreArn"].rsplit("/", 1)[1]
        records = invictus_records()
        for i in range(0, len(records), 500):
            assert post_records(server, records[i:i + 500],
                                account=ACCOUNT)["accepted"] == len(records[i:i + 500])
        attack = make_event("PutBucketPolicy", account=ACCOUNT, userAgent=XSS_AGENT,
                            errorCode="AccessDenied", errorMessage=XSS_MESSAGE)
        assert post_records(server, [attack], account=ACCOUNT)["accepted"] == 1
        # The Lake writer is asynchronous: wait until queries see every event.
        wait_until(lambda: _count(client, store_id, INVICTUS) == len(records)
                   and _count(client, store_id, "eventname = 'PutBucketPolicy'") >= 1,
                   timeout=180)
        yield {"server": server, "client": client, "store": store_id, "records": records}
    finally:
        server.kill(signal.SIGTERM)


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
def tab(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []  # script errors and CSP violations: an injected script shows
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    yield page
    context.close()
    assert problems == []


def shot(tab: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _sign_in(tab: Any, server: Server) -> None:
    key = server.key("reader", ACCOUNT)
    tab.goto(f"{server.endpoint}/events")
    tab.wait_for_url("**/signin**")
    tab.get_by_label("Access key ID").fill(key.access_key_id)
    tab.get_by_label("Secret access key").fill(key.secret)
    tab.keyboard.press("Enter")
    tab.wait_for_url("**/events**")


def _run(tab: Any) -> str:
    """Press Run, wait (the page refreshes itself) until the query ended; its ID."""
    tab.get_by_role("button", name="Run").click()
    tab.wait_for_url("**/lake/queries/**")
    tab.locator("[data-query-status]:not([data-query-status=QUEUED])"
                ":not([data-query-status=RUNNING])").wait_for()
    return str(tab.url.split("/lake/queries/")[1].split("?")[0])


def _table(tab: Any) -> list[list[str]]:
    return list(tab.locator("table.results tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.textContent))"))


def _cells(row: list[dict[str, str]]) -> list[str]:
    return [next(iter(c.values())) for c in row]


def test_lake_journey(lake: dict[str, Any], tab: Any) -> None:
    server, client, store = lake["server"], lake["client"], lake["store"]
    records = lake["records"]
    _sign_in(tab, server)
    tab.get_by_role("link", name="Lake").click()
    tab.wait_for_url("**/lake")
    stores = tab.locator("table.stores tbody tr")
    assert stores.count() == 1
    row = stores.first.text_content()
    for shown in ("investigations", store, "ENABLED", "Management", "3,653 days", "Healthy"):
        assert shown in row

    # A sample as CloudTrail ships it, the store's ID in place: the top IAM actions.
    tab.get_by_label("Sample query").select_option(label="Top IAM actions by principal")
    # With JavaScript the picker fills the editor at once: no "Load sample" round trip.
    assert tab.get_by_role("button", name="Load sample").is_hidden()
    editor = tab.get_by_label("SQL")
    assert f"FROM {store}" in editor.input_value()
    assert "GROUP BY eventName, userIdentity.principalid" in editor.input_value()
    shot(tab, "lake-01-editor")
    _run(tab)
    assert tab.locator("[data-query-status]").text_content() == "FINISHED"
    counts = Counter((r["eventName"], r["userIdentity"].get("principalId", ""))
                     for r in records if r["eventSource"] == "iam.amazonaws.com")
    assert tab.locator("table.results thead th").all_text_contents() == [
        "apicount", "eventname", "principalid"]
    assert {(name, who): int(n) for n, name, who in _table(tab)} == dict(counts)
    shot(tab, "lake-02-results")

    # The first sample, its time bounds moved onto the invictus day: 2,900 rows, paged.
    tab.get_by_role("link", name="← Lake").click()
    tab.get_by_label("Sample query").select_option(label="Bound every scan by time")
    sql = editor.input_value()
    assert sql.startswith(f"SELECT * FROM {store} WHERE eventtime >='2023-01-05 13:51:00'")
    editor.fill(sql.replace("2023-01-05 13:51:00", "2023-07-10 00:00:00")
                .replace("2023-01-19 13:51:00", "2023-07-11 00:00:00"))
    query_id = _run(tab)
    expected = _rows(client, query_id)
    assert len(expected) == len(records)
    summary = tab.get_by_role("status")
    assert summary.text_content() == f"Rows 1–100 of {len(records):,}"
    assert _table(tab) == [_cells(r) for r in expected[:100]]
    tab.get_by_role("link", name="Next →").click()
    tab.wait_for_load_state()
    assert summary.text_content() == f"Rows 101–200 of {len(records):,}"
    assert _table(tab) == [_cells(r) for r in expected[100:200]]
    tab.get_by_role("link", name="Next →").click()
    tab.wait_for_load_state()
    assert _table(tab) == [_cells(r) for r in expected[200:300]]
    tab.get_by_role("link", name="← Previous").click()
    tab.wait_for_load_state()
    assert summary.text_content() == f"Rows 101–200 of {len(records):,}"

    with tab.expect_download() as info:
        tab.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename == f"query-{query_id}.csv"
    with open(download.path(), newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    columns = [next(iter(c)) for c in expected[0]]
    assert table[0] == columns
    ids = [row[columns.index("eventid")] for row in table[1:]]
    assert sorted(ids) == sorted(r["eventID"] for r in records)

    # The history lists both queries, newest first, with their statistics.
    tab.get_by_role("link", name="← Lake").click()
    history = tab.locator("table.history tbody tr")
    assert history.count() >= 2
    newest = history.first.locator("td").all_text_contents()
    stats = client.describe_query(QueryId=query_id)["QueryStatistics"]
    assert newest[1] == "FINISHED" and "2023-07-10 00:00:00" in newest[2]
    assert newest[3] == f"{stats['EventsMatched']:,}" == f"{len(records):,}"
    assert newest[4] == f"{stats['EventsScanned']:,}"
    shot(tab, "lake-03-history")
    history.first.get_by_role("link").click()
    tab.wait_for_url(f"**/lake/queries/{query_id}**")


def test_markup_in_events_and_sql_stays_text(lake: dict[str, Any], tab: Any) -> None:
    server, store = lake["server"], lake["store"]
    _sign_in(tab, server)
    tab.goto(f"{server.endpoint}/lake")
    echo = '<img src=x onerror="window.pwned=3">'
    tab.get_by_label("SQL").fill(
        f"SELECT useragent, errormessage, '{echo}' AS echo FROM {store} "
        f"WHERE eventname = 'PutBucketPolicy' AND errorcode = 'AccessDenied' "
        f"-- <script>window.pwned='comment'</script>")
    _run(tab)
    assert tab.locator("[data-query-status]").text_content() == "FINISHED"
    assert _table(tab) == [[XSS_AGENT, XSS_MESSAGE, echo]]
    assert tab.locator("main img, main script").count() == 0
    assert tab.evaluate("window.pwned") is None
    shot(tab, "lake-04-escaped")
    tab.get_by_role("link", name="← Lake").click()  # the history shows the SQL as text
    assert "<script>window.pwned='comment'</script>" in tab.locator(
        "table.history tbody tr").first.locator("td.sql-cell").get_attribute("title")
    assert tab.locator("main img, main script").count() == 0
    assert tab.evaluate("window.pwned") is None
