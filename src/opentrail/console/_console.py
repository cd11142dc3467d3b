"""The console's plumbing: who is signed in, forms, CSRF, and errors shown in words."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from opentrail import __version__
from opentrail.auth import AuthContext, Principal
from opentrail.console._filter import ATTRIBUTE_LABELS, RANGES, Filter, parse_filter
from opentrail.console._limiter import SignInLimiter
from opentrail.console._session import COOKIE, Session, SessionStore
from opentrail.console._view import View
from opentrail.errors import OpenTrailError
from opentrail.history import ActivityIndex
from opentrail.service import Service

__all__ = ["Console", "Handler", "Viewer", "page"]

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 16 * 1024


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: their session and the access key they signed in with."""

    session: Session
    principal: Principal

    def auth(self, region: str) -> AuthContext:
        return AuthContext(self.principal, region, "console")

    @property
    def accounts(self) -> tuple[str, ...] | None:
        return None if self.principal.organization else (self.principal.account or "",)


class Console:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.sessions = SessionStore(service.clock)
        self.limiter = SignInLimiter(service.clock)
        self.view = View(__version__)
        backend = service.backend  # on PostgreSQL the database's index and ledger
        self.activity = ActivityIndex(
            service.settings.data_dir, service.clock, service.ledger,
            None if backend is None or service.ledger is None
            else backend.history_index().activity())

    def viewer(self, request: Request) -> Viewer | None:
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            return None
        found = self.service.keys.lookup(session.access_key_id)
        if found is None:  # the key was deleted: its sessions end with it
            self.sessions.end(session.id)
            return None
        return Viewer(session, found[0])

    def filter(self, request: Request, default_range: str = "90d") -> Filter:
        lists = {k: request.query_params.getlist(k) for k in ("k", "v")}
        return parse_filter(request.query_params, lists,
                            default_region=self.service.settings.region,
                            default_range=default_range, now=self.service.clock.now())

    def regions(self, viewer: Viewer, current: str) -> list[str]:
        found = self.activity.regions(viewer.accounts)
        return sorted({*found, current, self.service.settings.region})

    def render(self, request: Request, template: str, viewer: Viewer | None, *,
               status: int = 200, **context: Any) -> Response:
        base = {"viewer": viewer, "path": request.url.path, "ranges": RANGES,
                "attribute_labels": ATTRIBUTE_LABELS,
                "csrf": viewer.session.csrf if viewer else ""}
        return self.view.render(template, status, **base, **context)


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form, bounded; the last value of a repeated field wins."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


Handler = Callable[[Console, Request, Viewer], Awaitable[Response]]


def page(console: Console, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page for signed-in people: others go to the sign-in page, errors become words."""

    async def endpoint(request: Request) -> Response:
        viewer = console.viewer(request)
        if viewer is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?next={quote(target, safe='')}", 303)
        try:
            return await handler(console, request, viewer)
        except OpenTrailError as err:
            return console.render(request, "error.html", viewer, status=err.status,
                                  title="That did not work", message=err.message)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("console page %s failed (reference %s)", request.url.path, ref)
            return console.render(
                request, "error.html", viewer, status=500, title="Something went wrong",
                message=f"The server could not show this page. If it keeps happening, "
                        f"report reference {ref} to your administrator.")

    return endpoint


def new_token() -> str:
    return secrets.token_urlsafe(24)
