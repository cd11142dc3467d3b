"""A SigV4-signed call of one of OpenTrail's own JSON 1.1 operations (not in botocore's
cloudtrail model, so boto3 cannot name them): `POST /` with X-Amz-Target."""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["TARGET_PREFIX", "call_operation"]

TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
TIMEOUT = 300.0


def call_operation(endpoint: str, operation: str, params: dict[str, Any],
                   profile: str | None, region: str | None) -> dict[str, Any]:
    """The operation's JSON answer, or a ClickException naming the AWS error."""
    import botocore.session
    import httpx

    from opentrail.client import IngestError, Signer, error_from_response

    url = f"{endpoint}/"
    body = json.dumps(params).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1",
               "X-Amz-Target": TARGET_PREFIX + operation}
    try:
        signer = Signer(botocore.session.Session(profile=profile), region)
        response = httpx.post(url, content=body, headers=signer.sign("POST", url, headers, body),
                              timeout=TIMEOUT)
    except IngestError as exc:
        raise click.ClickException(exc.message) from exc
    except httpx.HTTPError as exc:
        raise click.ClickException(f"could not reach {endpoint}: {exc}") from exc
    if response.status_code != 200:
        err = error_from_response(response)
        raise click.ClickException(f"{err.code}: {err.message}")
    answer: dict[str, Any] = response.json()
    return answer
