"""Trail operations of the cloudtrail API: CreateTrail, DescribeTrails, PutEventSelectors, ...

Handlers take the Service (they need its trail store, clock, settings and, when delivery
provides it, `trail_storage` to check buckets), the request's parameters and its
AuthContext. A trail belongs to the caller's account; an organization key without an
account acts for `settings.organization_account`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentrail.auth import AuthContext
from opentrail.errors import (
    CloudTrailARNInvalid,
    CloudWatchLogsDeliveryUnavailable,
    InsightNotEnabled,
    InsufficientSnsTopicPolicy,
    InvalidEventSelectors,
    InvalidHomeRegion,
    InvalidParameterCombination,
    InvalidS3BucketName,
    InvalidSnsTopicName,
    NotFound,
    NotOrganizationMasterAccount,
    OrganizationsNotInUse,
    ResourceTypeNotSupported,
    S3BucketDoesNotExist,
    TrailAlreadyExists,
    TrailNotFound,
    UnsupportedOperation,
    ValidationError,
)
from opentrail.trails._model import Trail
from opentrail.trails._names import (
    TrailRef,
    check_bucket_name,
    check_prefix,
    check_trail_name,
    parse_trail_ref,
)
from opentrail.trails._selectors import (
    DEFAULT_SELECTOR,
    check_advanced_selectors,
    check_event_selectors,
    check_insight_selectors,
)
from opentrail.trails._store import TrailStore
from opentrail.trails._tags import check_tags, merge_tags, remove_tags

if TYPE_CHECKING:
    from opentrail.service import Service

__all__ = ["TRAIL_OPERATIONS"]

MAX_LIST_TAGS_RESOURCES = 20


def _store(service: Service) -> TrailStore:
    store: TrailStore = service.trails
    return store


def _account(service: Service, ctx: AuthContext) -> str:
    account: str = ctx.principal.account or service.settings.organization_account
    return account


def _resolve(service: Service, ctx: AuthContext, value: object, field: str = "Name") -> Trail:
    """The trail a Name/TrailName parameter names; another account's ARN is not found
    unless an organization key asks, or it is an organization trail (its shadow)."""
    ref = parse_trail_ref(value, field)
    try:
        return _store(service).get(_ref_account(ref, _account(service, ctx), ctx), ctx.region,
                                   ref)
    except TrailNotFound:
        shadow = _shadow(service, ctx, ref)
        if shadow is None:
            raise
        return shadow


def _shadow(service: Any, ctx: AuthContext, ref: TrailRef) -> Trail | None:
    """An organization trail a member account names by ARN: it may read it, as in
    CloudTrail (GetTrail, GetTrailStatus need the full ARN), never change it."""
    if not ref.is_arn or ref.account is None or ctx.principal.may_access(ref.account):
        return None
    trail = _store(service).find(ref.account, ctx.region, ref)
    return trail if trail is not None and trail.is_organization_trail else None


def _writable(trail: Trail, ctx: AuthContext) -> Trail:
    if not ctx.principal.may_access(trail.account):
        raise NotOrganizationMasterAccount(
            f"The trail {trail.arn} is an organization trail: only the organization's "
            "management account (an organization key) can change it; member accounts "
            "see it as a shadow trail.")
    return trail


def _change(service: Service, ctx: AuthContext, value: object, field: str,
            change: Callable[[Trail], None], *, home: bool = True) -> Trail:
    """Change a trail in one store transaction (from its home region, unless home=False)."""
    ref = parse_trail_ref(value, field)
    shadow = _shadow(service, ctx, ref)
    if shadow is not None:
        _writable(shadow, ctx)

    def guarded(trail: Trail) -> None:
        if home:
            _home(trail, ctx)
        change(trail)

    account = _ref_account(ref, _account(service, ctx), ctx)
    return _store(service).modify(account, ctx.region, ref, guarded)


def _home(trail: Trail, ctx: AuthContext) -> Trail:
    _writable(trail, ctx)  # every change checks the home region: a shadow is read-only
    if ctx.region != trail.home_region:
        raise InvalidHomeRegion(
            f"The trail {trail.arn} was created in {trail.home_region}; change it there, not "
            f"in {ctx.region}.")
    return trail


def _iso(seconds: float | None) -> str:
    """GetTrailStatus's legacy string times: ISO 8601, or "" when never (as CloudTrail)."""
    return "" if seconds is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _set(out: dict[str, Any], **values: Any) -> dict[str, Any]:
    """Add the fields that are set: CloudTrail leaves unset strings out of its answers."""
    out.update({k: v for k, v in values.items() if v not in (None, "")})
    return out


