"""The console's activity overview answers the same on both backends: the same events,
indexed into history.db or into the database's index tables, give the same counts and
errors per hour, top event names and users, regions, and the same page."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import TEST_MASTER_KEY, make_event, wait_until
from opentrail.api import build_app
from opentrail.auth import Role
from opentrail.config import Settings
from opentrail.console import _activity
from opentrail.events import parse_record
from opentrail.service import Service

HOUR = 3600
ACCOUNT = "123456789012"
# (hours ago, event name, count, errors): each hour a different mix
PLAN = [(5, "DescribeInstances", 40, 0), (5, "RunInstances", 10, 4), (3, "GetObject", 25, 5),
        (1, "DescribeInstances", 7, 0)]


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    opened = Service.open(Settings(data_dir=tmp_path / "data", database_url=url),
                          indexer="thread")
    yield opened
    opened.close()


def _seed(service: Service, top: int) -> None:
    records = []
    for ago, name, count, errors in PLAN:
        for i in range(count):
            extra = {"errorCode": "AccessDenied"} if i < errors else {}
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(top - ago * HOUR + i * 7))
            records.append(parse_record(make_event(name, when=when, **extra),
                                        default_account=ACCOUNT, default_region="us-east-1"))
    assert all(service.writer.submit(records).result(30))


def _page(service: Service, path: str) -> str:
    """Sign in to the console with a reader key and GET `path`, in process."""
    principal, secret = service.keys.create(account=ACCOUNT, organization=False,
                                            role=Role.READER)

    async def visit() -> str:
        transport = httpx.ASGITransport(app=build_app(service), client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport,
                                     base_url="http://testserver") as http:
            form = (await http.get("/signin")).text
            token = re.search(r'name="signin_token" value="([^"]+)"', form)
            assert token
            await http.post("/signin", data={
                "signin_token": token[1], "next": "/activity",
                "access_key_id": principal.access_key_id, "secret": secret})
            answer = await http.get(path)
            assert answer.status_code == 200, answer.text
            return answer.text

    return asyncio.run(visit())


def test_the_activity_overview_answers_the_same_on_both_backends(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    from opentrail.console._console import Console

    monkeypatch.setattr(_activity, "CACHE_SECONDS", -1.0)  # each call reads the index
    top = int(time.time()) // HOUR * HOUR  # the start of the current hour
    _seed(service, top)
    activity = Console(service).activity
    wait_until(lambda: activity.overview((ACCOUNT,), "us-east-1", top - 6 * HOUR,
                                         top - 1).total == 82, timeout=60)
    data = activity.overview((ACCOUNT,), "us-east-1", top - 6 * HOUR, top - 1)
    assert data.lo == top - 6 * HOUR and data.counts == [0, 50, 0, 25, 0, 7]
    assert data.errors == [0, 4, 0, 5, 0, 0] and data.exact
    assert data.top_names == [("DescribeInstances", 47), ("GetObject", 25),
                              ("RunInstances", 10)]
    assert data.top_users == [("alice", 82)]
    assert activity.regions((ACCOUNT,)) == ["us-east-1"]
    assert activity.regions(None) == ["us-east-1"]  # an organization's keys: every account
    assert activity.regions(("999999999999",)) == []
    monkeypatch.setattr(_activity, "SAMPLE", 6)  # 2 probes per busy hour
    sampled = activity.overview((ACCOUNT,), "us-east-1", top - 6 * HOUR, top - 1)
    assert sampled.counts == data.counts and not sampled.exact and sampled.sampled <= 6
    assert sampled.top_users == [("alice", 82)]
    monkeypatch.setattr(_activity, "SAMPLE", 1000)
    hours = [time.strftime("%Y-%m-%dT%H:%M", time.gmtime(t)) for t in (top - 6 * HOUR, top - 60)]
    page = _page(service, f"/activity?range=custom&start={hours[0]}&end={hours[1]}")
    stats = re.findall(r'class="stat-value[^"]*">([^<]+)<', page)
    assert stats[:2] == ["82", "9"], stats  # the past hours only: not the key's sign-in
    assert "DescribeInstances" in page and "RunInstances" in page
