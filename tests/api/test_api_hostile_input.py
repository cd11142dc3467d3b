"""Hostile input through raw signed requests: each gets a 400 naming its field, never a 500,
and a client that leaves mid-body costs no traceback in the server's log."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from conftest import Key, Server, make_event, post_records, signed_post

pytestmark = pytest.mark.e2e

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."


def call(server: Server, op: str, params: dict[str, Any], role: str = "reader") -> httpx.Response:
    return signed_post(server.endpoint, "/", json.dumps(params).encode(), server.key(role),
                       service="cloudtrail",
                       headers={"X-Amz-Target": TARGET + op,
                                "Content-Type": "application/x-amz-json-1.1"})


def signed_get(server: Server, path: str, key: Key, query: str = "") -> httpx.Response:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{server.endpoint}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method="GET", url=url, data=b"")
    SigV4Auth(Credentials(key.access_key_id, key.secret), "opentrail", "us-east-1").add_auth(
        request)
    return httpx.get(url, headers=dict(request.headers.items()), timeout=60)


def assert_names(response: httpx.Response, field: str, code: str | None = None) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert field in body["message"], body
    assert response.headers["x-amzn-ErrorType"] == body["__type"]
    if code:
        assert body["__type"] == code, body


@pytest.mark.parametrize(("op", "params", "field", "code"), [
    ("LookupEvents", {"StartTime": 1e300}, "StartTime", "InvalidTimeRangeException"),
    ("LookupEvents", {"EndTime": 1e300}, "EndTime", "InvalidTimeRangeException"),
    ("LookupEvents", {"StartTime": -1e300}, "StartTime", "InvalidTimeRangeException"),
    ("LookupEvents", {"EndTime": 10**19}, "EndTime", "InvalidTimeRangeException"),
    ("LookupEvents", {"StartTime": "0001-01-01T00:00:00"}, None, None),
    ("LookupEvents", {"MaxResults": 1e300}, "MaxResults", "InvalidMaxResultsException"),
    ("LookupEvents", {"MaxResults": -5}, "MaxResults", "InvalidMaxResultsException"),
    ("LookupEvents", {"MaxResults": 10**30}, "MaxResults", "InvalidMaxResultsException"),
    ("ListInsightsMetricData", {"EventSource": "s3.amazonaws.com", "EventName": "GetObject",
                                "InsightType": "ApiCallRateInsight", "StartTime": 1e300},
     "StartTime", "InvalidTimeRangeException"),
    ("ListInsightsMetricData", {"EventSource": "s3.amazonaws.com", "EventName": "GetObject",
                                "InsightType": "ApiCallRateInsight", "MaxResults": 1e300},
     "MaxResults", None),
    ("ListPublicKeys", {"StartTime": 1e300}, "StartTime", "InvalidTimeRangeException"),
    ("ListPublicKeys", {"EndTime": -1e300}, "EndTime", "InvalidTimeRangeException"),
])
def test_huge_numbers_get_a_400_naming_the_field(live_server: Server, op: str,
                                                 params: dict[str, Any], field: str | None,
                                                 code: str | None) -> None:
    response = call(live_server, op, params)
    if field is None:  # the earliest representable time is accepted
        assert response.status_code == 200, response.text
    else:
        assert_names(response, field, code)
    assert "Traceback" not in live_server.log.read_text()  # type: ignore[union-attr]


def test_lookup_attributes_are_capped(live_server: Server) -> None:
    one = {"AttributeKey": "EventName", "AttributeValue": "DescribeInstances"}
    ten = call(live_server, "LookupEvents", {"LookupAttributes": [one] * 10})
    assert ten.status_code == 200, ten.text
    for count in (11, 200_000):
        response = call(live_server, "LookupEvents", {"LookupAttributes": [one] * count})
        assert_names(response, "at most 10", "InvalidLookupAttributesException")
        assert str(count) in response.json()["message"]
    assert httpx.get(f"{live_server.endpoint}/health").status_code == 200


@pytest.mark.parametrize("path", [
    "/opentrail/v1/proofs/inclusion?eventId={id}&treeSize=100000000000000000000",
    "/opentrail/v1/proofs/consistency?first=1&second=100000000000000000000",
    "/opentrail/v1/proofs/consistency?first=100000000000000000000",
    "/opentrail/v1/checkpoints/100000000000000000000",
    "/opentrail/v1/proofs/inclusion?eventId={id}&treeSize=%C2%B2",
    "/opentrail/v1/proofs/inclusion?eventId={id}&treeSize=9223372036854775807",
    "/opentrail/v1/proofs/consistency?first=1&second=9223372036854775807",
])
def test_huge_tree_sizes_get_a_400_naming_the_field(live_server: Server, path: str) -> None:
    [event_id] = post_records(live_server, [make_event()])["eventIds"]  # type: ignore[misc]
    path = path.format(id=event_id)
    where, _, query = path.partition("?")
    response = signed_get(live_server, where, live_server.key("reader"), query)
    field = "treeSize" if "treeSize" in path or "checkpoints" in path else (
        "second" if "second" in path else "first")
    assert_names(response, field)
    assert "Traceback" not in live_server.log.read_text()  # type: ignore[union-attr]


def test_a_client_leaving_mid_body_leaves_no_traceback(live_server: Server) -> None:
    """Half a body, then the socket closes: the server logs at most one line about it."""
    body = json.dumps({"Records": [make_event() for _ in range(50)]}).encode()
    response = signed_post(live_server.endpoint, "/opentrail/v1/events", body,
                           live_server.key("writer"))
    assert response.status_code == 200  # a whole body is fine
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key = live_server.key("writer")
    url = f"{live_server.endpoint}/opentrail/v1/events"
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key.access_key_id, key.secret), "opentrail", "us-east-1").add_auth(
        request)
    head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", live_server.port)) as sock:
            sock.sendall(f"POST /opentrail/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         f"Content-Length: {len(body)}\r\n{head}\r\n".encode()
                         + body[: len(body) // 2])
    assert httpx.get(f"{live_server.endpoint}/health").status_code == 200
    # the server has read and dropped each half body once /health answers after them
    post_records(live_server, [make_event()])
    log = live_server.log.read_text()  # type: ignore[union-attr]
    assert "Traceback" not in log
    assert log.count("ClientDisconnect") == 0
