"""Channels: named entry points for PutAuditEvents (CloudTrail Lake integrations).

Configuration, not events: kept in the backend's `ChannelRows` (channels/_rows.py;
channels.db beside the ledger when given a data dir). A channel is found by its exact
ARN, or by the ARN its bare id makes in the caller's account and region (exactly: an id
is no pattern, so `%` finds nothing). The registry checks a destination's shape only;
the API (api/_stores.py) checks that an EVENT_DATA_STORE destination is an existing
ActivityAuditLog store of the caller, so this package needs no Lake import.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from opentrail.channels._rows import ChannelRow, ChannelRows
from opentrail.errors import NotFound, ValidationError

__all__ = ["MAX_CHANNELS", "Channel", "ChannelRegistry"]

MAX_CHANNELS = 25
NAME = re.compile(r"^[a-zA-Z0-9._\-]{3,128}$")
SOURCE = re.compile(r"^[a-zA-Z0-9._\-]{1,256}$")
STORE_ARN = re.compile(
    r"^arn:aws[a-z\-]*:cloudtrail:[a-z0-9\-]+:\d{12}:eventdatastore/[\w\-]{1,64}$")
Tags = list[dict[str, Any]]  # `ChannelRegistry.list` hides the builtin in the class body
CHANNEL_ARN = re.compile(r"^arn:aws[a-z\-]*:cloudtrail:([a-z0-9\-]+):(\d{12}):channel/([\w\-]+)$")

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
    def __init__(self, rows: ChannelRows | Path) -> None:
        if isinstance(rows, Path):
            from opentrail.backends.sqlite import SqliteChannelRows

            rows = SqliteChannelRows(rows)
        self._rows = rows

    def close(self) -> None:
        self._rows.close()

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
        with self._rows.write() as tx:
            if len(tx.select_region(account, region)) >= MAX_CHANNELS:
                raise _invalid("ChannelMaxLimitExceededException",
                               f"An account can have at most {MAX_CHANNELS} channels per region.")
            if not tx.insert(ChannelRow(channel.arn, account, region, name, source,
                                        orjson.dumps(dests), orjson.dumps(tags), b"{}")):
                raise _name_taken(name)
        return channel

    def list(self, account: str, region: str) -> list[Channel]:
        with self._rows.read() as tx:
            return [_row(r) for r in tx.select_region(account, region)]

    def get(self, account: str, region: str, ref: str) -> Channel:
        """A channel by ARN or id (the part after `channel/`), in the caller's account."""
        if ref.startswith("arn:") and not CHANNEL_ARN.match(ref):
            raise _invalid("ChannelARNInvalidException", f"The channel ARN {ref!r} is not valid.")
        suffix = ref if ref.startswith("arn:") else f":{account}:channel/{ref}"
        with self._rows.read() as tx:
            rows = tx.select_arns(account, (ref, f"arn:aws:cloudtrail:{region}{suffix}"))
        if not rows:
            raise NotFound(f"The channel {ref} was not found.", code="ChannelNotFoundException")
        return _row(rows[0])

    def owner_of(self, ref: str) -> Channel | None:
        """Any account's channel by ARN: PutAuditEvents checks ownership itself."""
        with self._rows.read() as tx:
            rows = tx.select_arns(None, (ref,))
        return _row(rows[0]) if rows else None

    def delete(self, account: str, region: str, ref: str) -> None:
        channel = self.get(account, region, ref)
        with self._rows.write() as tx:
            tx.delete(channel.arn)

    def update(self, account: str, region: str, ref: str, name: str | None,
               destinations: Any | None) -> Channel:
        channel = self.get(account, region, ref)
        if name is not None:
            if not NAME.match(name):
                raise _invalid("InvalidParameterException", "Name is not valid.")
            channel.name = name
        if destinations is not None:
            channel.destinations = check_destinations(destinations)
        with self._rows.write() as tx:
            if not tx.update(channel.arn, channel.name, orjson.dumps(channel.destinations)):
                raise _name_taken(name)
        return channel

    def set_tags(self, arn: str, tags: Tags) -> None:
        """AddTags/RemoveTags on a channel ARN (the API checked the tags)."""
        with self._rows.write() as tx:
            tx.set_tags(arn, orjson.dumps(tags))

    def record_ingestion(self, arn: str, status: dict[str, Any]) -> None:
        with self._rows.write() as tx:
            tx.set_ingestion(arn, orjson.dumps(status))


def _name_taken(name: str | None) -> ValidationError:
    return _invalid("ChannelAlreadyExistsException", f"A channel named {name} already exists.")


def _row(row: ChannelRow) -> Channel:
    arn, account, region, name, source, dests, tags, ingestion = row
    return Channel(arn, account, region, name, source, orjson.loads(dests), orjson.loads(tags),
                   orjson.loads(ingestion))
