"""Event rules, EventBridge-compatible: envelopes, patterns, the rule store, targets.

Every acknowledged ledger record is wrapped in EventBridge's envelope (`envelope`) and
matched (`matches`) against its account's enabled rules (`compile_pattern` validates a
pattern as EventBridge does); matches become deliveries sent to the rules' targets.
See docs/rules.md.
"""

from opentrail.rules._envelope import (
    SIGMA_DETAIL_TYPE,
    SIGMA_EVENT_NAME,
    SIGMA_EVENT_SOURCE,
    SIGMA_SOURCE,
    detail_type,
    envelope,
    source_of,
)
from opentrail.rules._match import matches
from opentrail.rules._pattern import Pattern, compile_pattern

__all__ = ["SIGMA_DETAIL_TYPE", "SIGMA_EVENT_NAME", "SIGMA_EVENT_SOURCE", "SIGMA_SOURCE",
           "Pattern", "compile_pattern", "detail_type", "envelope", "matches", "source_of"]
