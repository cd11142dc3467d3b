"""Event selectors: which events a trail delivers (spec 4.3), checked and evaluated.

`check_*` validate PutEventSelectors / PutInsightSelectors input with CloudTrail's limits
and return the normalised form GetEventSelectors answers with. `selects` decides, for one
parsed record, whether a trail delivers it. Insights records are never selected here:
delivery writes them to their own CloudTrail-Insight/ files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from opentrail.errors import InvalidEventSelectors, InvalidInsightSelectors, ValidationError
from opentrail.events import Category
from opentrail.trails._model import Trail

__all__ = [
    "ADVANCED_FIELDS",
    "MAX_ADVANCED_VALUES",
    "MAX_DATA_RESOURCES",
    "MAX_EVENT_SELECTORS",
    "check_advanced_selectors",
    "check_event_selectors",
    "check_insight_selectors",
    "matches_advanced",
    "selects",
]

MAX_EVENT_SELECTORS = 5
MAX_DATA_RESOURCES = 250
MAX_ADVANCED_VALUES = 500
MAX_OPERAND = 2048
READ_WRITE = ("ReadOnly", "WriteOnly", "All")
EXCLUDABLE_SOURCES = frozenset({"kms.amazonaws.com", "rdsdata.amazonaws.com"})
# Basic selectors' data resource types and the ARN service each value must name.
DATA_TYPES = {"AWS::S3::Object": "s3", "AWS::Lambda::Function": "lambda",
              "AWS::DynamoDB::Table": "dynamodb"}
ADVANCED_FIELDS = frozenset({
    "eventCategory", "eventSource", "eventName", "eventType", "readOnly", "resources.type",
    "resources.ARN", "userIdentity.arn", "errorCode", "vpcEndpointId",
    "sessionCredentialFromConsole"})
EQUALS_ONLY = frozenset({"eventCategory", "readOnly", "resources.type"})
CATEGORIES = ("Management", "Data", "NetworkActivity")
INSIGHT_TYPES = ("ApiCallRateInsight", "ApiErrorRateInsight")
# Events of global services, left out of trails with IncludeGlobalServiceEvents=false.
GLOBAL_SOURCES = frozenset({"iam.amazonaws.com", "cloudfront.amazonaws.com",
                            "route53.amazonaws.com", "organizations.amazonaws.com"})
_FIELD = re.compile(r"[\w|.]{1,1000}")

Test = Callable[[str, str], bool]
OPERATORS: dict[str, tuple[bool, Test]] = {  # name: (negated, test)
    "Equals": (False, str.__eq__),
    "StartsWith": (False, str.startswith),
    "EndsWith": (False, str.endswith),
    "NotEquals": (True, str.__eq__),
    "NotStartsWith": (True, str.startswith),
    "NotEndsWith": (True, str.endswith),
}
DEFAULT_SELECTOR: dict[str, Any] = {"ReadWriteType": "All", "IncludeManagementEvents": True,
                                    "DataResources": [], "ExcludeManagementEventSources": []}


def _invalid(message: str, insight: bool = False) -> ValidationError:
    return InvalidInsightSelectors(message) if insight else InvalidEventSelectors(message)


# -- validation ----------------------------------------------------------------------------

def check_event_selectors(selectors: object) -> list[dict[str, Any]]:
    """Basic selectors: 1 to 5, at most 250 data resource values in all."""
    if not isinstance(selectors, list) or not 1 <= len(selectors) <= MAX_EVENT_SELECTORS:
        raise _invalid(f"EventSelectors must list 1 to {MAX_EVENT_SELECTORS} selectors.")
    out = [_check_basic(s, i) for i, s in enumerate(selectors)]
    total = sum(len(r["Values"]) for s in out for r in s["DataResources"])
    if total > MAX_DATA_RESOURCES:
        raise _invalid(f"EventSelectors name {total} data resources; a trail may have at "
                       f"most {MAX_DATA_RESOURCES}.")
    return out


def _check_basic(selector: object, index: int) -> dict[str, Any]:
    where = f"EventSelectors[{index}]"
    if not isinstance(selector, dict) or set(selector) - set(DEFAULT_SELECTOR):
        raise _invalid(f"{where} must be an object with only the fields "
                       f"{', '.join(DEFAULT_SELECTOR)}.")
    out = {**DEFAULT_SELECTOR, **selector}
    if out["ReadWriteType"] not in READ_WRITE:
        raise _invalid(f"{where}.ReadWriteType must be one of {', '.join(READ_WRITE)}.")
    if not isinstance(out["IncludeManagementEvents"], bool):
        raise _invalid(f"{where}.IncludeManagementEvents must be true or false.")
    excluded = out["ExcludeManagementEventSources"]
    if not isinstance(excluded, list) or not set(excluded) <= EXCLUDABLE_SOURCES:
        raise _invalid(f"{where}.ExcludeManagementEventSources may list only "
                       f"{' and '.join(sorted(EXCLUDABLE_SOURCES))}.")
    out["ExcludeManagementEventSources"] = list(excluded)
    resources = out["DataResources"]
    if not isinstance(resources, list):
        raise _invalid(f"{where}.DataResources must be a list.")
    out["DataResources"] = [_check_resource(r, f"{where}.DataResources[{i}]")
                            for i, r in enumerate(resources)]
    return out


def _check_resource(resource: object, where: str) -> dict[str, Any]:
    """CloudTrail's messages: `Value X for DataResources.Type|Values is invalid.`"""
    if not isinstance(resource, dict):
        raise _invalid(f"{where} must be an object with Type and Values.")
    kind = resource.get("Type")
    if kind not in DATA_TYPES:
        raise _invalid(f"Value {kind} for DataResources.Type is invalid. Valid values are: "
                       f"{', '.join(sorted(DATA_TYPES))}")
    values = resource.get("Values", [])
    if not isinstance(values, list):
        raise _invalid(f"{where}.Values must be a list of ARNs.")
    service = DATA_TYPES[kind]
    pattern = re.compile(rf"arn:aws[a-z-]*:{service}(?::[^*]*)?")
    for value in values:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise _invalid(f"Value {value} for DataResources.Values is invalid.")
    return {"Type": kind, "Values": list(values)}


