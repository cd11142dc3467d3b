"""A Sigma rule's parsed condition compiled once into a Python predicate over a view.

pySigma parses the YAML and resolves the condition (`and`/`or`/`not`, `1 of`, `all of`,
patterns) into a tree of ConditionAND / ConditionOR / ConditionNOT over
ConditionFieldEqualsValueExpression (field = value) and ConditionValueExpression
(keywords). `compile_condition` turns that tree into closures; nothing is re-parsed per
event. Semantics (Sigma specification, and SigmaHQ's CloudTrail rules, spec/detection.md):

* strings match the whole value, case-insensitively; `*` and `?` are wildcards
  (`contains` / `startswith` / `endswith` are wildcards pySigma adds); `|cased` is exact;
* `re` searches (case-sensitive unless `|i`); `cidr` tests an IP address; `lt`... compare
  numbers; `exists` tests presence; `null` means absent or null; `fieldref` compares with
  another field of the same event;
* a list in the event matches when one element does; an object is matched as its JSON;
* a field absent from the event matches nothing, so `not` of it is true;
* keywords match when a string anywhere in the event (an auditd line: the line) contains
  them.

Anything else (placeholders, timestamp parts, query expressions) raises `Unsupported` at
compile time: the rule is refused, never half-run.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

__all__ = ["RAW_LINE", "Anchor", "Getter", "Predicate", "Resolve", "Unsupported", "anchor_of",
           "compile_condition", "getter", "text_of"]

Predicate = Callable[[Mapping[str, Any]], bool]
ValueTest = Callable[[Any], bool]
Getter = Callable[[Mapping[str, Any]], list[Any]]
# A rule's field name -> the path it reads in a view, or the reason it cannot be read.
Resolve = Callable[[str], "tuple[str, ...] | str"]
RAW_LINE = "\x00raw"  # key of an auditd view's raw line (what keywords search)
# A condition every match must meet: the value at `path` (lower-cased text) is in `values`.
Anchor = tuple[tuple[str, ...], frozenset[str]]


class Unsupported(Exception):
    """The rule uses something this evaluator does not run; the message says what."""


def compile_condition(node: Any, resolve: Resolve) -> Predicate:
    """The predicate of one parsed condition tree."""
    if isinstance(node, ConditionAND):
        parts = [compile_condition(arg, resolve) for arg in node.args]
        return lambda view: all(part(view) for part in parts)
    if isinstance(node, ConditionOR):
        parts = [compile_condition(arg, resolve) for arg in node.args]
        return lambda view: any(part(view) for part in parts)
    if isinstance(node, ConditionNOT):
        inner = compile_condition(node.args[0], resolve)
        return lambda view: not inner(view)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_test(node.field, node.value, resolve)
    if isinstance(node, ConditionValueExpression):
        return _keyword(node.value)
    raise Unsupported(f"condition element {type(node).__name__} is not supported")


def anchor_of(node: Any, resolve: Resolve, prefer: tuple[str, ...]) -> Anchor | None:
    """A plain, case-insensitive equality every match of `node` needs (None if there is
    none), so rules can be indexed by it: a field = value list; an OR of such on one field;
    for an AND, one of its parts' (the one on `prefer` if any)."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        value = node.value
        if type(value) is not SigmaString or not all(isinstance(p, str) for p in value.s):
            return None
        path = resolve(node.field)
        text = "".join(str(p) for p in value.s).lower()
        return None if isinstance(path, str) else (path, frozenset({text}))
    if isinstance(node, ConditionOR):
        parts = [anchor_of(arg, resolve, prefer) for arg in node.args]
        anchors = [p for p in parts if p is not None]
        if not anchors or len(anchors) < len(parts) or len({a[0] for a in anchors}) != 1:
            return None
        return anchors[0][0], frozenset().union(*(a[1] for a in anchors))
    if isinstance(node, ConditionAND):
        found = [a for a in (anchor_of(arg, resolve, prefer) for arg in node.args) if a]
        found.sort(key=lambda a: (a[0] != prefer, len(a[1])))
        return found[0] if found else None
    return None


