"""Channels: named entry points for PutAuditEvents (CloudTrail Lake integrations).

Configuration, not events: kept in channels.db beside the ledger. The registry checks a
destination's shape only; the API (api/_stores.py) checks that an EVENT_DATA_STORE
destination is an existing ActivityAuditLog store of the caller, so this package needs
no Lake import.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from opentrail.errors import NotFound, ValidationError

__all__ = ["MAX_CHANNELS", "Channel", "ChannelRegistry"]

MAX_CHANNELS = 25
NAME = re.compile(r"^[a-zA-Z0-9._\-]{3,128}$")
SOURCE = re.compile(r"^[a-zA-Z0-9._\-]{1,256}$")
STORE_ARN = re.compile(
    r"^arn:aws[a-z\-]*:cloudtrail:[a-z0-9\-]+:\d{12}:eventdatastore/[\w\-]{1,64}$")
Tags = list[dict[str, Any]]  # `ChannelRegistry.list` hides the builtin in the class body
CHANNEL_ARN = re.compile(r"^arn:aws[a-z\-]*:cloudtrail:([a-z0-9\-]+):(\d{12}):channel/([\w\-]+)$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    arn TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
    source TEXT NOT NULL, destinations BLOB NOT NULL, tags BLOB NOT NULL,
    ingestion BLOB NOT NULL DEFAULT '{}',
    UNIQUE (account, region, name)
);
"""


@dataclass
class Channel:
    arn: str
    account: str
    region: str
    name: str
    source: str
    destinations: list[dict[str, Any]]
    tags: list[dict[str, Any]] = field(default_factory=list)
    ingestion: dict[str, Any] = field(default_factory=dict)


def _invalid(code: str, message: str) -> ValidationError:
    return ValidationError(message, code=code)


def check_destinations(destinations: Any) -> list[dict[str, Any]]:
    if not isinstance(destinations, list) or not 1 <= len(destinations) <= 200:
        raise _invalid("InvalidParameterException", "Destinations must list 1 to 200 items.")
    for dest in destinations:
        if not isinstance(dest, dict):
            raise _invalid("InvalidParameterException",
                           "Each destination must be an object with Type and Location.")
        kind, location = dest.get("Type"), dest.get("Location", "")
        if kind == "EVENT_DATA_STORE" and not STORE_ARN.match(location):
            raise _invalid("EventDataStoreARNInvalidException",
                           f"The event data store ARN {location!r} is not valid.")
        if kind not in ("EVENT_DATA_STORE", "AWS_SERVICE"):
            raise _invalid("InvalidParameterException",
                           "Destination Type must be EVENT_DATA_STORE or AWS_SERVICE.")
    return destinations


class ChannelRegistry:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(data_dir / "channels.db", isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def create(self, account: str, region: str, name: str, source: str,
               destinations: Any, tags: list[dict[str, Any]]) -> Channel:
        if not isinstance(name, str) or not NAME.match(name):
            raise _invalid("InvalidParameterException",
                           "Name must be 3-128 characters of letters, digits, '.', '_' or '-'.")
        if not isinstance(source, str) or not SOURCE.match(source):
            raise _invalid("InvalidSourceException", f"The source {source!r} is not valid.")
        dests = check_destinations(destinations)
        channel = Channel(f"arn:aws:cloudtrail:{region}:{account}:channel/{uuid.uuid4()}",
                          account, region, name, source, dests, tags)
        with self._lock:
            if len(self.list(account, region)) >= MAX_CHANNELS:
                raise _invalid("ChannelMaxLimitExceededException",
                               f"An account can have at most {MAX_CHANNELS} channels per region.")
            try:
                self._conn.execute(
                    "INSERT INTO channels (arn, account, region, name, source, destinations, "
                    "tags) VALUES (?,?,?,?,?,?,?)",
                    (channel.arn, account, region, name, source, orjson.dumps(dests),
                     orjson.dumps(tags)))
            except sqlite3.IntegrityError:
                raise _invalid("ChannelAlreadyExistsException",
                               f"A channel named {name} already exists.") from None
        return channel

    def list(self, account: str, region: str) -> list[Channel]:
        rows = self._conn.execute(
            "SELECT * FROM channels WHERE account=? AND region=? ORDER BY name",
            (account, region)).fetchall()
        return [_row(r) for r in rows]

    def get(self, account: str, region: str, ref: str) -> Channel:
        """A channel by ARN or id (the part after `channel/`), in the caller's account."""
        if ref.startswith("arn:") and not CHANNEL_ARN.match(ref):
            raise _invalid("ChannelARNInvalidException", f"The channel ARN {ref!r} is not valid.")
        suffix = ref if ref.startswith("arn:") else f":{account}:channel/{ref}"
        row = self._conn.execute(
            "SELECT * FROM channels WHERE account=? AND (arn = ? OR arn LIKE ?)",
            (account, ref, f"arn:aws:cloudtrail:{region}{suffix}")).fetchone()
        if row is None:
            raise NotFound(f"The channel {ref} was not found.", code="ChannelNotFoundException")
        return _row(row)

    def owner_of(self, ref: str) -> Channel | None:
        """Any account's channel by ARN: PutAuditEvents checks ownership itself."""
        row = self._conn.execute("SELECT * FROM channels WHERE arn = ?", (ref,)).fetchone()
        return _row(row) if row else None

    def delete(self, account: str, region: str, ref: str) -> None:
        channel = self.get(account, region, ref)
        self._conn.execute("DELETE FROM channels WHERE arn = ?", (channel.arn,))

    def update(self, account: str, region: str, ref: str, name: str | None,
               destinations: Any | None) -> Channel:
        channel = self.get(account, region, ref)
        if name is not None:
            if not NAME.match(name):
                raise _invalid("InvalidParameterException", "Name is not valid.")
            channel.name = name
        if destinations is not None:
            channel.destinations = check_destinations(destinations)
        try:
            self._conn.execute("UPDATE channels SET name=?, destinations=? WHERE arn=?",
                               (channel.name, orjson.dumps(channel.destinations), channel.arn))
        except sqlite3.IntegrityError:
            raise _invalid("ChannelAlreadyExistsException",
                           f"A channel named {name} already exists.") from None
        return channel

    def set_tags(self, arn: str, tags: Tags) -> None:
        """AddTags/RemoveTags on a channel ARN (the API checked the tags)."""
        self._conn.execute("UPDATE channels SET tags = ? WHERE arn = ?", (orjson.dumps(tags), arn))

    def record_ingestion(self, arn: str, status: dict[str, Any]) -> None:
        self._conn.execute("UPDATE channels SET ingestion = ? WHERE arn = ?",
                           (orjson.dumps(status), arn))


def _row(row: tuple[Any, ...]) -> Channel:
    arn, account, region, name, source, dests, tags, ingestion = row
    return Channel(arn, account, region, name, source, orjson.loads(dests), orjson.loads(tags),
                   orjson.loads(ingestion))
