"""Targets of a rule: which kinds OpenTrail can deliver to, and PutTargets' checks.

Kinds (by the target's Arn):
* `arn:aws:events:REGION:ACCOUNT:api-destination/NAME[/UUID]` - an HTTPS webhook through
  an API destination and its connection (EventBridge's own form);
* `arn:aws:sns:REGION:ACCOUNT:TOPIC` - published to the SNS-compatible endpoint
  `--sns-endpoint-url`;
* `mailto:ADDRESS[,ADDRESS...]` - an e-mail through `--smtp-url` (an OpenTrail extension);
* `slack:https://...` and `teams:https://...` - a Slack- or Teams-compatible incoming
  webhook, sent their JSON body shape (an OpenTrail extension).

Invariant: `check_target` returns None only for a target the sender can deliver; any other
answer is the sentence PutTargets reports in FailedEntries.
"""

from __future__ import annotations

import re
from typing import Any

from opentrail.errors import EventsValidation
from opentrail.rules._auth import check_endpoint
from opentrail.rules._deadletter import check_dead_letter

__all__ = ["DEFAULT_RETRY", "check_target", "destination_name", "kind_of", "retry_policy"]

ID = re.compile(r"[.\-_A-Za-z0-9]{1,64}")
PATH_KEY = re.compile(r"[A-Za-z0-9_\-]{1,256}")
EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+")
DEST = re.compile(r"arn:aws:events:([a-z0-9-]+):(\d{12}):api-destination/([.\-_A-Za-z0-9]+)"
                  r"(/[-A-Za-z0-9]+)?")
SNS = re.compile(r"arn:aws:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})")
UNUSED = ("KinesisParameters", "RunCommandParameters", "EcsParameters", "BatchParameters",
          "SqsParameters", "RedshiftDataParameters", "SageMakerPipelineParameters",
          "AppSyncParameters")
DEFAULT_RETRY = (185, 86400)  # EventBridge: attempts, seconds


def kind_of(arn: str) -> str | None:
    if DEST.fullmatch(arn):
        return "api-destination"
    if SNS.fullmatch(arn):
        return "sns"
    if arn.startswith("mailto:"):
        return "email"
    if arn.startswith(("slack:", "teams:")):
        return arn.split(":", 1)[0]
    return None


def destination_name(arn: str) -> tuple[str, str, str]:
    """(region, account, name) of an api-destination ARN."""
    found = DEST.fullmatch(arn)
    assert found is not None
    return found.group(1), found.group(2), found.group(3)


def check_target(target: Any, store: Any, account: str, region: str) -> str | None:
    if not isinstance(target, dict):
        return "A target must be an object with Id and Arn."
    if not isinstance(target.get("Id"), str) or not ID.fullmatch(target["Id"]):
        return "Id must be 1 to 64 letters, digits, '.', '-' or '_'."
    arn = target.get("Arn")
    kind = kind_of(arn) if isinstance(arn, str) else None
    if kind is None:
        return (f"OpenTrail cannot deliver to {arn!r}: use an api-destination or SNS topic "
                "ARN, mailto:ADDRESS, slack:URL or teams:URL.")
    problem = check_dead_letter(target) or _unused(target)
    if problem:
        return problem
    try:
        _check_kind(kind, str(arn), store, account, region)
        _check_input(target)
        retry_policy(target)
    except EventsValidation as err:
        return err.message
    return None


def _unused(target: dict[str, Any]) -> str | None:
    """The parameters of target kinds OpenTrail does not deliver to are refused, not
    ignored. (RoleArn is accepted and unused: OpenTrail assumes no role.)"""
    for key in UNUSED:
        if key in target:
            return f"{key} is not supported: OpenTrail does not deliver to that target type."
    if "HttpParameters" in target and kind_of(str(target.get("Arn"))) != "api-destination":
        return "HttpParameters applies only to API destination targets."
    return None


def _check_kind(kind: str, arn: str, store: Any, account: str, region: str) -> None:
    if kind == "api-destination":
        dest_region, dest_account, name = destination_name(arn)
        if (dest_region, dest_account) != (region, account) or store.destination(
                account, region, name) is None:
            raise EventsValidation(f"API destination {arn} does not exist.")
    elif kind == "sns":
        found = SNS.fullmatch(arn)
        if found is None or found.group(2) != account:
            raise EventsValidation(f"SNS topic {arn} is not in account {account}.")
    elif kind == "email":
        addresses = arn.removeprefix("mailto:").split(",")
        if not all(EMAIL.fullmatch(a.strip()) for a in addresses):
            raise EventsValidation(f"{arn} does not name e-mail addresses.")
    else:
        check_endpoint(arn.split(":", 1)[1], f"The {kind} webhook")


def _check_input(target: dict[str, Any]) -> None:
    given = [k for k in ("Input", "InputPath", "InputTransformer") if k in target]
    if len(given) > 1:
        raise EventsValidation(f"Only one of {', '.join(given)} may be given.")
    if "Input" in target:
        import orjson

        try:
            orjson.loads(str(target["Input"]))
        except orjson.JSONDecodeError:
            raise EventsValidation("Input must be valid JSON text.") from None
    if "InputPath" in target and not str(target["InputPath"]).startswith("$"):
        raise EventsValidation("InputPath must be a JSONPath starting with '$'.")
    transformer = target.get("InputTransformer")
    if transformer is not None:
        _check_transformer(transformer)


def _check_transformer(transformer: Any) -> None:
    if not isinstance(transformer, dict) or not isinstance(
            transformer.get("InputTemplate"), str):
        raise EventsValidation("InputTransformer needs an InputTemplate string.")
    paths = transformer.get("InputPathsMap", {})
    if not isinstance(paths, dict) or len(paths) > 100:
        raise EventsValidation("InputPathsMap must map at most 100 names to JSONPaths.")
    for key, path in paths.items():
        if not PATH_KEY.fullmatch(key) or key.startswith("aws."):
            raise EventsValidation(f"InputPathsMap key {key!r} is not a valid name.")
        if not isinstance(path, str) or not path.startswith("$"):
            raise EventsValidation(f"InputPathsMap value for {key!r} must be a JSONPath "
                                   "starting with '$'.")


def retry_policy(target: dict[str, Any]) -> tuple[int, int]:
    """(MaximumRetryAttempts 0..185, MaximumEventAgeInSeconds 60..86400)."""
    policy = target.get("RetryPolicy") or {}
    if not isinstance(policy, dict):
        raise EventsValidation("RetryPolicy must be an object.")
    attempts = policy.get("MaximumRetryAttempts", DEFAULT_RETRY[0])
    age = policy.get("MaximumEventAgeInSeconds", DEFAULT_RETRY[1])
    if not isinstance(attempts, int) or not 0 <= attempts <= 185:
        raise EventsValidation("RetryPolicy.MaximumRetryAttempts must be 0 to 185.")
    if not isinstance(age, int) or not 60 <= age <= 86400:
        raise EventsValidation("RetryPolicy.MaximumEventAgeInSeconds must be 60 to 86400.")
    return attempts, age