def check_advanced_selectors(selectors: object, *, categories: tuple[str, ...] = CATEGORIES,
                             fields: frozenset[str] = ADVANCED_FIELDS,
                             owner: str = "a trail") -> list[dict[str, Any]]:
    """Advanced selectors: known fields, Equals-only fields, at most 500 values in all.

    Event data stores (lake/_selection.py) pass their own eventCategory values and fields.
    """
    if not isinstance(selectors, list) or not selectors:
        raise _invalid("AdvancedEventSelectors must list at least one selector.")
    out = [_check_advanced(s, f"AdvancedEventSelectors[{i}]", categories, fields)
           for i, s in enumerate(selectors)]
    total = sum(len(v) for s in out for f in s["FieldSelectors"]
                for k, v in f.items() if k in OPERATORS)
    if total > MAX_ADVANCED_VALUES:
        raise _invalid(f"AdvancedEventSelectors have {total} condition values; {owner} may "
                       f"have at most {MAX_ADVANCED_VALUES}.")
    return out


def _check_advanced(selector: object, where: str, categories: tuple[str, ...],
                    fields: frozenset[str]) -> dict[str, Any]:
    if not isinstance(selector, dict) or set(selector) - {"Name", "FieldSelectors"}:
        raise _invalid(f"{where} must be an object with Name and FieldSelectors.")
    name = selector.get("Name")
    if name is not None and (not isinstance(name, str) or len(name) > 1000):
        raise _invalid(f"{where}.Name must be a string of at most 1000 characters.")
    items = selector.get("FieldSelectors")
    if not isinstance(items, list) or not items:
        raise _invalid(f"{where}.FieldSelectors must list at least one field selector.")
    checked = [_check_field(f, f"{where}.FieldSelectors[{i}]", categories, fields)
               for i, f in enumerate(items)]
    by_field = {f["Field"]: f for f in checked}
    if len(by_field) != len(checked):
        raise _invalid(f"{where} names a field more than once.")
    category = by_field.get("eventCategory", {}).get("Equals")
    if category is None:
        raise _invalid(f"{where} must have an eventCategory field selector.")
    needs = {"Data": "resources.type", "NetworkActivity": "eventSource"}
    for kind in set(category) & set(needs):
        if needs[kind] not in by_field:
            raise _invalid(f"{where} selects {kind} events, so it must have a "
                           f"{needs[kind]} field selector.")
    return {**({"Name": name} if name is not None else {}), "FieldSelectors": checked}


def _check_field(field: object, where: str, categories: tuple[str, ...],
                 fields: frozenset[str]) -> dict[str, Any]:
    if not isinstance(field, dict) or not isinstance(field.get("Field"), str):
        raise _invalid(f"{where}.Field is required.")
    name = field["Field"]
    if not _FIELD.fullmatch(name) or name not in fields:
        raise _invalid(f"{where}.Field {name!r} is not supported; use one of "
                       f"{', '.join(sorted(fields))}.")
    ops = {k: v for k, v in field.items() if k != "Field"}
    if not ops or set(ops) - set(OPERATORS):
        raise _invalid(f"{where} needs at least one of {', '.join(OPERATORS)} and no other "
                       "keys.")
    if name in EQUALS_ONLY and set(ops) != {"Equals"}:
        raise _invalid(f"{where}: the field {name} supports only the Equals operator.")
    for op, values in ops.items():
        if not isinstance(values, list) or not values or not all(
                isinstance(v, str) and 1 <= len(v) <= MAX_OPERAND for v in values):
            raise _invalid(f"{where}.{op} must list 1 or more strings of 1 to {MAX_OPERAND} "
                           "characters.")
    _check_enum(name, ops.get("Equals", []), where, categories)
    return {"Field": name, **ops}


def _check_enum(name: str, values: list[str], where: str, categories: tuple[str, ...]) -> None:
    allowed = {"eventCategory": categories, "readOnly": ("true", "false")}.get(name)
    if allowed is not None and not set(values) <= set(allowed):
        raise _invalid(f"{where}: {name} values must be among {', '.join(allowed)}.")


