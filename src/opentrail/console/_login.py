"""Console sign-in: checking an access key's secret, and the ConsoleLogin record of it.

Every attempt, good or bad, becomes a CloudTrail `ConsoleLogin` event
(`eventType: AwsConsoleSignIn`, `eventSource: signin.amazonaws.com`) in the ledger, as
AWS records console sign-ins. An unknown key id is recorded with the user name hidden,
as AWS hides mistyped user names (they are often passwords).
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

from opentrail.auth import KeyStore, Principal
from opentrail.events import ORIGIN_FIELD, SERVER_ORIGIN

__all__ = ["HIDDEN", "LoginAttempt", "check_key", "login_record"]

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
_DUMMY = "0" * 40  # compared against when the key is unknown, so timing does not tell


@dataclass(frozen=True)
class LoginAttempt:
    """What one sign-in attempt came to; `principal` is None when the key is unknown."""

    principal: Principal | None
    ok: bool
    reason: str  # errorMessage for a failure, "" on success


def check_key(keys: KeyStore, access_key_id: str, secret: str) -> LoginAttempt:
    found = keys.lookup(access_key_id.strip()) if access_key_id.strip() else None
    expected = found[1] if found else _DUMMY
    same = hmac.compare_digest(expected.encode(), secret.encode())
    if found is None:
        return LoginAttempt(None, False, "No access key with that id exists.")
    if not same:
        return LoginAttempt(found[0], False, "Failed authentication")
    return LoginAttempt(found[0], True, "")


def _identity(principal: Principal | None, organization_account: str) -> dict[str, Any]:
    if principal is None:
        return {"type": "IAMUser", "principalId": "", "accountId": organization_account,
                "accessKeyId": "", "userName": HIDDEN}
    account = principal.account or organization_account
    return {"type": "IAMUser", "principalId": principal.access_key_id,
            "arn": f"arn:aws:iam::{account}:user/opentrail/{principal.name}",
            "accountId": account, "accessKeyId": principal.access_key_id,
            "userName": principal.name}


def login_record(attempt: LoginAttempt, *, region: str, source_ip: str, user_agent: str,
                 organization_account: str, now: float, login_to: str) -> dict[str, Any]:
    """The CloudTrail record of one console sign-in attempt."""
    identity = _identity(attempt.principal, organization_account)
    record: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": identity,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent[:1024],
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": "Success" if attempt.ok else "Failure"},
        "additionalEventData": {"LoginTo": login_to, "MobileVersion": "No",
                                "MFAUsed": "No"},
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": True,
        "recipientAccountId": identity["accountId"],
        "eventCategory": "Management",
        ORIGIN_FIELD: SERVER_ORIGIN,  # made here, never taken from a client
    }
    if not attempt.ok:
        record["errorMessage"] = attempt.reason
    return record
