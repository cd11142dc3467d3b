"""Rule deliveries end to end: events ingested by a real server reach a real webhook on
loopback with the envelope (or the transformer's output) and the connection's auth."""

from __future__ import annotations

import base64
import json
import re
import signal
from typing import Any

import httpx
from rules_webhook import Webhook, webhook_fixture  # noqa: F401 - the fixture

from conftest import ACCOUNT, Server, make_event, post_records, wait_until

PATTERN = json.dumps({"source": ["aws.cloudtrail"], "detail-type": [
    "AWS API Call via CloudTrail"], "detail": {"eventName": ["StopLogging"]}})


def _stop_logging() -> dict[str, object]:
    return make_event("StopLogging", eventSource="cloudtrail.amazonaws.com", readOnly=False,
                      requestParameters={"name": "main"})


def _destination(events: Any, hook: Webhook, name: str, auth_type: str,
                 auth: dict[str, Any], path: str) -> str:
    conn = events.create_connection(Name=name, AuthorizationType=auth_type,
                                    AuthParameters=auth)["ConnectionArn"]
    arn: str = events.create_api_destination(
        Name=name, ConnectionArn=conn, InvocationEndpoint=hook.url(path),
        HttpMethod="POST")["ApiDestinationArn"]
    return arn


def test_webhooks_receive_envelope_and_auth(live_server: Server, webhook: Webhook) -> None:
    events = live_server.client("events")
    api_key = _destination(events, webhook, "key", "API_KEY", {
        "ApiKeyAuthParameters": {"ApiKeyName": "X-Api-Key", "ApiKeyValue": "k3y"},
        "InvocationHttpParameters": {"HeaderParameters": [
            {"Key": "X-Hidden", "Value": "h1", "IsValueSecret": True}]}}, "/hook")
    basic = _destination(events, webhook, "basic", "BASIC", {
        "BasicAuthParameters": {"Username": "u", "Password": "p@ss"}}, "/basic")
    oauth = _destination(events, webhook, "oauth", "OAUTH_CLIENT_CREDENTIALS", {
        "OAuthParameters": {"ClientParameters": {"ClientID": "id", "ClientSecret": "cs"},
                            "AuthorizationEndpoint": webhook.url("/token"),
                            "HttpMethod": "POST"}}, "/oauth")
    events.put_rule(Name="stop", EventPattern=PATTERN)
    transformer = {"InputPathsMap": {"who": "$.detail.userIdentity.arn",
                                     "trail": "$.detail.requestParameters.name"},
                   "InputTemplate": '{"text": "<who> stopped <trail>", "trail": <trail>}'}
    assert events.put_targets(Rule="stop", Targets=[
        {"Id": "key", "Arn": api_key}, {"Id": "basic", "Arn": basic,
                                        "InputTransformer": transformer},
        {"Id": "oauth", "Arn": oauth}, {"Id": "slack", "Arn": "slack:" + webhook.url("/slack")},
        {"Id": "teams", "Arn": "teams:" + webhook.url("/teams")}])["FailedEntryCount"] == 0
    post_records(live_server, [make_event("DescribeTrails"), _stop_logging()])
    wait_until(lambda: all(webhook.at(p) for p in ("/hook", "/basic", "/oauth", "/slack",
                                                   "/teams")))
    hook = webhook.at("/hook")[0]
    envelope = hook.json()
    assert (envelope["detail-type"], envelope["source"], envelope["account"]) == (
        "AWS API Call via CloudTrail", "aws.cloudtrail", ACCOUNT)
    assert envelope["detail"]["eventName"] == "StopLogging" and envelope["version"] == "0"
    assert (hook.headers["x-api-key"], hook.headers["x-hidden"]) == ("k3y", "h1")
    received = webhook.at("/basic")[0]
    assert received.headers["authorization"] == "Basic " + base64.b64encode(b"u:p@ss").decode()
    assert received.json() == {"text": f"arn:aws:iam::{ACCOUNT}:user/alice stopped main",
                               "trail": "main"}
    token = webhook.at("/token")[0]
    assert token.headers["authorization"] == "Basic " + base64.b64encode(b"id:cs").decode()
    assert b"grant_type=client_credentials" in token.body
    assert webhook.at("/oauth")[0].headers["authorization"] == "Bearer tok-1"
    assert "StopLogging" in webhook.at("/slack")[0].json()["text"]
    teams = webhook.at("/teams")[0].json()
    assert teams["@type"] == "MessageCard" and "StopLogging" in teams["text"]
    assert len(webhook.requests) == 6  # one each, the read-only DescribeTrails matched nothing


