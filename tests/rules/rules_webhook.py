"""A real webhook receiver on loopback (the `webhook` fixture): records every request,
answers as scripted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Webhook:
    port: int
    requests: list[Received] = field(default_factory=list)
    script: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses to answer
    moved: dict[str, str] = field(default_factory=dict)  # path -> Location to answer with

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path.split("?")[0] == path]


def _handler(hook: Webhook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            size = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(size)
            path = self.path.split("?")[0]
            statuses = hook.script.get(path) or []
            status = statuses.pop(0) if statuses else 200
            hook.requests.append(Received(self.command, self.path,
                                          {k.lower(): v for k, v in self.headers.items()},
                                          body))
            answer = b"{}"
            if path == "/token":
                answer = json.dumps({"access_token": "tok-1", "token_type": "Bearer",
                                     "expires_in": 3600}).encode()
            self.send_response(status)
            if path == "/elsewhere":
                self.send_header("Location", "http://localhost:1/stolen")
            if path in hook.moved:
                self.send_header("Location", hook.moved[path])
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_POST = do_PUT = do_GET = _any  # noqa: N815 - http.server's names

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(name="webhook")
def webhook_fixture() -> Iterator[Webhook]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Webhook(0)))
    hook = Webhook(server.server_address[1])
    server.RequestHandlerClass = _handler(hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()
