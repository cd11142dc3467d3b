"""eventVersion: `major.minor`, where only major 1 is understood.

A new minor only adds fields, so any `1.x` is accepted; the minor is an integer
("1.09" is minor 9, older than "1.10"), never compared as a string.
"""

from __future__ import annotations

from functools import lru_cache

from opentrail.errors import InvalidRecord

__all__ = ["SUPPORTED_MAJOR", "check_version"]

SUPPORTED_MAJOR = 1


def check_version(version: str) -> int:
    """The minor version of `version`; InvalidRecord unless it is `1.<digits>`."""
    minor = _minor(version)
    if isinstance(minor, str):
        raise InvalidRecord("eventVersion", minor, code="InvalidData")
    return minor


@lru_cache(maxsize=64)
def _minor(version: str) -> int | str:
    """The minor number, or the error message; memoised as a record has few versions."""
    major, dot, minor = version.partition(".")
    if not (dot and _is_number(major) and _is_number(minor)):
        return f"eventVersion must be major.minor, such as 1.11; got {version[:32]!r}."
    if int(major) != SUPPORTED_MAJOR:
        return (f"eventVersion {version} has major version {int(major)}; only major "
                f"version {SUPPORTED_MAJOR} (1.0 to 1.11 and later 1.x) is supported.")
    return int(minor)


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()