def _dead_letters(server: Server) -> list[dict[str, Any]]:
    from opentrail.rules import SqliteRuleStore

    class NoSeal:
        def seal(self, label: str, secret: str) -> bytes:
            raise AssertionError

        def unseal(self, label: str, blob: bytes) -> str:
            raise AssertionError

    store = SqliteRuleStore(server.data_dir, NoSeal())
    try:
        return [{"rule": d.rule, "target": d.target["Id"], "attempts": d.attempts,
                 "error": d.last_error} for d in store.dead_letters(None)]
    finally:
        store.close()


def test_retries_dead_letters_and_rule_states(live_server: Server, webhook: Webhook) -> None:
    events = live_server.client("events")
    dest = _destination(events, webhook, "d", "API_KEY", {"ApiKeyAuthParameters": {
        "ApiKeyName": "X-Key", "ApiKeyValue": "v"}}, "/flaky")
    other = _destination(events, webhook, "e", "API_KEY", {"ApiKeyAuthParameters": {
        "ApiKeyName": "X-Key", "ApiKeyValue": "v"}}, "/refuses")
    moved = _destination(events, webhook, "f", "API_KEY", {"ApiKeyAuthParameters": {
        "ApiKeyName": "X-Key", "ApiKeyValue": "v"}}, "/elsewhere")
    webhook.script = {"/flaky": [500, 503], "/refuses": [400], "/elsewhere": [302]}
    events.put_rule(Name="stop", EventPattern=PATTERN)
    events.put_targets(Rule="stop", Targets=[
        {"Id": "flaky", "Arn": dest, "RetryPolicy": {"MaximumRetryAttempts": 5}},
        {"Id": "refuses", "Arn": other}, {"Id": "moved", "Arn": moved}])
    reads = json.dumps({"detail": {"eventName": ["DescribeTrails"]}})
    events.put_rule(Name="reads", EventPattern=reads)
    events.put_rule(Name="all-reads", EventPattern=reads,
                    State="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
    for rule in ("reads", "all-reads"):
        events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": dest, "Input": json.dumps(
            {"rule": rule})}])
    post_records(live_server, [_stop_logging(), make_event("DescribeTrails")])
    wait_until(lambda: len(webhook.at("/flaky")) >= 4, timeout=30)
    wait_until(lambda: len(_dead_letters(live_server)) == 2)
    bodies = [r.json() for r in webhook.at("/flaky")]
    assert {"rule": "all-reads"} in bodies and {"rule": "reads"} not in bodies
    dead = {d["target"]: d for d in _dead_letters(live_server)}
    assert dead["refuses"]["attempts"] == 1 and "HTTP 400" in dead["refuses"]["error"]
    assert "redirected to another host" in dead["moved"]["error"]
    assert len(webhook.at("/refuses")) == 1
    page = _console_page(live_server, "/deliveries")
    assert "Rule deliveries" in page and "refuses" in page and "HTTP 400" in page
    other = _console_page(live_server, "/deliveries", account="210987654321")
    assert "No dead letters" in other and "refuses" not in other


def _console_page(server: Server, path: str, account: str = ACCOUNT) -> str:
    key = server.key("reader", account)
    with httpx.Client(base_url=server.endpoint, timeout=30) as http:
        form = http.get("/signin").text
        token = re.search(r'name="signin_token" value="([^"]+)"', form)
        assert token
        http.post("/signin", data={"signin_token": token[1], "next": path,
                                   "access_key_id": key.access_key_id, "secret": key.secret})
        page = http.get(path)
        assert page.status_code == 200
        return page.text


def test_pending_deliveries_survive_a_crash(live_server: Server, webhook: Webhook) -> None:
    events = live_server.client("events")
    dest = _destination(events, webhook, "d", "API_KEY", {"ApiKeyAuthParameters": {
        "ApiKeyName": "X-Key", "ApiKeyValue": "v"}}, "/down")
    webhook.script = {"/down": [503] * 100}
    events.put_rule(Name="stop", EventPattern=PATTERN)
    events.put_targets(Rule="stop", Targets=[{"Id": "t", "Arn": dest}])
    post_records(live_server, [_stop_logging()])
    wait_until(lambda: len(webhook.at("/down")) >= 1)
    live_server.kill(signal.SIGKILL)
    webhook.script = {}
    seen = len(webhook.at("/down"))
    live_server.start()
    wait_until(lambda: len(webhook.at("/down")) > seen, timeout=30)
    assert webhook.at("/down")[-1].json()["detail"]["eventName"] == "StopLogging"
    assert _dead_letters(live_server) == []
