"""Sigma rules over every source OpenTrail records, and the findings they make.

`load_rules` reads SigmaHQ-format YAML with pySigma and compiles each rule once
(`RuleSet`); rules that cannot run are reported (`Rejection`), never half-run. See
docs/detect.md.
"""

from opentrail.detect._condition import Unsupported
from opentrail.detect._rules import Rejection, Rule, RuleSet, load_rules, parse_rules
from opentrail.detect._source import Source, source_of

__all__ = [
    "Rejection",
    "Rule",
    "RuleSet",
    "Source",
    "Unsupported",
    "load_rules",
    "parse_rules",
    "source_of",
]
