"""Fitting a call's parameters into its audit record: only what breaks a limit is cut."""

from __future__ import annotations

from typing import Any

import orjson

from opentrail.api._audit import HIDDEN, MAX_DEPTH, MAX_FIELD_BYTES, fit


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_small_parameters_are_kept_whole_and_redacted() -> None:
    assert fit({"Name": "t", "SecretKey": "s3cr3t", "NextToken": "n"}) == {
        "name": "t", "secretKey": HIDDEN, "nextToken": "n"}
    assert fit({}) is None
    assert fit(None) is None


def test_depth_limit_is_exact() -> None:
    # the field is level 1, the member's outermost array level 2
    assert fit({"Name": "t", "Deep": nested(MAX_DEPTH - 1)}) == {
        "name": "t", "deep": nested(MAX_DEPTH - 1)}
    assert fit({"Name": "t", "Deep": nested(MAX_DEPTH)}) == {"name": "t", "omitted": True}
    assert fit({"Name": "t", "Deep": nested(1000)}) == {"name": "t", "omitted": True}


def test_largest_members_go_first_and_the_rest_fit() -> None:
    params = {"Name": "t", "Big": "x" * MAX_FIELD_BYTES, "Medium": "y" * 60_000,
              "Small": "z" * 100}
    assert fit(params) == {"name": "t", "medium": "y" * 60_000, "small": "z" * 100,
                           "omitted": True}
    two = {"A": "a" * 60_000, "B": "b" * 50_000, "Name": "t"}  # together over, each under
    assert fit(two) == {"b": "b" * 50_000, "name": "t", "omitted": True}


def test_many_small_members_are_cut_to_the_limit() -> None:
    params = {f"K{i}": "v" * 20 for i in range(20_000)}
    fitted = fit(params)
    assert fitted is not None and fitted["omitted"] is True
    size = len(orjson.dumps(fitted))
    assert MAX_FIELD_BYTES - 100 < size <= MAX_FIELD_BYTES
