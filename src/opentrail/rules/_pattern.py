"""EventBridge event patterns: strict validation into a compiled tree (spec detection.md §4.2).

Invariant: `compile_pattern` either returns a `Pattern` or raises `InvalidEventPattern`
naming the mistake the way EventBridge does ("Event pattern is not valid. Reason: ...");
a compiled pattern never meets an operator it does not know. Matching is in `_match.py`.

Grammar: the pattern is a non-empty object; each member is a non-empty object (a nested
pattern), a non-empty array (a leaf: its elements are ORed), or "$or" with at least two
objects. A leaf element is a JSON scalar (exact match) or an object with exactly one
operator: prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, cidr,
exists.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentrail.errors import InvalidEventPattern

__all__ = ["Leaf", "Node", "Pattern", "Scalar", "compile_pattern", "invalid"]

Scalar = str | int | float | bool | None
Test = Callable[[Any], bool]
OR = "$or"
IGNORE_CASE = "equals-ignore-case"


def invalid(reason: str) -> InvalidEventPattern:
    return InvalidEventPattern(f"Event pattern is not valid. Reason: {reason}")


@dataclass
class Leaf:
    """One leaf array: exact values in sets, operators as tests; ORed."""

    strings: set[str] = field(default_factory=set)
    numbers: set[float] = field(default_factory=set)
    literals: set[str] = field(default_factory=set)  # "true", "false", "null"
    tests: list[Test] = field(default_factory=list)
    absent: bool = False  # {"exists": false}


@dataclass
class Node:
    """A pattern object: fields ANDed, and each $or group needs one branch to match."""

    fields: list[tuple[str, Node | Leaf]] = field(default_factory=list)
    ors: list[list[Node]] = field(default_factory=list)
    absence: bool = False  # some leaf below is {"exists": false}


@dataclass
class Pattern:
    source: str
    root: Node
    compiled: Callable[[Any], bool] | None = None  # set by _match on first use


def compile_pattern(text: str) -> Pattern:
    """Parse and validate an EventPattern string."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise invalid(f"the pattern is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise invalid("Filter is not an object")
    return Pattern(text, _node(raw))


def _node(raw: dict[str, Any]) -> Node:
    if not raw:
        raise invalid("Empty objects are not allowed")
    node = Node()
    for key, value in raw.items():
        if key == OR:
            node.ors.append(_or_group(value))
        elif isinstance(value, dict):
            node.fields.append((key, _node(value)))
        elif isinstance(value, list):
            node.fields.append((key, _leaf(value)))
        else:
            raise invalid(f'"{key}" must be an object or an array')
    node.absence = any(_has_absence(child) for _, child in node.fields) or any(
        branch.absence for group in node.ors for branch in group)
    return node


def _has_absence(child: Node | Leaf) -> bool:
    return child.absent if isinstance(child, Leaf) else child.absence


def _or_group(value: Any) -> list[Node]:
    if not isinstance(value, list):
        raise invalid("It must be an Array followed with $or.")
    if any(not isinstance(item, dict) for item in value):
        raise invalid("Only JSON object is allowed in array of $or relationship.")
    if len(value) < 2:
        raise invalid("There must have at least 2 Objects in $or relationship.")
    return [_node(item) for item in value]


def _leaf(values: list[Any]) -> Leaf:
    if not values:
        raise invalid("Empty arrays are not allowed")
    leaf = Leaf()
    for value in values:
        if isinstance(value, dict):
            _operator(leaf, value)
        elif isinstance(value, bool) or value is None:
            leaf.literals.add(json.dumps(value))
        elif isinstance(value, str):
            leaf.strings.add(value)
        elif isinstance(value, int | float):
            leaf.numbers.add(float(value))
        else:
            raise invalid("Match value must be String, number, true, false, or null")
    return leaf


def _operator(leaf: Leaf, expr: dict[str, Any]) -> None:
    if not expr:
        raise invalid("Match expression name not found")
    if len(expr) > 1:
        raise invalid("Only one key allowed in match expression")
    (name, arg), = expr.items()
    if name == "exists":
        if not isinstance(arg, bool):
            raise invalid("exists match pattern must be either true or false.")
        if arg:
            leaf.tests.append(_present)
        else:
            leaf.absent = True
        return
    build = OPERATORS.get(name)
    if build is None:
        raise invalid(f"Unrecognized match type {name}")
    leaf.tests.append(build(arg))


def _present(value: Any) -> bool:
    return True


# -- string operators ------------------------------------------------------------------------

def _string(name: str, arg: Any) -> str:
    if not isinstance(arg, str):
        raise invalid(f"{name} match pattern must be a string")
    return arg


def _ignore_case_arg(name: str, arg: Any) -> tuple[str, bool]:
    """`"x"` or `{"equals-ignore-case": "x"}` (prefix and suffix take both)."""
    if isinstance(arg, dict):
        if len(arg) != 1 or IGNORE_CASE not in arg:
            raise invalid(f"Unsupported {name} pattern: {', '.join(arg) or '{}'}")
        return _string(f"{name}/{IGNORE_CASE}", arg[IGNORE_CASE]), True
    return _string(name, arg), False


def _prefix(arg: Any) -> Test:
    text, fold = _ignore_case_arg("prefix", arg)
    if fold:
        folded = text.casefold()
        return lambda v: isinstance(v, str) and v.casefold().startswith(folded)
    return lambda v: isinstance(v, str) and v.startswith(text)


def _suffix(arg: Any) -> Test:
    text, fold = _ignore_case_arg("suffix", arg)
    if fold:
        folded = text.casefold()
        return lambda v: isinstance(v, str) and v.casefold().endswith(folded)
    return lambda v: isinstance(v, str) and v.endswith(text)


