"""The README's first command: quickstart prints a key and an aws CLI line that works."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import free_port, wait_until

pytestmark = pytest.mark.e2e


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_quickstart_serves_demo_activity_and_the_printed_command_works(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "quickstart.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opentrail", "quickstart", "--data-dir",
             str(tmp_path / "data"), "--port", str(port), "--events", "2000"],
            stdout=sink, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: _healthy(f"http://127.0.0.1:{port}"), timeout=90)
        wait_until(lambda: "Press Ctrl+C" in out.read_text(), timeout=30)
        text = out.read_text()
        assert "Demo activity loaded: 2000 events" in text
        line = re.search(r"^\s*(AWS_ACCESS_KEY_ID=.*?)\\\n\s*(aws cloudtrail .*?)\\\n\s*(.*?)$",
                         text, re.M)
        assert line, text
        words = shlex.split(" ".join(line.groups()))
        env = {k: v for k, v in (w.split("=", 1) for w in words[:2])}
        command = words[2:]

        def found() -> list[object]:
            proc2 = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                   env={**_base_env(), **env})
            assert proc2.returncode == 0, proc2.stderr
            return list(json.loads(proc2.stdout)["Events"])

        wait_until(found, timeout=60)
        _check_the_lake(f"http://127.0.0.1:{port}", text, env)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _check_the_lake(endpoint: str, text: str, env: dict[str, str]) -> None:
    """The first run shows the Lake: an event data store `quickstart` that received the
    demo's management events (all of them, nothing else of the demo), and a sample query
    whose printed `opentrail query` line runs and answers what the banner shows."""
    import boto3

    loaded = re.search(r"Demo activity loaded: (\d+) events .*\((\d+) management events, "
                       r"(\d+) data events\)", text)
    assert loaded, text
    management, data = int(loaded[2]), int(loaded[3])
    assert management + data == int(loaded[1]) and management > 0
    assert f"{endpoint}/lake" in text
    client: Any = boto3.client("cloudtrail", endpoint_url=endpoint, region_name="us-east-1",
                               aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    stores = client.list_event_data_stores()["EventDataStores"]
    assert [s["Name"] for s in stores] == ["quickstart"], stores
    store = client.get_event_data_store(EventDataStore=stores[0]["EventDataStoreArn"])
    assert store["Status"] == "ENABLED"
    store_id = store["EventDataStoreArn"].rsplit("/", 1)[1]
    # every demo management event, and no data event; besides them only the self-audit
    # records of the quickstart key's own calls (user/opentrail/quickstart)
    counts = _query(client, f"SELECT eventcategory, count(*) AS n FROM {store_id} WHERE "
                            "coalesce(useridentity.arn, '') NOT LIKE '%:user/opentrail/%' "
                            "GROUP BY eventcategory")
    assert counts == [{"eventcategory": "Management", "n": str(management)}], counts

    block = re.search(r"^\s*(AWS_ACCESS_KEY_ID=.*?)\\\n\s*(opentrail query .*?)\\\n"
                      r"\s*(.*?)$", text, re.M)
    assert block, text
    words = shlex.split(" ".join(block.groups()))
    assert dict(w.split("=", 1) for w in words[:2]) == env
    assert store_id in words[-1] and words[-1].upper().startswith("SELECT")
    ran = subprocess.run([sys.executable, "-m", "opentrail", *words[3:], "--output", "json"],
                         capture_output=True, text=True, timeout=120,
                         env={**_base_env(), **env})
    assert ran.returncode == 0, ran.stderr
    rows = json.loads(ran.stdout)["QueryResultRows"]
    assert rows and [next(iter(c)) for c in rows[0]] == ["apicount", "eventname", "arn"]
    for row in rows:  # the banner printed the same answer
        values = [next(iter(c.values())) for c in row]
        assert re.search(r"^\s+" + r"\s+".join(map(re.escape, values)) + r"\s*$", text,
                         re.M), (values, text)


def _query(client: Any, sql: str) -> list[dict[str, str]]:
    query_id = client.start_query(QueryStatement=sql)["QueryId"]
    wait_until(lambda: client.describe_query(QueryId=query_id)["QueryStatus"]
               not in ("QUEUED", "RUNNING"), timeout=60)
    answer = client.get_query_results(QueryId=query_id)
    assert answer["QueryStatus"] == "FINISHED", answer
    return [{k: v for cell in row for k, v in cell.items()}
            for row in answer["QueryResultRows"]]


def test_quickstart_shows_the_burst_as_an_insight_and_a_trail_with_digests(
        tmp_path: Path) -> None:
    """A new user's first run shows everything: the demo's injected burst as an Insight
    (through LookupEvents and `opentrail insights list`), and trail `quickstart`
    delivering log files and signed digests. Before: no trail asked for Insights, so the
    engine idled and the Insights page stayed empty."""
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    out = tmp_path / "quickstart.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opentrail", "quickstart", "--data-dir",
             str(tmp_path / "data"), "--port", str(port), "--events", "5000",
             "--delivery-interval", "1", "--digest-interval", "2"],
            stdout=sink, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: "Press Ctrl+C" in out.read_text(), timeout=90)
        text = out.read_text()
        for page in ("/activity", "/insights", "/trails"):
            assert f"{endpoint}{page}" in text, text
        key_id = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", text)
        secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", text)
        assert key_id and secret, text
        env = {"AWS_ACCESS_KEY_ID": key_id.group(1), "AWS_SECRET_ACCESS_KEY": secret.group(1)}
        client = boto3.client("cloudtrail", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])

        def burst_insights() -> list[dict[str, object]]:
            events = client.lookup_events(EventCategory="insight")["Events"]
            records = [json.loads(e["CloudTrailEvent"]) for e in events]
            return [r for r in records if _attributed_to_the_leaked_key(r)]

        wait_until(burst_insights, timeout=180)
        insight = burst_insights()[0]["insightDetails"]
        assert insight["insightType"] in ("ApiErrorRateInsight", "ApiCallRateInsight")

        listed = subprocess.run(
            [sys.executable, "-m", "opentrail", "insights", "list", "--endpoint-url",
             endpoint, "--region", "us-east-1", "--output", "json"],
            capture_output=True, text=True, timeout=120, env={**_base_env(), **env})
        assert listed.returncode == 0, listed.stderr
        assert any(p["Start"]["insightDetails"]["eventName"] == insight["eventName"]
                   for p in json.loads(listed.stdout) if "Start" in p)

        trail = client.describe_trails(trailNameList=["quickstart"])["trailList"][0]
        assert trail["LogFileValidationEnabled"] is True
        assert trail["HasInsightSelectors"] is True

        def delivered() -> bool:
            status = client.get_trail_status(Name="quickstart")
            return bool(status.get("LatestDeliveryTime")) and bool(
                status.get("LatestDigestDeliveryTime"))

        wait_until(delivered, timeout=60)
        bucket = tmp_path / "data" / "buckets" / "quickstart-trail"
        assert list(bucket.rglob("*_CloudTrail-Digest_*.json.gz"))
        assert list(bucket.rglob("*_CloudTrail_us-east-1_*.json.gz"))
        validated = subprocess.run(
            [sys.executable, "-m", "opentrail", "validate-logs", "--trail-arn",
             trail["TrailARN"], "--start-time", "2020-01-01T00:00:00Z", "--endpoint-url",
             endpoint, "--local-folder", str(tmp_path / "data" / "buckets")],
            capture_output=True, text=True, timeout=120, env={**_base_env(), **env})
        assert validated.returncode == 0, validated.stdout + validated.stderr
        assert "INVALID" not in validated.stdout + validated.stderr

        page = _console_page(endpoint, env, "/insights?range=7d")
        assert insight["eventName"] in page, page[:2000]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _console_page(endpoint: str, env: dict[str, str], path: str) -> str:
    """A console page as a new user sees it after signing in with the printed key."""
    with httpx.Client(base_url=endpoint, follow_redirects=False, timeout=30) as http:
        token = re.search(r'name="signin_token" value="([^"]+)"', http.get("/signin").text)
        assert token
        http.post("/signin", data={"signin_token": token[1], "next": "/events",
                                   "access_key_id": env["AWS_ACCESS_KEY_ID"],
                                   "secret": env["AWS_SECRET_ACCESS_KEY"]})
        answer = http.get(path)
        assert answer.status_code == 200, answer.text[:500]
        return answer.text


def _attributed_to_the_leaked_key(record: dict[str, object]) -> bool:
    """The demo's burst is a leaked `legacy-ci` key enumerating the account."""
    details = record["insightDetails"]
    assert isinstance(details, dict)
    attributions = details["insightContext"]["attributions"]
    return any(a["attribute"] == "userIdentityArn"
               and a["insight"][0]["value"].endswith(":user/legacy-ci")
               for a in attributions if a["insight"])


def _base_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env
