"""EventBridge pattern semantics, case by case from AWS's user guide (eb-create-pattern,
eb-create-pattern-operators, eb-event-patterns-arrays, -null-values, -content-based-filtering)
and the event-ruler README; then validation, crushing, and a differential test against moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opentrail.errors import InvalidEventPattern
from opentrail.rules import compile_pattern, matches

EC2_EVENT: dict[str, Any] = {  # the user guide's sample event
    "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
    "account": "111122223333", "time": "2017-12-22T18:43:48Z", "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated",
               "c-count": 5, "d-count": 3, "x-limit": 301.8,
               "source-ip": "10.0.0.123", "FileName": "image.png", "Location": None,
               "Day": "Monday", "LastName": ""},
}


def match(pattern: Any, event: Any = None) -> bool:
    return matches(compile_pattern(json.dumps(pattern)), EC2_EVENT if event is None else event)


CASES: list[tuple[str, Any, bool]] = [
    ("structure", {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change "
                                                          "Notification"],
                   "detail": {"state": ["terminated"]}}, True),
    ("field missing from event", {"detail": {"nope": ["x"]}}, False),
    ("values ORed", {"detail": {"state": ["running", "terminated"]}}, True),
    ("case-sensitive exact", {"detail": {"state": ["Terminated"]}}, False),
    ("null matches null", {"detail": {"Location": [None]}}, True),
    ("null is not empty", {"detail": {"Location": [""]}}, False),
    ("empty matches empty", {"detail": {"LastName": [""]}}, True),
    ("empty is not null", {"detail": {"LastName": [None]}}, False),
    ("prefix", {"region": [{"prefix": "us-"}]}, True),
    ("prefix miss", {"region": [{"prefix": "eu-"}]}, False),
    ("prefix ignore case", {"source": [{"prefix": {"equals-ignore-case": "AWS.E"}}]}, True),
    ("suffix", {"detail": {"FileName": [{"suffix": ".png"}]}}, True),
    ("suffix ignore case", {"detail": {"FileName": [{"suffix": {"equals-ignore-case":
                                                                  ".PNG"}}]}}, True),
    ("equals-ignore-case", {"detail": {"state": [{"equals-ignore-case": "TERMINATED"}]}}, True),
    ("anything-but string", {"detail": {"state": [{"anything-but": "initializing"}]}}, True),
    ("anything-but string hit", {"detail": {"state": [{"anything-but": "terminated"}]}}, False),
    ("anything-but list", {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
     True),
    ("anything-but numbers", {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}},
     True),
    ("anything-but number hit", {"detail": {"c-count": [{"anything-but": 5}]}}, False),
    ("anything-but prefix", {"region": [{"anything-but": {"prefix": "us-"}}]}, False),
    ("anything-but suffix", {"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}},
     True),
    ("anything-but ignore case", {"detail": {"state": [
        {"anything-but": {"equals-ignore-case": ["TERMINATED", "x"]}}]}}, False),
    ("anything-but wildcard", {"detail": {"FileName": [{"anything-but": {"wildcard":
                                                                         "*/lib/*"}}]}}, True),
    ("anything-but absent field", {"detail": {"nope": [{"anything-but": "x"}]}}, False),
    ("numeric range", {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, True),
    ("numeric below", {"detail": {"d-count": [{"numeric": ["<", 3]}]}}, False),
    ("numeric equals float", {"detail": {"x-limit": [{"numeric": ["=", 3.018e2]}]}}, True),
    ("numeric on a string", {"detail": {"state": [{"numeric": [">", 0]}]}}, False),
    ("exact number is numeric", {"detail": {"c-count": [5.0]}}, True),
    ("cidr", {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, True),
    ("cidr miss", {"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}, False),
    ("exists true", {"detail": {"state": [{"exists": True}]}}, True),
    ("exists true on null", {"detail": {"Location": [{"exists": True}]}}, True),
    ("exists false", {"detail": {"nope": [{"exists": False}]}}, True),
    ("exists false present", {"detail": {"state": [{"exists": False}]}}, False),
    ("exists on object is absent", {"detail": [{"exists": True}]}, False),
    ("exists false on object", {"detail": [{"exists": False}]}, True),
    ("wildcard", {"resources": [{"wildcard": "arn:aws:ec2:*:instance/*"}]}, True),
    ("wildcard miss", {"resources": [{"wildcard": "arn:aws:s3:*"}]}, False),
    ("$or", {"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                                {"d-count": [{"numeric": ["<", 10]}]}]}}, True),
    ("$or none", {"source": ["aws.ec2"], "$or": [{"region": ["eu-west-1"]},
                                                 {"detail": {"state": ["running"]}}]}, False),
    ("$or anded with siblings", {"source": ["aws.s3"], "$or": [{"region": ["us-west-1"]},
                                                               {"account": ["1"]}]}, False),
    ("nested $or", {"$or": [{"source": ["x"]}, {"$or": [{"region": ["us-west-1"]},
                                                        {"account": ["2"]}]}]}, True),
]


@pytest.mark.parametrize(("name", "pattern", "expected"), CASES, ids=[c[0] for c in CASES])
def test_documented_semantics(name: str, pattern: Any, expected: bool) -> None:
    assert match(pattern) is expected


def test_arrays_intersect() -> None:
    """eb-event-patterns-arrays: the pattern's first item matches the event's second."""
    pattern = {"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                             "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]}
    event = {"resources": [
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b:"
        "autoScalingGroupName/ASGTerminate",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}
    assert match(pattern, event)
    assert not match({"resources": ["arn:other"]}, event)


SG_EVENT = {"detail": {"eventName": "AuthorizeSecurityGroupIngress", "requestParameters": {
    "ipPermissions": {"items": [
        {"ipProtocol": "tcp", "fromPort": 22,
         "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
        {"ipProtocol": "tcp", "fromPort": 443,
         "ipRanges": {"items": [{"cidrIp": "192.168.0.0/16"}, {"cidrIp": "0.0.0.0/0"}]}}]}}}}


def test_arrays_of_objects_are_crushed() -> None:
    pattern = {"detail": {"eventName": ["AuthorizeSecurityGroupIngress"], "requestParameters": {
        "ipPermissions": {"items": {"ipRanges": {"items": {"cidrIp": ["0.0.0.0/0"]}}}}}}}
    assert match(pattern, SG_EVENT)


def test_fields_from_different_elements_are_not_paired() -> None:
    items = {"detail": {"requestParameters": {"ipPermissions": {"items": {
        "fromPort": [22], "ipRanges": {"items": {"cidrIp": ["0.0.0.0/0"]}}}}}}}
    assert not match(items, SG_EVENT)  # port 22 is in one element, 0.0.0.0/0 in the other
    items["detail"]["requestParameters"]["ipPermissions"]["items"]["fromPort"] = [443]
    assert match(items, SG_EVENT)


def test_exists_false_sees_every_element() -> None:
    pattern = {"x": {"a": [{"exists": False}]}}
    assert not match(pattern, {"x": [{"a": 1}, {"b": 2}]})
    assert match(pattern, {"x": [{"c": 1}, {"b": 2}]})


def test_anything_but_over_an_array_matches_per_value() -> None:
    assert match({"tags": [{"anything-but": "a"}]}, {"tags": ["a", "b"]})
    assert not match({"tags": [{"anything-but": "a"}]}, {"tags": ["a"]})


@pytest.mark.parametrize(("text", "wanted", "matching", "other"), [
    ("a*b", "a*b", "axxb", "axxc"),
    ("*", "*", "", None),
    (r"a\*b", r"a\*b", "a*b", "axb"),
    (r"a\\*", r"a\\*", "a\\zz", "az"),
])
def test_wildcard_escapes(text: str, wanted: str, matching: str, other: str | None) -> None:
    pattern = {"f": [{"wildcard": text}]}
    assert match(pattern, {"f": matching})
    if other is not None:
        assert not match(pattern, {"f": other})


INVALID: list[tuple[Any, str]] = [
    ("[]", "Filter is not an object"),
    ("{}", "Empty objects are not allowed"),
    ('{"a": "x"}', '"a" must be an object or an array'),
    ('{"a": []}', "Empty arrays are not allowed"),
    ('{"a": {}}', "Empty objects are not allowed"),
    ('{"a": [[1]]}', "Match value must be String, number, true, false, or null"),
    ('{"a": [{}]}', "Match expression name not found"),
    ('{"a": [{"prefix": "x", "suffix": "y"}]}', "Only one key allowed in match expression"),
    ('{"a": [{"contains": "x"}]}', "Unrecognized match type contains"),
    ('{"a": [{"prefix": 1}]}', "prefix match pattern must be a string"),
    ('{"a": [{"wildcard": "a**b"}]}', "Consecutive wildcard characters at pos 2"),
    ('{"a": [{"wildcard": "a\\\\b"}]}', "Invalid escape character at pos 1"),
    ('{"a": [{"anything-but": [1, "x"]}]}', "mixed type is not supported"),
    ('{"a": [{"anything-but": [null]}]}', "start|null|boolean is not supported"),
    ('{"a": [{"anything-but": {"exists": true}}]}', "Unsupported anything-but pattern: exists"),
    ('{"a": [{"anything-but": {"prefix": ""}}]}', "Null prefix/suffix not allowed"),
    ('{"a": [{"numeric": 5}]}', "Value of numeric must be an array."),
    ('{"a": [{"numeric": [">", "x"]}]}', "Value of > must be numeric"),
    ('{"a": [{"numeric": ["!", 1]}]}', "Unrecognized numeric range operator: !"),
    ('{"a": [{"numeric": [">", 5, "<", 1]}]}', "Bad numeric range"),
    ('{"a": [{"numeric": ["=", 5, "<", 9]}]}', "Too many elements in numeric expression"),
    ('{"a": [{"numeric": [">", 1, ">", 9]}]}', "Bad numeric range operator: >"),
    ('{"a": [{"cidr": "10.0.0.1"}]}', "Malformed CIDR"),
    ('{"a": [{"cidr": "10.0.0.300/24"}]}', "Nonstandard IP address"),
    ('{"a": [{"exists": "yes"}]}', "exists match pattern must be either true or false."),
    ('{"$or": [{"a": ["x"]}]}', "There must have at least 2 Objects in $or relationship."),
    ('{"$or": {"a": ["x"]}}', "It must be an Array followed with $or."),
    ('{"$or": [{"a": ["x"]}, "b"]}', "Only JSON object is allowed in array of $or"),
    ("{not json", "not valid JSON"),
]


@pytest.mark.parametrize(("text", "reason"), INVALID, ids=[c[1][:40] for c in INVALID])
def test_invalid_patterns_are_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidEventPattern) as info:
        compile_pattern(text)
    assert info.value.message.startswith("Event pattern is not valid. Reason: ")
    assert reason in info.value.message
    assert info.value.code == "InvalidEventPatternException"


# -- differential: moto's EventPattern agrees wherever it follows AWS ------------------------

AGREED = [case for case in CASES if case[0] not in {
    # moto differs from AWS here (spec detection.md §4.3): exact numbers are not numeric,
    # absent-field and object-valued leaves, newer nested operators.
    "exact number is numeric", "exists on object is absent", "exists false on object",
    "anything-but ignore case", "anything-but wildcard", "prefix ignore case",
    "suffix ignore case", "anything-but absent field", "nested $or",
}]


@pytest.mark.parametrize(("name", "pattern", "expected"), AGREED, ids=[c[0] for c in AGREED])
def test_agrees_with_moto(name: str, pattern: Any, expected: bool) -> None:
    from moto.events.models import EventPattern

    theirs = EventPattern.load(json.dumps(pattern)).matches_event(EC2_EVENT)
    # No skip: a moto release that stops following AWS on one of these cases must say so
    # here (then move the case to the list above), not pass unnoticed.
    assert theirs is expected, f"moto now answers {theirs} where AWS answers {expected}"
    assert match(pattern) is theirs


def test_moto_misses_crushing_that_we_do() -> None:
    """The two places moto is known to be wrong (spec §4.3), pinned on our side."""
    from moto.events.models import EventPattern

    pattern = {"detail": {"requestParameters": {"ipPermissions": {"items": {"ipRanges": {
        "items": {"cidrIp": ["0.0.0.0/0"]}}}}}}}
    assert not EventPattern.load(json.dumps(pattern)).matches_event(SG_EVENT)
    assert match(pattern, SG_EVENT)
    unknown = '{"detail": {"state": [{"contains": "x"}]}}'
    assert EventPattern.load(unknown).matches_event(EC2_EVENT)  # moto: matches everything
    with pytest.raises(InvalidEventPattern):
        compile_pattern(unknown)


def test_engine_index_only_prunes() -> None:
    """The engine skips a record only when no rule could match its eventName."""
    from opentrail.rules._engine import Armed, Armory
    from opentrail.rules._model import Rule

    def arm(pattern: dict[str, Any]) -> Armed:
        return Armed(Rule("1", "r", "n", json.dumps(pattern), "ENABLED"),
                     compile_pattern(json.dumps(pattern)), [])

    armory = Armory()
    named = arm({"detail": {"eventName": ["StopLogging", "DeleteTrail"]}})
    armory.add(named)
    assert armory.candidates(b'{"eventName":"RunInstances"}') == []
    assert armory.candidates(b'{"eventName":"DeleteTrail"}') == [named]
    assert armory.candidates(b'{"eventName":"Odd\\"Name"}') == [named]  # escapes: no pruning
    loose = arm({"detail": {"errorCode": [{"prefix": "AccessDenied"}]}})
    armory.add(loose)
    assert armory.candidates(b'{"eventName":"RunInstances"}') == [loose]


def test_engine_index_finds_every_event_name_in_the_bytes() -> None:
    """Hypothesis: the candidates are those of every `"eventName":"..."` in the bytes
    (nested ones too, as the index cannot tell which is the record's own), or every rule
    when a name has an escape, as a regular expression over the bytes answers."""
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from opentrail.rules._engine import Armed, Armory
    from opentrail.rules._model import Rule

    names = ["StopLogging", "DeleteTrail", "Stop", "Ün"]
    armory = Armory()
    arms = {}
    for name in names:
        arms[name] = Armed(Rule("1", "r", name, "{}", "ENABLED"),
                           compile_pattern(json.dumps({"detail": {"eventName": [name]}})), [])
        armory.add(arms[name])
    every = re.compile(rb'"eventName":"([^"\\]*)(\\?)')

    def expected(body: bytes) -> set[str]:
        found = set()
        for match in every.finditer(body):
            if match.group(2):
                return set(names)
            found.add(match.group(1).decode())
        return found & set(names)

    value = st.one_of(st.sampled_from([*names, "RunInstances", "Stop\"x", "a\\b", ""]),
                      st.text(max_size=6))

    @given(st.lists(st.tuples(st.booleans(), value), max_size=4))
    @settings(max_examples=300, deadline=None)
    def check(parts: list[tuple[bool, str]]) -> None:
        record: dict[str, Any] = {}
        for i, (nested, name) in enumerate(parts):
            if nested:
                record[f"k{i}"] = {"eventName": name}
            else:
                record["eventName"] = name
        body = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
        got = {a.rule.name for a in armory.candidates(body)}
        assert got == expected(body), body

    check()


def test_engine_indexes_sigma_finding_rules() -> None:
    """A rule on detail-type "Sigma Rule Match" alone is tried only on findings (eventName
    SigmaRuleMatch): it does not make the engine parse every record. A rule on source
    "opentrail.detect" is not indexed (a record of yours may have that eventSource)."""
    from opentrail.rules import envelope
    from opentrail.rules._engine import Armed, Armory
    from opentrail.rules._model import Rule

    def arm(pattern: dict[str, Any]) -> Armed:
        return Armed(Rule("1", "r", "n", json.dumps(pattern), "ENABLED"),
                     compile_pattern(json.dumps(pattern)), [])

    findings = arm({"source": ["opentrail.detect"], "detail-type": ["Sigma Rule Match"]})
    armory = Armory()
    armory.add(findings)
    assert armory.candidates(b'{"eventName":"RunInstances"}') == []
    finding = {"eventSource": "detect.opentrail.local", "eventName": "SigmaRuleMatch",
               "eventType": "AwsServiceEvent", "eventTime": "2026-12-02T10:00:00Z"}
    assert armory.candidates(json.dumps(finding, separators=(",", ":")).encode()) == [findings]
    assert matches(findings.pattern, envelope(finding))
    by_source = arm({"source": ["opentrail.detect"]})
    armory.add(by_source)
    assert armory.candidates(b'{"eventName":"RunInstances"}') == [by_source]


def test_agrees_with_moto_on_generated_flat_patterns() -> None:
    """Hypothesis: exact, prefix, suffix, anything-but, numeric and exists over flat events
    (no arrays of objects, where moto is known to differ) answer as moto does."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from moto.events.models import EventPattern

    keys = st.sampled_from(["a", "b", "c"])
    words = st.sampled_from(["x", "xy", "yx", "", "us-east-1"])
    numbers = st.integers(-3, 3)
    value = st.one_of(words, numbers, st.lists(words, min_size=1, max_size=3))
    matcher = st.one_of(
        words, numbers,
        st.builds(lambda w: {"prefix": w}, words.filter(bool)),
        st.builds(lambda w: {"suffix": w}, words.filter(bool)),
        st.builds(lambda w: {"anything-but": w}, words),
        st.builds(lambda op, n: {"numeric": [op, n]}, st.sampled_from(["<", "<=", ">", ">="]),
                  numbers),
        st.builds(lambda b: {"exists": b}, st.booleans()))
    patterns = st.dictionaries(keys, st.lists(matcher, min_size=1, max_size=3), min_size=1)
    events = st.dictionaries(keys, value)

    @settings(max_examples=200, deadline=None)
    @given(patterns, events)
    def check(pattern: dict[str, Any], event: dict[str, Any]) -> None:
        text = json.dumps(pattern)
        assert matches(compile_pattern(text), event) == EventPattern.load(text).matches_event(
            event), (pattern, event)

    check()
