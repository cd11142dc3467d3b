"""X-Forwarded-For counts only from configured proxies: a local client can neither forge
the sourceIPAddress of audit records nor dodge the console's sign-in limit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Server, free_port, wait_until

pytestmark = pytest.mark.e2e

FORGED = "198.51.100.9"



def _audited_source_ip(server: Server) -> str:
    """Call DescribeTrails with an (unsigned) X-Forwarded-For; the address it was audited
    under."""
    ct: Any = server.client()

    def forward(request: Any, **_: Any) -> None:
        request.headers["X-Forwarded-For"] = FORGED

    ct.meta.events.register("before-send.cloudtrail.DescribeTrails", forward)
    ct.describe_trails()
    attrs = [{"AttributeKey": "EventName", "AttributeValue": "DescribeTrails"}]
    wait_until(lambda: ct.lookup_events(LookupAttributes=attrs)["Events"])
    record = json.loads(ct.lookup_events(LookupAttributes=attrs)["Events"][0]
                        ["CloudTrailEvent"])
    address: str = record["sourceIPAddress"]
    return address


def _failed_sign_in(server: Server, forwarded: str) -> httpx.Response:
    with httpx.Client(base_url=server.endpoint, timeout=30) as http:
        token = re.search(r'name="signin_token" value="([^"]+)"', http.get("/signin").text)
        assert token
        return http.post("/signin", headers={"X-Forwarded-For": forwarded},
                         data={"signin_token": token[1], "next": "/events",
                               "access_key_id": server.key("reader").access_key_id,
                               "secret": "wrong"})


def test_forwarded_for_from_loopback_is_ignored_by_default(make_server: Any) -> None:
    server: Server = make_server()
    assert _audited_source_ip(server) == "127.0.0.1"
    answers = [_failed_sign_in(server, f"203.0.113.{n}") for n in range(12)]
    assert [a.status_code for a in answers[:10]] == [401] * 10
    assert answers[-1].status_code == 429, answers[-1].text  # a new XFF per try is no way out


def test_a_trusted_proxy_names_the_client(make_server: Any) -> None:
    server: Server = make_server("--trusted-proxies", "127.0.0.1/32")
    assert _audited_source_ip(server) == FORGED
    answers = [_failed_sign_in(server, f"203.0.113.{n}") for n in range(12)]
    assert {a.status_code for a in answers} == {401}  # each client counted on its own


def test_a_bad_trusted_proxy_is_refused_at_start(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", free_port(), extra_args=("--trusted-proxies", "nginx"))
    with pytest.raises(AssertionError, match="'nginx' is not an IP address or CIDR"):
        server.start()
