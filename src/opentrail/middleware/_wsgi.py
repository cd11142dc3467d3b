"""`AuditWSGIMiddleware`: WSGI middleware (Flask, Django) recording each HTTP request.

The caller is asked for at `start_response`, while the framework is still inside the
request: in Flask, `flask.request`, `flask.g` and `current_user` are live then. The
route template comes from `environ["opentrail.route"]` when the app sets it, else from
Flask's `request.url_rule`, else from Django's `resolver_match` (when `identity` or a
view stored the request in `environ["opentrail.request"]`), else it is the path.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from opentrail.client import EventBuffer
from opentrail.middleware._options import make_recorder
from opentrail.middleware._recorder import DEFAULT_REDACT, MAX_BODY, Identity, Recorder

__all__ = ["AuditWSGIMiddleware"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class AuditWSGIMiddleware:
    """`app.wsgi_app = AuditWSGIMiddleware(app.wsgi_app, app_name=..., identity=...)`.

    Options are those of `make_recorder`; `identity` gets the WSGI environ.
    """

    def __init__(self, app: WSGIApp, *, app_name: str, endpoint_url: str | None = None,
                 buffer: EventBuffer | None = None, identity: Identity | None = None,
                 redact: Iterable[str] = DEFAULT_REDACT, region: str = "on-premises",
                 account: str | None = None) -> None:
        self.app = app
        self.recorder = make_recorder(app_name=app_name, endpoint_url=endpoint_url,
                                      buffer=buffer, identity=identity, redact=redact,
                                      region=region, account=account)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        call = _Call(self.recorder, environ)
        try:
            result = self.app(environ, call.start(start_response))
        except BaseException:
            call.finish()
            raise
        return _Closing(result, call)


class _Call:
    """One request: what is known at the start, completed at `start_response`."""

    def __init__(self, recorder: Recorder, environ: Environ) -> None:
        self.recorder, self.environ = recorder, environ
        self.started, self.status = time.time(), 500
        self.body = _json_body(environ)
        self.who: Any = None
        self.route: str | None = None
        self.done = False

    def start(self, start_response: StartResponse) -> StartResponse:
        def starting(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            self.status = int(status[:3])
            self.who = self.recorder.who(self.environ)
            self.route = _route(self.environ)
            return start_response(status, headers, *args)
        return starting

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        env, recorder = self.environ, self.recorder
        recorder.record(
            method=env.get("REQUEST_METHOD", "GET"),
            route=self.route or _route(env), status=self.status,
            who=self.who if self.who is not None else recorder.who(env),
            source_ip=env.get("REMOTE_ADDR", ""), user_agent=env.get("HTTP_USER_AGENT", ""),
            params=recorder.parameters(env.get("QUERY_STRING", ""), self.body),
            request_id=env.get("HTTP_X_REQUEST_ID"), started=self.started)


class _Closing:
    """The response iterable, recording once the server closes it (the response is out)."""

    def __init__(self, result: Iterable[bytes], call: _Call) -> None:
        self._result, self._call = result, call

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._call.finish()


def _json_body(environ: Environ) -> bytes | None:
    """A small JSON body, read now and put back for the app as a fresh stream."""
    if "json" not in environ.get("CONTENT_TYPE", ""):
        return None
    length = environ.get("CONTENT_LENGTH", "")
    if not length.isdigit() or int(length) > MAX_BODY:
        return None
    body: bytes = environ["wsgi.input"].read(int(length))
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _route(environ: Environ) -> str:
    if route := environ.get("opentrail.route"):
        return str(route)
    flask = sys.modules.get("flask")  # only if the app uses Flask: never imported here
    if flask is not None and flask.has_request_context():
        rule = flask.request.url_rule
        if rule is not None:
            return str(rule.rule)
    request = environ.get("opentrail.request")
    match = getattr(request, "resolver_match", None)
    if match is not None and getattr(match, "route", None):
        return "/" + str(match.route)
    return str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "/"))
