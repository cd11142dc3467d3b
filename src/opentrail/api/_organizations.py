"""The one AWS Organizations call validators need: DescribeOrganization.

`aws cloudtrail validate-logs` looks up an organization trail's organization ID with
`organizations:DescribeOrganization` (spec cloudtrail-formats.md 3.4 step 2) before it
lists `AWSLogs/o-ID/ACCOUNT/CloudTrail-Digest/`. OpenTrail's organization is its
configuration (`--organization-id`, `--organization-account`), so the server answers
that call itself: point the aws CLI at it with `AWS_ENDPOINT_URL_ORGANIZATIONS`.
"""

from __future__ import annotations

from typing import Any

from opentrail.auth import AuthContext
from opentrail.errors import AWSOrganizationsNotInUse

__all__ = ["ORGANIZATIONS_TARGET_PREFIX", "describe_organization"]

ORGANIZATIONS_TARGET_PREFIX = "AWSOrganizationsV20161128."


def describe_organization(service: Any, params: dict[str, Any], ctx: AuthContext) -> Any:
    org: str | None = service.organization_id
    if org is None:
        raise AWSOrganizationsNotInUse("Your account is not a member of an organization.")
    master = service.settings.organization_account
    return {"Organization": {
        "Id": org, "Arn": f"arn:aws:organizations::{master}:organization/{org}",
        "FeatureSet": "ALL", "MasterAccountArn": f"arn:aws:organizations::{master}:account/"
        f"{org}/{master}", "MasterAccountId": master, "AvailablePolicyTypes": []}}
