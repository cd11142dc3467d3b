"""The client's address, the one place that decides whether X-Forwarded-For counts.

Everything that records or limits by address (the self-audit record's
`sourceIPAddress`, the console's sign-in limiter and `ConsoleLogin` records) reads the
ASGI scope's `client`, which this middleware settles first. By default nobody is a
trusted proxy and X-Forwarded-For is ignored: the address is the TCP peer's. Only a peer
inside `trusted_proxies` (addresses or CIDRs) may name the client, and then the client is
the right-most X-Forwarded-For entry that is not itself a trusted proxy (uvicorn's
`ProxyHeadersMiddleware`, which also takes X-Forwarded-Proto from such a peer).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

__all__ = ["ClientAddress", "parse_trusted_proxies"]


class ClientAddress:
    """ASGI middleware: the scope's `client` is the real client, per `trusted_proxies`."""

    def __init__(self, app: Any, *, trusted_proxies: str) -> None:
        networks = parse_trusted_proxies(trusted_proxies)
        self.app = ProxyHeadersMiddleware(app, trusted_hosts=networks) if networks else app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def parse_trusted_proxies(value: str) -> list[str]:
    """The comma-separated setting as normalised CIDRs; ValueError names a bad entry."""
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"trusted_proxies: {item!r} is not an IP address or CIDR "
                             "(such as 10.0.0.0/8 or 127.0.0.1).") from None
    return networks
