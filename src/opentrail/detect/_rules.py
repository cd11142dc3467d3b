"""Sigma rules loaded from folders: parsed by pySigma, compiled once, grouped by source.

    *.yml / *.yaml ──pySigma──▶ SigmaRule ──compile_condition──▶ Rule (predicate)
                         │ (any error)                │ (Unsupported)
                         └──────────────▶ Rejection(file, rule id, reason) ◀┘

A rule that cannot be parsed, names a logsource OpenTrail holds no events of, or uses a
modifier, value or field the evaluator does not run is reported and skipped; the others
load. Rules are the user's (SigmaHQ's are under the Detection Rule License, which asks
every finding to keep the rule's author and a link to it): nothing is bundled.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from opentrail.detect._condition import (
    Anchor,
    Getter,
    Predicate,
    Unsupported,
    anchor_of,
    compile_condition,
    getter,
    text_of,
)
from opentrail.detect._source import (
    CLOUDTRAIL,
    Source,
    path_of,
    source_of,
    source_of_rule,
    views_of,
)

__all__ = ["SIGMAHQ_BLOB", "Rejection", "Rule", "RuleSet", "load_rules", "parse_rules"]

SIGMAHQ_BLOB = "https://github.com/SigmaHQ/sigma/blob/master/"
# Top folders of the SigmaHQ repository: a rule found under one links to its SigmaHQ page.
SIGMAHQ_FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting",
                   "rules-placeholder", "rules-compliance", "rules-dfir", "deprecated")
# The second level of those folders (rules/cloud/..., rules-emerging-threats/2024/...).
SIGMAHQ_SECOND = frozenset({"application", "category", "cloud", "identity", "linux", "macos",
                            "network", "web", "windows", "compliance"})
MAX_RULE_BYTES = 1024 * 1024
EVENT_NAME_KEY = b'"eventName":"'  # found with bytes.find: a regex costs more per body


@dataclass(frozen=True)
class Rule:
    """A loaded rule: what a finding reports about it, and its compiled predicate."""

    id: str
    title: str
    level: str
    author: str
    tags: tuple[str, ...]
    references: tuple[str, ...]
    link: str | None  # the rule's page (DRL attribution), when it is a SigmaHQ rule
    license: str | None
    file: str
    source: Source
    predicate: Predicate = field(compare=False, repr=False)
    # A plain equality every match needs: RuleSet looks the rule up by it (an index).
    anchor: Anchor | None = field(default=None, compare=False, repr=False)

    def matches(self, views: list[Mapping[str, Any]]) -> bool:
        return any(self.predicate(view) for view in views)

    def describe(self) -> dict[str, Any]:
        """The rule as findings and the API show it."""
        return {"ruleId": self.id, "ruleTitle": self.title, "level": self.level,
                "author": self.author, "tags": list(self.tags),
                "references": list(self.references), "link": self.link,
                "license": self.license, "file": self.file,
                "logsource": {"product": self.source.product, "service": self.source.service}}


@dataclass(frozen=True)
class Rejection:
    """A rule that did not load, and why."""

    file: str
    rule_id: str | None
    reason: str

    def describe(self) -> dict[str, Any]:
        return {"file": self.file, "ruleId": self.rule_id, "reason": self.reason}


@dataclass
class _SourceRules:
    """One source's rules, indexed by their anchors: a record is only tried against the
    rules whose anchor its value meets, and the rules without one."""

    rules: list[Rule] = field(default_factory=list)
    index: dict[tuple[str, ...], tuple[Getter, dict[str, list[int]]]] = field(
        default_factory=dict)
    free: list[int] = field(default_factory=list)

    def add(self, rule: Rule) -> None:
        number = len(self.rules)
        self.rules.append(rule)
        if rule.anchor is None:
            self.free.append(number)
            return
        path, values = rule.anchor
        table = self.index.setdefault(path, (getter(path), {}))[1]
        for value in values:
            table.setdefault(value, []).append(number)

    def candidates(self, views: list[Mapping[str, Any]]) -> list[Rule]:
        chosen = set(self.free)
        for get, table in self.index.values():
            for view in views:
                for value in get(view):
                    if value is not None and (hit := table.get(text_of(value).lower())):
                        chosen.update(hit)
        return [self.rules[i] for i in sorted(chosen)]


@dataclass
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    _by_source: dict[Source, _SourceRules] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for rule in self.rules:
            self._by_source.setdefault(rule.source, _SourceRules()).add(rule)

    def might_match(self, body: bytes) -> bool:
        """False only when no rule can match the stored record `body` (canonical JSON),
        read without parsing it: when every CloudTrail rule needs an eventName (their
        usual anchor) and no `"eventName":"..."` in the bytes is one of them (compared
        case-insensitively, as Sigma does). Records of other sources (converted ones
        carry `sourceFormat`) and names with escapes are always parsed."""
        names = self._names
        if names is None or b'"sourceFormat"' in body:
            return True
        at = body.find(EVENT_NAME_KEY)
        while at >= 0:
            start = at + len(EVENT_NAME_KEY)
            end = body.find(b'"', start)
            if end < 0 or body.find(b"\\", start, end) >= 0 \
                    or body[start:end].decode("utf-8", "replace").lower() in names:
                return True
            at = body.find(EVENT_NAME_KEY, end)
        return False

    @functools.cached_property
    def _names(self) -> frozenset[str] | None:
        """The eventNames the CloudTrail rules are indexed by, when every one of them is
        (None: a byte-level look cannot rule a record out)."""
        rules = self._by_source.get(CLOUDTRAIL)
        if rules is None:
            return frozenset()
        if rules.free or set(rules.index) != {("eventName",)}:
            return None
        return frozenset(rules.index[("eventName",)][1])

    def match(self, record: Mapping[str, Any]) -> list[Rule]:
        """The rules the record matches (rules of its own source only)."""
        source = source_of(record)
        rules = self._by_source.get(source)
        if rules is None:
            return []
        views = views_of(record, source)
        return [rule for rule in rules.candidates(views) if rule.matches(views)]


def load_rules(folders: Iterable[Path | str]) -> RuleSet:
    """Every *.yml / *.yaml file under the folders (recursively), in path order."""
    rules: list[Rule] = []
    rejected: list[Rejection] = []
    for folder in folders:
        root = Path(folder)
        paths = sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml")
                       and p.is_file())
        for path in paths:
            try:
                if path.stat().st_size > MAX_RULE_BYTES:
                    raise OSError(f"larger than {MAX_RULE_BYTES} bytes")
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                rejected.append(Rejection(str(path), None, f"cannot be read: {exc}"))
                continue
            loaded = parse_rules(text, str(path))
            rules.extend(r for r in loaded if isinstance(r, Rule))
            rejected.extend(r for r in loaded if isinstance(r, Rejection))
    return RuleSet(rules, rejected)


def parse_rules(text: str, file: str) -> list[Rule | Rejection]:
    """The rules of one YAML file (one per document)."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        return [Rejection(file, None, f"not valid YAML: {_one_line(exc)}")]
    if not documents:
        return [Rejection(file, None, "the file holds no rule")]
    return [_rule(doc, file) for doc in documents]


