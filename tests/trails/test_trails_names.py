"""Trail names, trail ARNs, bucket names and prefixes, as CloudTrail checks them."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opentrail.errors import ValidationError
from opentrail.trails import check_trail_name, parse_trail_ref
from opentrail.trails._names import check_bucket_name, check_prefix, trail_name_problem

ALNUM = string.ascii_letters + string.digits
PUNCT = "._-"


@st.composite
def valid_names(draw: st.DrawFn) -> str:
    """Alphanumeric runs joined by single punctuation marks, 3-128 characters."""
    runs = draw(st.lists(st.text(ALNUM, min_size=1, max_size=12), min_size=1, max_size=8))
    joins = draw(st.lists(st.sampled_from(PUNCT), min_size=len(runs) - 1,
                          max_size=len(runs) - 1))
    name = runs[0] + "".join(j + r for j, r in zip(joins, runs[1:], strict=True))
    name = (name + "abc")[:3] if len(name) < 3 else name[:128]
    if name[-1] in PUNCT:
        name = name[:-1] + "z"
    if name.replace(".", "").isdigit() and name.count(".") == 3:
        name += "x"
    return name


@given(valid_names())
def test_generated_valid_names_pass(name: str) -> None:
    assert trail_name_problem(name) is None
    assert check_trail_name(name) == name


@given(valid_names(), st.sampled_from(PUNCT), st.sampled_from(PUNCT), st.data())
def test_adjacent_punctuation_fails(name: str, a: str, b: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(1, len(name) - 1))
    bad = name[:cut] + a + b + name[cut:]
    assert trail_name_problem(bad) is not None


@given(valid_names(), st.characters(blacklist_characters=ALNUM + PUNCT), st.data())
def test_foreign_characters_fail(name: str, char: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(name)))
    with pytest.raises(ValidationError) as info:
        check_trail_name(name[:cut] + char + name[cut:])
    assert info.value.code == "InvalidTrailNameException"


@given(valid_names(), st.sampled_from(PUNCT))
def test_leading_or_trailing_punctuation_fails(name: str, mark: str) -> None:
    assert trail_name_problem(mark + name) is not None
    assert trail_name_problem(name + mark) is not None


@pytest.mark.parametrize("name", ["ab", "a" * 129, "my-_ns", "my--ns", "my..ns", "_abc",
                                  "abc-", "192.168.5.4", "1.2.3.4", "caf\u00e9-trail", ""])
def test_invalid_names(name: str) -> None:
    assert trail_name_problem(name) is not None


@pytest.mark.parametrize("name", ["abc", "My.Trail_1-x", "a" * 128, "1.2.3", "1.2.3.4.5",
                                  "192.168.5.4a"])
def test_valid_names(name: str) -> None:
    assert trail_name_problem(name) is None


def test_trail_refs() -> None:
    ref = parse_trail_ref("arn:aws:cloudtrail:eu-west-1:123456789012:trail/main")
    assert (ref.name, ref.region, ref.account, ref.is_arn) == (
        "main", "eu-west-1", "123456789012", True)
    assert not parse_trail_ref("main").is_arn
    for bad in ("arn:aws:cloudtrail:eu-west-1:1234:trail/main",
                "arn:aws:s3:::bucket", "arn:aws:cloudtrail:eu-west-1:123456789012:trail/a--b",
                "arn:aws:cloudtrail:eu-west-1:123456789012:channel/x"):
        with pytest.raises(ValidationError) as info:
            parse_trail_ref(bad)
        assert info.value.code == "CloudTrailARNInvalidException", bad
    with pytest.raises(ValidationError) as info:
        parse_trail_ref(None)
    assert info.value.code == "TrailNotProvidedException"


@pytest.mark.parametrize("bucket", ["ab", "a" * 64, "Upper", "under_score", "-start", "end-",
                                    "two..dots", "dot.-dash", "10.0.0.1", "xn--punycode",
                                    "name-s3alias", ""])
def test_invalid_buckets(bucket: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_bucket_name(bucket)
    assert info.value.code == "InvalidS3BucketNameException"


@pytest.mark.parametrize("bucket", ["abc", "my-bucket.logs", "a" * 63, "123bucket"])
def test_valid_buckets(bucket: str) -> None:
    assert check_bucket_name(bucket) == bucket


def test_prefix() -> None:
    assert check_prefix("") is None
    assert check_prefix("p" * 200) == "p" * 200
    with pytest.raises(ValidationError) as info:
        check_prefix("p" * 201)
    assert info.value.code == "InvalidS3PrefixException"
