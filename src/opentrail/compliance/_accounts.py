"""The accounts a report covers, and which digest chains it validates for them.

An account key's report covers its own account: what the server answers it
(DescribeTrails, LookupEvents, the health records, a trail's delivery record) holds
nothing of another account. An organization key's report covers every account:
LookupEvents answers for all of them, and an organization trail keeps one digest chain
per account (`AWSLogs/o-ORGID/ACCOUNT/CloudTrail-Digest/`), each validated on its own,
as `validate-logs --account-id` does. Those chains are the accounts the trail's delivery
record lists digests for, from the period's start to two digest intervals after its end
(the digest covering the end is delivered after it), so a digest deleted from storage
still names its account.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentrail.compliance._evidence import Evidence
    from opentrail.compliance._validation import TrailValidation

__all__ = ["chain_accounts", "covered_accounts", "digest_account", "organization_scope"]


def organization_scope(evidence: Evidence) -> bool:
    """Whether the report was asked for with an organization key."""
    return evidence.system.get("callerScope") == "organization"


def digest_account(key: str, organization: str | None) -> str | None:
    """ACCOUNT of a key `[prefix/]AWSLogs/o-ORGID/ACCOUNT/...` (None for another key)."""
    if not organization:
        return None
    parts = key.split("/")
    for i in range(len(parts) - 2):
        if parts[i] == "AWSLogs" and parts[i + 1] == organization:
            return parts[i + 2]
    return None


def chain_accounts(evidence: Evidence, trail: dict[str, Any]) -> list[str | None]:
    """The accounts whose chains of `trail` the report validates: [None] (its only
    chain) for a trail of one account; the caller's own for an account key."""
    if not trail.get("IsOrganizationTrail"):
        return [None]
    system = evidence.system
    own = str(system.get("callerAccount") or trail["TrailARN"].split(":")[4])
    organization = system.get("organizationId")
    if not organization_scope(evidence) or not organization:
        return [own]
    p = evidence.period
    end = p.end + timedelta(seconds=2 * int(system.get("digestInterval") or 3600))
    objects = evidence.source.trail_objects(trail["TrailARN"], p.start, end,
                                            kind="digest")["Objects"]
    found = {digest_account(str(o["Key"]), str(organization)) for o in objects}
    accounts: list[str | None] = [*sorted(a for a in found if a)]
    return accounts or [own]


def covered_accounts(evidence: Evidence, runs: list[TrailValidation]) -> dict[str, Any]:
    """What the report says it covers: its scope and the accounts it looked at."""
    system = evidence.system
    if not organization_scope(evidence):
        own = system.get("callerAccount")
        return {"scope": "account", "accounts": [str(own)] if own else []}
    seen = {r.account_id for r in runs} | {str(t["TrailARN"]).split(":")[4]
                                           for t in evidence.trails}
    for records in (evidence.audit, evidence.signins, evidence.internal, evidence.insights):
        seen |= {str(r["recipientAccountId"]) for r in records if r.get("recipientAccountId")}
    return {"scope": "organization", "organizationId": system.get("organizationId"),
            "accounts": sorted(seen)}