def _sns_arn(trail: Trail) -> str | None:
    name = trail.sns_topic_name
    if not name or name.startswith("arn:"):
        return name
    return f"arn:aws:sns:{trail.home_region}:{trail.account}:{name}"


def _shape(trail: Trail, *, full: bool = True) -> dict[str, Any]:
    """The Trail shape (GetTrail, DescribeTrails) or, with full=False, CreateTrail's answer."""
    out = _set({"Name": trail.name}, S3BucketName=trail.s3_bucket_name,
               S3KeyPrefix=trail.s3_key_prefix, SnsTopicName=trail.sns_topic_name,
               SnsTopicARN=_sns_arn(trail))
    out.update(IncludeGlobalServiceEvents=trail.include_global_service_events,
               IsMultiRegionTrail=trail.is_multi_region_trail)
    if full:
        out["HomeRegion"] = trail.home_region
    out.update(TrailARN=trail.arn, LogFileValidationEnabled=trail.log_file_validation_enabled)
    _set(out, CloudWatchLogsLogGroupArn=trail.cloud_watch_logs_log_group_arn,
         CloudWatchLogsRoleArn=trail.cloud_watch_logs_role_arn, KmsKeyId=trail.kms_key_id)
    if full:
        out["HasCustomEventSelectors"] = (trail.event_selectors is not None
                                          or trail.advanced_event_selectors is not None)
        out["HasInsightSelectors"] = bool(trail.insight_selectors)
    out["IsOrganizationTrail"] = trail.is_organization_trail
    return out


# -- CreateTrail / UpdateTrail ---------------------------------------------------------------

def _bool(params: dict[str, Any], key: str, current: bool) -> bool:
    value = params.get(key, current)
    if not isinstance(value, bool):
        raise ValidationError(f"{key} must be true or false.")
    return value


def _apply(trail: Trail, params: dict[str, Any], ctx: AuthContext,
           organization: str | None = "") -> None:
    """Apply the settings CreateTrail and UpdateTrail share, checking each."""
    if "S3BucketName" in params:
        trail.s3_bucket_name = check_bucket_name(params["S3BucketName"])
    if "S3KeyPrefix" in params:
        trail.s3_key_prefix = check_prefix(params["S3KeyPrefix"])
    if "SnsTopicName" in params:
        trail.sns_topic_name = _sns_topic(params["SnsTopicName"])
    trail.include_global_service_events = _bool(params, "IncludeGlobalServiceEvents",
                                                trail.include_global_service_events)
    trail.is_multi_region_trail = _bool(params, "IsMultiRegionTrail",
                                        trail.is_multi_region_trail)
    trail.log_file_validation_enabled = _bool(params, "EnableLogFileValidation",
                                              trail.log_file_validation_enabled)
    trail.is_organization_trail = _bool(params, "IsOrganizationTrail",
                                        trail.is_organization_trail)
    _unsupported(params)
    if trail.is_multi_region_trail and not trail.include_global_service_events:
        raise InvalidParameterCombination(
            "Multi-Region trail must include global service events.")
    if params.get("IsOrganizationTrail") is True and not ctx.principal.organization:
        raise NotOrganizationMasterAccount(
            "IsOrganizationTrail needs an organization key (opentrail keys create "
            "--organization); this key belongs to one account.")
    if params.get("IsOrganizationTrail") is True and organization is None:
        raise OrganizationsNotInUse(
            "This OpenTrail server runs without an organization (--organization-id none), "
            "so it cannot make an organization trail.")


_SNS_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}(?:\.fifo)?")
_SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z][a-z0-9-]*:\d{12}:(.+)")


