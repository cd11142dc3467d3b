"""ISO 8601 UTC timestamps: the only time format a CloudTrail record carries.

Parsing is strict and cheap. Fixed positions are checked by hand (no regex per event),
and the costly part, turning a date, hour and minute into epoch seconds, is memoised
per minute: a batch's events cluster in few minutes, so almost every call hits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["epoch_seconds", "format_utc"]

_UTC_SUFFIXES = ("Z", "+00:00")


def epoch_seconds(text: str) -> int | None:
    """Whole epoch seconds (floored) of `YYYY-MM-DDTHH:MM:SS[.fff]` + `Z`/`+00:00`.

    None when `text` is not in that form: other offsets and naive times are refused
    because a record's time must say it is UTC.
    """
    if text.endswith("Z"):
        end = len(text) - 1
    elif text.endswith("+00:00"):
        end = len(text) - 6
    else:
        return None
    if end < 19 or (end > 19 and not _is_fraction(text[19:end])):
        return None
    minute = _minute_epoch(text[:16])
    seconds = text[17:19]
    if minute is None or text[16] != ":" or not _is_digits(seconds) or seconds > "59":
        return None
    # A fraction never moves the floor: epoch seconds are whole and the fraction >= 0.
    return minute + int(seconds)


def format_utc(epoch: int) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`, CloudTrail's own second-precision form."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"


def _is_digits(text: str) -> bool:
    # str.isdigit alone accepts non-ASCII digits such as "²" or "٣".
    return text.isascii() and text.isdigit()


def _is_fraction(text: str) -> bool:
    return len(text) > 1 and text[0] == "." and _is_digits(text[1:])


@lru_cache(maxsize=4096)
def _minute_epoch(prefix: str) -> int | None:
    """Epoch seconds of `YYYY-MM-DDTHH:MM`, or None if it is not a real UTC minute."""
    if len(prefix) != 16 or prefix[4] != "-" or prefix[7] != "-" or prefix[10] != "T":
        return None
    if prefix[13] != ":":
        return None
    parts = (prefix[0:4], prefix[5:7], prefix[8:10], prefix[11:13], prefix[14:16])
    if not all(_is_digits(part) for part in parts):
        return None
    year, month, day, hour, minute = (int(part) for part in parts)
    try:
        moment = datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError:  # month 13, 30 February, hour 24, ...
        return None
    return int(moment.timestamp())
