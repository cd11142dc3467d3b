"""`Recorder`: one HTTP request as a CloudTrail record, handed to an `EventBuffer`.

Shared by the ASGI and WSGI middleware. The record:

* who: `userIdentity` from the application's `identity` hook (`{"type": "Unknown"}`
  without one, or when the hook fails: a broken hook never fails the request);
* what: `eventSource` = the application's name, `eventName` = "<METHOD> <route template>"
  (the path when the framework names no route), `readOnly` for GET/HEAD/OPTIONS;
* outcome: a status ≥ 400 becomes `errorCode` "NotFound", `errorMessage` "404 Not Found";
* where: `sourceIPAddress`, `userAgent`; parameters: the query and the JSON body's
  fields, with every key that contains a redacted word (case, `-` and `_` ignored)
  replaced by CloudTrail's own placeholder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from random import getrandbits
from typing import Any
from urllib.parse import parse_qsl

import orjson

from opentrail.client import EventBuffer

__all__ = ["DEFAULT_REDACT", "HIDDEN", "READ_METHODS", "Identity", "Recorder", "error_code"]

log = logging.getLogger("opentrail.middleware")

DEFAULT_REDACT = ("password", "passwd", "token", "secret", "authorization", "apikey",
                  "accesskey", "privatekey", "credential", "cookie", "session", "signature")
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"  # what CloudTrail writes for a redacted field
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 64 * 1024  # a larger JSON body is not copied into the event
_CODES = {s.value: s.phrase.title().replace(" ", "").replace("-", "") for s in HTTPStatus}
_UNKNOWN = {"type": "Unknown"}
_V4_MASK = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_V4_BITS = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant
Identity = Callable[[Any], Mapping[str, Any] | None]  # request -> userIdentity


def error_code(status: int) -> str:
    """404 -> "NotFound", 500 -> "InternalServerError"; an unnamed status as its number."""
    return _CODES.get(status, str(status))


def event_id() -> str:
    """A random (version 4) UUID, several times cheaper than uuid.uuid4(): eventIDs must
    be unique, not secret, and this runs once per request of the application."""
    n = (getrandbits(128) & _V4_MASK) | _V4_BITS
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _normal(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


class Recorder:
    """Builds the record of a request and gives it to the buffer; never raises."""

    def __init__(self, buffer: EventBuffer, *, app_name: str,
                 identity: Identity | None = None,
                 redact: Iterable[str] = DEFAULT_REDACT, region: str = "on-premises",
                 account: str | None = None) -> None:
        self.buffer, self.app_name, self.identity = buffer, app_name, identity
        self.redact = tuple(_normal(word) for word in redact)
        self.region, self.account = region, account
        self._safe: set[str] = set()  # keys already seen not to need redaction

    def who(self, request: Any) -> Mapping[str, Any]:
        """The hook's answer for `request`; a failing hook is logged, not raised."""
        if self.identity is None:
            return _UNKNOWN
        try:
            return self.identity(request) or _UNKNOWN
        except Exception:
            log.exception("the OpenTrail identity hook failed; recording the caller as Unknown")
            return _UNKNOWN

    def parameters(self, query: str, body: bytes | None) -> dict[str, Any] | None:
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        if body:
            try:
                fields = orjson.loads(body)
            except orjson.JSONDecodeError:
                fields = None
            if isinstance(fields, dict):
                params.update(fields)
        return self.redacted(params) if params else None

    def redacted(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: HIDDEN if self._secret(k) else self.redacted(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redacted(v) for v in value]
        return value

    def _secret(self, key: object) -> bool:
        if not isinstance(key, str) or key in self._safe:
            return False
        normal = _normal(key)
        if any(word in normal for word in self.redact):
            return True
        if len(self._safe) < 10_000:  # bounded: keys come from clients
            self._safe.add(key)
        return False

    def record(self, *, method: str, route: str, status: int, who: Mapping[str, Any],
               source_ip: str, user_agent: str, params: dict[str, Any] | None,
               request_id: str | None, started: float) -> None:
        """Build the event and hand it to the buffer (which never blocks)."""
        eid = event_id()
        event: dict[str, Any] = {
            "eventVersion": "1.11",
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "eventSource": self.app_name, "eventName": f"{method} {route}",
            "awsRegion": self.region, "userIdentity": dict(who),
            "sourceIPAddress": source_ip, "userAgent": user_agent,
            "requestParameters": params, "responseElements": None,
            "requestID": request_id or eid, "eventID": eid,
            "readOnly": method in READ_METHODS, "eventType": "AwsApiCall",
            "managementEvent": True, "eventCategory": "Management",
            "additionalEventData": {"statusCode": status},
        }
        if status >= 400:
            event["errorCode"] = error_code(status)
            event["errorMessage"] = f"{status} {_phrase(status)}".rstrip()
        if self.account:
            event["recipientAccountId"] = self.account
        self.buffer.record(event)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