def _sns_topic(value: object) -> str | None:
    """SnsTopicName: a topic name or ARN, stored as given ("" removes it).

    With --sns-endpoint-url, CreateTrail and UpdateTrail also check that the topic exists
    (`_check_topic`) and each delivered log file is announced on it (docs/trails.md).
    """
    if value in (None, ""):
        return None
    arn = _SNS_ARN.fullmatch(value) if isinstance(value, str) else None
    name = arn.group(1) if arn else value
    if not isinstance(value, str) or len(value) > 256 or not _SNS_NAME.fullmatch(str(name)):
        raise InvalidSnsTopicName(
            "SnsTopicName must be a topic name (letters, digits, '-' and '_', at most 256 "
            "characters) or an SNS topic ARN.")
    return value


def _unsupported(params: dict[str, Any]) -> None:
    """Refuse settings OpenTrail would silently not honour (encryption, CloudWatch Logs)."""
    if params.get("KmsKeyId"):
        raise UnsupportedOperation(
            "OpenTrail does not encrypt log files with KMS keys; leave KmsKeyId out and "
            "encrypt the bucket or folder instead.")
    for key in ("CloudWatchLogsLogGroupArn", "CloudWatchLogsRoleArn"):
        if params.get(key):
            raise CloudWatchLogsDeliveryUnavailable(
                f"OpenTrail does not deliver to CloudWatch Logs; leave {key} out.")


def _check_bucket(service: Service, name: str) -> None:
    storage = getattr(service, "trail_storage", None)
    if storage is not None and not storage.bucket_exists(name):
        raise S3BucketDoesNotExist(f"S3 bucket {name} does not exist!")


def _check_topic(service: Service, trail: Trail) -> None:
    """With --sns-endpoint-url, the topic must exist (CloudTrail's error otherwise)."""
    arn = _sns_arn(trail)
    if arn and service.sns is not None and not service.sns.topic_exists(arn):
        raise InsufficientSnsTopicPolicy("SNS Topic does not exist or the topic policy is "
                                         "incorrect!")


