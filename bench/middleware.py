"""`python -m bench.middleware`: what AuditMiddleware adds to a request in a Starlette app.

The same small Starlette app is called with and without the middleware, alternating
request by request in one process and one event loop, so both see the same machine
state. Requests are ASGI calls made directly (no sockets): what is measured is the time
the middleware adds to the request path (building the record, handing it to the
buffer), not network noise. The buffer is real and its sender thread runs, sending to
an in-memory transport that accepts everything, so its background work (JSON, gzip)
competes for the GIL as it would in production. Target: ≤ 50 µs added at the median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from opentrail.client import EventBuffer, IngestClient, RetryPolicy
from opentrail.middleware import AuditMiddleware

__all__ = ["main", "measure"]

TARGET_US = 50.0
RESULTS = Path(__file__).parent / "results"


async def item(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.path_params["item_id"]})


async def login(request: Request) -> JSONResponse:
    data = await request.json()
    return JSONResponse({"user": data.get("username")})


def plain_app() -> Starlette:
    return Starlette(routes=[Route("/items/{item_id}", item),
                             Route("/login", login, methods=["POST"])])


def accept_all(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"accepted": 0, "duplicates": 0, "rejected": 0,
                                      "eventIds": [], "failed": []})


def audited_app(capacity: int) -> tuple[Starlette, EventBuffer]:
    session = botocore.session.Session()
    session.set_credentials("AKIABENCH", "bench")
    client = IngestClient("http://opentrail.bench", session=session,
                          transport=httpx.MockTransport(accept_all),
                          retry=RetryPolicy(max_attempts=1))
    buffer = EventBuffer(client, capacity=capacity)
    app = plain_app()
    app.add_middleware(AuditMiddleware, app_name="bench.example.com", buffer=buffer,
                       identity=lambda r: {"type": "AppUser", "userName": "alice"})
    return app, buffer


def request(method: str, path: str, query: bytes, body: bytes) -> Callable[[ASGIApp], Any]:
    headers = [(b"host", b"bench"), (b"user-agent", b"bench/1")]
    if body:
        headers.append((b"content-type", b"application/json"))

    async def call(app: ASGIApp) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": query, "root_path": "", "headers": headers,
                 "client": ("10.0.0.1", 5000), "server": ("bench", 80)}

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            return None

        await app(scope, receive, send)
    return call


async def _timed(call: Callable[[ASGIApp], Any], app: ASGIApp) -> float:
    start = time.perf_counter_ns()
    await call(app)
    return (time.perf_counter_ns() - start) / 1000


async def measure(requests: int) -> dict[str, dict[str, float]]:
    """Median µs per request of each route, without and with the middleware."""
    plain, (audited, buffer) = plain_app(), audited_app(capacity=requests * 4)
    cases = {"GET /items/{item_id}?q=…": request("GET", "/items/42", b"q=shoes&page=2", b""),
             "POST /login (JSON body)": request(
                 "POST", "/login", b"", b'{"username": "alice", "password": "secret"}')}
    results: dict[str, dict[str, float]] = {}
    for name, call in cases.items():
        for _ in range(200):  # warm-up: imports, caches, the first batches
            await call(plain)
            await call(audited)
        without, with_ = [], []
        for _ in range(requests):
            without.append(await _timed(call, plain))
            with_.append(await _timed(call, audited))
        base, wrapped = statistics.median(without), statistics.median(with_)
        results[name] = {"without_us": round(base, 1), "with_us": round(wrapped, 1),
                         "added_us": round(wrapped - base, 1)}
    buffer.close(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000,
                        help="requests per route and variant (default 20000)")
    args = parser.parse_args()
    results = asyncio.run(measure(args.requests))
    print(f"{'route':28} {'without µs':>11} {'with µs':>9} {'added µs':>9}  target ≤ "
          f"{TARGET_US:.0f}")
    for name, row in results.items():
        verdict = "ok" if row["added_us"] <= TARGET_US else "OVER"
        print(f"{name:28} {row['without_us']:>11} {row['with_us']:>9} "
              f"{row['added_us']:>9}  {verdict}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "middleware-latest.json"
    out.write_text(json.dumps({"requests": args.requests, "target_us": TARGET_US,
                               "routes": results}, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
