"""Event selectors: CloudTrail's limits on input, and which records a trail selects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import DATASETS, make_event
from opentrail.errors import ValidationError
from opentrail.events import Category
from opentrail.trails import (
    Trail,
    check_advanced_selectors,
    check_event_selectors,
    check_insight_selectors,
    selects,
)

MGMT = Category.MANAGEMENT
DATA = Category.DATA


def _trail(**kw: Any) -> Trail:
    return Trail(name="t-1", account="123456789012", home_region="us-east-1",
                 s3_bucket_name="bucket", **kw)


def _invalid(check: Any, value: Any, code: str = "InvalidEventSelectorsException") -> str:
    with pytest.raises(ValidationError) as info:
        check(value)
    assert info.value.code == code
    return info.value.message


def _s3_event(arn: str = "arn:aws:s3:::bucket/key.txt", read_only: bool = True,
              **kw: Any) -> dict[str, Any]:
    return make_event("GetObject", eventSource="s3.amazonaws.com", eventCategory="Data",
                      managementEvent=False, readOnly=read_only,
                      resources=[{"type": "AWS::S3::Object", "ARN": arn},
                                 {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::bucket"}],
                      **kw)


def _adv(*fields: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"FieldSelectors": list(fields)}]


MGMT_FIELD = {"Field": "eventCategory", "Equals": ["Management"]}
DATA_FIELD = {"Field": "eventCategory", "Equals": ["Data"]}


# -- limits ----------------------------------------------------------------------------------

def test_basic_limits_and_defaults() -> None:
    assert check_event_selectors([{}]) == [{
        "ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
        "ExcludeManagementEventSources": []}]
    assert "1 to 5" in _invalid(check_event_selectors, [{}] * 6)
    _invalid(check_event_selectors, [])
    _invalid(check_event_selectors, [{"ReadWriteType": "read-only"}])
    _invalid(check_event_selectors, [{"ExcludeManagementEventSources": ["s3.amazonaws.com"]}])
    _invalid(check_event_selectors, [{"DataResources": [{"Type": "AWS::EC2::Instance",
                                                         "Values": []}]}])
    _invalid(check_event_selectors, [{"DataResources": [{"Type": "AWS::S3::Object",
                                                         "Values": ["arn:aws:lambda"]}]}])
    many = [{"DataResources": [{"Type": "AWS::S3::Object",
                                "Values": [f"arn:aws:s3:::b{i}-{j}/" for j in range(50)]}]}
            for i in range(5)]
    assert len(check_event_selectors(many)) == 5  # 250 values: the limit itself
    many[0]["DataResources"][0]["Values"].append("arn:aws:s3:::one-more/")
    assert "251" in _invalid(check_event_selectors, many)


def test_advanced_limits() -> None:
    ok = _adv(DATA_FIELD, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
              {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::bucket/"]})
    assert check_advanced_selectors(ok) == ok
    _invalid(check_advanced_selectors, [])
    _invalid(check_advanced_selectors, _adv({"Field": "eventName", "Equals": ["X"]}))
    _invalid(check_advanced_selectors, _adv(DATA_FIELD))  # data needs resources.type
    _invalid(check_advanced_selectors, _adv(MGMT_FIELD, {"Field": "nope", "Equals": ["x"]}))
    _invalid(check_advanced_selectors, _adv({"Field": "eventCategory", "NotEquals": ["Data"]}))
    _invalid(check_advanced_selectors, _adv(MGMT_FIELD, {"Field": "readOnly",
                                                         "Equals": ["yes"]}))
    _invalid(check_advanced_selectors, _adv(MGMT_FIELD, {"Field": "eventName"}))
    _invalid(check_advanced_selectors, _adv(MGMT_FIELD, {"Field": "eventName", "Equals": []}))
    _invalid(check_advanced_selectors, _adv(MGMT_FIELD, MGMT_FIELD))
    values = [f"Event{i}" for i in range(499)]
    assert check_advanced_selectors(_adv(MGMT_FIELD, {"Field": "eventName", "Equals": values}))
    assert "501" in _invalid(check_advanced_selectors, _adv(
        MGMT_FIELD, {"Field": "eventName", "Equals": [*values, "One"]}))


def test_insight_selectors() -> None:
    code = "InvalidInsightSelectorsException"
    assert check_insight_selectors([]) == []
    assert check_insight_selectors([{"InsightType": "ApiErrorRateInsight",
                                     "EventCategories": ["Management"]}])
    _invalid(check_insight_selectors, [{"InsightType": "Other"}], code)
    _invalid(check_insight_selectors, [{"InsightType": "ApiCallRateInsight"}] * 2, code)
    _invalid(check_insight_selectors, [{"InsightType": "ApiCallRateInsight",
                                        "EventCategories": ["Insight"]}], code)


# -- evaluation ------------------------------------------------------------------------------

def test_default_selects_management_only() -> None:
    trail = _trail()
    assert selects(trail, make_event(readOnly=True), MGMT)
    assert selects(trail, make_event(readOnly=False), MGMT)
    assert not selects(trail, _s3_event(), DATA)
    assert not selects(trail, make_event(eventCategory="Insight"), Category.INSIGHT)


def test_default_selects_every_real_management_event() -> None:
    folder = DATASETS / "invictus-aws" / "CloudTrail"
    records = [r for f in sorted(folder.glob("*.json"))[:10]
               for r in json.loads(f.read_text())["Records"]]
    assert records
    assert all(selects(_trail(), r, MGMT) for r in records)
    write_only = _trail(event_selectors=[{"ReadWriteType": "WriteOnly"}])
    chosen = [r for r in records if selects(write_only, r, MGMT)]
    assert chosen and all(r.get("readOnly") is False for r in chosen)


def test_basic_selectors() -> None:
    reads = _trail(event_selectors=[{"ReadWriteType": "ReadOnly",
                                     "ExcludeManagementEventSources": ["kms.amazonaws.com"]}])
    assert selects(reads, make_event(readOnly=True), MGMT)
    assert not selects(reads, make_event(readOnly=False), MGMT)
    assert not selects(reads, make_event(eventSource="kms.amazonaws.com"), MGMT)
    data = _trail(event_selectors=[{"IncludeManagementEvents": False, "DataResources": [
        {"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::bucket/logs/"]},
        {"Type": "AWS::Lambda::Function",
         "Values": ["arn:aws:lambda:us-east-1:123456789012:function:fn"]}]}])
    assert not selects(data, make_event(), MGMT)
    assert selects(data, _s3_event("arn:aws:s3:::bucket/logs/a"), DATA)
    assert not selects(data, _s3_event("arn:aws:s3:::bucket/other"), DATA)
    fn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    invoke = make_event("Invoke", eventCategory="Data",
                        resources=[{"type": "AWS::Lambda::Function", "ARN": fn}])
    assert selects(data, invoke, DATA)
    invoke["resources"] = [{"type": "AWS::Lambda::Function", "ARN": fn + "2"}]
    assert not selects(data, invoke, DATA)  # Lambda values are exact, not prefixes
    every = _trail(event_selectors=[{"DataResources": [{"Type": "AWS::S3::Object",
                                                        "Values": ["arn:aws:s3"]}]}])
    assert selects(every, _s3_event("arn:aws:s3:::any/thing"), DATA)


def test_advanced_selectors() -> None:
    trail = _trail(advanced_event_selectors=[
        {"FieldSelectors": [MGMT_FIELD, {"Field": "eventSource",
                                         "NotEquals": ["kms.amazonaws.com"]}]},
        {"FieldSelectors": [DATA_FIELD,
                            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                            {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::bucket/"],
                             "NotEndsWith": [".tmp"]},
                            {"Field": "readOnly", "Equals": ["false"]}]}])
    assert selects(trail, make_event(), MGMT)
    assert not selects(trail, make_event(eventSource="kms.amazonaws.com"), MGMT)
    assert selects(trail, _s3_event(read_only=False), DATA)
    assert not selects(trail, _s3_event(read_only=True), DATA)
    assert not selects(trail, _s3_event("arn:aws:s3:::bucket/x.tmp", read_only=False), DATA)
    errors = _trail(advanced_event_selectors=_adv(
        MGMT_FIELD, {"Field": "errorCode", "Equals": ["AccessDenied"]},
        {"Field": "userIdentity.arn", "EndsWith": [":user/alice"]}))
    assert selects(errors, make_event(errorCode="AccessDenied"), MGMT)
    assert not selects(errors, make_event(), MGMT)
    no_errors = _trail(advanced_event_selectors=_adv(
        MGMT_FIELD, {"Field": "errorCode", "NotStartsWith": ["Access"]}))
    assert selects(no_errors, make_event(), MGMT)  # an absent field is not "Access..."
    assert not selects(no_errors, make_event(errorCode="AccessDenied"), MGMT)


def test_global_service_events_can_be_left_out() -> None:
    iam = make_event("CreateUser", eventSource="iam.amazonaws.com")
    assert selects(_trail(), iam, MGMT)
    assert not selects(_trail(include_global_service_events=False), iam, MGMT)


NAMES = st.text("ABCab", min_size=1, max_size=4)


@given(NAMES, st.lists(NAMES, min_size=1, max_size=3),
       st.sampled_from(["Equals", "StartsWith", "EndsWith"]))
def test_negated_operators_are_complements(name: str, operands: list[str], op: str) -> None:
    def picks(operator: str) -> bool:
        trail = _trail(advanced_event_selectors=_adv(
            MGMT_FIELD, {"Field": "eventName", operator: operands}))
        return selects(trail, make_event(name), MGMT)

    assert picks(op) != picks("Not" + op)
