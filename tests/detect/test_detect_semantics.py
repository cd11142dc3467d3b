"""Sigma matching semantics, case by case, over CloudTrail-shaped records."""

from __future__ import annotations

from typing import Any

import pytest

from opentrail.detect import Rule, RuleSet, parse_rules

EVENT: dict[str, Any] = {
    "eventVersion": "1.09", "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
    "eventType": "AwsApiCall", "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2.15.0",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/Alice",
                     "userName": "alice", "sessionContext": {"attributes": {
                         "mfaAuthenticated": "false"}}},
    "requestParameters": {"userName": "alice", "policyDocument": "{\"Effect\":\"Allow\"}",
                          "tags": [{"key": "team", "value": "red"}, {"key": "env"}],
                          "ports": [22, 443], "count": 7, "enabled": True},
    "responseElements": None, "errorCode": None,
}


def rule(detection: str, product: str = "aws") -> RuleSet:
    text = (f"title: t\nid: 00000000-0000-0000-0000-000000000001\nlogsource:\n"
            f"  product: {product}\n  service: cloudtrail\ndetection:\n{detection}")
    loaded = parse_rules(text, "t.yml")
    assert all(isinstance(r, Rule) for r in loaded), loaded
    return RuleSet([r for r in loaded if isinstance(r, Rule)])


def hits(detection: str, event: dict[str, Any] | None = None) -> bool:
    return bool(rule(detection).match(EVENT if event is None else event))


@pytest.mark.parametrize(("detection", "expected"), [
    # plain values: whole value, case-insensitive
    ("  s:\n    eventName: createaccesskey\n  condition: s\n", True),
    ("  s:\n    eventName: CreateAccess\n  condition: s\n", False),
    # wildcards * and ?, and an escaped wildcard
    ("  s:\n    eventName: 'Create*Key'\n  condition: s\n", True),
    ("  s:\n    eventName: 'CreateAccessKe?'\n  condition: s\n", True),
    ("  s:\n    eventName: 'CreateAccessK?'\n  condition: s\n", False),
    ("  s:\n    eventName: 'Create\\*'\n  condition: s\n", False),
    # contains / startswith / endswith
    ("  s:\n    userAgent|contains: CLI/2\n  condition: s\n", True),
    ("  s:\n    userAgent|startswith: AWS-CLI\n  condition: s\n", True),
    ("  s:\n    userAgent|startswith: cli\n  condition: s\n", False),
    ("  s:\n    userIdentity.arn|endswith: ':user/alice'\n  condition: s\n", True),
    # all: every value must match
    ("  s:\n    userAgent|contains|all: [aws, '2.15']\n  condition: s\n", True),
    ("  s:\n    userAgent|contains|all: [aws, boto]\n  condition: s\n", False),
    ("  s:\n    userAgent|contains: [boto, aws]\n  condition: s\n", True),
    # cased
    ("  s:\n    eventName|cased: createaccesskey\n  condition: s\n", False),
    ("  s:\n    eventName|cased: CreateAccessKey\n  condition: s\n", True),
    # re: search, case-sensitive unless |i
    ("  s:\n    userIdentity.arn|re: ':user/[A-Z]'\n  condition: s\n", True),
    ("  s:\n    userIdentity.arn|re: ':USER/'\n  condition: s\n", False),
    ("  s:\n    userIdentity.arn|re|i: ':USER/'\n  condition: s\n", True),
    # cidr
    ("  s:\n    sourceIPAddress|cidr: 203.0.113.0/24\n  condition: s\n", True),
    ("  s:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: s\n", False),
    ("  s:\n    userAgent|cidr: 10.0.0.0/8\n  condition: s\n", False),
    # exists
    ("  s:\n    userIdentity.userName|exists: true\n  condition: s\n", True),
    ("  s:\n    vpcEndpointId|exists: true\n  condition: s\n", False),
    ("  s:\n    vpcEndpointId|exists: false\n  condition: s\n", True),
    # null: absent or null
    ("  s:\n    errorCode: null\n  condition: s\n", True),
    ("  s:\n    errorMessage: null\n  condition: s\n", True),
    ("  s:\n    eventName: null\n  condition: s\n", False),
    # "null or 'Success'" (SigmaHQ's way of saying "succeeded"), and the empty string
    ("  s:\n    errorCode:\n      - null\n      - Success\n  condition: s\n", True),
    ("  s:\n    userAgent:\n      - null\n      - ''\n  condition: s\n", False),
    ("  s:\n    userIdentity.sessionContext.attributes.mfaAuthenticated: 'FALSE'\n"
     "  condition: s\n", True),
    # '|contains: *' means present (and not null)
    ("  s:\n    errorCode|contains: '*'\n  condition: s\n", False),
    ("  s:\n    userAgent|contains: '*'\n  condition: s\n", True),
    # not over an absent field is true
    ("  s:\n    eventName: CreateAccessKey\n  f:\n    errorMessage: x\n"
     "  condition: s and not f\n", True),
    # numbers and comparisons
    ("  s:\n    requestParameters.count: 7\n  condition: s\n", True),
    ("  s:\n    requestParameters.count|gte: 7\n  condition: s\n", True),
    ("  s:\n    requestParameters.count|lt: 7\n  condition: s\n", False),
    ("  s:\n    requestParameters.enabled: true\n  condition: s\n", True),
    # lists in the event: any element; lists of objects: each element's field
    ("  s:\n    requestParameters.ports: 443\n  condition: s\n", True),
    ("  s:\n    requestParameters.tags.value: RED\n  condition: s\n", True),
    ("  s:\n    requestParameters.tags.key: owner\n  condition: s\n", False),
    # an object is matched as its JSON text
    ("  s:\n    requestParameters|contains: '\"userName\":\"alice\"'\n  condition: s\n", True),
    ("  s:\n    requestParameters.policyDocument|contains: '\"allow\"'\n  condition: s\n", True),
    # fieldref compares two fields of the event (case-insensitively)
    ("  s:\n    userIdentity.userName|fieldref: requestParameters.userName\n"
     "  condition: s\n", True),
    ("  s:\n    userIdentity.arn|fieldref: requestParameters.userName\n  condition: s\n", False),
    # a list of maps is an OR
    ("  s:\n    - eventName: Nope\n    - userAgent|contains: cli\n  condition: s\n", True),
    # conditions: 1 of / all of / patterns / parentheses
    ("  sel_a:\n    eventName: CreateAccessKey\n  sel_b:\n    eventName: Other\n"
     "  condition: 1 of sel_*\n", True),
    ("  sel_a:\n    eventName: CreateAccessKey\n  sel_b:\n    eventName: Other\n"
     "  condition: all of sel_*\n", False),
    ("  sel_a:\n    eventName: CreateAccessKey\n  sel_b:\n    eventType: AwsApiCall\n"
     "  condition: all of them\n", True),
    ("  a:\n    eventName: X\n  b:\n    eventType: AwsApiCall\n  c:\n    userAgent: none\n"
     "  condition: (a or b) and not c\n", True),
    ("  a:\n    eventName: X\n  b:\n    eventType: AwsApiCall\n  c:\n    userAgent: none\n"
     "  condition: a or (b and c)\n", False),
    # keywords: a value anywhere in the event
    ("  keywords:\n    - 'policyDocument'\n  condition: keywords\n", False),
    ("  keywords:\n    - 'Alice'\n  condition: keywords\n", True),
    ("  keywords:\n    - '203.0.113.*'\n  condition: keywords\n", True),
])
def test_semantics(detection: str, expected: bool) -> None:
    assert hits(detection) is expected


