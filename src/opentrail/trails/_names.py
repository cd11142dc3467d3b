"""Names CloudTrail checks before it stores a trail: trail names and ARNs, S3 buckets, prefixes.

Each check raises the exact CloudTrail error code; trail names get CloudTrail's exact
messages, the other checks a sentence naming the field (docs/api.md lists which).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from opentrail.errors import (
    CloudTrailARNInvalid,
    InvalidS3BucketName,
    InvalidS3Prefix,
    InvalidTrailName,
    TrailNotProvided,
)

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
_ALNUM = re.compile(r"[A-Za-z0-9]")
_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]+")
MIN_NAME, MAX_NAME = 3, 128
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_TRAIL_ARN = re.compile(
    r"arn:(aws[a-z-]*):cloudtrail:([a-z][a-z0-9-]*):(\d{12}):trail/(.+)")
_BUCKET = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def trail_name_problem(name: str) -> str | None:
    """CloudTrail's message for why `name` is not a valid trail name, or None when it is.

    The checks run in CloudTrail's order: length, first character, last character, the
    character set; the last two rules (no adjacent punctuation, not an IP address) have
    no CloudTrail message we know of, so they use ours (listed in docs/api.md).
    """
    if len(name) < MIN_NAME:
        return (f"Trail name too short. Minimum allowed length: {MIN_NAME} characters. "
                f"Specified name length: {len(name)} characters.")
    if len(name) > MAX_NAME:
        return (f"Trail name too long. Maximum allowed length: {MAX_NAME} characters. "
                f"Specified name length: {len(name)} characters.")
    for broken, message in _NAME_RULES:
        if broken(name):
            return message
    return None


_NAME_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda n: not _ALNUM.fullmatch(n[0]), "Trail name must starts with a letter or number."),
    (lambda n: not _ALNUM.fullmatch(n[-1]), "Trail name must ends with a letter or number."),
    (lambda n: not _NAME_CHARS.fullmatch(n),
     "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, "
     "periods (.), hyphens (-), and underscores (_)."),
    (lambda n: not _TRAIL_NAME.fullmatch(n),
     "Trail name cannot have adjacent periods (.), hyphens (-), or underscores (_), such as "
     "my-_trail or my--trail."),
    (lambda n: bool(_IPV4.fullmatch(n)), "Trail name cannot be formatted as an IP address."),
)


def check_trail_name(name: object, field: str = "Name") -> str:
    if not isinstance(name, str):
        raise InvalidTrailName(f"{field} must be a string.")
    problem = trail_name_problem(name)
    if problem is not None:
        raise InvalidTrailName(problem)
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
            raise CloudTrailARNInvalid(
                f"{field} {value!r} is not a valid trail ARN; the format is "
                "arn:aws:cloudtrail:<region>:<account>:trail/<name>.")
        return TrailRef(match.group(4), match.group(2), match.group(3))
    if value in (None, ""):
        raise TrailNotProvided(f"{field} is required: give a trail name or ARN.")
    return TrailRef(check_trail_name(value, field))


def check_bucket_name(name: object) -> str:
    """S3's bucket naming rules (general purpose buckets)."""
    if not isinstance(name, str) or not name:
        raise InvalidS3BucketName("S3BucketName is required.")
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
        raise InvalidS3BucketName(f"S3BucketName {name!r} is not valid: it {problem}.")
    return name


def check_prefix(prefix: object) -> str | None:
    """S3KeyPrefix: up to 200 characters; an empty prefix means none."""
    if prefix is None or prefix == "":
        return None
    if not isinstance(prefix, str) or len(prefix) > MAX_PREFIX:
        raise InvalidS3Prefix(
            f"S3KeyPrefix must be a string of at most {MAX_PREFIX} characters.")
    return prefix
