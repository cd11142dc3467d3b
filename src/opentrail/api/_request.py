"""Reading and authenticating a request: shared by every route of the edge."""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request

from opentrail.auth import AuthContext, Role
from opentrail.auth._sigv4 import PendingSignature
from opentrail.errors import AccessDenied, OpenTrailError, PayloadTooLarge, ValidationError
from opentrail.service import Service

__all__ = ["check_headers", "read_body", "read_signed", "require"]

log = logging.getLogger(__name__)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:  # one quiet line, not a traceback per impatient client
        log.info("%s %s: the client left after %d bytes of the body", request.method,
                 request.url.path, size)
        raise ValidationError("The client closed the connection before sending the whole "
                              "body.", code="IncompleteBody") from None
    return b"".join(chunks)


def _too_large(limit: int) -> OpenTrailError:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.")


async def read_signed(service: Service, request: Request,
                      limit: int) -> tuple[AuthContext, bytes]:
    """The caller and the body: credentials are checked before a byte of the body is
    read, so an unsigned or unknown client cannot make the server hold its upload."""
    pending = check_headers(service, request)
    body = await read_body(request, limit)
    return pending.verify(body), body


def check_headers(service: Service, request: Request) -> PendingSignature:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1")
               for k, v in request.scope["headers"]}
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    return service.verifier.check_headers(request.method, raw_path.decode("latin-1"),
                                          request.scope["query_string"].decode("latin-1"),
                                          headers)


def require(ctx: AuthContext, role: Role, what: str) -> None:
    if not ctx.principal.allows(role):
        raise AccessDenied(f"Access key {ctx.principal.access_key_id} has the role "
                           f"{ctx.principal.role}; {what} needs the role {role} or higher.")
