"""Where a report's facts come from: a running OpenTrail server, read as a client.

Everything goes through the APIs a key already has: the CloudTrail operations
(DescribeTrails, GetEventSelectors, LookupEvents, ListPublicKeys) with botocore, and
OpenTrail's signed JSON routes (/opentrail/v1: checkpoints, proofs, the system
description, report recording). Nothing reads the server's files, so the same command
works against a remote server and proves only what the API shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["ApiError", "ServerSource"]

API = "/opentrail/v1"
TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."


class ApiError(Exception):
    """The server refused or failed a call; the message names the AWS error."""


class ServerSource:
    def __init__(self, endpoint: str, *, profile: str | None = None,
                 region: str | None = None, session: Any = None) -> None:
        """`session`: a botocore session with credentials set (the console's, signing as
        the signed-in key); by default the standard AWS chain, with `profile`."""
        import botocore.session

        self.endpoint = endpoint.rstrip("/")
        self.profile = profile
        self.session = session or botocore.session.Session(profile=profile)
        self.region = region or self.session.get_config_variable("region") or "us-east-1"
        self._cloudtrail: Any = None
        self._events: Any = None
        self._http: Any = None      # one keep-alive client for every route call
        self._signer: Any = None

    def cloudtrail(self) -> Any:
        if self._cloudtrail is None:
            self._cloudtrail = self.session.create_client(
                "cloudtrail", region_name=self.region, endpoint_url=self.endpoint)
        return self._cloudtrail

    def events_client(self) -> Any:
        """EventBridge's API (event rules) on the same server."""
        if self._events is None:
            self._events = self.session.create_client(
                "events", region_name=self.region, endpoint_url=self.endpoint)
        return self._events

    # --- OpenTrail's own routes -----------------------------------------------------

    def _call(self, method: str, path: str, params: dict[str, str] | None = None,
              body: bytes = b"") -> dict[str, Any]:
        import httpx

        from opentrail.client import Signer, error_from_response

        if self._http is None:
            self._http = httpx.Client(timeout=120)
            self._signer = Signer(self.session, self.region)
        query = f"?{urlencode(params, quote_via=quote)}" if params else ""
        url = f"{self.endpoint}{API}{path}{query}"
        headers = {"Content-Type": "application/json"} if body else {}
        signed = self._signer.sign(method, url, headers, body)
        response = self._http.request(method, url, headers=signed, content=body)
        if response.status_code != 200:
            err = error_from_response(response)
            raise ApiError(f"{err.code}: {err.message}")
        answer: dict[str, Any] = response.json()
        return answer

    def system(self) -> dict[str, Any]:
        return self._call("GET", "/compliance/system")

    def checkpoints(self, start: datetime, end: datetime) -> dict[str, Any]:
        return self._call("GET", "/checkpoints", {"start": str(int(start.timestamp())),
                                                  "end": str(int(end.timestamp()))})

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        return self._call("GET", "/proofs/consistency",
                          {"first": str(first), "second": str(second)})

    def inclusion(self, event_id: str, account: str, tree_size: int) -> dict[str, Any]:
        return self._call("GET", "/proofs/inclusion", {
            "eventId": event_id, "accountId": account, "treeSize": str(tree_size)})

    def trail_objects(self, arn: str, start: datetime | None, end: datetime,
                      kind: str | None = None) -> dict[str, Any]:
        """The trail's delivery record for [start, end) (from the first when `start` is
        None), of one `kind` when given: objects with version IDs and locks, and each
        bucket's guarantee (docs/trails.md "Object Lock")."""
        params = {"trailArn": arn, "endTime": str(end.timestamp())}
        if start is not None:
            params["startTime"] = str(start.timestamp())
        if kind is not None:
            params["kind"] = kind
        return self._call("GET", "/trails/objects", params)

    def operation(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """One of OpenTrail's own JSON 1.1 operations (ListSigmaFindings, ...): `POST /`
        with X-Amz-Target, not in botocore's model."""
        import httpx

        from opentrail.client import Signer, error_from_response

        if self._http is None:
            self._http = httpx.Client(timeout=120)
            self._signer = Signer(self.session, self.region)
        url, body = f"{self.endpoint}/", json.dumps(params).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": TARGET_PREFIX + name}
        response = self._http.post(url, content=body,
                                   headers=self._signer.sign("POST", url, headers, body))
        if response.status_code != 200:
            err = error_from_response(response)
            raise ApiError(f"{err.code}: {err.message}")
        answer: dict[str, Any] = response.json()
        return answer

    def record_report(self, document: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/compliance/reports",
                          body=json.dumps(document, sort_keys=True).encode())

    # --- CloudTrail operations -------------------------------------------------------

    def trails(self) -> list[dict[str, Any]]:
        trails: list[dict[str, Any]] = self.cloudtrail().describe_trails(
            includeShadowTrails=False).get("trailList", [])
        return trails

    def status(self, arn: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.cloudtrail().get_trail_status(Name=arn)
        return answer

    def selectors(self, arn: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.cloudtrail().get_event_selectors(TrailName=arn)
        return answer

    def public_keys(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        keys: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StartTime": start, "EndTime": end}
        while True:
            page = self.cloudtrail().list_public_keys(**kwargs)
            keys.extend(page.get("PublicKeyList", []))
            if not page.get("NextToken"):
                return keys
            kwargs["NextToken"] = page["NextToken"]

    def events(self, start: datetime, end: datetime, *, attribute: tuple[str, str] | None
               = None, category: str | None = None) -> Iterator[dict[str, Any]]:
        """The records LookupEvents returns for the window, newest first (parsed), page
        by page: stopping early fetches no further page."""
        kwargs: dict[str, Any] = {"StartTime": start, "EndTime": end, "MaxResults": 50}
        if attribute is not None:
            kwargs["LookupAttributes"] = [{"AttributeKey": attribute[0],
                                           "AttributeValue": attribute[1]}]
        if category is not None:
            kwargs["EventCategory"] = category
        paginator = self.cloudtrail().get_paginator("lookup_events")
        for page in paginator.paginate(**kwargs):
            for event in page.get("Events", []):
                yield json.loads(event["CloudTrailEvent"])