def test_base64_and_windash_expansions() -> None:
    event = {**EVENT, "userAgent": "cmd -enc SGVsbG8gd29ybGQ="}
    assert hits("  s:\n    userAgent|base64|contains: Hello world\n  condition: s\n", event)
    event = {**EVENT, "userAgent": "tool /flag"}
    assert hits("  s:\n    userAgent|windash|contains: ' -flag'\n  condition: s\n", event)


def test_azure_value_objects_read_as_their_value() -> None:
    rules = RuleSet([r for r in parse_rules(
        "title: t\nid: 00000000-0000-0000-0000-000000000002\nlogsource:\n  product: azure\n"
        "  service: activitylogs\ndetection:\n  s:\n    operationName: MICROSOFT.KEYVAULT/"
        "VAULTS/DELETE\n  condition: s\n", "t.yml") if isinstance(r, Rule)])
    record = {"eventName": "x", "additionalEventData": {"sourceFormat": "azure", "original": {
        "operationName": {"value": "Microsoft.KeyVault/vaults/delete",
                          "localizedValue": "Delete Key Vault"}}}}
    assert rules.match(record)
    # the same rule never sees an AWS record
    assert not rules.match({"eventName": "x", "operationName": "MICROSOFT.KEYVAULT/VAULTS/DELETE"})


def test_rules_see_only_their_own_source() -> None:
    aws = rule("  s:\n    eventName: CreateAccessKey\n  condition: s\n")
    converted = {**EVENT, "additionalEventData": {"sourceFormat": "k8s", "original": {}}}
    assert aws.match(EVENT) and not aws.match(converted)


def test_string_fast_paths_agree_with_the_wildcard_regex() -> None:
    """Equality, contains, startswith and endswith are matched without a regex; for any
    pattern and value they must say what pySigma's own regex of the pattern says."""
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st
    from sigma.types import SigmaString

    from opentrail.detect._condition import value_test

    @settings(max_examples=400, deadline=None)
    @given(st.text("aAb*?\\.", max_size=6), st.text("aAbB*?.\\", max_size=8))
    def agree(pattern: str, value: str) -> None:
        sigma = SigmaString(pattern)
        regex = re.compile(str(sigma.to_regex().regexp), re.IGNORECASE | re.DOTALL)
        assert value_test(sigma)(value) is (regex.fullmatch(value) is not None)

    agree()
