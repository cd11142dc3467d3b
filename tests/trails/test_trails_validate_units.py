"""validate-logs pieces in isolation: event-time scanning across arbitrary chunks, gzip
strictness, the digest key layout, time arguments, and the chain walk's arithmetic."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opentrail.trails._validate import parse_cli_time
from opentrail.trails._validate_chain import ChainEntry, walk_chain
from opentrail.trails._validate_digest import (
    Digest,
    DigestLayout,
    Invalid,
    gunzip_exact,
    key_time,
)
from opentrail.trails._validate_logfile import EventTimes

T0 = datetime(2026, 11, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _body(times: list[str], pretty: bool) -> bytes:
    doc = {"Records": [{"eventTime": t, "requestParameters": {"x": "\"eventTime\":\"9\""}}
                       for t in times]}
    return json.dumps(doc, indent=1 if pretty else None,
                      separators=None if pretty else (",", ":")).encode()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
                min_size=1, max_size=30),
       st.lists(st.integers(1, 97), min_size=1, max_size=40), st.booleans())
def test_event_times_survive_any_chunking(when: list[datetime], cuts: list[int],
                                          pretty: bool) -> None:
    times = [w.strftime("%Y-%m-%dT%H:%M:%SZ") for w in when]
    body, scanner, pos = _body(times, pretty), EventTimes(), 0
    for n in cuts * (len(_body(times, pretty)) // sum(cuts) + 1):
        scanner.feed(body[pos:pos + n])
        pos += n
    scanner.close()
    assert (scanner.oldest, scanner.newest) == (min(times).encode(), max(times).encode())


def test_gunzip_exact_refuses_appended_and_truncated_data() -> None:
    member = gzip.compress(b'{"Records":[]}')
    assert gunzip_exact(member) == b'{"Records":[]}'
    with pytest.raises(Invalid, match="data after the first gzip member"):
        gunzip_exact(member + gzip.compress(b"x"))
    with pytest.raises(Invalid, match="truncated"):
        gunzip_exact(member[:-6])
    with pytest.raises(Invalid, match="invalid format"):
        gunzip_exact(b"not gzip")


def test_layout_matches_the_spec_key_and_awscli_offsets() -> None:
    layout = DigestLayout("123456789012", "eu-west-1", "us-east-1", "my.trail", "pre/fix")
    key = layout.key(T0 + HOUR)
    assert key == ("pre/fix/AWSLogs/123456789012/CloudTrail-Digest/eu-west-1/2026/11/20/"
                   "123456789012_CloudTrail-Digest_eu-west-1_my.trail_us-east-1_"
                   "20261120T010000Z.json.gz")
    assert layout.digest_pattern().match(key)
    assert not layout.digest_pattern().match(key.replace("my.trail", "myxtrail"))
    assert key_time(key) == T0 + HOUR
    assert key_time(key.replace(".json.gz", "_backfill.json.gz")) == T0 + HOUR
    log = ("pre/fix/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/20/123456789012_"
           "CloudTrail_eu-west-1_20261120T0105Z_Mu0KsOhtH1ar15ZZ.json.gz")
    match = layout.log_pattern().match(log)
    assert match and match.group(1) == "20261120T0105Z"


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-20T05:00:00Z", datetime(2026, 11, 20, 5, tzinfo=UTC)),
    ("2026-11-20 05:00", datetime(2026, 11, 20, 5, tzinfo=UTC)),
    ("2026-11-20T07:00:00+02:00", datetime(2026, 11, 20, 5, tzinfo=UTC)),
])
def test_cli_times_are_utc_and_offsets_are_honoured(text: str, expected: datetime) -> None:
    assert parse_cli_time(text) == expected


def test_cli_time_error_names_the_value() -> None:
    with pytest.raises(ValueError, match="Unable to parse date value: soon"):
        parse_cli_time("soon")


def _digest(n: int, previous: Digest | None) -> Digest:
    """Digest n of an hourly chain (unsigned; the walk's verify is injected)."""
    key = f"d/{(T0 + (n + 1) * HOUR):%Y%m%dT%H%M%SZ}.json.gz"
    doc = {"previousDigestS3Bucket": "b" if previous else None,
           "previousDigestS3Object": previous.key if previous else None,
           "previousDigestHashValue": previous.sha256 if previous else None,
           "previousDigestSignature": previous.signature if previous else None}
    return Digest("b", key, f"digest {n}".encode(), doc, f"sig{n}", T0 + n * HOUR,
                  T0 + (n + 1) * HOUR)


def _walk(chain: list[Digest], deleted: set[int]) -> list[ChainEntry]:
    store = {d.key: d for i, d in enumerate(chain) if i not in deleted}
    listed = [d.key for d in chain if d.key in store]
    return walk_chain(lambda b, k: store.get(k), lambda d: None, "b", listed, T0,
                      interval=HOUR, folder="d/")


def _chain(n: int) -> list[Digest]:
    chain: list[Digest] = []
    for i in range(n):
        chain.append(_digest(i, chain[-1] if chain else None))
    return chain


@pytest.mark.parametrize("run", [1, 2, 3])
def test_a_run_of_deleted_digests_is_counted_in_full(run: int) -> None:
    chain = _chain(8)
    entries = _walk(chain, set(range(3, 3 + run)))
    assert sum(e.invalid for e in entries) == run
    assert sum(1 for e in entries if e.digest is not None and e.problem is None) == 8 - run


def test_untouched_chain_walks_every_digest_newest_first() -> None:
    chain = _chain(5)
    entries = _walk(chain, set())
    assert [e.key for e in entries] == [d.key for d in reversed(chain)]
    assert all(e.problem is None for e in entries)
