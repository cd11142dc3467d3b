"""The version IDs OpenTrail recorded when it delivered a trail's objects.

When validate-logs talks to an OpenTrail server (`--endpoint-url`), it asks for the
trail's delivery record (`GET /opentrail/v1/trails/objects`, docs/trails.md "Object
Lock") and reads each object by the exact VersionId S3 answered at delivery. Against
AWS CloudTrail, or when the call is refused, the record is empty and the S3 reader falls
back to each object's first listed version. Signed with the session's credentials
(SigV4, service "opentrail"), like every OpenTrail route.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

__all__ = ["DELIVERIES_PATH", "recorded_versions"]

log = logging.getLogger(__name__)

DELIVERIES_PATH = "/opentrail/v1/trails/objects"
MARGIN = timedelta(hours=2)  # digests are delivered after their window ends


def recorded_versions(session: Any, endpoint: str, trail_arn: str, region: str,
                      start: datetime, end: datetime) -> dict[tuple[str, str], str]:
    """(bucket, key) -> VersionId of objects delivered from start - 2 h to end + 2 h;
    empty when the server is not OpenTrail or refuses."""
    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    query = urlencode({"trailArn": trail_arn,
                       "startTime": (start - MARGIN).timestamp(),
                       "endTime": (end + MARGIN).timestamp()})
    url = f"{endpoint.rstrip('/')}{DELIVERIES_PATH}?{query}"
    try:
        credentials = session.get_credentials()
        request = AWSRequest(method="GET", url=url)
        SigV4Auth(credentials.get_frozen_credentials(), "opentrail", region).add_auth(request)
        answer = httpx.get(url, headers=dict(request.headers.items()), timeout=60)
        answer.raise_for_status()
        objects = answer.json().get("Objects", [])
    except Exception as exc:  # AWS itself, an older server, no permission: fall back
        log.info("no delivery record from %s (%s); reading first versions", endpoint, exc)
        return {}
    return {(str(o["Bucket"]), str(o["Key"])): str(o["VersionId"]) for o in objects
            if o.get("VersionId")}
