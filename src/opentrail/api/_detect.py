"""Sigma operations (OpenTrail's own, on the cloudtrail JSON 1.1 endpoint; docs/detect.md).

* `ListSigmaFindings` {State?, AccountId?, MaxResults?, NextToken?}: findings, newest first.
* `AcknowledgeSigmaFinding` {FindingId}: open → acknowledged (admin role).
* `ListSigmaRules` {}: the rules the server loaded and the ones it refused, with reasons.
* `RunSigmaRules` {Rules: [{File, Body}], StartTime?, EndTime?, NextToken?}: the rules
  sent run over the caller's stored history, one page of the ledger per call; findings
  are returned, not stored (reader role: it changes nothing).

Every operation sees only the caller's account (an organization key: every account, or
the one AccountId names). Signed and audited like every other call.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from opentrail.api._lookup import _timestamp
from opentrail.auth import AuthContext
from opentrail.detect import STATES, Rejection, Rule, RuleSet, open_ledger, parse_rules, replay
from opentrail.errors import (
    AccessDenied,
    InvalidMaxResults,
    InvalidNextToken,
    NotFound,
    ValidationError,
)

__all__ = ["DETECT_OPERATIONS", "DETECT_READER_OPERATIONS"]

MAX_FINDINGS = 1000
MAX_RULES = 500
SCAN_ROWS = 20_000  # ledger rows one RunSigmaRules call reads
MAX_PAGE_FINDINGS = 2_000  # a page ends early once it holds this many findings


def _accounts(ctx: AuthContext, params: dict[str, Any]) -> tuple[str, ...] | None:
    wanted = params.get("AccountId")
    if wanted is not None and not isinstance(wanted, str):
        raise ValidationError("AccountId must be a 12-digit account ID string.")
    if ctx.principal.organization:
        return None if wanted is None else (wanted,)
    own = ctx.principal.account or ""
    if wanted is not None and wanted != own:
        raise AccessDenied(f"Access key {ctx.principal.access_key_id} may not read account "
                           f"{wanted}.")
    return (own,)


def _limit(params: dict[str, Any], default: int, most: int) -> int:
    value = params.get("MaxResults", default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise InvalidMaxResults(f"MaxResults must be an integer from 1 to {most}; "
                                f"got {value!r}.")
    return value


def _token(params: dict[str, Any]) -> Any:
    raw = params.get("NextToken")
    if raw is None:
        return None
    try:
        return orjson.loads(base64.urlsafe_b64decode(str(raw).encode()))
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidNextToken("NextToken is not one this operation returned.") from None


def _make_token(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode()


def list_sigma_findings(service: Any, params: dict[str, Any],
                        ctx: AuthContext) -> dict[str, Any]:
    state = params.get("State")
    if state is not None and state not in STATES:
        raise ValidationError(f"State must be one of {', '.join(STATES)}; got {state!r}.")
    limit = _limit(params, 50, MAX_FINDINGS)
    after = _token(params)
    if after is not None and not (isinstance(after, list) and len(after) == 2
                                  and isinstance(after[0], (int, float))
                                  and isinstance(after[1], str)):
        raise InvalidNextToken("NextToken is not one this operation returned.")
    page = service.findings.listed(_accounts(ctx, params), state, limit + 1,
                                 None if after is None else (after[0], after[1]))
    out: dict[str, Any] = {"Findings": [f.describe() for f in page[:limit]]}
    if len(page) > limit:
        last = page[limit - 1].finding
        out["NextToken"] = _make_token([last.created, last.id])
    return out


def acknowledge_sigma_finding(service: Any, params: dict[str, Any],
                              ctx: AuthContext) -> dict[str, Any]:
    finding_id = params.get("FindingId")
    if not isinstance(finding_id, str) or not finding_id:
        raise ValidationError("FindingId is required: the findingId of a finding "
                              "(ListSigmaFindings).")
    done = service.findings.acknowledge(finding_id, _accounts(ctx, params),
                                        ctx.principal.access_key_id, service.clock.now())
    if done is None:
        raise NotFound(f"No finding with FindingId {finding_id} exists in your account.")
    return {"Finding": done.describe()}


def list_sigma_rules(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    rules: RuleSet = service.sigma_rules or RuleSet()
    return {"Rules": [r.describe() for r in rules.rules],
            "Rejected": [r.describe() for r in rules.rejected]}


def _rules_sent(params: dict[str, Any]) -> RuleSet:
    sent = params.get("Rules")
    if not isinstance(sent, list) or not 1 <= len(sent) <= MAX_RULES:
        raise ValidationError(f"Rules must be a list of 1 to {MAX_RULES} objects "
                              "{\"File\": name, \"Body\": rule YAML}.")
    loaded: list[Rule | Rejection] = []
    for i, item in enumerate(sent):
        if not isinstance(item, dict) or not isinstance(item.get("Body"), str):
            raise ValidationError(f"Rules[{i}] must be an object with a string Body.")
        loaded += parse_rules(item["Body"], str(item.get("File") or f"Rules[{i}]"))
    return RuleSet([r for r in loaded if isinstance(r, Rule)],
                   [r for r in loaded if isinstance(r, Rejection)])


def run_sigma_rules(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    rules = _rules_sent(params)
    start, end = _timestamp(params, "StartTime"), _timestamp(params, "EndTime")
    if start is not None and end is not None and start > end:
        raise ValidationError("StartTime must be before or equal to EndTime.")
    position = _token(params) or [0, None]
    if not (isinstance(position, list) and len(position) == 2
            and isinstance(position[0], int)):
        raise InvalidNextToken("NextToken is not one this operation returned.")
    out: dict[str, Any] = {"Findings": [], "Rejected": [r.describe() for r in rules.rejected]}
    if not rules.rules:
        return out
    ledger = open_ledger(service.settings.data_dir)
    try:
        page = replay(ledger, rules, _accounts(ctx, params), start, end, position[0],
                      position[1], SCAN_ROWS, service.clock.now(), MAX_PAGE_FINDINGS)
    finally:
        ledger.close()
    out["Findings"] = [{"findingId": f.id, "accountId": f.account, "region": f.region,
                        **f.detail} for f in page.findings]
    out["EventsScanned"] = page.scanned
    if page.next_seq is not None:
        out["NextToken"] = _make_token([page.next_seq, page.end])
    return out


DETECT_OPERATIONS = {
    "ListSigmaFindings": list_sigma_findings,
    "AcknowledgeSigmaFinding": acknowledge_sigma_finding,
    "ListSigmaRules": list_sigma_rules,
    "RunSigmaRules": run_sigma_rules,
}
DETECT_READER_OPERATIONS = frozenset({"RunSigmaRules"})
