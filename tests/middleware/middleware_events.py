"""What both middleware tests (ASGI and WSGI) need from the server: a buffer that
writes as a writer key, and the events recorded for one app."""

from __future__ import annotations

import json
from typing import Any

import botocore.session

from conftest import Server
from opentrail.client import EventBuffer


def writer_buffer(server: Server, **options: Any) -> EventBuffer:
    key = server.key("writer")
    session = botocore.session.Session()
    session.set_credentials(key.access_key_id, key.secret)
    return EventBuffer.connect(server.endpoint, session=session, region="us-east-1", **options)


def recorded(server: Server, app: str) -> list[dict[str, Any]]:
    client: Any = server.client(region="on-premises")
    events = client.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": app}])["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in events]
