"""What a target receives: the envelope, a constant Input, the part InputPath selects, or
InputTransformer's template filled from InputPathsMap (EventBridge's rules).

Invariant: `payload` returns text; JSON templates stay JSON: a placeholder inside a JSON
string is replaced by the value's text escaped for that string, one outside a string by
the value as JSON (null when the path finds nothing).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["payload", "select"]

PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]")


def select(path: str, event: Any) -> Any:
    """A simple JSONPath: `$`, `$.a.b`, `$.a[0]`, `$['a-b']`; None when absent."""
    if not path.startswith("$"):
        return None
    value, rest = event, path[1:]
    while rest:
        step = STEP.match(rest)
        if step is None:
            return None
        name, index, quoted = step.groups()
        key: Any = int(index) if index is not None else (quoted if quoted is not None
                                                         else name)
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and key < len(value) else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return None
        rest = rest[step.end():]
    return value


def _reserved(name: str, event: dict[str, Any], rule_arn: str) -> tuple[bool, Any]:
    values = {"aws.events.rule-arn": rule_arn,
              "aws.events.rule-name": rule_arn.rsplit("/", 1)[-1],
              "aws.events.event.ingestion-time": event.get("time"),
              "aws.events.event": event, "aws.events.event.json": event}
    return (name in values, values.get(name))


def _fill(template: str, values: dict[str, Any], event: dict[str, Any], rule_arn: str) -> str:
    out: list[str] = []
    in_string, escaped, last = False, False, 0
    for i, char in enumerate(template):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_string = not in_string
        elif char == "<":
            found = PLACEHOLDER.match(template, i)
            if found is None:
                continue
            name = found.group(1)
            known, value = _reserved(name, event, rule_arn)
            if not known and name not in values:
                continue
            value = value if known else values[name]
            out.append(template[last:i])
            out.append(_inside(value) if in_string else orjson.dumps(value).decode())
            last = found.end()
    out.append(template[last:])
    return "".join(out)


def _inside(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return orjson.dumps(text).decode()[1:-1]


def payload(target: dict[str, Any], event: dict[str, Any], rule_arn: str) -> str:
    """The text the target is sent for `event` (an envelope)."""
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        return orjson.dumps(select(str(target["InputPath"]), event)).decode()
    transformer = target.get("InputTransformer")
    if isinstance(transformer, dict):
        paths = transformer.get("InputPathsMap") or {}
        values = {name: select(str(path), event) for name, path in paths.items()}
        return _fill(str(transformer.get("InputTemplate", "")), values, event, rule_arn)
    return orjson.dumps(event).decode()