# -- fields --------------------------------------------------------------------------------


def getter(path: tuple[str, ...]) -> Getter:
    """Every value at `path`: lists on the way (and at the end) are walked element by
    element; a `{"value": ..., "localizedValue": ...}` object (Azure) reads as its value."""
    def get(view: Mapping[str, Any]) -> list[Any]:
        values: list[Any] = [view]
        for key in path:
            found: list[Any] = []
            for value in values:
                if isinstance(value, dict) and key in value:
                    item = value[key]
                    if isinstance(item, list):
                        found.extend(item)
                    else:
                        found.append(item)
            if not found:
                return found
            values = found
        return [_unwrap(v) for v in values]

    if len(path) == 1:  # the common case, without the loop
        key = path[0]

        def get_one(view: Mapping[str, Any]) -> list[Any]:
            if key not in view:
                return []
            item = view[key]
            return [_unwrap(v) for v in item] if isinstance(item, list) else [_unwrap(item)]

        return get_one
    return get


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict) and "value" in value and "localizedValue" in value:
        return value["value"]
    return value


def _field_test(name: str, value: Any, resolve: Resolve) -> Predicate:
    path = resolve(name)
    if isinstance(path, str):
        raise Unsupported(path)
    get = getter(path)
    if isinstance(value, SigmaNull):
        def null(view: Mapping[str, Any]) -> bool:
            values = get(view)
            return not values or any(v is None for v in values)

        return null
    if isinstance(value, SigmaExists):
        wanted = bool(value)
        return lambda view: bool(get(view)) is wanted
    if isinstance(value, SigmaFieldReference):
        return _fieldref(get, value, resolve)
    test = value_test(value)
    return lambda view: any(test(v) for v in get(view))


def _fieldref(get: Getter, ref: SigmaFieldReference, resolve: Resolve) -> Predicate:
    other_path = resolve(ref.field)
    if isinstance(other_path, str):
        raise Unsupported(other_path)
    other = getter(other_path)

    def same(a: Any, b: Any) -> bool:
        x, y = text_of(a).lower(), text_of(b).lower()
        if ref.starts_with:
            return x.startswith(y)
        if ref.ends_with:
            return x.endswith(y)
        return x == y

    return lambda view: any(same(a, b) for a in get(view) if a is not None
                            for b in other(view) if b is not None)


# -- values --------------------------------------------------------------------------------


