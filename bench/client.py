"""A minimal SigV4 client for the two calls the bench makes: batch ingest and LookupEvents.

Signed with botocore's signer, as boto3 would sign them, and sent with one keep-alive
httpx connection per client, so the client adds little beside the server's own time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = ["ApiClient", "Key", "LookupAnswer"]

INGEST_PATH = "/opentrail/v1/events"
LOOKUP_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
REGION = "us-east-1"


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret: str


@dataclass(frozen=True)
class LookupAnswer:
    seconds: float  # signing + request + reading the whole answer, on loopback
    events: list[dict[str, Any]]


class ApiClient:
    """Not thread-safe: give each thread its own."""

    def __init__(self, endpoint: str, key: Key) -> None:
        self.endpoint = endpoint
        self._credentials = Credentials(key.access_key_id, key.secret)
        self._http = httpx.Client(timeout=300)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: bytes, service: str, headers: dict[str, str]
              ) -> httpx.Response:
        url = self.endpoint + path
        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(self._credentials, service, REGION).add_auth(request)
        return self._http.post(url, content=body, headers=dict(request.headers.items()))

    def ingest(self, body: bytes) -> dict[str, Any]:
        """POST one batch; retries ThrottlingException with backoff, as clients must."""
        for attempt in range(60):
            response = self._post(INGEST_PATH, body, "opentrail",
                                  {"Content-Type": "application/json"})
            if response.status_code == 200:
                answer: dict[str, Any] = orjson.loads(response.content)
                return answer
            if b"ThrottlingException" not in response.content:
                raise RuntimeError(f"ingest failed {response.status_code}: {response.text}")
            time.sleep(min(0.05 * 2**attempt, 2.0))
        raise RuntimeError("ingest throttled for too long")

    def lookup(self, params: dict[str, Any]) -> LookupAnswer:
        body = orjson.dumps(params)
        start = time.perf_counter()
        response = self._post("/", body, "cloudtrail", {
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": LOOKUP_TARGET})
        content = response.content
        seconds = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"LookupEvents failed {response.status_code}: {response.text}")
        return LookupAnswer(seconds, orjson.loads(content)["Events"])
