"""Matching an event against a compiled pattern, with EventBridge's semantics.

Invariants:
* Fields of a pattern object are ANDed, a leaf's values ORed, each `$or` group needs one
  branch; fields not in the pattern are ignored.
* Arrays are crushed: a pattern object meets an array by meeting one of its elements (at any
  depth), and a leaf meets an array of scalars when one of them matches. The fields that
  match under one pattern object come from one and the same element of each array above
  them: values from different elements are never paired.
* A leaf whose event value is absent or an object matches only `{"exists": false}`; that
  absence is judged across every element of the enclosing arrays (a field present in any
  element is present), as EventBridge flattens the event before it checks absence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentrail.rules._pattern import Leaf, Node, Pattern

__all__ = ["MISSING", "matches"]

MISSING: Any = object()
_NO_PEERS: tuple[Any, ...] = ()


def matches(pattern: Pattern, event: Any) -> bool:
    """Whether `event` (a parsed JSON object) matches `pattern`."""
    if pattern.compiled is None:
        pattern.compiled = _compile(pattern.root)
    return pattern.compiled(event)


# -- a pattern compiled to closures (the same semantics, fewer calls per field) ---------------

Test = Callable[[Any], bool]


def _compile(root: Node) -> Test:
    """A closure tree; a pattern with `{"exists": false}` keeps the general walk, which
    carries the peers that absence is judged across."""
    if root.absence:
        return lambda event: _node(root, event, (event,))
    return _compile_node(root)


def _compile_node(node: Node) -> Test:
    fields = [(key, _compile_leaf(child) if isinstance(child, Leaf) else _compile_node(child))
              for key, child in node.fields]
    ors = [[_compile_node(branch) for branch in group] for group in node.ors]

    def test(value: Any) -> bool:
        if isinstance(value, list):
            elements = _elements(value)
            return any(test(e) for e in elements) if elements else test(MISSING)
        if isinstance(value, dict):
            for key, child in fields:
                if not child(value.get(key, MISSING)):
                    return False
        else:
            for _, child in fields:
                if not child(MISSING):
                    return False
        return all(any(branch(value) for branch in group) for group in ors)

    return test


def _compile_leaf(leaf: Leaf) -> Test:
    strings, tests = frozenset(leaf.strings), tuple(leaf.tests)

    def test(item: Any) -> bool:
        if isinstance(item, str):
            return item in strings or any(t(item) for t in tests)
        return _leaf(leaf, item, _NO_PEERS)

    return test


def _node(node: Node, value: Any, peers: tuple[Any, ...]) -> bool:
    if isinstance(value, list):
        elements = _elements(value)
        if not elements:
            return _node(node, MISSING, peers)
        inner = _crushed(peers) if node.absence else _NO_PEERS
        return any(_node(node, element, inner) for element in elements)
    obj = value if isinstance(value, dict) else None
    for key, child in node.fields:
        item = obj.get(key, MISSING) if obj is not None else MISSING
        below = _below(peers, key) if node.absence else _NO_PEERS
        if isinstance(child, Leaf):
            if not _leaf(child, item, below):
                return False
        elif not _node(child, item, below):
            return False
    return all(any(_node(branch, value, peers) for branch in group) for group in node.ors)


def _leaf(leaf: Leaf, item: Any, peers: tuple[Any, ...]) -> bool:
    if isinstance(item, str):  # the common case, without building a list
        return item in leaf.strings or any(test(item) for test in leaf.tests)
    values = _scalars(item)
    if not values:
        return leaf.absent and not any(_scalars(peer) for peer in peers)
    return any(_value(leaf, value) for value in values)


def _value(leaf: Leaf, value: Any) -> bool:
    if isinstance(value, str):
        if value in leaf.strings:
            return True
    elif isinstance(value, bool) or value is None:
        if leaf.literals and ("null" if value is None else "true" if value else "false") \
                in leaf.literals:
            return True
    elif leaf.numbers and float(value) in leaf.numbers:
        return True
    return any(test(value) for test in leaf.tests)


def _scalars(item: Any) -> list[Any]:
    """The scalar values at a leaf: itself, or an array's scalars (nested arrays too);
    nothing for an absent field or an object."""
    if item is MISSING or isinstance(item, dict):
        return []
    if isinstance(item, list):
        return [v for v in _elements(item) if not isinstance(v, dict)]
    return [item]


def _elements(array: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in array:
        if isinstance(item, list):
            out.extend(_elements(item))
        else:
            out.append(item)
    return out


def _crushed(peers: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for peer in peers:
        out.extend(_elements(peer) if isinstance(peer, list) else [peer])
    return tuple(out)


def _below(peers: tuple[Any, ...], key: str) -> tuple[Any, ...]:
    out: list[Any] = []
    for peer in _crushed(peers):
        if isinstance(peer, dict) and key in peer:
            out.append(peer[key])
    return tuple(out)
