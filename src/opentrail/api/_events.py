"""EventBridge's rule operations (`AWSEvents.*`, botocore's `events` model): rules,
targets, TestEventPattern and tags, on the account's `default` bus.

Invariant: every call is scoped to the caller's account (an organization key acts for
`settings.organization_account`) and the region its signature names; patterns are
validated by `rules.compile_pattern` before anything is stored.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson

from opentrail.auth import AuthContext
from opentrail.errors import (
    EventsLimitExceeded,
    EventsNotFound,
    EventsValidation,
    InvalidEventPattern,
)
from opentrail.rules import RuleStore, check_target, compile_pattern, matches
from opentrail.rules._model import Rule, rule_arn

__all__ = ["RULE_OPERATIONS", "account_of", "page", "require_name"]

NAME = re.compile(r"[.\-_A-Za-z0-9]{1,64}")
STATES = ("ENABLED", "DISABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
MAX_PATTERN = 4096
MAX_TARGETS = 5  # EventBridge's targets per rule
EVENT_FIELDS = ("id", "account", "source", "time", "region", "resources", "detail-type")
BUS = "default"


def account_of(service: Any, ctx: AuthContext) -> str:
    account: str = ctx.principal.account or service.settings.organization_account
    return account


def _store(service: Any) -> RuleStore:
    store: RuleStore | None = service.rules
    if store is None:
        raise EventsValidation("Event rules are not available on this server.")
    return store


def require_name(params: dict[str, Any], key: str = "Name") -> str:
    value = params.get(key)
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise EventsValidation(f"1 validation error detected: Value {value!r} at "
                               f"'{key[:1].lower() + key[1:]}' failed to satisfy constraint: "
                               "Member must satisfy regular expression pattern: "
                               "[\\.\\-_A-Za-z0-9]+ and have length between 1 and 64.")
    return value


def _bus(params: dict[str, Any], account: str, region: str) -> None:
    bus = params.get("EventBusName")
    if bus in (None, BUS, f"arn:aws:events:{region}:{account}:event-bus/{BUS}"):
        return
    raise EventsNotFound(f"Event bus {bus} does not exist.")


def page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
    """Offset paging with an opaque NextToken; Limit 1..100."""
    limit = params.get("Limit", 100)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
        raise EventsValidation("Limit must be between 1 and 100.")
    start = 0
    token = params.get("NextToken")
    if token is not None:
        try:
            start = int(base64.urlsafe_b64decode(str(token).encode()).decode())
        except ValueError:
            raise EventsValidation("The NextToken is not valid.") from None
    end = start + limit
    more = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], more


def _scope(service: Any, params: dict[str, Any], ctx: AuthContext,
           key: str = "Name") -> tuple[RuleStore, str, str, str]:
    account = account_of(service, ctx)
    _bus(params, account, ctx.region)
    return _store(service), account, ctx.region, require_name(params, key)


def _existing(store: RuleStore, account: str, region: str, name: str) -> Rule:
    rule = store.rule(account, region, name)
    if rule is None:
        raise EventsNotFound(f"Rule {name} does not exist on EventBus {BUS}.")
    return rule


# -- rules -----------------------------------------------------------------------------------

def put_rule(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    pattern = params.get("EventPattern")
    if params.get("ScheduleExpression"):
        raise EventsValidation("ScheduleExpression is not supported by OpenTrail: its rules "
                               "match events (EventPattern).")
    if params.get("RoleArn"):
        raise EventsValidation("RoleArn is not supported by OpenTrail: a rule assumes no "
                               "role (its targets are webhooks, SNS topics and e-mail).")
    if not isinstance(pattern, str) or not pattern:
        raise EventsValidation("Parameter(s) EventPattern or ScheduleExpression must be "
                               "specified.")
    if len(pattern) > MAX_PATTERN:
        raise EventsValidation(f"EventPattern is longer than {MAX_PATTERN} characters.")
    compile_pattern(pattern)
    state = params.get("State", "ENABLED")
    if state not in STATES:
        raise EventsValidation(f"State must be one of {', '.join(STATES)}.")
    description = params.get("Description", "")
    if not isinstance(description, str) or len(description) > 512:
        raise EventsValidation("Description must be a string of at most 512 characters.")
    old = store.rule(account, region, name)
    rule = Rule(account, region, name, pattern, state, description,
                old.created if old else service.clock.now())
    store.put_rule(rule)
    if old is None and params.get("Tags"):
        store.tag(rule.arn, _tags(params["Tags"]))
    return {"RuleArn": rule.arn}


def _rule_shape(rule: Rule) -> dict[str, Any]:
    shape = {"Name": rule.name, "Arn": rule.arn, "EventPattern": rule.pattern,
             "State": rule.state, "EventBusName": BUS}
    if rule.description:
        shape["Description"] = rule.description
    return shape


def describe_rule(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    rule = _existing(store, account, region, name)
    return {**_rule_shape(rule), "CreatedBy": account}


def list_rules(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    account = account_of(service, ctx)
    _bus(params, account, ctx.region)
    prefix = require_name(params, "NamePrefix") if "NamePrefix" in params else ""
    rules, token = page(_store(service).rules(account, ctx.region, prefix), params)
    out: dict[str, Any] = {"Rules": [_rule_shape(r) for r in rules]}
    if token:
        out["NextToken"] = token
    return out


def delete_rule(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    if store.targets(account, region, name):
        raise EventsValidation("Rule can't be deleted since it has targets.")
    store.delete_rule(account, region, name, rule_arn(account, region, name))
    return {}


def enable_rule(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    rule = _existing(store, account, region, name)
    if rule.state == "DISABLED":
        store.set_state(account, region, name, "ENABLED")
    return {}


def disable_rule(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    _existing(store, account, region, name)
    store.set_state(account, region, name, "DISABLED")
    return {}


# -- targets ---------------------------------------------------------------------------------

def put_targets(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx, "Rule")
    _existing(store, account, region, name)
    targets = params.get("Targets")
    if not isinstance(targets, list) or not 1 <= len(targets) <= 100:
        raise EventsValidation("Targets must be a list of 1 to 100 targets.")
    good, failed = [], []
    for target in targets:
        problem = check_target(target, store, account, region)
        if problem is None:
            good.append(target)
        else:
            failed.append({"TargetId": str(target.get("Id", "")) if isinstance(
                target, dict) else "", "ErrorCode": "ValidationException",
                "ErrorMessage": problem})
    if good and not store.put_targets(account, region, name, good, limit=MAX_TARGETS):
        raise EventsLimitExceeded("The requested resource exceeds the maximum number "
                                  f"allowed ({MAX_TARGETS} targets per rule).")
    return {"FailedEntryCount": len(failed), "FailedEntries": failed}


def remove_targets(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx, "Rule")
    _existing(store, account, region, name)
    ids = params.get("Ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise EventsValidation("Ids must be a list of 1 to 100 target ids.")
    store.remove_targets(account, region, name, ids)
    return {"FailedEntryCount": 0, "FailedEntries": []}


def list_targets(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx, "Rule")
    _existing(store, account, region, name)
    targets, token = page(store.targets(account, region, name), params)
    out: dict[str, Any] = {"Targets": targets}
    if token:
        out["NextToken"] = token
    return out


# -- TestEventPattern and tags ---------------------------------------------------------------

def test_event_pattern(service: Any, params: dict[str, Any],
                       ctx: AuthContext) -> dict[str, Any]:
    text = params.get("EventPattern")
    if not isinstance(text, str) or not text:
        raise InvalidEventPattern("Event pattern is not valid. Reason: it is empty")
    pattern = compile_pattern(text)
    try:
        event = orjson.loads(str(params.get("Event", "")))
    except orjson.JSONDecodeError as exc:
        raise EventsValidation(f"Parameter Event is not valid JSON: {exc}.") from None
    if not isinstance(event, dict):
        raise EventsValidation("Parameter Event must be a JSON object.")
    missing = [f for f in EVENT_FIELDS if f not in event]
    if missing:
        raise EventsValidation(f"Parameter(s) {', '.join(missing)} must be specified in the "
                               "Event.")
    return {"Result": matches(pattern, event)}


def _tags(raw: Any) -> dict[str, str]:
    if not isinstance(raw, list) or not all(
            isinstance(t, dict) and isinstance(t.get("Key"), str) and t["Key"]
            and isinstance(t.get("Value", ""), str) for t in raw):
        raise EventsValidation("Tags must be a list of {Key, Value} strings.")
    return {t["Key"]: t.get("Value", "") for t in raw}


def _tagged(service: Any, params: dict[str, Any], ctx: AuthContext) -> tuple[RuleStore, str]:
    arn = params.get("ResourceARN")
    account, store = account_of(service, ctx), _store(service)
    prefix = f"arn:aws:events:{ctx.region}:{account}:rule/"
    if not isinstance(arn, str) or not arn.startswith(prefix):
        raise EventsNotFound(f"Resource {arn} does not exist.")
    _existing(store, account, ctx.region, arn[len(prefix):])
    return store, arn


def tag_resource(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    store, arn = _tagged(service, params, ctx)
    store.tag(arn, _tags(params.get("Tags")))
    return {}


def untag_resource(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    store, arn = _tagged(service, params, ctx)
    keys = params.get("TagKeys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise EventsValidation("TagKeys must be a list of strings.")
    store.untag(arn, keys)
    return {}


def list_tags(service: Any, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    store, arn = _tagged(service, params, ctx)
    return {"Tags": [{"Key": k, "Value": v} for k, v in store.tags(arn).items()]}


RULE_OPERATIONS = {
    "PutRule": put_rule, "DescribeRule": describe_rule, "ListRules": list_rules,
    "DeleteRule": delete_rule, "EnableRule": enable_rule, "DisableRule": disable_rule,
    "PutTargets": put_targets, "RemoveTargets": remove_targets,
    "ListTargetsByRule": list_targets, "TestEventPattern": test_event_pattern,
    "TagResource": tag_resource, "UntagResource": untag_resource,
    "ListTagsForResource": list_tags,
}