def text_of(value: Any) -> str:
    """A value as the text a string pattern is matched against."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def value_test(value: Any) -> ValueTest:
    """The test of one concrete event value against one Sigma value."""
    for kind, build in _BUILDERS:
        if isinstance(value, kind):
            return build(value)
    if isinstance(value, (SigmaNull, SigmaExists, SigmaFieldReference)):
        raise Unsupported(f"{type(value).__name__} inside an expansion is not supported")
    raise Unsupported(f"value type {type(value).__name__} ({value}) is not supported "
                      "(placeholders, timestamp parts and query expressions need a backend)")


def _bool_test(value: SigmaBool) -> ValueTest:
    wanted = "true" if bool(value) else "false"
    return lambda v: v is not None and text_of(v).lower() == wanted


def _expansion_test(value: SigmaExpansion) -> ValueTest:
    tests = [value_test(v) for v in value.values]
    return lambda v: any(t(v) for t in tests)


def _string_test(value: SigmaString, cased: bool) -> ValueTest:
    if value.contains_placeholder():
        raise Unsupported(f"the value {value.original!r} has a placeholder (|expand), which "
                          "needs a processing pipeline to fill in")
    parts = value.s
    plain = [p for p in parts if isinstance(p, str)]
    fold: Callable[[str], str] = (lambda s: s) if cased else str.lower
    wild = SpecialChars.WILDCARD_MULTI
    if len(plain) == len(parts):  # no wildcard: equality
        wanted = fold("".join(plain))
        return lambda v: v is not None and fold(text_of(v)) == wanted
    if len(plain) == 1 and len(parts) == 3 and parts[0] is wild and parts[2] is wild:
        needle = fold(plain[0])
        return lambda v: v is not None and needle in fold(text_of(v))
    if len(parts) == 2 and parts[1] is wild and isinstance(parts[0], str):
        prefix = fold(parts[0])
        return lambda v: v is not None and fold(text_of(v)).startswith(prefix)
    if len(parts) == 2 and parts[0] is wild and isinstance(parts[1], str):
        suffix = fold(parts[1])
        return lambda v: v is not None and fold(text_of(v)).endswith(suffix)
    flags = re.DOTALL if cased else re.DOTALL | re.IGNORECASE
    pattern = re.compile(str(value.to_regex().regexp), flags)
    return lambda v: v is not None and pattern.fullmatch(text_of(v)) is not None


_RE_FLAGS = {SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
             SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
             SigmaRegularExpressionFlag.DOTALL: re.DOTALL}


def _regex_test(value: SigmaRegularExpression) -> ValueTest:
    flags = 0
    for flag in value.flags:
        flags |= _RE_FLAGS[flag]
    try:
        pattern = re.compile(str(value.regexp), flags)
    except re.error as exc:
        raise Unsupported(f"the regular expression {str(value.regexp)!r} is not valid in "
                          f"Python: {exc}") from None
    return lambda v: v is not None and pattern.search(text_of(v)) is not None


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(str(v))
    except ValueError:
        return None


def _number_test(value: SigmaNumber) -> ValueTest:
    wanted = float(value.number)
    return lambda v: _number(v) == wanted


def _cidr_test(value: SigmaCIDRExpression) -> ValueTest:
    network = value.network

    def test(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        try:
            return ipaddress.ip_address(v.strip("[]")) in network
        except ValueError:
            return False

    return test


_COMPARE: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b, CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b, CompareOperators.GTE: lambda a, b: a >= b,
    CompareOperators.NEQ: lambda a, b: a != b,
}


def _compare_test(value: SigmaCompareExpression) -> ValueTest:
    op, limit = _COMPARE[value.op], float(value.number.number)

    def test(v: Any) -> bool:
        n = _number(v)
        return n is not None and op(n, limit)

    return test


# Most specific first: SigmaCasedString is a SigmaString.
_BUILDERS: tuple[tuple[type, Callable[[Any], ValueTest]], ...] = (
    (SigmaCasedString, lambda v: _string_test(v, cased=True)),
    (SigmaString, lambda v: _string_test(v, cased=False)),
    (SigmaRegularExpression, _regex_test),
    (SigmaBool, _bool_test),
    (SigmaNumber, _number_test),
    (SigmaCIDRExpression, _cidr_test),
    (SigmaCompareExpression, _compare_test),
    (SigmaExpansion, _expansion_test),
)


# -- keywords ------------------------------------------------------------------------------


def _keyword(value: Any) -> Predicate:
    """A value without a field: matches when any string of the view contains it (wildcards
    inside it still apply); an auditd view searches its raw line."""
    if not isinstance(value, SigmaString):
        test = value_test(value)
    else:
        wild = SpecialChars.WILDCARD_MULTI
        parts = list(value.s)
        if not parts or parts[0] is not wild:
            parts.insert(0, wild)
        if parts[-1] is not wild:
            parts.append(wild)
        wrapped = SigmaCasedString() if isinstance(value, SigmaCasedString) else SigmaString()
        wrapped.s, wrapped.original = parts, value.original
        test = value_test(wrapped)

    def search(view: Mapping[str, Any]) -> bool:
        raw = view.get(RAW_LINE)
        if raw is not None:
            return test(raw)
        return any(test(leaf) for leaf in _leaves(view))

    return search


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield value
