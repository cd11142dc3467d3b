"""A varied ledger for the history tests, and the answer a lookup must give, computed by
brute force over the ledger's bodies (the oracle the index is compared with)."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from opentrail.clock import ManualClock
from opentrail.events import Category, parse_record
from opentrail.history import Attr, HistoryReader, LookupQuery, lookup_terms
from opentrail.ledger import LedgerRow, LedgerWriter, open_ledger_reader

NOW = 1795600000.0
DAY = 86400
PAGES = 25  # pages followed per lookup (every page of most)
ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
NAMES = ("ListBuckets", "GetObject", "PutObject", "AssumeRole", "DescribeInstances")
SOURCES = ("s3.amazonaws.com", "sts.amazonaws.com", "ec2.amazonaws.com")
USERS = ("alice", "bob", "carol", "dave")


def record(rng: random.Random, when: float) -> object:
    user = rng.choice(USERS)
    raw: dict[str, Any] = {
        "eventVersion": "1.11", "eventSource": rng.choice(SOURCES),
        "eventName": rng.choice(NAMES), "readOnly": rng.random() < 0.6,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
        "awsRegion": rng.choice(REGIONS), "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
        "recipientAccountId": rng.choice(ACCOUNTS), "eventType": "AwsApiCall",
        "sourceIPAddress": f"10.0.0.{rng.randrange(8)}",
        "userIdentity": {"type": "IAMUser", "userName": user,
                         "arn": f"arn:aws:iam::111111111111:user/{user}",
                         "accessKeyId": f"AKIA{rng.randrange(20):016d}"},
        "resources": [{"type": "AWS::S3::Bucket",
                       "ARN": f"arn:aws:s3:::bucket-{rng.randrange(50)}"}],
    }
    if rng.random() < 0.1:
        raw["errorCode"] = rng.choice(("AccessDenied", "NoSuchKey"))
    return parse_record(raw, default_account="x", default_region="us-east-1")


def write_ledger(data_dir: Path, clock: ManualClock, chunks: list[list[object]]) -> None:
    """Each chunk is one acknowledged batch."""
    writer = LedgerWriter(data_dir, clock)
    writer.start()
    try:
        for chunk in chunks:
            writer.submit(chunk).result()
    finally:
        writer.close()


def times(rng: random.Random, n: int) -> list[float]:
    """Mostly ascending times over the last 100 days, with late arrivals mixed in."""
    out, now = [], NOW - 100 * DAY
    for _ in range(n):
        now += rng.randrange(0, 1800)
        out.append(now - rng.randrange(0, 30 * DAY) if rng.random() < 0.05 else now)
    return [min(t, NOW) for t in out]


Scanned = list[tuple[LedgerRow, frozenset[tuple[Attr, str]], str]]
_SCANS: dict[Path, Scanned] = {}


def scanned(data_dir: Path) -> Scanned:
    """The ledger's rows with bodies, their terms and event ids (read once per store)."""
    if data_dir not in _SCANS:
        ledger = open_ledger_reader(data_dir)
        try:
            rows = ledger.rows(0, 10**9)
        finally:
            ledger.close()
        _SCANS[data_dir] = [
            (row, frozenset(lookup_terms(obj)), obj["eventID"])
            for row in rows if row.body is not None for obj in [orjson.loads(row.body)]]
    return _SCANS[data_dir]


def expected(data_dir: Path, query: LookupQuery, lo: int, hi: int,
             pages: int = PAGES) -> list[str]:
    """Event ids a lookup must return, newest first, by brute force over the ledger (the
    first `pages` pages of them)."""
    wanted = set(query.terms)
    found = [(row.event_time, row.seq, event_id) for row, terms, event_id in scanned(data_dir)
             if row.region == query.region and row.category == int(query.category)
             and lo <= row.event_time <= hi and wanted <= terms
             and (query.accounts is None or row.account in query.accounts)]
    return [e for _, _, e in sorted(found, reverse=True)][:pages * query.max_results]


def paged(reader: HistoryReader, query: LookupQuery, pages: int = PAGES) -> list[str]:
    """The event ids of up to `pages` pages, following NextToken."""
    out: list[str] = []
    token = None
    for _ in range(pages):
        result = reader.lookup(replace(query, next_token=token))
        out += [e["EventId"] for e in result.events]
        token = result.next_token
        if token is None:
            break
    return out


def queries(rng: random.Random, n: int) -> list[LookupQuery]:
    """Random lookups: each attribute, ANDs of two or three, time windows, page sizes."""
    pool = [(Attr.EVENT_NAME, v) for v in NAMES] + [(Attr.USERNAME, v) for v in USERS] + [
        (Attr.EVENT_SOURCE, v) for v in SOURCES] + [
        (Attr.READ_ONLY, "true"), (Attr.READ_ONLY, "false"),
        (Attr.ERROR_CODE, "AccessDenied"), (Attr.RESOURCE_TYPE, "AWS::S3::Bucket"),
        (Attr.RESOURCE_NAME, "arn:aws:s3:::bucket-7"), (Attr.SOURCE_IP, "10.0.0.3"),
        (Attr.ACCESS_KEY_ID, f"AKIA{5:016d}"), (Attr.EVENT_TYPE, "AwsApiCall"),
        (Attr.USER_IDENTITY_ARN, "arn:aws:iam::111111111111:user/bob")]
    out = []
    for _ in range(n):
        terms = tuple(rng.sample(pool, rng.choice((0, 1, 1, 1, 2, 3))))
        start = int(NOW - rng.randrange(0, 95) * DAY) if rng.random() < 0.4 else None
        end = int(NOW - rng.randrange(0, 40) * DAY) if rng.random() < 0.3 else None
        accounts = rng.choice((None, ACCOUNTS[:1], ACCOUNTS[1:], ACCOUNTS))
        out.append(LookupQuery(accounts, rng.choice(REGIONS), Category.MANAGEMENT, terms,
                               None, start, end, rng.choice((3, 7, 50))))
    return out
