"""Reading and authenticating a request: shared by every route of the edge."""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request

from opentrail.auth import AuthContext, Role
from opentrail.errors import AccessDenied, OpenTrailError, PayloadTooLarge, ValidationError
from opentrail.service import Service

__all__ = ["authenticate", "read_body", "require"]

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


def authenticate(service: Service, request: Request, body: bytes) -> AuthContext:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1")
               for k, v in request.scope["headers"]}
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    return service.verifier.verify(request.method, raw_path.decode("latin-1"),
                                   request.scope["query_string"].decode("latin-1"),
                                   headers, body)


def require(ctx: AuthContext, role: Role, what: str) -> None:
    if not ctx.principal.allows(role):
        raise AccessDenied(f"Access key {ctx.principal.access_key_id} has the role "
                           f"{ctx.principal.role}; {what} needs the role {role} or higher.")
