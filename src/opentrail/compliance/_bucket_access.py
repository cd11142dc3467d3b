"""OT-13's S3 side: is a trail bucket public, and who may delete or unlock what is in it.

Read with the caller's credentials (as OT-14): GetPublicAccessBlock (all four settings
on, or the bucket could be made public), GetBucketPolicy (an Allow to everyone, `*`,
without a Condition makes it public; an Allow of a destructive action, listed in
`DESTRUCTIVE`, names a principal who may delete, shorten retention, bypass governance
or change the lock, lifecycle or policy) and GetBucketAcl (a grant to AllUsers or
AuthenticatedUsers). Identity policies (IAM) are not visible from the bucket: who else
holds those rights through them stays the operator's to show.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

__all__ = ["DESTRUCTIVE", "bucket_access"]

DESTRUCTIVE = ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention",
               "s3:BypassGovernanceRetention", "s3:PutBucketObjectLockConfiguration",
               "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
               "s3:DeleteBucket", "s3:PutBucketVersioning")
PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers",
                 "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
BLOCKS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        return [p for values in principal.values() for p in _listed(values)]
    return _listed(principal) if principal is not None else []


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _block(client: Any, bucket: str) -> dict[str, bool] | None:
    try:
        config = client.get_public_access_block(Bucket=bucket)
    except Exception as exc:
        if _code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return None
        raise
    found = config.get("PublicAccessBlockConfiguration") or {}
    return {name: bool(found.get(name)) for name in BLOCKS}


def _statements(client: Any, bucket: str) -> list[dict[str, Any]]:
    try:
        text = client.get_bucket_policy(Bucket=bucket)["Policy"]
    except Exception as exc:
        if _code(exc) == "NoSuchBucketPolicy":
            return []
        raise
    found = json.loads(text).get("Statement") or []
    return [s for s in (found if isinstance(found, list) else [found]) if isinstance(s, dict)]


def _grants(statement: dict[str, Any]) -> list[str]:
    """The destructive actions an Allow statement grants (wildcards expanded)."""
    actions = [a.lower() for a in _listed(statement.get("Action") or [])]
    return [d for d in DESTRUCTIVE
            if any(fnmatch.fnmatchcase(d.lower(), a) for a in actions)]


def bucket_access(client: Any, bucket: str) -> dict[str, Any]:
    """One bucket's row: what it shows, its `problems` (FAIL) and `review` (WARN)."""
    block = _block(client, bucket)
    problems: list[str] = []
    review: list[str] = []
    public: list[Any] = []
    destructive: list[dict[str, Any]] = []
    for statement in _statements(client, bucket):
        if statement.get("Effect") != "Allow":
            continue
        who = _principals(statement)
        if "*" in who and not statement.get("Condition"):
            public.append(statement.get("Sid") or _listed(statement.get("Action")))
        if granted := _grants(statement):
            destructive.append({"principals": who, "actions": granted,
                                "sid": statement.get("Sid")})
    acl = client.get_bucket_acl(Bucket=bucket).get("Grants") or []
    open_acl = [g.get("Permission") for g in acl
                if (g.get("Grantee") or {}).get("URI") in PUBLIC_GROUPS]
    if public:
        problems.append(f"the bucket policy allows everyone (*): {public}")
    if open_acl:
        problems.append(f"the ACL grants {sorted(set(map(str, open_acl)))} to all users")
    if block is None or not all(block.values()):
        review.append("the public access block is not fully on: the bucket could be made "
                      "public")
    if destructive:
        review.append("the bucket policy lets these principals delete or unlock: "
                      + "; ".join(", ".join(d["principals"]) for d in destructive))
    return {"bucket": bucket, "publicAccessBlock": block, "publicStatements": len(public),
            "publicAclGrants": open_acl, "destructiveGrants": destructive,
            "problems": problems, "review": review}
