"""A real CloudTrail trail's S3 bucket, read incrementally through boto3.

Log files sit at `<prefix>/AWSLogs/[<org id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/
<name>.json.gz` (organization trails add the `o-...` level; Insights files use
`CloudTrail-Insight`). Digest files and anything else in the bucket are skipped.

What was read is remembered in a state file (JSON, replaced atomically): a file is
marked read only when the caller says its records are safely stored (`mark_read`), so a
crash between reading and sending re-reads that file, and the server counts its events
as duplicates instead of losing them. CloudTrail may deliver a file late with an older
name, so every poll lists the prefix and compares with the keys already read rather
than starting after the newest one.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = ["BucketObject", "CloudTrailBucket"]

_LOG_KEY = re.compile(
    r"(?:^|/)AWSLogs/(?:(?P<org>o-[a-z0-9]+)/)?(?P<account>\d{12})/"
    r"(?:CloudTrail|CloudTrail-Insight)/(?P<region>[a-z0-9-]+)/\d{4}/\d{2}/\d{2}/"
    r"[^/]+\.json(?:\.gz)?$")


@dataclass(frozen=True, slots=True)
class BucketObject:
    """One log file of the trail: where it came from and its records."""

    key: str
    account: str
    region: str
    organization: str | None
    records: list[Any]


class CloudTrailBucket:
    """The log files of a trail's bucket that were not read before."""

    def __init__(self, s3: Any, bucket: str, state_file: Path, *, prefix: str = "") -> None:
        self._s3, self._bucket, self._prefix = s3, bucket, prefix
        self._state_file = state_file
        self._read: set[str] = self._load()

    def pending(self) -> list[str]:
        """Keys of the log files not marked read yet, in name (delivery time) order."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=self._prefix)
        keys = (item["Key"] for page in pages for item in page.get("Contents", ()))
        return sorted(k for k in keys if k not in self._read and _LOG_KEY.search(k))

    def read(self, key: str) -> BucketObject:
        """Download one log file and parse its `{"Records": [...]}`.

        Raises ValueError when the object is not a readable CloudTrail log file.
        """
        match = _LOG_KEY.search(key)
        if match is None:
            raise ValueError(f"{key} is not a CloudTrail log file key.")
        data = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        try:
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            records = orjson.loads(data)["Records"]
        except (OSError, EOFError, zlib.error, orjson.JSONDecodeError, KeyError,
                TypeError) as exc:
            raise ValueError(f"{key} is not a readable CloudTrail log file ({exc}).") from exc
        if not isinstance(records, list):
            raise ValueError(f'{key}: "Records" is not a list.')
        return BucketObject(key, match["account"], match["region"], match["org"], records)

    def poll(self) -> Iterator[BucketObject | tuple[str, str]]:
        """Each pending file read, or (key, reason) when it cannot be read."""
        for key in self.pending():
            try:
                yield self.read(key)
            except ValueError as exc:
                yield key, str(exc)

    def mark_read(self, *keys: str) -> None:
        """Remember `keys` as read (their records are stored); written atomically."""
        self._read.update(keys)
        self._save()

    def _load(self) -> set[str]:
        try:
            state = json.loads(self._state_file.read_text())
        except FileNotFoundError:
            return set()
        if state.get("bucket") != self._bucket or state.get("prefix") != self._prefix:
            raise ValueError(f"{self._state_file} is the state of s3://{state.get('bucket')}/"
                             f"{state.get('prefix')}, not of s3://{self._bucket}/{self._prefix}.")
        return set(state.get("read", []))

    def _save(self) -> None:
        state = {"bucket": self._bucket, "prefix": self._prefix, "read": sorted(self._read)}
        temp = self._state_file.with_name(f".{self._state_file.name}.tmp")
        with temp.open("wb") as out:  # temp file -> fsync -> rename: never a torn state
            out.write(orjson.dumps(state))
            out.flush()
            os.fsync(out.fileno())
        temp.replace(self._state_file)
