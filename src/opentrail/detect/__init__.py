"""Sigma rules over every source OpenTrail records, and the findings they make.

`load_rules` reads SigmaHQ-format YAML with pySigma and compiles each rule once
(`RuleSet`); rules that cannot run are reported (`Rejection`), never half-run. The
`Detector` follows the ledger with its own cursor (in its own process) and saves each
match in the `FindingStore` (state open / acknowledged); the `Publisher` appends them to
the ledger as finding records (eventSource detect.opentrail.local, eventName
SigmaRuleMatch); `replay` runs rules over stored history. See docs/detect.md.
"""

from opentrail.detect._condition import Unsupported
from opentrail.detect._detector import (
    Detector,
    Publisher,
    Replay,
    begin,
    replay,
    run_detector_process,
)
from opentrail.detect._feed import open_ledger
from opentrail.detect._finding import (
    DETECT_SOURCE,
    FINDING_EVENT,
    Finding,
    finding_of,
    is_finding,
)
from opentrail.detect._rules import Rejection, Rule, RuleSet, load_rules, parse_rules
from opentrail.detect._source import Source, source_of
from opentrail.detect._store import (
    STATES,
    FindingStore,
    SqliteFindingStore,
    StoredFinding,
)

__all__ = [
    "DETECT_SOURCE",
    "FINDING_EVENT",
    "STATES",
    "Detector",
    "Finding",
    "FindingStore",
    "Publisher",
    "Rejection",
    "Replay",
    "Rule",
    "RuleSet",
    "Source",
    "SqliteFindingStore",
    "StoredFinding",
    "Unsupported",
    "begin",
    "finding_of",
    "is_finding",
    "load_rules",
    "open_ledger",
    "parse_rules",
    "replay",
    "run_detector_process",
    "source_of",
]
