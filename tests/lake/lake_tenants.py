"""Accounts on a shared test server and error helpers for the Lake's boto3 tests."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Key, Server, signed_post
from opentrail.auth import KeyStore, Role

__all__ = ["Tenant", "code", "error", "only"]

_ACCOUNTS = itertools.count(410000000001)


def only(category: str) -> list[dict[str, Any]]:
    return [{"FieldSelectors": [{"Field": "eventCategory", "Equals": [category]}]}]


@dataclass
class Tenant:
    server: Server
    account: str | None = field(default_factory=lambda: str(next(_ACCOUNTS)))
    _key: tuple[str, str] | None = None

    def client(self, region: str = "us-east-1", *, validate: bool = True) -> Any:
        """boto3; validate=False sends what botocore would refuse (to reach the server's
        own checks of min/max)."""
        import boto3

        if self._key is None:
            with KeyStore(self.server.data_dir) as store:
                principal, secret = store.create(account=self.account,
                                                 organization=self.account is None,
                                                 role=Role("admin"))
            self._key = (principal.access_key_id, secret)
        return boto3.client("cloudtrail", endpoint_url=self.server.endpoint,
                            region_name=region, aws_access_key_id=self._key[0],
                            aws_secret_access_key=self._key[1],
                            config=Config(parameter_validation=validate))


    def call(self, operation: str, body: object) -> httpx.Response:
        """A signed cloudtrail call with any JSON body (what botocore cannot serialise)."""
        self.client()
        assert self._key is not None
        return signed_post(self.server.endpoint, "/", json.dumps(body).encode(),
                           Key(*self._key), service="cloudtrail", headers={
                               "X-Amz-Target": "com.amazonaws.cloudtrail.v20131101."
                                               f"CloudTrail_20131101.{operation}",
                               "Content-Type": "application/x-amz-json-1.1"})


def error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response["Error"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(err["Code"]), str(err["Message"])


def code(call: Any, **kwargs: Any) -> str:
    return error(call, **kwargs)[0]
