"""Canonical bytes: sorted, compact, UTF-8, exact numbers, and a fixed point."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opentrail.errors import InvalidRecord
from opentrail.events import canonical_bytes, parse_record, split_batch

json_scalars = (
    st.none() | st.booleans() | st.text()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)
json_objects = st.dictionaries(st.text(), json_values, max_size=8)
event_times = st.datetimes().map(lambda moment: f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z")


@given(json_objects)
def test_canonical_bytes_are_a_fixed_point(obj: dict[str, Any]) -> None:
    body = canonical_bytes(obj)
    assert canonical_bytes(orjson.loads(body)) == body
    assert orjson.loads(body) == obj


@given(extra=st.dictionaries(st.text().map("x-".__add__), json_values, max_size=8),
       name=st.text(min_size=1), source=st.text(min_size=1),
       event_time=event_times)
def test_record_bodies_round_trip(extra: dict[str, Any], name: str, source: str,
                                  event_time: str) -> None:
    # Extra keys are prefixed: arbitrary values in known fields are rightly rejected.
    obj = {**extra, "eventName": name, "eventSource": source, "eventTime": event_time}
    body = parse_record(obj, default_account="1", default_region="r").body
    assert canonical_bytes(orjson.loads(body)) == body
    again = parse_record(orjson.loads(body), default_account="2", default_region="s")
    assert again.body == body


@given(json_objects)
def test_split_batch_reads_canonical_bytes_back(obj: dict[str, Any]) -> None:
    body = canonical_bytes(obj)
    assert split_batch(b"[" + body + b"]") == [obj]


def test_format() -> None:
    obj = {"b": [1, 2.5, -0.0, 1e16, None], "a": {"é": "ü", "z": True, "A": "\u2028"}}
    assert canonical_bytes(obj) == (
        '{"a":{"A":"\u2028","z":true,"é":"ü"},"b":[1,2.5,-0.0,1e+16,null]}'.encode())


def test_keys_sort_by_code_point_at_every_level() -> None:
    obj = {"\U0001f600": 1, "\uffff": 2, "a": {"b": 1, "B": 2, "é": 3}}
    body = canonical_bytes(obj)
    assert body.index("\uffff".encode()) < body.index("\U0001f600".encode())
    assert body.index(b'"B"') < body.index(b'"b"') < body.index('"é"'.encode())


@pytest.mark.parametrize(("obj", "field", "words"), [
    ({"a": {"b": [0, 2**64]}}, "a.b[1]", "64-bit"),
    ({"a": -(2**63) - 1}, "a", "64-bit"),
    ({"a": {1: "x"}}, "a", "key that is not a string"),
    ({"a": ["\udc80"]}, "a[0]", "not valid Unicode"),
    ({"a": {1, 2}}, "a", "Python set"),
])
def test_unstorable_values_are_named(obj: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        canonical_bytes(obj)
    assert (caught.value.field, caught.value.code) == (field, "InvalidData")
    assert words in caught.value.message
    assert caught.value.message.startswith(field)
