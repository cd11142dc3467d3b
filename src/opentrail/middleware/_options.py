"""What both middlewares accept, turned into a `Recorder` in one place."""

from __future__ import annotations

import os
from collections.abc import Iterable

from opentrail.client import EventBuffer
from opentrail.middleware._recorder import DEFAULT_REDACT, Identity, Recorder

__all__ = ["ENDPOINT_ENV", "make_recorder"]

ENDPOINT_ENV = "OPENTRAIL_ENDPOINT_URL"
_DEFAULT_ENDPOINT = "http://127.0.0.1:8420"


def make_recorder(*, app_name: str, endpoint_url: str | None = None,
                  buffer: EventBuffer | None = None,
                  identity: Identity | None = None,
                  redact: Iterable[str] = DEFAULT_REDACT, region: str = "on-premises",
                  account: str | None = None) -> Recorder:
    """A recorder sending to `buffer`, else to a new buffer for `endpoint_url` (else
    $OPENTRAIL_ENDPOINT_URL, else the local default) with the standard AWS credentials."""
    if not app_name:
        raise ValueError("app_name is required: it becomes the eventSource, e.g. "
                         "'myapp.example.com'.")
    if buffer is None:
        url = endpoint_url or os.environ.get(ENDPOINT_ENV) or _DEFAULT_ENDPOINT
        buffer = EventBuffer.connect(url)
    return Recorder(buffer, app_name=app_name, identity=identity, redact=redact,
                    region=region, account=account)