def _equals_ignore_case(arg: Any) -> Test:
    folded = _string(IGNORE_CASE, arg).casefold()
    return lambda v: isinstance(v, str) and v.casefold() == folded


def wildcard_regex(text: str) -> re.Pattern[str]:
    """`*` is zero or more characters; `\\*` and `\\\\` are the only escapes; `**` is
    refused (EventBridge: consecutive wildcard characters)."""
    parts: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text) or text[i + 1] not in "*\\":
                raise invalid(f"Invalid escape character at pos {i}")
            parts.append(re.escape(text[i + 1]))
            i += 2
            continue
        if char == "*":
            if i + 1 < len(text) and text[i + 1] == "*":
                raise invalid(f"Consecutive wildcard characters at pos {i + 1}")
            parts.append(".*")
        else:
            parts.append(re.escape(char))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def _wildcard(arg: Any) -> Test:
    regex = wildcard_regex(_string("wildcard", arg))
    return lambda v: isinstance(v, str) and regex.fullmatch(v) is not None


# -- anything-but -----------------------------------------------------------------------------

def _anything_but(arg: Any) -> Test:
    if isinstance(arg, dict):
        return _anything_but_nested(arg)
    values = arg if isinstance(arg, list) else [arg]
    if not isinstance(arg, list | str | int | float) or isinstance(arg, bool):
        raise invalid("Value of anything-but must be an array or single string/number value.")
    if any(isinstance(v, bool) or not isinstance(v, str | int | float) for v in values):
        raise invalid("Inside anything but list, start|null|boolean is not supported.")
    strings = {v for v in values if isinstance(v, str)}
    if not values or (strings and len(strings) != len(values)):
        raise invalid("Inside anything but list, either all values are number or string, "
                      "mixed type is not supported")
    if strings:
        return lambda v: not (isinstance(v, str) and v in strings)
    numbers = {float(v) for v in values}
    return lambda v: not (_is_number(v) and float(v) in numbers)


NESTED = ("prefix", "suffix", IGNORE_CASE, "wildcard")


def _anything_but_nested(arg: dict[str, Any]) -> Test:
    if len(arg) != 1:
        raise invalid("Only one key allowed in match expression" if arg
                      else "Anything-But expression name not found")
    (name, value), = arg.items()
    if name not in NESTED:
        raise invalid(f"Unsupported anything-but pattern: {name}")
    texts = value if isinstance(value, list) else [value]
    if not texts or any(not isinstance(t, str) for t in texts):
        raise invalid(f"Inside anything-but/{name} list, number|start|null|boolean is not "
                      "supported." if isinstance(value, list)
                      else f"{name} match pattern must be a string")
    if name in ("prefix", "suffix") and any(t == "" for t in texts):
        raise invalid("Null prefix/suffix not allowed")
    inner = [OPERATORS[name](t) for t in texts]
    return lambda v: not any(test(v) for test in inner)


# -- numeric and cidr ------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


LOWER = {">": False, ">=": True}
UPPER = {"<": False, "<=": True}


def _numeric(arg: Any) -> Test:
    if not isinstance(arg, list):
        raise invalid("Value of numeric must be an array.")
    terms = list(arg)
    if not terms or not isinstance(terms[0], str):
        raise invalid(f"Invalid member in numeric match: {terms[0] if terms else ']'}")
    for op, val in zip(terms[::2], terms[1::2], strict=False):
        if not _is_number(val):
            raise invalid(f"Value of {op} must be numeric")
    if len(terms) % 2:
        raise invalid(f"Value of {terms[-1]} must be numeric")
    return _bounds(terms)


def _bounds(terms: list[Any]) -> Test:
    op = terms[0]
    if op == "=":
        if len(terms) != 2:
            raise invalid("Too many elements in numeric expression")
        target = float(terms[1])
        return lambda v: _is_number(v) and float(v) == target
    if op in UPPER:
        if len(terms) != 2:
            raise invalid("Too many elements in numeric expression")
        return _range(None, False, float(terms[1]), UPPER[op])
    if op not in LOWER:
        raise invalid(f"Unrecognized numeric range operator: {op}")
    if len(terms) == 2:
        return _range(float(terms[1]), LOWER[op], None, False)
    if len(terms) != 4:
        raise invalid("Too many terms in numeric range expression")
    if terms[2] not in UPPER:
        raise invalid(f"Bad numeric range operator: {terms[2]}")
    low, high = float(terms[1]), float(terms[3])
    if low >= high:
        raise invalid(f"Bad numeric range: the lower bound {terms[1]} must be below the "
                      f"upper bound {terms[3]}")
    return _range(low, LOWER[op], high, UPPER[terms[2]])


def _range(low: float | None, low_in: bool, high: float | None, high_in: bool) -> Test:
    def test(value: Any) -> bool:
        if not _is_number(value):
            return False
        x = float(value)
        if low is not None and (x < low or (x == low and not low_in)):
            return False
        return high is None or x < high or (x == high and high_in)

    return test


def _cidr(arg: Any) -> Test:
    text = _string("cidr", arg)
    if "/" not in text:
        raise invalid(f"Malformed CIDR, one '/' required: {text}")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise invalid(f"Nonstandard IP address in CIDR: {text}") from None

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return address.version == network.version and address in network

    return test


OPERATORS: dict[str, Callable[[Any], Test]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    IGNORE_CASE: _equals_ignore_case,
    "wildcard": _wildcard,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "cidr": _cidr,
}
