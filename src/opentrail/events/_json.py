"""Reading JSON text without losing a number.

orjson is the fast path, but it silently turns an integer beyond 64 bits into a float
and refuses a whole document over one number that overflows a double. Where such a
number might appear (a cheap byte scan, or orjson's own refusal), the standard library
parses instead and keeps the value exactly, or as an `UnrepresentableNumber`, so that
only the record holding it is rejected, by `canonical_bytes`, and its neighbours are not.
"""

from __future__ import annotations

import json
import math
import re

import orjson

__all__ = ["INT64_MIN", "UINT64_MAX", "UnrepresentableNumber", "loads"]

# orjson reads an integer beyond 64 bits as a float, so look for long digit runs first.
# Mapping every digit to "0" lets bytes.find do the search at C speed (a regex over the
# whole body is ~10x slower). A run inside a string (nanosecond ids are common) is told
# apart by what precedes it.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19
_ZEROS = re.compile(rb"0+")
_NUMBER_STARTS = b":,["
_SPACE = b" \t\r\n"
# orjson refuses a whole document over a number that overflows a double.
_HUGE_EXPONENT = re.compile(rb"[\d.][eE]\+?\d{3}")
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1  # the integers orjson reads and writes exactly


class UnrepresentableNumber:
    """A JSON number that no 64-bit integer or finite double can hold exactly."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def loads(data: bytes) -> object:
    """Parse one JSON text; ValueError (with orjson's or json's message) if it is not."""
    if not _may_lose_precision(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            if _HUGE_EXPONENT.search(data) is None:
                raise
    return _exact_loads(data)


def _may_lose_precision(data: bytes) -> bool:
    """Whether `data` may hold an integer outside orjson's exact range (int64 to uint64)."""
    digits = data.translate(_DIGITS_AS_ZERO)
    start = digits.find(_LONG_RUN)
    while start != -1:
        run = _ZEROS.match(digits, start)
        end = run.end() if run else start
        negative = start > 0 and digits[start - 1] == 0x2D  # "-"
        # A 19-digit positive integer still fits in uint64; a 19-digit negative may not.
        if (end - start >= 20 or negative) and _is_number_start(digits, start - negative):
            return True
        start = digits.find(_LONG_RUN, end)
    return False


def _is_number_start(data: bytes, index: int) -> bool:
    """Whether a JSON value can start at `index`: after ":", "," or "[" (and spaces)."""
    index -= 1
    while index >= 0 and data[index] in _SPACE:
        index -= 1
    return index >= 0 and data[index] in _NUMBER_STARTS


def _exact_loads(data: bytes) -> object:
    try:
        text = data.decode("utf-8")  # strict: json.loads(bytes) would also guess UTF-16
        return json.loads(text, parse_int=_integer, parse_float=_float,
                          parse_constant=_not_json)
    except RecursionError:
        raise ValueError("the JSON text is nested too deeply") from None


def _integer(text: str) -> int | UnrepresentableNumber:
    # Checking the length first avoids int()'s 4,300-digit ValueError.
    value = int(text) if len(text) <= 21 else None
    if value is None or not INT64_MIN <= value <= UINT64_MAX:
        return UnrepresentableNumber(text)
    return value


def _float(text: str) -> float | UnrepresentableNumber:
    value = float(text)
    return value if math.isfinite(value) else UnrepresentableNumber(text)


def _not_json(text: str) -> object:
    raise ValueError(f"{text} is not a JSON value")
