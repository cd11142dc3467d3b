"""Names CloudTrail checks before it stores a trail: trail names and ARNs, S3 buckets, prefixes.

Each check raises the exact CloudTrail error code with a sentence naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from opentrail.errors import ValidationError

__all__ = [
    "MAX_PREFIX",
    "TrailRef",
    "check_bucket_name",
    "check_prefix",
    "check_trail_name",
    "parse_trail_ref",
    "trail_name_problem",
]

MAX_PREFIX = 200
# Start and end alphanumeric; a punctuation mark is always followed by an alphanumeric.
_TRAIL_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|[._-](?=[A-Za-z0-9]))*")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_TRAIL_ARN = re.compile(
    r"arn:(aws[a-z-]*):cloudtrail:([a-z][a-z0-9-]*):(\d{12}):trail/(.+)")
_BUCKET = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def trail_name_problem(name: str) -> str | None:
    """Why `name` is not a valid trail name, or None when it is."""
    if not 3 <= len(name) <= 128:
        return "must be 3 to 128 characters long"
    if not _TRAIL_NAME.fullmatch(name):
        return ("may contain only ASCII letters, digits, '.', '_' and '-', must start and "
                "end with a letter or digit, and may not have two of '.', '_', '-' in a row")
    if _IPV4.fullmatch(name):
        return "may not be formatted as an IP address"
    return None


def check_trail_name(name: object, field: str = "Name") -> str:
    if not isinstance(name, str):
        raise ValidationError(f"{field} must be a string.", code="InvalidTrailNameException")
    problem = trail_name_problem(name)
    if problem is not None:
        raise ValidationError(f"Trail name {name!r} is not valid: it {problem}.",
                              code="InvalidTrailNameException")
    return name


@dataclass(frozen=True)
class TrailRef:
    """A trail named by the caller: a bare name, or a full ARN (any region, one account)."""

    name: str
    region: str | None = None
    account: str | None = None

    @property
    def is_arn(self) -> bool:
        return self.region is not None


def parse_trail_ref(value: object, field: str = "Name") -> TrailRef:
    """A name (InvalidTrailNameException) or an ARN (CloudTrailARNInvalidException)."""
    if isinstance(value, str) and value.startswith("arn:"):
        match = _TRAIL_ARN.fullmatch(value)
        if match is None or trail_name_problem(match.group(4)) is not None:
            raise ValidationError(
                f"{field} {value!r} is not a valid trail ARN; the format is "
                "arn:aws:cloudtrail:<region>:<account>:trail/<name>.",
                code="CloudTrailARNInvalidException")
        return TrailRef(match.group(4), match.group(2), match.group(3))
    if value in (None, ""):
        raise ValidationError(f"{field} is required: give a trail name or ARN.",
                              code="TrailNotProvidedException")
    return TrailRef(check_trail_name(value, field))


def check_bucket_name(name: object) -> str:
    """S3's bucket naming rules (general purpose buckets)."""
    if not isinstance(name, str) or not name:
        raise ValidationError("S3BucketName is required.", code="InvalidS3BucketNameException")
    problem = None
    if not 3 <= len(name) <= 63:
        problem = "must be 3 to 63 characters long"
    elif not _BUCKET.fullmatch(name):
        problem = ("may contain only lowercase letters, digits, '.' and '-', and must start "
                   "and end with a letter or digit")
    elif ".." in name or ".-" in name or "-." in name:
        problem = "may not have '..', '.-' or '-.'"
    elif _IPV4.fullmatch(name):
        problem = "may not be formatted as an IP address"
    elif name.startswith(_BUCKET_BAD_PREFIXES) or name.endswith(_BUCKET_BAD_SUFFIXES):
        problem = "uses a prefix or suffix S3 reserves"
    if problem is not None:
        raise ValidationError(f"S3BucketName {name!r} is not valid: it {problem}.",
                              code="InvalidS3BucketNameException")
    return name


def check_prefix(prefix: object) -> str | None:
    """S3KeyPrefix: up to 200 characters; an empty prefix means none."""
    if prefix is None or prefix == "":
        return None
    if not isinstance(prefix, str) or len(prefix) > MAX_PREFIX:
        raise ValidationError(
            f"S3KeyPrefix must be a string of at most {MAX_PREFIX} characters.",
            code="InvalidS3PrefixException")
    return prefix
