"""Attacks on the edge's resources, against a real server over raw sockets: unsigned
uploads, huge headers, trickling headers and bodies, and many bodies held at once."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from conftest import Key, Server, wait_until

pytestmark = pytest.mark.e2e

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DescribeTrails"



def _rss_kib(server: Server) -> int:
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines()
                    if line.startswith("VmRSS:")))


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes or pauses; a reset ends it too."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and _complete(data):
                break
    except ConnectionResetError:
        pass
    return data


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _closed(sock: socket.socket) -> bool:
    """True once the server closed the connection (blocks up to the socket's timeout)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    return True


def _signed_head(server: Server, key: Key, body: bytes) -> bytes:
    """A correctly signed ingest request's head, to be followed by `body` (or less)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{server.endpoint}/opentrail/v1/events"
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key.access_key_id, key.secret), "opentrail", "us-east-1") \
        .add_auth(request)
    lines = [b"POST /opentrail/v1/events HTTP/1.1"]
    lines += [f"{k}: {v}".encode() for k, v in request.headers.items()]
    lines += [b"Content-Length: %d" % len(body), b"", b""]
    return b"\r\n".join(lines)


def test_unsigned_uploads_are_refused_before_their_bodies_are_read(make_server: object
                                                                   ) -> None:
    """Ten unsigned requests declaring 63 MiB each: each is answered 403 at once, from
    the headers alone, and the server does not grow by what they declared."""
    assert callable(make_server)
    server: Server = make_server()
    before = _rss_kib(server)
    declared = 63 * 1024 * 1024
    socks = []
    for _ in range(10):
        sock = _connect(server)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                     b"X-Amz-Target: " + TARGET.encode() +
                     b"\r\nContent-Length: %d\r\n\r\n{\"a\":" % declared)
        socks.append(sock)
    for sock in socks:
        answer = _answer(sock)
        assert answer.startswith(b"HTTP/1.1 403"), answer
        assert b"MissingAuthenticationTokenException" in answer
    # Now send what they declared: the server reads and drops it, holding none.
    chunk = b"x" * (1024 * 1024)
    for sock in socks:
        for _ in range(6):
            sock.sendall(chunk)
    assert httpx.get(f"{server.endpoint}/health", timeout=30).status_code == 200
    grown_mib = (_rss_kib(server) - before) / 1024
    assert grown_mib < 60, f"the server grew by {grown_mib:.0f} MiB"
    for sock in socks:
        sock.close()


def test_a_known_key_id_with_a_bad_signature_holds_no_more_than_the_budget(
        make_server: object) -> None:
    """Key IDs are no secret: a client that knows one passes the header checks, so the
    bodies all requests hold at once are bounded by --max-inflight-body-bytes."""
    assert callable(make_server)
    server: Server = make_server("--max-inflight-body-bytes", "1000000")
    key = server.key("writer")
    held = _connect(server)
    body = b"x" * 900_000
    held.sendall(_signed_head(server, key, body) + body[:700_000])  # and hold the rest

    def throttled() -> bool:
        record = json.dumps({"Records": []}).encode() + b" " * 500_000
        answer = _signed_post(server, key, record)
        return answer.status_code == 400 and \
            answer.json()["__type"] == "ThrottlingException"

    wait_until(throttled)
    held.close()  # its bytes are released when its request ends
    wait_until(lambda: _signed_post(server, key, b'{"Records": []}' + b" " * 500_000)
               .status_code == 200)


def _signed_post(server: Server, key: Key, body: bytes) -> httpx.Response:
    from conftest import signed_post

    return signed_post(server.endpoint, "/opentrail/v1/events", body, key)


def test_a_huge_header_is_refused_and_health_keeps_answering(make_server: object) -> None:
    assert callable(make_server)
    server: Server = make_server()
    sock = _connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        for _ in range(64):  # 64 MiB unless the server stops us first
            sock.sendall(b"a" * (1024 * 1024))
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = _answer(sock)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert _closed(sock)
    sock.close()
    assert httpx.get(f"{server.endpoint}/health", timeout=30).status_code == 200


def test_a_client_trickling_headers_is_disconnected(make_server: object) -> None:
    assert callable(make_server)
    server: Server = make_server("--header-timeout", "1")
    sock = _connect(server)
    sock.settimeout(0.2)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    answer, deadline = b"", time.monotonic() + 60
    while time.monotonic() < deadline:  # a generous bound; the server's is 1 s
        try:
            sock.sendall(b"X-A: b\r\n")
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
        answer += chunk
        if not chunk:
            break
    else:
        pytest.fail("the server kept a trickling client for 60 s")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_an_idle_connection_that_sends_nothing_is_closed(make_server: object) -> None:
    assert callable(make_server)
    server: Server = make_server("--header-timeout", "1")
    sock = _connect(server)
    assert _closed(sock)  # without a word: it never asked anything
    sock.close()


def test_a_client_trickling_its_body_gets_408_and_is_disconnected(make_server: object
                                                                  ) -> None:
    assert callable(make_server)
    server: Server = make_server("--body-timeout", "1")
    sock = _connect(server)
    body = json.dumps({"Records": []}).encode() + b" " * 1000
    sock.sendall(_signed_head(server, server.key("writer"), body) + body[:10])
    sock.settimeout(0.2)
    answer, deadline = b"", time.monotonic() + 60
    while time.monotonic() < deadline and not _complete(answer):
        try:
            sock.sendall(b" ")
            answer += sock.recv(65536)
        except TimeoutError:
            continue
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"RequestTimeoutException" in answer
    sock.settimeout(30)
    deadline = time.monotonic() + 60
    try:  # it may keep trickling: the rest of its body is dropped, then it is closed
        while time.monotonic() < deadline:
            sock.sendall(b" ")
            time.sleep(0.2)
    except (BrokenPipeError, ConnectionResetError):
        pass
    else:
        pytest.fail("the server kept reading a refused body for 60 s")
    sock.close()


def test_a_console_form_trickled_gets_408(make_server: object) -> None:
    """Bodies the console reads are bounded the same way (answered in plain text)."""
    assert callable(make_server)
    server: Server = make_server("--body-timeout", "1")
    sock = _connect(server)
    sock.sendall(b"POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: "
                 b"application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\na=")
    answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert answer.endswith(b"The request body did not arrive within 1 seconds.")
    sock.close()
    assert server.log is not None and "Traceback" not in server.log.read_text()


def test_connections_beyond_the_limit_are_answered_503(make_server: object) -> None:
    assert callable(make_server)
    server: Server = make_server("--max-connections", "3")
    idle = [_connect(server) for _ in range(3)]
    try:
        answer = httpx.get(f"{server.endpoint}/health", timeout=30)
        assert answer.status_code == 503, answer.text
    finally:
        for sock in idle:
            sock.close()
    wait_until(lambda: httpx.get(f"{server.endpoint}/health", timeout=30).status_code == 200)


def test_an_unknown_key_is_refused_from_the_headers(make_server: object) -> None:
    """A well-formed signature by a key the server does not know: 403 before the body."""
    assert callable(make_server)
    server: Server = make_server()
    body = b" " * (63 * 1024 * 1024)
    sock = _connect(server)
    sock.sendall(_signed_head(server, Key("AKIAUNKNOWNKEY000000", "x" * 40), body)
                 + body[:10])
    answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:300]
    assert b"UnrecognizedClientException" in answer
    sock.close()