def check_insight_selectors(selectors: object) -> list[dict[str, Any]]:
    """ApiCallRateInsight / ApiErrorRateInsight, each at most once; [] turns Insights off."""
    if not isinstance(selectors, list):
        raise _invalid("InsightSelectors must be a list.", insight=True)
    out, seen = [], set()
    for i, sel in enumerate(selectors):
        kind = sel.get("InsightType") if isinstance(sel, dict) else None
        if kind not in INSIGHT_TYPES or kind in seen:
            raise _invalid(f"InsightSelectors[{i}].InsightType must be one of "
                           f"{', '.join(INSIGHT_TYPES)}, each at most once.", insight=True)
        seen.add(kind)
        categories = sel.get("EventCategories")
        if categories is not None and (not isinstance(categories, list) or not set(
                categories) <= {"Management", "Data"}):
            raise _invalid(f"InsightSelectors[{i}].EventCategories may list only Management "
                           "and Data.", insight=True)
        out.append({"InsightType": kind,
                    **({"EventCategories": categories} if categories is not None else {})})
    return out


# -- evaluation ----------------------------------------------------------------------------

def selects(trail: Trail, obj: dict[str, Any], category: Category) -> bool:
    """Whether `trail` delivers the parsed record `obj` of `category`."""
    if category in (Category.INSIGHT, Category.INTERNAL):
        return False
    if not trail.include_global_service_events and obj.get("eventSource") in GLOBAL_SOURCES:
        return False
    if trail.advanced_event_selectors is not None:
        return matches_advanced(trail.advanced_event_selectors, obj, category)
    selectors = trail.event_selectors if trail.event_selectors is not None else [
        DEFAULT_SELECTOR]
    return any(_basic_match(s, obj, category) for s in selectors)


def _read_only(obj: dict[str, Any]) -> bool:
    value = obj.get("readOnly")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _basic_match(selector: dict[str, Any], obj: dict[str, Any], category: Category) -> bool:
    kind = selector.get("ReadWriteType", "All")
    if kind != "All" and _read_only(obj) != (kind == "ReadOnly"):
        return False
    if category == Category.MANAGEMENT:
        return (selector.get("IncludeManagementEvents", True) is True
                and obj.get("eventSource") not in selector.get(
                    "ExcludeManagementEventSources", []))
    if obj.get("eventCategory") == "NetworkActivity":
        return False  # only advanced selectors choose network activity events
    return any(_resource_match(r, obj) for r in selector.get("DataResources", []))


def _resource_match(resource: dict[str, Any], obj: dict[str, Any]) -> bool:
    service = DATA_TYPES.get(resource.get("Type", ""), "")
    for item in _resources(obj):
        if item.get("type") != resource.get("Type") or not isinstance(item.get("ARN"), str):
            continue
        arn: str = item["ARN"]
        for value in resource.get("Values", []):
            # S3 values are prefixes (bucket/ or bucket/prefix); Lambda and DynamoDB are exact.
            if (arn == value or _everything(value, service)
                    or (service == "s3" and arn.startswith(value))):
                return True
    return False


def _everything(value: str, service: str) -> bool:
    """`arn:aws:s3`, `arn:aws:s3:::` or `arn:aws:lambda`: every resource of the type."""
    parts = value.split(":")
    return len(parts) >= 3 and parts[2] == service and not any(parts[3:])


def _resources(obj: dict[str, Any]) -> list[dict[str, Any]]:
    items = obj.get("resources")
    return [r for r in items if isinstance(r, dict)] if isinstance(items, list) else []


def matches_advanced(selectors: Iterable[dict[str, Any]], obj: dict[str, Any],
                     category: Category) -> bool:
    """Whether any advanced selector chooses the record: the one matcher of trails and
    event data stores (lake/_selection.py)."""
    return any(_advanced_match(s, obj, category) for s in selectors)


def _advanced_match(selector: dict[str, Any], obj: dict[str, Any], category: Category) -> bool:
    return all(_field_match(f, obj, category) for f in selector.get("FieldSelectors", []))


def _field_match(field: dict[str, Any], obj: dict[str, Any], category: Category) -> bool:
    return any(_holds(field, value) for value in _field_values(field["Field"], obj, category))


def _field_values(name: str, obj: dict[str, Any], category: Category) -> Iterable[str | None]:
    """The record's values for a selector field; a resources.* field has one per resource."""
    if name.startswith("resources."):
        key = "ARN" if name == "resources.ARN" else "type"
        values = [_text(r.get(key)) for r in _resources(obj)]
        return values or [None]
    if name == "eventCategory":
        default = "Management" if category == Category.MANAGEMENT else "Data"
        return [_text(obj.get("eventCategory")) or default]
    value: Any = obj
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return [_text(value)]


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else None


def _holds(field: dict[str, Any], value: str | None) -> bool:
    """Every operator of the field selector holds (an absent value fails only positives)."""
    for op, operands in field.items():
        if op not in OPERATORS:
            continue
        negated, test = OPERATORS[op]
        hit = value is not None and any(test(value, x) for x in operands)
        if hit == negated:
            return False
    return True
