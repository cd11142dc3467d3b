"""Sign-in and sign-out pages.

The sign-in form is protected from cross-site posting by a double-submit token (a
random cookie that the form must repeat) on top of SameSite=Strict; every later form
carries the session's own CSRF token. Each attempt is written to the ledger as a
ConsoleLogin event before the answer is sent.
"""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from opentrail.console._console import Console, new_token, read_form
from opentrail.console._login import LoginAttempt, check_key, login_record
from opentrail.console._session import COOKIE
from opentrail.errors import OpenTrailError
from opentrail.events import parse_record

__all__ = ["signin_page", "signin_submit", "signout"]

SIGNIN_COOKIE = "opentrail_signin"
NOTICES = {"signedout": "You are signed out.",
           "expired": "Your session ended. Sign in again to continue."}


def _safe_next(target: str) -> str:
    """Only paths on this server: never another site (open redirect)."""
    ok = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if ok else "/events"


def _form(console: Console, request: Request, *, status: int = 200, error: str = "",
          key_id: str = "", target: str = "/events") -> Response:
    token = request.cookies.get(SIGNIN_COOKIE) or new_token()
    notice = NOTICES.get(request.query_params.get("notice", ""), "")
    response = console.render(request, "signin.html", None, status=status, error=error,
                              notice=notice, key_id=key_id, signin_token=token,
                              next=_safe_next(target))
    response.set_cookie(SIGNIN_COOKIE, token, max_age=3600, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


async def signin_page(console: Console, request: Request) -> Response:
    if console.viewer(request) is not None:
        return RedirectResponse("/events", 303)
    return _form(console, request, target=request.query_params.get("next", "/events"))


async def signin_submit(console: Console, request: Request) -> Response:
    form = await read_form(request)
    key_id, target = form.get("access_key_id", "").strip(), form.get("next", "/events")
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    if not cookie or form.get("signin_token") != cookie:
        return _form(console, request, status=400, key_id=key_id, target=target,
                     error="The sign-in form expired. Please try again.")
    address = request.client.host if request.client else ""
    if console.limiter.blocked(address):
        attempt = LoginAttempt(None, False, "Too many failed sign-ins from this address.")
    else:
        attempt = await run_in_threadpool(check_key, console.service.keys, key_id,
                                          form.get("secret", ""))
    try:
        await _record(console, request, attempt)
    except OpenTrailError as err:  # unaudited sign-ins are not allowed
        return _form(console, request, status=503, key_id=key_id, target=target,
                     error=f"Sign-in is unavailable: {err.message}")
    if not attempt.ok or attempt.principal is None:
        return _refused(console, request, attempt, address, key_id, target)
    session = console.sessions.create(attempt.principal.access_key_id)
    response = RedirectResponse(_safe_next(target), 303)
    response.set_cookie(COOKIE, session.id, max_age=console.sessions.lifetime,
                        httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    response.delete_cookie(SIGNIN_COOKIE)
    return response


def _refused(console: Console, request: Request, attempt: LoginAttempt, address: str,
             key_id: str, target: str) -> Response:
    if console.limiter.blocked(address):
        return _form(console, request, status=429, key_id=key_id, target=target,
                     error="Too many failed sign-ins from your address. Wait ten minutes, "
                           "then try again.")
    console.limiter.failed(address)
    return _form(console, request, status=401, key_id=key_id, target=target,
                 error="That access key ID and secret access key do not match. "
                       "Check both and try again.")


async def _record(console: Console, request: Request, attempt: LoginAttempt) -> None:
    settings = console.service.settings
    record = login_record(
        attempt, region=settings.region,
        source_ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        organization_account=settings.organization_account,
        now=console.service.clock.now(), login_to=str(request.base_url) + "events")
    parsed = parse_record(record, default_account=record["recipientAccountId"],
                          default_region=settings.region)
    await asyncio.wrap_future(console.service.writer.submit([parsed]))


async def signout(console: Console, request: Request) -> Response:
    viewer = console.viewer(request)
    form = await read_form(request)
    if viewer is not None:
        if not viewer.session.csrf_ok(form.get("csrf")):
            return console.render(request, "error.html", viewer, status=403,
                                  title="Sign-out was refused",
                                  message="The form was stale or came from another site. "
                                          "Use the Sign out button again.")
        console.sessions.end(viewer.session.id)
    response = RedirectResponse("/signin?notice=signedout", 303)
    response.delete_cookie(COOKIE, path="/")
    return response
