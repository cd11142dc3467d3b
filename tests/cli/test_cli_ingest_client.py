"""IngestClient against an in-process transport: signing, gzip, batching, retries, errors."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from typing import Any

import botocore.session
import httpx
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import opentrail.client
from opentrail.client import (
    IngestAuthError,
    IngestClient,
    IngestConnectionError,
    IngestError,
    RetryPolicy,
)
from opentrail.client._batching import encode_records, split

AKID, SECRET = "AKIDTESTTESTTEST", "secret/key+example"
Handler = Callable[[httpx.Request], httpx.Response]


def session() -> botocore.session.Session:
    s = botocore.session.Session()
    s.set_credentials(AKID, SECRET)
    return s


def make_client(handler: Handler, *, attempts: int = 4,
                sleeps: list[float] | None = None) -> IngestClient:
    waits = sleeps if sleeps is not None else []
    return IngestClient("http://ingest.test:8420/", session=session(), region="eu-west-1",
                        retry=RetryPolicy(max_attempts=attempts),
                        transport=httpx.MockTransport(handler), sleep=waits.append)


def records_of(request: httpx.Request) -> list[Any]:
    body = orjson.loads(gzip.decompress(request.content))
    assert set(body) == {"Records"}
    records: list[Any] = body["Records"]
    return records


def accept_all(request: httpx.Request) -> httpx.Response:
    records = records_of(request)
    return httpx.Response(200, json={
        "accepted": len(records), "duplicates": 0, "rejected": 0,
        "eventIds": [r["eventID"] for r in records], "duplicateIndexes": [], "failed": []})


def error(status: int, code: str, message: str = "nope") -> httpx.Response:
    return httpx.Response(status, json={"__type": code, "message": message})


def signature_is_valid(request: httpx.Request) -> bool:
    """Recompute the SigV4 signature the way a server does, from what went on the wire."""
    auth = request.headers["authorization"]
    match = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), "
                         r"Signature=([0-9a-f]{64})", auth)
    assert match, auth
    akid, _date, region, service, _ = match[1].split("/")
    signed = match[2].split(";")
    rebuilt = AWSRequest(method=request.method, url=str(request.url), data=request.content,
                         headers={h: request.headers[h] for h in signed})
    rebuilt.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(akid, SECRET), service, region)
    expected = signer.signature(
        signer.string_to_sign(rebuilt, signer.canonical_request(rebuilt)), rebuilt)
    return bool(akid == AKID and service == "opentrail" and region == "eu-west-1"
                and match[3] == expected)


def test_public_face_is_pinned() -> None:
    # EventBuffer/BufferStats: the buffered application client (docs/applications.md).
    assert sorted(opentrail.client.__all__) == [
        "BufferStats", "EventBuffer", "FailedRecord", "INGEST_PATH", "IngestAuthError",
        "IngestClient",
        "IngestConnectionError", "IngestError", "IngestResult", "MAX_BATCH_BYTES",
        "MAX_BATCH_RECORDS", "RetryPolicy", "Signer", "error_from_response",
    ]


def test_request_is_signed_gzipped_and_posted_to_the_ingest_path() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return accept_all(request)

    with make_client(handler) as client:
        result = client.send([{"eventID": "e1", "eventName": "X"}])
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == "http://ingest.test:8420/opentrail/v1/events"
    assert request.headers["content-encoding"] == "gzip"
    assert records_of(request) == [{"eventID": "e1", "eventName": "X"}]
    assert signature_is_valid(request)
    assert "content-encoding" in request.headers["authorization"]
    assert (result.accepted, result.event_ids) == (1, ["e1"])


def test_records_without_event_id_get_one_that_survives_retries() -> None:
    bodies: list[list[Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(records_of(request))
        return error(400, "ThrottlingException") if len(bodies) == 1 else accept_all(request)

    original = {"eventName": "X"}
    result = make_client(handler).send([original])
    assert bodies[0] == bodies[1]  # the retry carries the same, already chosen eventID
    assert bodies[0][0]["eventID"] == result.event_ids[0]
    assert original == {"eventName": "X"}  # the caller's dict is not modified


def test_batches_respect_both_caps_and_results_merge_in_order() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        records = records_of(request)
        sizes.append(len(records))
        failed = [{"index": i, "errorCode": "InvalidData", "errorMessage": "bad"}
                  for i, r in enumerate(records) if r.get("bad")]
        ok = [r for r in records if not r.get("bad")]
        return httpx.Response(200, json={
            "accepted": len(ok), "duplicates": 0, "rejected": len(failed), "failed": failed,
            "eventIds": [None if r.get("bad") else r["eventID"] for r in records]})

    records = [{"eventID": f"e{i}", "bad": i in (3, 5_001, 11_999)} for i in range(12_000)]
    result = make_client(handler).send(records)
    assert sizes == [5_000, 5_000, 2_000]
    assert [f.index for f in result.failed] == [3, 5_001, 11_999]
    assert result.event_ids[5_002] == "e5002"
    assert (result.accepted, result.rejected) == (11_997, 3)


def test_split_by_bytes_keeps_a_lone_oversized_record() -> None:
    parts = [b"x" * 40, b"y" * 400, b"z" * 40, b"w" * 40]
    batches = [list(b) for b in split(parts, max_bytes=150)]
    assert batches == [[parts[0]], [parts[1]], [parts[2], parts[3]]]
    assert [len(b) for b in split(encode_records([{}] * 7), max_records=3)] == [3, 3, 1]


def test_throttling_and_5xx_are_retried_with_growing_jittered_waits() -> None:
    answers = iter([error(400, "ThrottlingException"), error(503, "ServiceUnavailable"),
                    httpx.Response(502, text="bad gateway")])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or accept_all(request)

    sleeps: list[float] = []
    result = make_client(handler, sleeps=sleeps).send([{"eventID": "a"}])
    assert result.accepted == 1
    assert len(sleeps) == 3
    assert all(0 <= s <= 0.25 * 2 ** i for i, s in enumerate(sleeps))


def test_retries_are_bounded() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return error(400, "ThrottlingException", "Slow down.")

    with pytest.raises(IngestError) as info:
        make_client(handler, attempts=3).send([{"eventID": "a"}])
    assert (info.value.code, info.value.message, len(calls)) == (
        "ThrottlingException", "Slow down.", 3)


def test_connection_errors_are_retried_then_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    sleeps: list[float] = []
    with pytest.raises(IngestConnectionError) as info:
        make_client(handler, attempts=3, sleeps=sleeps).send([{"eventID": "a"}])
    assert len(sleeps) == 2
    assert "Connection refused" in info.value.message


@pytest.mark.parametrize(("status", "code", "kind"), [
    (403, "InvalidSignatureException", IngestAuthError),
    (400, "AccessDeniedException", IngestAuthError),
    (400, "ValidationException", IngestError),
])
def test_client_errors_are_not_retried(status: int, code: str, kind: type[IngestError]) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return error(status, code, "The reason.")

    with pytest.raises(kind) as info:
        make_client(handler).send([{"eventID": "a"}])
    assert (info.value.code, info.value.message, info.value.status) == (code, "The reason.",
                                                                        status)
    assert len(calls) == 1


def test_error_code_follows_botocore_rules() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, headers={"x-amzn-ErrorType": "ValidationException:http://x"},
                              json={"__type": "ns#Other", "Message": "Capitalised."})

    with pytest.raises(IngestError) as info:
        make_client(handler).send([{"eventID": "a"}])
    assert (info.value.code, info.value.message) == ("ValidationException", "Capitalised.")


def test_too_large_batches_are_halved_until_they_fit() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        records = records_of(request)
        if len(records) > 2:
            return error(413, "RequestEntityTooLargeException")
        if any(r.get("huge") for r in records):
            return error(413, "RequestEntityTooLargeException", "Too big.")
        return accept_all(request)

    records = [{"eventID": str(i), "huge": i == 4} for i in range(8)]
    result = make_client(handler).send(records)
    assert result.accepted == 7
    assert [(f.index, f.error_code) for f in result.failed] == [
        (4, "RequestEntityTooLargeException")]
    assert result.event_ids == ["0", "1", "2", "3", None, "5", "6", "7"]


def test_missing_credentials_are_a_clear_auth_error(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(IngestAuthError, match="No AWS credentials"):
        IngestClient("http://127.0.0.1:1")


def test_endpoint_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        IngestClient("127.0.0.1:8420", session=session())
