"""Event rules, EventBridge-compatible: envelopes, patterns, the rule store, targets.

Every acknowledged ledger record is wrapped in EventBridge's envelope (`envelope`) and
matched (`matches`) against its account's enabled rules (`compile_pattern` validates a
pattern as EventBridge does) by the `RuleEngine`, a ledger follower; its matches become
deliveries in the store's outbox, which the `Sender` delivers to the rules' targets;
each success leaves a receipt the `ReceiptPublisher` appends as an AlertDelivered record.
See docs/rules.md.
"""

from opentrail.rules._auth import AUTH_TYPES, check_auth, check_endpoint, merge, public
from opentrail.rules._deadletter import DeadLetterQueues
from opentrail.rules._engine import RuleEngine, begin_at_head, ledger_rows, run_until_orphaned
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
from opentrail.rules._model import ApiDestination, Connection, Delivery, Rule, rule_arn
from opentrail.rules._notify import SnsNotifier, topic_arn
from opentrail.rules._pattern import Pattern, compile_pattern
from opentrail.rules._receipts import ALERT_DELIVERED, ReceiptPublisher, receipt_of
from opentrail.rules._send import SendError, Transport
from opentrail.rules._sender import Sender
from opentrail.rules._sqlite_store import SqliteRuleStore
from opentrail.rules._store import RULES_FILE, Receipt, RuleStore, Sealer
from opentrail.rules._targets import check_target, kind_of, retry_policy
from opentrail.rules._transform import payload, select

__all__ = ["ALERT_DELIVERED", "AUTH_TYPES", "RULES_FILE", "SIGMA_DETAIL_TYPE",
           "SIGMA_EVENT_NAME", "SIGMA_EVENT_SOURCE", "SIGMA_SOURCE", "ApiDestination",
           "Connection", "DeadLetterQueues", "Delivery", "Pattern", "Receipt", "ReceiptPublisher",
           "Rule", "RuleEngine", "RuleStore", "Sealer", "SendError", "Sender", "SnsNotifier",
           "SqliteRuleStore",
           "Transport", "begin_at_head", "check_auth", "check_endpoint", "check_target",
           "compile_pattern", "detail_type", "envelope", "kind_of", "ledger_rows", "matches",
           "merge", "payload", "public", "receipt_of", "retry_policy", "rule_arn",
           "run_until_orphaned", "select", "source_of", "topic_arn"]
