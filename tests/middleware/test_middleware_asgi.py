"""AuditMiddleware in a real Starlette app served by uvicorn on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import botocore.session
import httpx
import pytest
import uvicorn
from middleware_events import recorded, writer_buffer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from conftest import Server, free_port, wait_until
from opentrail.client import EventBuffer
from opentrail.middleware import HIDDEN, AuditMiddleware

APP = "shop.example.com"


async def item(request: Request) -> JSONResponse:
    request.state.user = "alice"
    return JSONResponse({"id": request.path_params["item_id"]})


async def login(request: Request) -> JSONResponse:
    data = await request.json()
    request.state.user = data["username"]
    return JSONResponse({"ok": True})


def build(buffer: EventBuffer) -> Starlette:
    app = Starlette(routes=[Route("/items/{item_id}", item),
                            Route("/login", login, methods=["POST"])])
    app.add_middleware(AuditMiddleware, app_name=APP, buffer=buffer, account="123456789012",
                       identity=lambda r: {"type": "AppUser",
                                           "userName": getattr(r.state, "user", "anonymous")})
    return app


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.e2e
def test_requests_become_events(live_server: Server) -> None:
    buffer = writer_buffer(live_server)
    with serve(build(buffer)) as url:
        assert httpx.get(f"{url}/items/42?color=red&api_key=k",
                         headers={"User-Agent": "pytest/1"}).status_code == 200
        assert httpx.post(f"{url}/login", json={"username": "bob", "password": "hunter2",
                                                "nested": {"accessToken": "t"}}).is_success
        assert httpx.get(f"{url}/nowhere").status_code == 404
        assert buffer.flush(timeout=60)
    buffer.close()
    wait_until(lambda: len(recorded(live_server, APP)) == 3, timeout=60)
    events = {e["eventName"]: e for e in recorded(live_server, APP)}
    get = events["GET /items/{item_id}"]
    assert get["userIdentity"] == {"type": "AppUser", "userName": "alice"}
    assert get["requestParameters"] == {"color": "red", "api_key": HIDDEN}
    assert (get["readOnly"], get["userAgent"], get["sourceIPAddress"]) == \
        (True, "pytest/1", "127.0.0.1")
    assert "errorCode" not in get
    post = events["POST /login"]
    assert post["readOnly"] is False
    assert post["userIdentity"]["userName"] == "bob"
    assert post["requestParameters"] == {"username": "bob", "password": HIDDEN,
                                         "nested": {"accessToken": HIDDEN}}
    missing = events["GET /nowhere"]
    assert (missing["errorCode"], missing["errorMessage"]) == ("NotFound", "404 Not Found")


@pytest.mark.e2e
def test_app_answers_while_opentrail_is_down() -> None:
    session = botocore.session.Session()
    session.set_credentials("AKIADOWN", "secret")
    buffer = EventBuffer.connect(f"http://127.0.0.1:{free_port()}", session=session,
                                 capacity=5, batch_size=100, timeout=2)
    with serve(build(buffer)) as url:
        for n in range(12):
            assert httpx.get(f"{url}/items/{n}").status_code == 200
    stats = buffer.stats()
    assert (stats.pending, stats.dropped, stats.sent) == (5, 7, 0)
    assert buffer.dropped == 7
    assert buffer.close(timeout=0.2) is False
