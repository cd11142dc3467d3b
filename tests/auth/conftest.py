"""Fixtures for auth tests: a KeyStore in a temp data dir, a verifier on a ManualClock,
and requests signed by botocore itself, as they arrive on the wire."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from opentrail.auth import AuthContext, KeyStore, Role, SigV4Verifier
from opentrail.clock import ManualClock

ACCOUNT = "123456789012"
ENDPOINT = "http://127.0.0.1:8420"


@dataclass(frozen=True)
class Wire:
    """A request as the server receives it: raw path and query, headers, body."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def with_headers(self, **changes: str) -> Wire:
        headers = dict(self.headers)
        for name, value in changes.items():
            headers[name.replace("_", "-")] = value
        return replace(self, headers=headers)


def to_wire(request: Any) -> Wire:
    """An AWSRequest / AWSPreparedRequest as the HTTP client would put it on the wire."""
    parts = urlsplit(request.url)
    headers = {
        name: value.decode() if isinstance(value, bytes) else value
        for name, value in request.headers.items()
    }
    headers.setdefault("Host", parts.netloc)  # added by urllib3, signed by botocore
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    return Wire(request.method, parts.path or "/", parts.query, headers, body)


Signer = Callable[..., Wire]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyStore]:
    with KeyStore(tmp_path / "data") as keys:
        yield keys


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())  # botocore stamps requests with the real time


@pytest.fixture
def verifier(store: KeyStore, clock: ManualClock) -> SigV4Verifier:
    return SigV4Verifier(store, clock)


@pytest.fixture
def key(store: KeyStore) -> tuple[str, str]:
    principal, secret = store.create(account=ACCOUNT, organization=False, role=Role.WRITER)
    return principal.access_key_id, secret


@pytest.fixture
def sign(key: tuple[str, str]) -> Signer:
    """sign(url, body=..., headers=..., ...) -> Wire, signed by SigV4Auth.add_auth."""

    def _sign(
        url: str = ENDPOINT + "/",
        *,
        method: str = "POST",
        body: bytes = b"{}",
        headers: Mapping[str, str] | None = None,
        service: str = "cloudtrail",
        region: str = "us-east-1",
        credentials: tuple[str, str] | None = None,
    ) -> Wire:
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
        SigV4Auth(Credentials(*(credentials or key)), service, region).add_auth(request)
        return to_wire(request)

    return _sign


@pytest.fixture
def check(verifier: SigV4Verifier) -> Callable[[Wire], AuthContext]:
    """check(wire) -> AuthContext, through the verifier under test."""

    def _check(wire: Wire) -> AuthContext:
        return verifier.verify(wire.method, wire.path, wire.query, wire.headers, wire.body)

    return _check


@pytest.fixture
def wire_of() -> Callable[[Any], Wire]:
    return to_wire
