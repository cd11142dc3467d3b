"""The console's Lake page over HTTP against a real server: stores, Run (CSRF), results,
paging, downloads, history, errors as the API words them, escaping and isolation."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import Key, Server, free_port, make_event, post_records, wait_until

pytestmark = pytest.mark.e2e

OTHER = "210987654321"
XSS_AGENT = "<img src=x onerror=alert(1)>"
XSS_MESSAGE = "<script>alert('lake')</script>"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    server = Server(tmp_path_factory.mktemp("lakeconsole") / "data", free_port())
    server.start()
    try:
        client: Any = server.client(role="admin")
        store = client.create_event_data_store(Name="investigations", RetentionPeriod=400,
                                               TerminationProtectionEnabled=False)
        store_id = store["EventDataStoreArn"].rsplit("/", 1)[1]
        records = [make_event("GetObject" if i % 2 else "ListBuckets",
                              when=f"2026-11-20T10:{i % 60:02d}:00Z") for i in range(130)]
        records.append(make_event("PutBucketPolicy", userAgent=XSS_AGENT,
                                  errorCode="AccessDenied", errorMessage=XSS_MESSAGE))
        assert post_records(server, records)["accepted"] == len(records)
        state = {"server": server, "client": client, "store": store_id}
        # The Lake writer is asynchronous: wait until StartQuery sees every event.
        wait_until(lambda: _count(client, store_id) == len(records), timeout=120)
        yield state
    finally:
        server.kill(signal.SIGTERM)


def _finish(client: Any, query_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        info: dict[str, Any] = client.describe_query(QueryId=query_id)
        if info["QueryStatus"] not in ("QUEUED", "RUNNING"):
            return info
        assert time.monotonic() < deadline, info
        time.sleep(0.1)


def _count(client: Any, store: str) -> int:
    query_id = client.start_query(
        QueryStatement=f"SELECT count(*) AS n FROM {store} WHERE eventsource "
                       "= 'ec2.amazonaws.com'")["QueryId"]
    assert _finish(client, query_id)["QueryStatus"] == "FINISHED"
    return int(client.get_query_results(QueryId=query_id)["QueryResultRows"][0][0]["n"])


def _sign_in(server: Server, key: Key) -> httpx.Client:
    http = httpx.Client(base_url=server.endpoint, follow_redirects=False, timeout=30)
    form = http.get("/signin").text
    token = re.search(r'name="signin_token" value="([^"]+)"', form)
    assert token
    answer = http.post("/signin", data={"signin_token": token[1], "next": "/lake",
                                        "access_key_id": key.access_key_id,
                                        "secret": key.secret})
    assert answer.status_code == 303
    return http


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match
    return match[1]


def _run(http: httpx.Client, store: str, sql: str) -> tuple[str, str]:
    """POST the editor's form; the query's ID and its page once it has ended."""
    lake = http.get(f"/lake?store={store}").text
    answer = http.post("/lake/query", data={"csrf": _csrf(lake), "region": "us-east-1",
                                            "store": store, "sql": sql})
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    query_id = location.split("/lake/queries/")[1].split("?")[0]
    deadline = time.monotonic() + 60
    while True:
        page = http.get(location)
        assert page.status_code == 200
        if 'http-equiv="refresh"' not in page.text:  # the query ended
            return query_id, page.text
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_lake_page_lists_the_stores_with_samples_for_the_chosen_store(
        lake: dict[str, Any]) -> None:
    http = _sign_in(lake["server"], lake["server"].key("reader"))
    page = http.get("/lake")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    text = page.text
    assert '<a href="/lake" aria-current="page">Lake</a>' in text
    store = lake["store"]
    for shown in ("investigations", store, "ENABLED", "Management", "400 days"):
        assert shown in text
    # The first sample (spec lake.md §7) is in the editor with the store's ID as table.
    editor = re.search(r'<textarea id="sql"[^>]*>([^<]*)</textarea>', text)
    assert editor and f"SELECT * FROM {store} WHERE eventtime &gt;=" in editor[1]
    assert text.count("data-sql=") == 4
    # Without JavaScript, "Load sample" reloads the page with that sample in the editor.
    third = http.get(f"/lake?store={store}&sample=3").text
    assert "GROUP BY eventName, userIdentity.principalid" in third.split("<textarea")[1]
    # The writer's counts: every event written (the records and the server's own audit).
    counts = re.search(r'<td>([\d,]+)</td>\s*<td>([\d,]+)</td>', text)
    assert counts and int(counts[1].replace(",", "")) >= 131 and int(counts[2]) >= 1
    assert "Healthy" in text


def test_run_pages_download_and_history(lake: dict[str, Any]) -> None:
    client, store = lake["client"], lake["store"]
    http = _sign_in(lake["server"], lake["server"].key("reader"))
    sql = (f"SELECT eventid, eventname, eventtime FROM {store} WHERE eventsource = "
           "'ec2.amazonaws.com' ORDER BY eventtime, eventid")
    query_id, page = _run(http, store, sql)
    assert 'data-query-status="FINISHED"' in page
    assert "Rows 1–100 of 131" in page
    expected: list[Any] = []
    token = None
    while True:
        kw: dict[str, Any] = {"QueryId": query_id, **({"NextToken": token} if token else {})}
        answer = client.get_query_results(**kw)
        expected += answer["QueryResultRows"]
        token = answer.get("NextToken")
        if not token:
            break
    assert len(expected) == 131
    ids = re.findall(r"<tr><td>([0-9a-f-]{36})</td>", page)
    assert ids == [r[0]["eventid"] for r in expected[:100]]
    following = re.search(r'<a class="button" href="([^"]+)" rel="next">', page)
    assert following
    second = http.get(following[1].replace("&amp;", "&")).text
    assert "Rows 101–131 of 131" in second
    assert re.findall(r"<tr><td>([0-9a-f-]{36})</td>", second) == [
        r[0]["eventid"] for r in expected[100:]]
    back = re.search(r'<a class="button" href="([^"]+)" rel="prev">', second)
    assert back
    assert "Rows 1–100 of 131" in http.get(back[1].replace("&amp;", "&")).text

    got = http.get(f"/lake/queries/{query_id}/download?format=csv")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(got.text)))
    assert table[0] == ["eventid", "eventname", "eventtime"]
    assert table[1:] == [[c for cell in r for c in cell.values()] for r in expected]
    data = http.get(f"/lake/queries/{query_id}/download?format=json").json()
    assert data == {"QueryId": query_id, "QueryResultRows": expected}

    # History: ListQueries of the store, with DescribeQuery's statistics.
    lake_page = http.get(f"/lake?store={store}").text
    history = lake_page.split('id="history-h"')[1]
    assert f"/lake/queries/{query_id}?" in history
    stats = client.describe_query(QueryId=query_id)["QueryStatistics"]
    row = history.split(f"/lake/queries/{query_id}?")[1].split("</tr>")[0]
    assert f"<td>{stats['EventsMatched']:,}</td>" in row
    assert f"<td>{stats['EventsScanned']:,}</td>" in row
    assert "FINISHED" in row


def test_errors_are_the_apis_words_and_posts_need_the_csrf_token(
        lake: dict[str, Any]) -> None:
    store = lake["store"]
    http = _sign_in(lake["server"], lake["server"].key("reader"))
    lake_page = http.get(f"/lake?store={store}").text
    refused = http.post("/lake/query", data={"region": "us-east-1", "sql": f"SELECT 1 FROM "
                                             f"{store}"})
    assert refused.status_code == 403 and "stale or came from another site" in refused.text
    forged = http.post("/lake/query", data={"csrf": "x" * 32, "region": "us-east-1",
                                            "sql": f"SELECT 1 FROM {store}"})
    assert forged.status_code == 403
    bad = http.post("/lake/query", data={"csrf": _csrf(lake_page), "region": "us-east-1",
                                         "store": store, "sql": f"DELETE FROM {store}"})
    assert bad.status_code == 400
    assert "InvalidQueryStatementException" in bad.text and "only SELECT" in bad.text
    # The editor keeps the statement, escaped.
    assert f"DELETE FROM {store}</textarea>" in bad.text
    # A failed query ends FAILED with its message on the page.
    _, failed = _run(http, store, f"SELECT CAST(eventname AS integer) FROM {store}")
    assert 'data-query-status="FAILED"' in failed and 'class="alert"' in failed
    assert "Traceback" not in failed
    cancel = http.post(f"/lake/queries/{'0' * 36}/cancel", data={"region": "us-east-1"})
    assert cancel.status_code == 403


def test_values_and_sql_are_escaped(lake: dict[str, Any]) -> None:
    store = lake["store"]
    http = _sign_in(lake["server"], lake["server"].key("reader"))
    echo = "<script>document.title=1</script>"
    sql = (f"SELECT useragent, errormessage, '{echo}' AS echo FROM {store} "
           f"WHERE eventname = 'PutBucketPolicy' -- {XSS_AGENT}")
    query_id, page = _run(http, store, sql)
    assert 'data-query-status="FINISHED"' in page
    for text in (page, http.get(f"/lake?store={store}").text):
        assert "<script>alert" not in text and "<img src=x" not in text
        assert "<script>document" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(&#39;lake&#39;)&lt;/script&gt;" in page
    assert "<td>&lt;script&gt;document.title=1&lt;/script&gt;</td>" in page
    csv_text = http.get(f"/lake/queries/{query_id}/download?format=csv").text
    assert XSS_AGENT in csv_text  # a file, not a page: kept as is
    download = http.get(f"/lake/queries/{query_id}/download?format=json")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "attachment" in download.headers["content-disposition"]


def test_another_account_sees_nothing_of_the_store(lake: dict[str, Any]) -> None:
    server, store = lake["server"], lake["store"]
    mine = _sign_in(server, server.key("reader"))
    query_id, _ = _run(mine, store, f"SELECT eventid FROM {store} LIMIT 3")
    other = _sign_in(server, server.key("reader", OTHER))
    page = other.get("/lake").text
    assert store not in page and "No event data stores" in page
    # Not their query: the API's QueryIdNotFound, for the page and the download.
    for path in (f"/lake/queries/{query_id}", f"/lake/queries/{query_id}/download"):
        answer = other.get(path)
        assert answer.status_code == 400 and "does not exist" in answer.text, path
    assert query_id not in other.get(f"/lake?store={store}").text
    # Nor can they read it with SQL: StartQuery refuses a table that is not theirs.
    bad = other.post("/lake/query", data={"csrf": _csrf(page), "region": "us-east-1",
                                          "sql": f"SELECT eventid FROM {store}"})
    assert bad.status_code == 400 and "InvalidQueryStatementException" in bad.text
    assert "eventid</th>" not in bad.text


def test_console_queries_are_in_the_audit_trail(lake: dict[str, Any]) -> None:
    """Run and Cancel are recorded as the API's StartQuery / CancelQuery are."""
    server, client, store = lake["server"], lake["client"], lake["store"]
    http = _sign_in(server, server.key("reader"))
    http.headers["user-agent"] = "lake-console-audit-test"
    sql = f"SELECT eventid FROM {store} WHERE eventname = 'GetObject' LIMIT 2"
    query_id, _ = _run(http, store, sql)
    refused = http.post("/lake/query", data={"csrf": _csrf(http.get("/lake").text),
                                             "region": "us-east-1", "store": store,
                                             "sql": f"DROP TABLE {store}"})
    assert refused.status_code == 400
    cancel = http.post(f"/lake/queries/{query_id}/cancel",
                       data={"csrf": _csrf(http.get("/lake").text), "region": "us-east-1"})
    assert cancel.status_code == 400 and "InactiveQuery" not in cancel.text  # words only
    assert "FINISHED" in cancel.text

    def records(name: str) -> list[dict[str, Any]]:
        pages = client.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])
        found = [json.loads(e["CloudTrailEvent"]) for p in pages for e in p["Events"]]
        return [r for r in found if r["userAgent"] == "lake-console-audit-test"]

    wait_until(lambda: len(records("StartQuery")) == 2 and len(records("CancelQuery")) == 1,
               timeout=30)
    started = {r["requestParameters"]["queryStatement"]: r for r in records("StartQuery")}
    ok = started[sql]
    assert ok["responseElements"] == {"queryId": query_id} and "errorCode" not in ok
    assert ok["userIdentity"]["accessKeyId"] == server.key("reader").access_key_id
    assert ok["readOnly"] is False
    bad = started[f"DROP TABLE {store}"]
    assert bad["errorCode"] == "InvalidQueryStatementException"
    assert records("CancelQuery")[0]["errorCode"] == "InactiveQueryException"


def test_the_writers_error_is_shown_escaped() -> None:
    """A failing Lake location shows on the store's row (GetEventDataStore's seam:
    LakeWriter.status), as text."""
    from lakewriting import make_store

    from opentrail import __version__
    from opentrail.console._lake import StoreRow
    from opentrail.console._view import View

    store = make_store(name="audit")
    row = StoreRow(store, 10, 1, "<b>S3 bucket lake-data is gone</b>", 1_790_000_000.0,
                   None)
    html = View(__version__).render(
        "lake.html", viewer=None, path="/lake", csrf="t", rows=[row], current=store,
        samples=[], region="us-east-1", statement="", sample="0", history=[],
        page_size=100).body.decode()
    assert '<span class="badge bad">Failing</span>' in html
    assert "&lt;b&gt;S3 bucket lake-data is gone&lt;/b&gt;" in html and "<b>S3" not in html
    assert "since 2026-09-21" in html and "None yet" in html
