"""The console over HTTP against a real server: sign-in rules, visibility, errors."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import ACCOUNT, Key, Server, free_port, make_event, post_records, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real `opentrail serve` for this module: starting one costs seconds."""
    live = Server(tmp_path_factory.mktemp("console") / "data", free_port())
    live.start()
    yield live
    live.kill(signal.SIGTERM)

OTHER = "210987654321"


def _client(server: Server, agent: str = "console-test") -> httpx.Client:
    return httpx.Client(base_url=server.endpoint, follow_redirects=False, timeout=30,
                        headers={"user-agent": agent})


def _sign_in(server: Server, key: Key, secret: str | None = None,
             agent: str = "console-test") -> tuple[httpx.Client, Any]:
    http = _client(server, agent)
    form = http.get("/signin").text
    token = re.search(r'name="signin_token" value="([^"]+)"', form)
    assert token
    answer = http.post("/signin", data={"signin_token": token[1], "next": "/events",
                                        "access_key_id": key.access_key_id,
                                        "secret": key.secret if secret is None else secret})
    return http, answer


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match
    return match[1]


def _iso(ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - ago))


def _lookup(ct: Any, key: str, value: str) -> list[dict[str, Any]]:
    attrs = [{"AttributeKey": key, "AttributeValue": value}]
    pages = ct.get_paginator("lookup_events").paginate(LookupAttributes=attrs)
    return [json.loads(e["CloudTrailEvent"]) for p in pages for e in p["Events"]]


def test_pages_need_a_session_and_cookies_are_strict(server: Server) -> None:
    http = _client(server)
    answer = http.get("/events?region=us-east-1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Fevents%3Fregion%3Dus-east-1"
    assert http.get("/").headers["location"] == "/signin"
    http, answer = _sign_in(server, server.key("reader"))
    assert answer.status_code == 303 and answer.headers["location"] == "/events"
    cookie = next(v for k, v in answer.headers.multi_items()
                  if k == "set-cookie" and v.startswith("opentrail_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=28800" in cookie
    page = http.get("/events")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_sign_in_form_needs_its_token_and_next_stays_on_this_site(server: Server) -> None:
    key = server.key("reader")
    http = _client(server)
    answer = http.post("/signin", data={"access_key_id": key.access_key_id,
                                        "secret": key.secret})
    assert answer.status_code == 400 and "form expired" in answer.text
    http.get("/signin")
    token = http.cookies["opentrail_signin"]
    answer = http.post("/signin", data={"signin_token": token, "next": "//evil.example/",
                                        "access_key_id": key.access_key_id,
                                        "secret": key.secret})
    assert answer.headers["location"] == "/events"


def test_sign_out_needs_the_csrf_token(server: Server) -> None:
    http, _ = _sign_in(server, server.key("reader"))
    page = http.get("/events").text
    refused = http.post("/signout", data={"csrf": "forged"})
    assert refused.status_code == 403 and "Sign-out was refused" in refused.text
    assert http.get("/events").status_code == 200
    done = http.post("/signout", data={"csrf": _csrf(page)})
    assert done.headers["location"] == "/signin?notice=signedout"
    assert http.get("/events").status_code == 303


def test_a_key_sees_its_own_account_and_an_organization_key_sees_all(
        server: Server) -> None:
    post_records(server, [make_event("MineOnly", when=_iso(600))])
    post_records(server, [make_event("TheirsOnly", when=_iso(500), account=OTHER)],
                 account=OTHER)
    ct: Any = server.client(role="reader", account=None)
    wait_until(lambda: len(_lookup(ct, "EventName", "TheirsOnly")) == 1)
    mine, _ = _sign_in(server, server.key("reader"))
    page = mine.get("/events").text
    assert "MineOnly" in page and "TheirsOnly" not in page
    assert "TheirsOnly" not in mine.get(f"/events?k=RecipientAccountId&v={OTHER}").text
    org, _ = _sign_in(server, server.key("reader", account=None))
    page = org.get("/events").text
    assert "MineOnly" in page and "TheirsOnly" in page and "Organization" in page
    narrowed = org.get(f"/events?k=RecipientAccountId&v={OTHER}").text
    assert "TheirsOnly" in narrowed and "MineOnly" not in narrowed
    theirs = _lookup(ct, "EventName", "TheirsOnly")[0]["eventID"]
    assert mine.get(f"/events/{theirs}").status_code == 400
    assert "TheirsOnly" in org.get(f"/events/{theirs}").text


def test_sign_ins_are_recorded(server: Server) -> None:
    key, agent = server.key("reader"), f"recorded-{time.time()}"
    _, good = _sign_in(server, key, agent=agent)
    assert good.status_code == 303
    _, unknown = _sign_in(server, Key("OTAKNOSUCHKEY0000000", "x"), agent=agent)
    assert unknown.status_code == 401 and "do not match" in unknown.text
    org: Any = server.client(role="reader", account=None)

    def mine() -> list[dict[str, Any]]:
        return [r for r in _lookup(org, "EventName", "ConsoleLogin") if r["userAgent"] == agent]

    wait_until(lambda: len(mine()) == 2)
    records = {r["responseElements"]["ConsoleLogin"]: r for r in mine()}
    success, failure = records["Success"], records["Failure"]
    assert success["userIdentity"]["accessKeyId"] == key.access_key_id
    assert success["recipientAccountId"] == ACCOUNT and "errorMessage" not in success
    assert success["eventType"] == "AwsConsoleSignIn"
    assert failure["userIdentity"]["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert failure["errorMessage"] and failure["sourceIPAddress"] == "127.0.0.1"


def test_errors_are_shown_in_words(server: Server) -> None:
    http, _ = _sign_in(server, server.key("reader"))
    cases = {
        "/events?page=garbage": "The NextToken is not valid.",
        "/events/00000000-0000-4000-8000-000000000000": "No event with ID",
        "/download?format=xml": "is not a download format",
        "/events?region=moon": "is not a region name",
        "/events?range=custom&start=soon": "is not a date and time",
    }
    for path, words in cases.items():
        page = http.get(path)
        assert words in page.text, path
        assert "Traceback" not in page.text and "File \"" not in page.text


def test_download_streams_every_page_as_json(server: Server) -> None:
    events = [make_event("Bulk", when=_iso(1000 + i)) for i in range(1234)]
    post_records(server, events)
    ct: Any = server.client(role="reader")
    wait_until(lambda: len(_lookup(ct, "EventName", "Bulk")) == 1234, timeout=60)
    http, _ = _sign_in(server, server.key("reader"))
    with http.stream("GET", "/download?format=json&k=EventName&v=Bulk") as answer:
        assert answer.headers["content-disposition"].startswith("attachment;")
        body = b"".join(answer.iter_bytes())
    records = json.loads(body)["Records"]
    assert len(records) == 1234
    assert {r["eventID"] for r in records} == {e["eventID"] for e in events}
