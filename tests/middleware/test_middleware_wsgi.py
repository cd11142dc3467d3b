"""AuditWSGIMiddleware in a real Flask app served by werkzeug on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session
import flask
import httpx
import pytest
from middleware_events import recorded, writer_buffer
from werkzeug.serving import make_server

from conftest import Server, free_port, wait_until
from opentrail.client import EventBuffer
from opentrail.middleware import HIDDEN, AuditWSGIMiddleware

APP = "flask.example.com"


def build(buffer: EventBuffer) -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> dict[str, Any]:
        flask.g.user = "carol"
        return {"id": order_id}

    @app.post("/orders")
    def create() -> tuple[dict[str, Any], int]:
        body = flask.request.get_json()
        return {"created": body["item"]}, 201

    @app.delete("/orders/<int:order_id>")
    def delete(order_id: int) -> tuple[str, int]:
        return "forbidden", 403

    app.wsgi_app = AuditWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, app_name=APP, buffer=buffer, redact=["card", "password"],
        identity=lambda environ: {"type": "AppUser",
                                  "userName": flask.g.get("user", "anonymous")})
    return app


@contextmanager
def serve(app: flask.Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=30)
        server.server_close()


@pytest.mark.e2e
def test_flask_requests_become_events(live_server: Server) -> None:
    buffer = writer_buffer(live_server)
    with serve(build(buffer)) as url:
        assert httpx.get(f"{url}/orders/7?page=2").status_code == 200
        created = httpx.post(f"{url}/orders", json={"item": "book", "card_number": "4111"})
        assert created.json() == {"created": "book"}  # the app still reads its body
        assert httpx.delete(f"{url}/orders/7").status_code == 403
        assert buffer.flush(timeout=60)
    buffer.close()
    wait_until(lambda: len(recorded(live_server, APP)) == 3, timeout=60)
    events = {e["eventName"]: e for e in recorded(live_server, APP)}
    get = events["GET /orders/<int:order_id>"]
    assert get["userIdentity"] == {"type": "AppUser", "userName": "carol"}
    assert (get["requestParameters"], get["readOnly"]) == ({"page": "2"}, True)
    post = events["POST /orders"]
    assert post["requestParameters"] == {"item": "book", "card_number": HIDDEN}
    assert post["additionalEventData"]["statusCode"] == 201
    denied = events["DELETE /orders/<int:order_id>"]
    assert (denied["errorCode"], denied["readOnly"]) == ("Forbidden", False)


@pytest.mark.e2e
def test_flask_answers_while_opentrail_is_down() -> None:
    session = botocore.session.Session()
    session.set_credentials("AKIADOWN", "secret")
    buffer = EventBuffer.connect(f"http://127.0.0.1:{free_port()}", session=session,
                                 capacity=3, batch_size=100, timeout=2)
    with serve(build(buffer)) as url:
        for n in range(8):
            assert httpx.get(f"{url}/orders/{n}").status_code == 200
    stats = buffer.stats()
    assert (stats.pending, stats.dropped) == (3, 5)
    assert buffer.close(timeout=0.2) is False
