"""The ASGI middleware every request passes before a route: who the client is, and how
much of its body the server will wait for and hold."""

from __future__ import annotations

from starlette.middleware import Middleware

from opentrail.api._bodies import BodyLimits
from opentrail.api._client_ip import ClientAddress
from opentrail.config import Settings

__all__ = ["edge_middleware"]


def edge_middleware(settings: Settings) -> list[Middleware]:
    """Outermost first: the client's address is settled before anything records it."""
    return [
        Middleware(ClientAddress, trusted_proxies=settings.trusted_proxies),
        Middleware(BodyLimits, timeout=settings.body_timeout,
                   budget=settings.max_inflight_body_bytes),
    ]