def _rule(doc: object, file: str) -> Rule | Rejection:
    if not isinstance(doc, dict):
        return Rejection(file, None, "a rule must be a YAML mapping")
    raw_id = doc.get("id")
    rule_id = str(raw_id) if raw_id is not None else None
    if "correlation" in doc or "action" in doc:
        kind = "correlation rules" if "correlation" in doc else "rule collections (action:)"
        return Rejection(file, rule_id, f"{kind} are not supported")
    try:
        return _compiled(doc, file)
    except _Refused as exc:
        return Rejection(file, rule_id, str(exc))


class _Refused(Exception):
    pass


def _compiled(doc: dict[str, Any], file: str) -> Rule:
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule

    try:
        rule = SigmaRule.from_dict(doc)
        conditions = [c.parsed for c in rule.detection.parsed_condition]
        source = source_of_rule(rule.logsource.product, rule.logsource.service,
                                rule.logsource.category)
        if isinstance(source, str):
            raise _Refused(source)
        resolve = functools.partial(path_of, source)
        parts = [compile_condition(c, resolve) for c in conditions]
        anchors = [anchor_of(c, resolve, ("eventName",)) for c in conditions]
    except Unsupported as exc:
        raise _Refused(str(exc)) from None
    except (SigmaError, ValueError, TypeError, KeyError) as exc:
        raise _Refused(f"pySigma cannot parse it: {_one_line(exc)}") from None
    if rule.id is None:
        raise _Refused("the rule has no id (findings name rules by id)")
    return _loaded(rule, file, source, parts, _either(anchors))


def _either(anchors: list[Anchor | None]) -> Anchor | None:
    """The anchor of several conditions (any may match): one field's values, joined."""
    found = [a for a in anchors if a is not None]
    if not found or len(found) < len(anchors) or len({a[0] for a in found}) != 1:
        return None
    return found[0][0], frozenset().union(*(a[1] for a in found))


def _loaded(rule: Any, file: str, source: Source, parts: list[Predicate],
            anchor: Anchor | None) -> Rule:
    predicate = parts[0] if len(parts) == 1 else (
        lambda view: any(part(view) for part in parts))
    link = _link(file)
    licence = rule.custom_attributes.get("license") if rule.custom_attributes else None
    return Rule(str(rule.id), str(rule.title), str(rule.level or "medium").lower(),
                str(rule.author or ""), tuple(str(t) for t in rule.tags),
                tuple(str(r) for r in rule.references), link,
                str(licence) if licence else ("DRL-1.1" if link else None), file, source,
                predicate, anchor)


def _link(file: str) -> str | None:
    """SigmaHQ's page of a rule kept in SigmaHQ's folder layout (rules/cloud/aws/...);
    None for a rule elsewhere (a finding then names its file and references)."""
    parts = Path(file).parts
    for i in range(len(parts) - 3, -1, -1):
        second = parts[i + 1]
        if parts[i] in SIGMAHQ_FOLDERS and (second in SIGMAHQ_SECOND or second.isdigit()):
            return SIGMAHQ_BLOB + "/".join(parts[i:])
    return None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:500]
