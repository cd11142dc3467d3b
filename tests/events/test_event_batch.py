"""split_batch: the three body forms, gzip, NDJSON line errors, bombs and big numbers."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import orjson
import pytest

from opentrail.errors import InvalidRecord, PayloadTooLarge, ValidationError
from opentrail.events import MAX_BATCH_BYTES, parse_record, split_batch

A = {"eventName": "A", "n": 1}
B = {"eventName": "B", "n": 2}


def parse_all(entries: list[Any]) -> list[str]:
    """Per entry: the eventName, or the InvalidRecord code; records have no other check."""
    out = []
    for entry in entries:
        if isinstance(entry, InvalidRecord):
            out.append(entry.code)
            continue
        try:
            obj = {"eventTime": "2023-07-10T11:42:36Z", "eventSource": "x", **entry}
            out.append(orjson.loads(parse_record(
                obj, default_account="1", default_region="r").body)["eventName"])
        except InvalidRecord as error:
            out.append(error.code)
        except TypeError:
            out.append("not-an-object")
    return out


@pytest.mark.parametrize("body", [
    b'{"Records":[{"eventName":"A","n":1},{"eventName":"B","n":2}]}',
    b'[{"eventName":"A","n":1},{"eventName":"B","n":2}]',
    b'{"eventName":"A","n":1}\n{"eventName":"B","n":2}\n',
    b'{"eventName":"A","n":1}\r\n\r\n   \n{"eventName":"B","n":2}',
    b'\xef\xbb\xbf  \n{"Records":[{"eventName":"A","n":1},{"eventName":"B","n":2}]}',
    b'{\n  "Records": [\n    {"eventName": "A", "n": 1},\n    {"eventName": "B", "n": 2}\n  ]\n}',
])
def test_forms(body: bytes) -> None:
    assert split_batch(body) == [A, B]
    assert split_batch(gzip.compress(body)) == [A, B]


def test_single_object_is_one_record() -> None:
    assert split_batch(b'{"eventName":"A","n":1}') == [A]


def test_empty_records() -> None:
    assert split_batch(b'{"Records":[]}') == []
    assert split_batch(b"[]") == []


def test_ndjson_bad_line_is_rejected_alone() -> None:
    body = b'{"eventName":"A","n":1}\n{"eventName": oops}\n\n{"eventName":"B","n":2}\n'
    entries = split_batch(body)
    assert len(entries) == 3
    assert entries[0] == A and entries[2] == B
    bad = entries[1]
    assert isinstance(bad, InvalidRecord)
    assert bad.code == "InvalidData"
    assert bad.message.startswith("Line 2 of the NDJSON body is not valid JSON")


def test_ndjson_non_object_line_is_rejected_by_parse_record() -> None:
    entries = split_batch(b'{"eventName":"A","n":1}\n[1,2]\n{"eventName":"B","n":2}')
    assert entries[1] == [1, 2]
    with pytest.raises(InvalidRecord, match="must be a JSON object"):
        parse_record(entries[1], default_account="1", default_region="r")


def test_good_neighbours_unaffected_by_bad_records() -> None:
    lines = [
        b'{"eventName":"A","n":1}',
        b'{"eventName":"big","n":123456789012345678901234567890}',
        b'{"eventName":"huge","x":1e400}',
        b'not json',
        b'{"eventName":"","n":3}',
        b'{"eventName":"late","eventTime":"2023-07-10T11:42:36+02:00"}',
        b'{"eventName":"B","n":2}',
    ]
    entries = split_batch(b"\n".join(lines))
    assert parse_all(entries) == ["A", "InvalidData", "InvalidData", "InvalidData",
                                  "FieldNotFound", "InvalidData", "B"]


def test_big_integer_in_records_document_rejects_only_that_record() -> None:
    body = b'{"Records":[{"eventName":"A","n":1},{"eventName":"X","n":-98765432109876543210},' \
           b'{"eventName":"B","n":2}]}'
    entries = split_batch(body)
    assert parse_all(entries) == ["A", "InvalidData", "B"]
    bad = entries[1]
    assert isinstance(bad, dict)
    with pytest.raises(InvalidRecord) as caught:
        parse_record({"eventTime": "2023-07-10T11:42:36Z", "eventSource": "x", **bad},
                     default_account="1", default_region="r")
    assert caught.value.field == "n"
    assert "-98765432109876543210" in caught.value.message


def test_integers_at_the_64_bit_edges_stay_exact() -> None:
    body = orjson.dumps([{"a": 2**64 - 1, "b": -(2**63), "c": 2**63}])
    assert split_batch(body) == [{"a": 2**64 - 1, "b": -(2**63), "c": 2**63}]


def test_long_digit_runs_inside_strings_parse_normally() -> None:
    body = b'[{"userAgent":"aws-go-sdk-1688990082523310002","id":"x:123456789012345678901"}]'
    assert split_batch(body) == [{"userAgent": "aws-go-sdk-1688990082523310002",
                                  "id": "x:123456789012345678901"}]


@pytest.mark.parametrize(("body", "words"), [
    (b"", "empty"),
    (b"   \n\t", "empty"),
    (b"hello", "not JSON"),
    (b'"Records"', "not JSON"),
    (b"42", "not JSON"),
    (b"[1, 2", "JSON array"),
    (b'{"Records": {"a": 1}}', "Records must be a JSON array"),
    (b'{"Records": [\n  {"eventName": "A",\n  oops\n]}', "not valid JSON"),
    (b'{"a": NaN}', "not valid JSON"),
    (b"\xff\xfe{\x00}\x00", "not JSON"),
])
def test_unreadable_bodies(body: bytes, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        split_batch(body)
    assert words in caught.value.message
    assert caught.value.code == "InvalidParameterException"
    assert caught.value.message.endswith(".")


def test_corrupt_and_truncated_gzip() -> None:
    good = gzip.compress(b'[{"eventName":"A"}]')
    with pytest.raises(ValidationError, match="truncated"):
        split_batch(good[:-12])
    with pytest.raises(ValidationError, match="not valid gzip"):
        split_batch(good[:10] + b"\x00" * 20)
    with pytest.raises(ValidationError, match="trailing bytes"):
        split_batch(good + b"junk")


def test_multi_member_gzip() -> None:
    body = gzip.compress(b'[{"eventName":"A",') + gzip.compress(b'"n":1}]')
    assert split_batch(body) == [{"eventName": "A", "n": 1}]


def gzip_of_spaces(size: int) -> bytes:
    """A gzip member inflating to `[` and `size` spaces, built without holding them."""
    stream = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    parts = [stream.compress(b"[")]
    parts += [stream.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join([*parts, stream.flush()])


def test_gzip_bomb_is_refused_before_it_is_inflated() -> None:
    bomb = gzip_of_spaces(MAX_BATCH_BYTES + (1 << 20))
    assert len(bomb) < MAX_BATCH_BYTES // 100
    with pytest.raises(ValidationError) as caught:
        split_batch(bomb)
    assert caught.value.code == "RequestEntityTooLargeException"
    assert isinstance(caught.value, PayloadTooLarge) and caught.value.status == 413
    assert str(MAX_BATCH_BYTES) in caught.value.message


def test_max_bytes_keyword() -> None:
    body = orjson.dumps([A, B])
    assert split_batch(gzip.compress(body), max_bytes=len(body)) == [A, B]
    for data in (gzip.compress(body), body):
        with pytest.raises(ValidationError) as caught:
            split_batch(data, max_bytes=len(body) - 1)
        assert caught.value.code == "RequestEntityTooLargeException"
