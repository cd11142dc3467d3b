"""What targets receive: Input, InputPath and InputTransformer (EventBridge's rules)."""

from __future__ import annotations

import json

from opentrail.rules import payload, select

EVENT = {"id": "1", "detail-type": "AWS API Call via CloudTrail", "time": "2024-01-01T00:00:00Z",
         "detail": {"eventName": "StopLogging", "items": [{"a": 1}, {"a": 2}],
                    "userIdentity": {"arn": 'arn:aws:iam::1:user/"quoted"'},
                    "the-key": True}}
RULE = "arn:aws:events:us-east-1:1:rule/stop"


def test_select() -> None:
    assert select("$", EVENT) is EVENT
    assert select("$.detail.eventName", EVENT) == "StopLogging"
    assert select("$.detail.items[1].a", EVENT) == 2
    assert select("$.detail['the-key']", EVENT) is True
    assert select("$.detail.nope.deeper", EVENT) is None
    assert select("detail", EVENT) is None


def test_default_input_path_and_constant() -> None:
    assert json.loads(payload({}, EVENT, RULE)) == EVENT
    assert json.loads(payload({"InputPath": "$.detail.items"}, EVENT, RULE)) == [{"a": 1},
                                                                                {"a": 2}]
    assert payload({"Input": '{"fixed": 1}'}, EVENT, RULE) == '{"fixed": 1}'


def test_transformer_quotes_values_by_position() -> None:
    target = {"InputTransformer": {
        "InputPathsMap": {"who": "$.detail.userIdentity.arn", "items": "$.detail.items",
                          "gone": "$.detail.missing"},
        "InputTemplate": '{"text": "<who> did it (<aws.events.rule-name>)", "items": <items>, '
                         '"gone": <gone>, "literal": "<unknown>"}'}}
    out = json.loads(payload(target, EVENT, RULE))
    assert out == {"text": 'arn:aws:iam::1:user/"quoted" did it (stop)',
                   "items": [{"a": 1}, {"a": 2}], "gone": None, "literal": "<unknown>"}


def test_transformer_string_template() -> None:
    target = {"InputTransformer": {"InputPathsMap": {"name": "$.detail.eventName"},
                                   "InputTemplate": '"Trail change: <name>"'}}
    assert json.loads(payload(target, EVENT, RULE)) == "Trail change: StopLogging"