def create_trail(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    name = check_trail_name(params.get("Name"))
    if "S3BucketName" not in params:
        raise InvalidS3BucketName("S3BucketName is required.")
    trail = Trail(name=name, account=_account(service, ctx), home_region=ctx.region,
                  s3_bucket_name="", created=service.clock.now())
    _apply(trail, params, ctx, service.organization_id)
    trail.tags = merge_tags([], check_tags(params.get("TagsList") or []), trail.arn)
    store = _store(service)
    if store.find(trail.account, ctx.region, name) is not None:
        raise TrailAlreadyExists(f"Trail {name} already exists for customer: {trail.account}")
    _check_bucket(service, trail.s3_bucket_name)
    _check_topic(service, trail)
    return _shape(store.create(trail), full=False)


def update_trail(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    current = _home(_resolve(service, ctx, params.get("Name")), ctx)
    bucket = params.get("S3BucketName")
    if bucket is not None and bucket != current.s3_bucket_name:
        _check_bucket(service, check_bucket_name(bucket))  # before the write transaction
    if params.get("SnsTopicName"):
        _check_topic(service, Trail(name=current.name, account=current.account,
                                    home_region=current.home_region, s3_bucket_name="",
                                    sns_topic_name=_sns_topic(params["SnsTopicName"])))
    trail = _change(service, ctx, params.get("Name"), "Name",
                    lambda trail: _apply(trail, params, ctx, service.organization_id))
    return _shape(trail, full=False)


def delete_trail(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    trail = _home(_resolve(service, ctx, params.get("Name")), ctx)
    _store(service).delete(trail.account, ctx.region, trail.arn)
    return {}


# -- reads -----------------------------------------------------------------------------------

def get_trail(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    try:
        trail = _resolve(service, ctx, params.get("Name"))
    except TrailNotFound:
        # GetTrail alone names the trail as the caller gave it; the other operations
        # name it by the ARN it would have in the caller's region.
        raise TrailNotFound(f"Unknown trail: {params.get('Name')} for the user: "
                            f"{_account(service, ctx)}") from None
    return {"Trail": _shape(trail)}


def describe_trails(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    """Trails visible in the region; shadows are multi-region trails homed elsewhere."""
    shadows = params.get("includeShadowTrails", True) is not False
    names = params.get("trailNameList") or []
    if not isinstance(names, list):
        raise ValidationError("trailNameList must be a list of trail names or ARNs.")
    account = _account(service, ctx)
    if names:
        refs = [parse_trail_ref(n, "trailNameList") for n in names]
        found = [_store(service).find(_ref_account(r, account, ctx), ctx.region, r)
                 or _shadow(service, ctx, r) for r in refs]
        trails = list({t.arn: t for t in found if t is not None}.values())
    else:
        trails = _store(service).visible(account, ctx.region)
        trails += [t for t in _store(service).list(None) if t.is_organization_trail
                   and t.account != account and t.covers_region(ctx.region)]
    if not shadows:
        trails = [t for t in trails if t.account == account
                  and not (t.is_multi_region_trail and t.home_region != ctx.region)]
    return {"trailList": [_shape(t) for t in trails]}


def _ref_account(ref: TrailRef, account: str, ctx: AuthContext) -> str:
    if ref.account and ctx.principal.may_access(ref.account):
        return ref.account
    return account


def list_trails(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    # At most 5 trails per region: one page holds every trail of the account.
    trails = _store(service).list(_account(service, ctx))
    return {"Trails": [{"TrailARN": t.arn, "Name": t.name, "HomeRegion": t.home_region}
                       for t in trails]}


def get_trail_status(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    """Numbers and errors only once they happened; the six legacy strings always, "" when
    never (as CloudTrail). Notifications (SnsTopicName) are best effort and not tracked, so
    those stay ""."""
    s = _resolve(service, ctx, params.get("Name")).status
    out: dict[str, Any] = {"IsLogging": s.is_logging}
    _set(out, LatestDeliveryError=s.latest_delivery_error,
         LatestDeliveryTime=s.latest_delivery_time,
         StartLoggingTime=s.start_logging_time, StopLoggingTime=s.stop_logging_time,
         LatestDigestDeliveryTime=s.latest_digest_delivery_time,
         LatestDigestDeliveryError=s.latest_digest_delivery_error)
    out.update(LatestDeliveryAttemptTime=_iso(s.latest_delivery_attempt_time),
               LatestNotificationAttemptTime="", LatestNotificationAttemptSucceeded="",
               LatestDeliveryAttemptSucceeded=_iso(s.latest_delivery_time),
               TimeLoggingStarted=_iso(s.start_logging_time),
               TimeLoggingStopped=_iso(s.stop_logging_time))
    return out


# -- logging ---------------------------------------------------------------------------------

def start_logging(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    trail = _home(_resolve(service, ctx, params.get("Name")), ctx)
    if not trail.status.is_logging:
        _store(service).set_status(trail.arn, is_logging=True,
                                   start_logging_time=service.clock.now())
    return {}


def stop_logging(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    trail = _home(_resolve(service, ctx, params.get("Name")), ctx)
    if trail.status.is_logging:
        _store(service).set_status(trail.arn, is_logging=False,
                                   stop_logging_time=service.clock.now())
    return {}


# -- selectors -------------------------------------------------------------------------------

def put_event_selectors(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    basic, advanced = params.get("EventSelectors"), params.get("AdvancedEventSelectors")
    if (basic is None) == (advanced is None):
        raise InvalidEventSelectors(
            "Give exactly one of EventSelectors or AdvancedEventSelectors.")
    chosen = (check_event_selectors(basic) if basic is not None else None,
              check_advanced_selectors(advanced) if advanced is not None else None)

    def change(trail: Trail) -> None:
        trail.event_selectors, trail.advanced_event_selectors = chosen

    trail = _change(service, ctx, params.get("TrailName"), "TrailName", change)
    return _selectors_shape(trail)


def _selectors_shape(trail: Trail) -> dict[str, Any]:
    if trail.advanced_event_selectors is not None:
        return {"TrailARN": trail.arn, "AdvancedEventSelectors": trail.advanced_event_selectors}
    selectors = trail.event_selectors if trail.event_selectors is not None else [
        DEFAULT_SELECTOR]
    return {"TrailARN": trail.arn, "EventSelectors": selectors}


def get_event_selectors(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    return _selectors_shape(_resolve(service, ctx, params.get("TrailName"), "TrailName"))


def _insights_trail(service: Service, params: dict[str, Any], ctx: AuthContext) -> Trail:
    if params.get("EventDataStore") or params.get("InsightsDestination"):
        if params.get("TrailName"):
            raise InvalidParameterCombination("Give TrailName or EventDataStore, not both.")
        raise UnsupportedOperation("OpenTrail supports Insights selectors on trails only; "
                                   "give TrailName.")
    if not params.get("TrailName"):
        raise InvalidParameterCombination("TrailName is required.")
    return _resolve(service, ctx, params["TrailName"], "TrailName")


def put_insight_selectors(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    _insights_trail(service, params, ctx)
    selectors = check_insight_selectors(params.get("InsightSelectors"))

    def change(trail: Trail) -> None:
        trail.insight_selectors = selectors

    trail = _change(service, ctx, params["TrailName"], "TrailName", change)
    return {"TrailARN": trail.arn, "InsightSelectors": trail.insight_selectors}


def get_insight_selectors(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    trail = _insights_trail(service, params, ctx)
    if not trail.insight_selectors:
        raise InsightNotEnabled(
            f"Trail {trail.name} does not have Insights enabled. Edit the trail settings to "
            "enable Insights, and then try the operation again.")
    return {"TrailARN": trail.arn, "InsightSelectors": trail.insight_selectors}


# -- tags ------------------------------------------------------------------------------------

def _tagged(service: Service, ctx: AuthContext, resource: object,
            change: Callable[[Trail], None] | None = None) -> Trail:
    """A trail by ARN for the tag operations, which answer ResourceNotFoundException."""
    if isinstance(resource, str) and resource.startswith("arn:") and ":trail/" not in resource:
        raise ResourceTypeNotSupported(f"OpenTrail supports tags on trails, event data stores "
                                       f"and channels only, not {resource}.")
    if not isinstance(resource, str) or not resource.startswith("arn:"):
        raise CloudTrailARNInvalid(f"ResourceId {resource!r} must be a trail ARN.")
    try:
        if change is None:
            return _resolve(service, ctx, resource, "ResourceId")
        return _change(service, ctx, resource, "ResourceId", change, home=False)
    except NotFound:
        raise NotFound(f"The resource {resource} was not found.") from None


def add_tags(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    tags = check_tags(params.get("TagsList"))

    def change(trail: Trail) -> None:
        trail.tags = merge_tags(trail.tags, tags, trail.arn)

    _tagged(service, ctx, params.get("ResourceId"), change)
    return {}


def remove_tags_op(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    keys = check_tags(params.get("TagsList"), values=False)

    def change(trail: Trail) -> None:
        trail.tags = remove_tags(trail.tags, keys)

    _tagged(service, ctx, params.get("ResourceId"), change)
    return {}


def list_tags(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    ids = params.get("ResourceIdList")
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_LIST_TAGS_RESOURCES:
        raise ValidationError(f"ResourceIdList must list 1 to {MAX_LIST_TAGS_RESOURCES} "
                              "trail ARNs.")
    trails = [_tagged(service, ctx, i) for i in ids]
    return {"ResourceTagList": [{"ResourceId": t.arn, "TagsList": t.tags} for t in trails]}


TRAIL_OPERATIONS = {
    "CreateTrail": create_trail,
    "UpdateTrail": update_trail,
    "DeleteTrail": delete_trail,
    "GetTrail": get_trail,
    "DescribeTrails": describe_trails,
    "ListTrails": list_trails,
    "GetTrailStatus": get_trail_status,
    "StartLogging": start_logging,
    "StopLogging": stop_logging,
    "PutEventSelectors": put_event_selectors,
    "GetEventSelectors": get_event_selectors,
    "PutInsightSelectors": put_insight_selectors,
    "GetInsightSelectors": get_insight_selectors,
    "AddTags": add_tags,
    "RemoveTags": remove_tags_op,
    "ListTags": list_tags,
}
