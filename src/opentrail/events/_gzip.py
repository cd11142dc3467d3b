"""Gunzip a request body without trusting its compression ratio (gzip bombs)."""

from __future__ import annotations

import zlib

from opentrail.errors import PayloadTooLarge, ValidationError

__all__ = ["GZIP_MAGIC", "gunzip", "too_large"]

GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer, not raw zlib


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Decompress every gzip member of `data`, stopping as soon as output passes max_bytes."""
    members: list[bytes] = []
    total = 0
    while data:
        if not data.startswith(GZIP_MAGIC):
            raise ValidationError("The gzip body has trailing bytes that are not a gzip member.")
        stream = zlib.decompressobj(_GZIP_WBITS)
        try:
            # max_length caps the output, so a bomb costs at most max_bytes + 1 of memory.
            member = stream.decompress(data, max_bytes + 1 - total)
        except zlib.error as exc:
            raise ValidationError(f"The body is not valid gzip data ({exc}).") from None
        total += len(member)
        if total > max_bytes:
            raise too_large(max_bytes)
        if not stream.eof:
            raise ValidationError("The gzip body is truncated: a member ends before its trailer.")
        members.append(member)
        data = stream.unused_data
    return members[0] if len(members) == 1 else b"".join(members)


def too_large(max_bytes: int) -> PayloadTooLarge:
    """The error for a body whose decoded size is over the request limit (HTTP 413)."""
    return PayloadTooLarge(f"The request body is larger than {max_bytes} bytes once decoded; "
                           "send fewer records per request.")
