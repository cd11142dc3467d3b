"""Byte-exact CloudTrail behaviour of the trail API (issue 10, part 1), through boto3.

Scripts, SDK wrappers and CloudTrail test suites match error *messages* and response
*members*, not only codes. Each test pins one message or one member, against a real
`opentrail serve`. The expected texts are CloudTrail's, from AWS documentation,
errors CloudTrail returned that users published, and moto's CloudTrail messages;
where CloudTrail has no such error or its text is unknown, OpenTrail's own message is
kept and listed in docs/api.md ("Error messages").
"""

from __future__ import annotations

import gzip
import inspect
import itertools
import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import botocore
import pytest
from botocore.exceptions import ClientError

import opentrail.errors
from conftest import Server, free_port, moto_server
from opentrail.auth import KeyStore, Role

pytestmark = pytest.mark.e2e

_ACCOUNTS = itertools.count(300000000001)
BUCKET = "audit-bucket"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("trails-exact") / "data", free_port())
    server.start()
    yield server
    server.kill(signal.SIGTERM)


@dataclass
class Tenant:
    """One account on the shared server (trails are per account: tests stay independent)."""

    server: Server
    account: str = field(default_factory=lambda: str(next(_ACCOUNTS)))
    _key: tuple[str, str] | None = None

    def client(self, region: str = "us-east-1") -> Any:
        import boto3

        if self._key is None:
            with KeyStore(self.server.data_dir) as store:
                principal, secret = store.create(account=self.account, organization=False,
                                                 role=Role("admin"))
            self._key = (principal.access_key_id, secret)
        return boto3.client("cloudtrail", endpoint_url=self.server.endpoint,
                            region_name=region, aws_access_key_id=self._key[0],
                            aws_secret_access_key=self._key[1])

    def arn(self, name: str, region: str = "us-east-1") -> str:
        return f"arn:aws:cloudtrail:{region}:{self.account}:trail/{name}"


@pytest.fixture
def tenant(shared_server: Server, monkeypatch: pytest.MonkeyPatch) -> Tenant:
    tenant = Tenant(shared_server)
    # A bucket belongs to the first account whose trail names it (folder storage), and
    # the tenants of this module share one server: each uses its own bucket.
    monkeypatch.setitem(globals(), "BUCKET", f"{BUCKET}-{tenant.account}")
    return tenant


@pytest.fixture
def ct(tenant: Tenant) -> Any:
    return tenant.client()


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def _members(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


# -- trail names -------------------------------------------------------------------------------

NAME_MESSAGES = [
    ("a", "Trail name too short. Minimum allowed length: 3 characters. "
          "Specified name length: 1 characters."),
    ("ab", "Trail name too short. Minimum allowed length: 3 characters. "
           "Specified name length: 2 characters."),
    ("a" * 129, "Trail name too long. Maximum allowed length: 128 characters. "
                "Specified name length: 129 characters."),
    ("-trail", "Trail name must starts with a letter or number."),
    ("_trail", "Trail name must starts with a letter or number."),
    ("trail-", "Trail name must ends with a letter or number."),
    ("trail.", "Trail name must ends with a letter or number."),
    ("my trail", "Trail name or ARN can only contain uppercase letters, lowercase letters, "
                 "numbers, periods (.), hyphens (-), and underscores (_)."),
    ("my@trail", "Trail name or ARN can only contain uppercase letters, lowercase letters, "
                 "numbers, periods (.), hyphens (-), and underscores (_)."),
]


@pytest.mark.parametrize(("name", "message"), NAME_MESSAGES)
def test_create_trail_name_message(ct: Any, name: str, message: str) -> None:
    assert _error(ct.create_trail, Name=name, S3BucketName=BUCKET) == (
        "InvalidTrailNameException", message)


@pytest.mark.parametrize("operation", ["get_trail", "get_trail_status", "start_logging",
                                       "stop_logging", "delete_trail", "update_trail"])
def test_name_messages_on_every_operation(ct: Any, operation: str) -> None:
    assert _error(getattr(ct, operation), Name="ab") == ("InvalidTrailNameException",
                                                         NAME_MESSAGES[1][1])


@pytest.mark.parametrize(("name", "message"), [
    ("my--trail", "Trail name cannot have adjacent periods (.), hyphens (-), or underscores "
                  "(_), such as my-_trail or my--trail."),
    ("10.0.0.1", "Trail name cannot be formatted as an IP address."),
])
def test_name_rules_without_a_cloudtrail_message_keep_ours(ct: Any, name: str,
                                                           message: str) -> None:
    """CloudTrail documents these two rules but no message is public (docs/api.md)."""
    assert _error(ct.create_trail, Name=name, S3BucketName=BUCKET) == (
        "InvalidTrailNameException", message)


# -- TrailNotFoundException, per operation ------------------------------------------------------

def test_get_trail_names_a_missing_trail_as_given(tenant: Tenant, ct: Any) -> None:
    assert _error(ct.get_trail, Name="unknowntrail") == (
        "TrailNotFoundException", f"Unknown trail: unknowntrail for the user: {tenant.account}")


def test_get_trail_names_a_missing_arn_as_given(tenant: Tenant, ct: Any) -> None:
    arn = tenant.arn("unknowntrail", "eu-west-1")
    assert _error(ct.get_trail, Name=arn) == (
        "TrailNotFoundException", f"Unknown trail: {arn} for the user: {tenant.account}")


@pytest.mark.parametrize(("operation", "params"), [
    ("get_trail_status", {"Name": "unknowntrail"}),
    ("update_trail", {"Name": "unknowntrail"}),
    ("delete_trail", {"Name": "unknowntrail"}),
    ("start_logging", {"Name": "unknowntrail"}),
    ("stop_logging", {"Name": "unknowntrail"}),
    ("get_event_selectors", {"TrailName": "unknowntrail"}),
    ("put_event_selectors", {"TrailName": "unknowntrail",
                             "EventSelectors": [{"ReadWriteType": "All"}]}),
    ("get_insight_selectors", {"TrailName": "unknowntrail"}),
    ("put_insight_selectors", {"TrailName": "unknowntrail", "InsightSelectors": []}),
])
def test_other_operations_name_a_missing_trail_by_its_arn(tenant: Tenant, operation: str,
                                                          params: dict[str, Any]) -> None:
    """As CloudTrail: the ARN the name would have in the caller's region."""
    client = tenant.client("eu-west-3")
    arn = tenant.arn("unknowntrail", "eu-west-3")
    assert _error(getattr(client, operation), **params) == (
        "TrailNotFoundException", f"Unknown trail: {arn} for the user: {tenant.account}")


# -- CreateTrail / UpdateTrail errors -------------------------------------------------------------

def test_trail_already_exists_message(tenant: Tenant, ct: Any) -> None:
    ct.create_trail(Name="dup", S3BucketName=BUCKET)
    assert _error(ct.create_trail, Name="dup", S3BucketName=BUCKET) == (
        "TrailAlreadyExistsException",
        f"Trail dup already exists for customer: {tenant.account}")


def test_multi_region_trail_without_global_events_message(ct: Any) -> None:
    assert _error(ct.create_trail, Name="mrt", S3BucketName=BUCKET, IsMultiRegionTrail=True,
                  IncludeGlobalServiceEvents=False) == (
        "InvalidParameterCombinationException",
        "Multi-Region trail must include global service events.")


def test_multi_region_rule_on_update_trail(ct: Any) -> None:
    ct.create_trail(Name="mrt", S3BucketName=BUCKET, IsMultiRegionTrail=True)
    assert _error(ct.update_trail, Name="mrt", IncludeGlobalServiceEvents=False) == (
        "InvalidParameterCombinationException",
        "Multi-Region trail must include global service events.")


def test_maximum_number_of_trails_message(tenant: Tenant) -> None:
    client = tenant.client("ap-southeast-2")
    for i in range(5):
        client.create_trail(Name=f"t{i}x", S3BucketName=BUCKET)
    assert _error(client.create_trail, Name="t5x", S3BucketName=BUCKET) == (
        "MaximumNumberOfTrailsExceededException",
        f"User: {tenant.account} already has 5 trails in ap-southeast-2.")


def test_s3_bucket_does_not_exist_message(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto_server(tmp_path / "moto.log") as s3_url:
        server = Server(tmp_path / "data", free_port(),
                        extra_args=("--trail-storage", "s3", "--s3-endpoint-url", s3_url))
        server.start()
        try:
            client: Any = server.client()
            assert _error(client.create_trail, Name="s3-trail", S3BucketName="not-there") == (
                "S3BucketDoesNotExistException", "S3 bucket not-there does not exist!")
            boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1").create_bucket(
                Bucket="is-there")
            client.create_trail(Name="s3-trail", S3BucketName="is-there")
            assert _error(client.update_trail, Name="s3-trail", S3BucketName="gone-too") == (
                "S3BucketDoesNotExistException", "S3 bucket gone-too does not exist!")
        finally:
            server.kill()


# -- response members of each operation ---------------------------------------------------------

def test_create_trail_members(tenant: Tenant, ct: Any) -> None:
    assert _members(ct.create_trail(Name="plain", S3BucketName=BUCKET)) == {
        "Name": "plain", "S3BucketName": BUCKET, "IncludeGlobalServiceEvents": True,
        "IsMultiRegionTrail": False, "TrailARN": tenant.arn("plain"),
        "LogFileValidationEnabled": False, "IsOrganizationTrail": False}


def _full_trail(tenant: Tenant, name: str) -> dict[str, Any]:
    return {"Name": name, "S3BucketName": BUCKET, "IncludeGlobalServiceEvents": True,
            "IsMultiRegionTrail": False, "HomeRegion": "us-east-1",
            "TrailARN": tenant.arn(name), "LogFileValidationEnabled": False,
            "HasCustomEventSelectors": False, "HasInsightSelectors": False,
            "IsOrganizationTrail": False}


def test_get_trail_members(tenant: Tenant, ct: Any) -> None:
    ct.create_trail(Name="plain", S3BucketName=BUCKET)
    assert _members(ct.get_trail(Name="plain")) == {"Trail": _full_trail(tenant, "plain")}


def test_describe_trails_members(tenant: Tenant, ct: Any) -> None:
    ct.create_trail(Name="plain", S3BucketName=BUCKET)
    assert _members(ct.describe_trails()) == {"trailList": [_full_trail(tenant, "plain")]}
    assert _members(ct.describe_trails(trailNameList=["plain"])) == {
        "trailList": [_full_trail(tenant, "plain")]}


def test_list_trails_members(tenant: Tenant, ct: Any) -> None:
    ct.create_trail(Name="plain", S3BucketName=BUCKET)
    assert _members(ct.list_trails()) == {"Trails": [
        {"TrailARN": tenant.arn("plain"), "Name": "plain", "HomeRegion": "us-east-1"}]}


def test_update_trail_members_and_cleared_prefix(tenant: Tenant, ct: Any) -> None:
    ct.create_trail(Name="plain", S3BucketName=BUCKET, S3KeyPrefix="logs")
    assert _members(ct.update_trail(Name="plain", S3KeyPrefix="")) == {
        "Name": "plain", "S3BucketName": BUCKET, "IncludeGlobalServiceEvents": True,
        "IsMultiRegionTrail": False, "TrailARN": tenant.arn("plain"),
        "LogFileValidationEnabled": False, "IsOrganizationTrail": False}


@pytest.mark.parametrize("operation", ["start_logging", "stop_logging", "delete_trail"])
def test_empty_answers(ct: Any, operation: str) -> None:
    ct.create_trail(Name="plain", S3BucketName=BUCKET)
    assert _members(getattr(ct, operation)(Name="plain")) == {}


LEGACY_STRINGS = ("LatestDeliveryAttemptTime", "LatestNotificationAttemptTime",
                  "LatestNotificationAttemptSucceeded", "LatestDeliveryAttemptSucceeded",
                  "TimeLoggingStarted", "TimeLoggingStopped")


def test_status_of_a_trail_that_never_logged(ct: Any) -> None:
    ct.create_trail(Name="quiet", S3BucketName=BUCKET)
    assert _members(ct.get_trail_status(Name="quiet")) == {
        "IsLogging": False, **dict.fromkeys(LEGACY_STRINGS, "")}


@pytest.mark.parametrize("member", LEGACY_STRINGS)
def test_status_string_member_is_empty_before_any_delivery(ct: Any, member: str) -> None:
    ct.create_trail(Name="quiet", S3BucketName=BUCKET)
    assert ct.get_trail_status(Name="quiet")[member] == ""


def test_status_by_arn_is_the_same(tenant: Tenant, ct: Any) -> None:
    ct.create_trail(Name="quiet", S3BucketName=BUCKET)
    assert _members(ct.get_trail_status(Name=tenant.arn("quiet"))) == _members(
        ct.get_trail_status(Name="quiet"))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_status_after_start_and_stop(ct: Any) -> None:
    ct.create_trail(Name="quiet", S3BucketName=BUCKET)
    ct.start_logging(Name="quiet")
    started = ct.get_trail_status(Name="quiet")
    assert started["IsLogging"] is True
    assert started["TimeLoggingStarted"] == _iso(started["StartLoggingTime"])
    assert started["TimeLoggingStopped"] == ""
    assert "StopLoggingTime" not in started
    assert started["LatestNotificationAttemptTime"] == ""  # no SNS notification, ever
    ct.stop_logging(Name="quiet")
    stopped = ct.get_trail_status(Name="quiet")
    assert stopped["IsLogging"] is False
    assert stopped["TimeLoggingStopped"] == _iso(stopped["StopLoggingTime"])
    assert stopped["TimeLoggingStarted"] == started["TimeLoggingStarted"]


# -- event selectors ------------------------------------------------------------------------------

DEFAULT = {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
           "ExcludeManagementEventSources": []}


def test_new_trail_default_event_selector(tenant: Tenant, ct: Any) -> None:
    ct.create_trail(Name="sel", S3BucketName=BUCKET)
    assert _members(ct.get_event_selectors(TrailName="sel")) == {
        "TrailARN": tenant.arn("sel"), "EventSelectors": [DEFAULT]}


@pytest.mark.parametrize(("given", "member", "filled"), [
    ({"IncludeManagementEvents": False}, "ReadWriteType", "All"),
    ({"ReadWriteType": "ReadOnly"}, "IncludeManagementEvents", True),
    ({"ReadWriteType": "ReadOnly"}, "DataResources", []),
    ({"ReadWriteType": "ReadOnly"}, "ExcludeManagementEventSources", []),
])
def test_omitted_basic_selector_members_are_filled(ct: Any, given: dict[str, Any], member: str,
                                                   filled: Any) -> None:
    ct.create_trail(Name="sel", S3BucketName=BUCKET)
    put = ct.put_event_selectors(TrailName="sel", EventSelectors=[given])
    assert put["EventSelectors"][0][member] == filled
    assert ct.get_event_selectors(TrailName="sel")["EventSelectors"][0][member] == filled


def test_put_event_selectors_members(tenant: Tenant, ct: Any) -> None:
    ct.create_trail(Name="sel", S3BucketName=BUCKET)
    basic = [{"ReadWriteType": "WriteOnly", "DataResources": [
        {"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::bucket/"]}]}]
    expected = {"TrailARN": tenant.arn("sel"), "EventSelectors": [{
        **DEFAULT, "ReadWriteType": "WriteOnly",
        "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::bucket/"]}]}]}
    assert _members(ct.put_event_selectors(TrailName="sel", EventSelectors=basic)) == expected
    assert _members(ct.get_event_selectors(TrailName="sel")) == expected


@pytest.mark.parametrize("value", ["arn:aws:s3:::*", "arn:aws:s3:::*/*", "bucket/",
                                   "arn:aws:lambda:*"])
def test_invalid_data_resource_value_message(ct: Any, value: str) -> None:
    ct.create_trail(Name="sel", S3BucketName=BUCKET)
    kind = "AWS::Lambda::Function" if "lambda" in value else "AWS::S3::Object"
    assert _error(ct.put_event_selectors, TrailName="sel", EventSelectors=[
        {"DataResources": [{"Type": kind, "Values": [value]}]}]) == (
        "InvalidEventSelectorsException", f"Value {value} for DataResources.Values is invalid.")


def test_invalid_data_resource_type_message(ct: Any) -> None:
    ct.create_trail(Name="sel", S3BucketName=BUCKET)
    assert _error(ct.put_event_selectors, TrailName="sel", EventSelectors=[
        {"DataResources": [{"Type": "AWS::S3::Bucket", "Values": ["arn:aws:s3:::b/"]}]}]) == (
        "InvalidEventSelectorsException",
        "Value AWS::S3::Bucket for DataResources.Type is invalid. Valid values are: "
        "AWS::DynamoDB::Table, AWS::Lambda::Function, AWS::S3::Object")


# Every field CloudTrail documents for trails' advanced selectors, with a value it may take.
ADVANCED_FIELDS = {
    "eventSource": "s3.amazonaws.com", "eventName": "PutObject", "eventType": "AwsApiCall",
    "resources.ARN": "arn:aws:s3:::bucket/", "sessionCredentialFromConsole": "true",
    "userIdentity.arn": "arn:aws:iam::123456789012:role/Admin", "errorCode": "VpceAccessDenied",
    "vpcEndpointId": "vpce-0123456789abcdef0",
}
OPERATORS = ("Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith", "NotEndsWith")


@pytest.mark.parametrize("operator", OPERATORS)
@pytest.mark.parametrize("name", sorted(ADVANCED_FIELDS))
def test_advanced_selector_field_and_operator_round_trip(tenant: Tenant, ct: Any, name: str,
                                                         operator: str) -> None:
    ct.create_trail(Name="adv", S3BucketName=BUCKET)
    selectors = [{"Name": "one", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        *([{"Field": name, operator: [ADVANCED_FIELDS[name]]}]
          if name != "resources.type" else [])]}]
    expected = {"TrailARN": tenant.arn("adv"), "AdvancedEventSelectors": selectors}
    assert _members(ct.put_event_selectors(TrailName="adv",
                                           AdvancedEventSelectors=selectors)) == expected
    assert _members(ct.get_event_selectors(TrailName="adv")) == expected


@pytest.mark.parametrize("name", ["eventCategory", "readOnly", "resources.type"])
@pytest.mark.parametrize("operator", OPERATORS[1:])
def test_equals_only_fields_refuse_other_operators(ct: Any, name: str, operator: str) -> None:
    ct.create_trail(Name="adv", S3BucketName=BUCKET)
    code, _ = _error(ct.put_event_selectors, TrailName="adv", AdvancedEventSelectors=[
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": name, operator: ["x"]}]}])
    assert code == "InvalidEventSelectorsException"


@pytest.mark.parametrize("selectors", [
    [{"FieldSelectors": [{"Field": "eventSource", "Equals": ["s3.amazonaws.com"]}]}],
    [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}],
    [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["NetworkActivity"]}]}],
    [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Nope"]}]}],
    [{"FieldSelectors": [{"Field": "readOnly", "Equals": ["maybe"]},
                         {"Field": "eventCategory", "Equals": ["Management"]}]}],
    [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                         {"Field": "noSuchField", "Equals": ["x"]}]}],
    [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                         {"Field": "eventSource"}]}],
], ids=["no-category", "data-without-resources-type", "network-without-source",
        "bad-category", "bad-readonly", "unknown-field", "no-operator"])
def test_advanced_selector_validation_errors(ct: Any, selectors: list[Any]) -> None:
    ct.create_trail(Name="adv", S3BucketName=BUCKET)
    code, _ = _error(ct.put_event_selectors, TrailName="adv", AdvancedEventSelectors=selectors)
    assert code == "InvalidEventSelectorsException"


def test_advanced_selectors_answer_only_advanced(tenant: Tenant, ct: Any) -> None:
    ct.create_trail(Name="adv", S3BucketName=BUCKET)
    selectors = [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]
    ct.put_event_selectors(TrailName="adv", AdvancedEventSelectors=selectors)
    assert _members(ct.get_event_selectors(TrailName="adv")) == {
        "TrailARN": tenant.arn("adv"), "AdvancedEventSelectors": selectors}
    assert ct.get_trail(Name="adv")["Trail"]["HasCustomEventSelectors"] is True


# -- insight selectors ----------------------------------------------------------------------------

def test_insight_not_enabled_message(ct: Any) -> None:
    ct.create_trail(Name="ins", S3BucketName=BUCKET)
    assert _error(ct.get_insight_selectors, TrailName="ins") == (
        "InsightNotEnabledException",
        "Trail ins does not have Insights enabled. Edit the trail settings to enable "
        "Insights, and then try the operation again.")


def test_insight_selectors_members(tenant: Tenant, ct: Any) -> None:
    ct.create_trail(Name="ins", S3BucketName=BUCKET)
    selectors = [{"InsightType": "ApiCallRateInsight"}]
    expected = {"TrailARN": tenant.arn("ins"), "InsightSelectors": selectors}
    assert _members(ct.put_insight_selectors(TrailName="ins",
                                             InsightSelectors=selectors)) == expected
    assert _members(ct.get_insight_selectors(TrailName="ins")) == expected


# -- SnsTopicName (stored and reported; no SNS targets yet) --------------------------------------

def test_sns_topic_is_reported_as_cloudtrail_does(tenant: Tenant, ct: Any) -> None:
    topic_arn = f"arn:aws:sns:us-east-1:{tenant.account}:trail-news"
    created = ct.create_trail(Name="sns", S3BucketName=BUCKET, SnsTopicName="trail-news")
    assert (created["SnsTopicName"], created["SnsTopicARN"]) == ("trail-news", topic_arn)
    trail = ct.get_trail(Name="sns")["Trail"]
    assert (trail["SnsTopicName"], trail["SnsTopicARN"]) == ("trail-news", topic_arn)
    described = ct.describe_trails()["trailList"][0]
    assert (described["SnsTopicName"], described["SnsTopicARN"]) == ("trail-news", topic_arn)


def test_sns_topic_given_as_arn(ct: Any) -> None:
    topic_arn = "arn:aws:sns:eu-west-1:123456789012:shared-news"
    created = ct.create_trail(Name="sns", S3BucketName=BUCKET, SnsTopicName=topic_arn)
    assert created["SnsTopicARN"] == topic_arn


def test_sns_topic_is_removed_with_an_empty_name(ct: Any) -> None:
    ct.create_trail(Name="sns", S3BucketName=BUCKET, SnsTopicName="trail-news")
    updated = ct.update_trail(Name="sns", SnsTopicName="")
    assert "SnsTopicName" not in updated and "SnsTopicARN" not in updated
    assert "SnsTopicARN" not in ct.get_trail(Name="sns")["Trail"]


def test_sns_topic_sends_no_notification(ct: Any) -> None:
    ct.create_trail(Name="sns", S3BucketName=BUCKET, SnsTopicName="trail-news")
    ct.start_logging(Name="sns")
    status = ct.get_trail_status(Name="sns")
    assert status["LatestNotificationAttemptTime"] == ""
    assert "LatestNotificationTime" not in status and "LatestNotificationError" not in status


@pytest.mark.parametrize("topic", ["bad topic", "t" * 257, "arn:aws:sns:us-east-1:1:x"])
def test_invalid_sns_topic_name(ct: Any, topic: str) -> None:
    code, _ = _error(ct.create_trail, Name="sns", S3BucketName=BUCKET, SnsTopicName=topic)
    assert code == "InvalidSnsTopicNameException"


# -- error codes declared in errors.py exist in CloudTrail's models -------------------------------

# Codes that are not CloudTrail shapes but AWS-wide or OpenTrail's per-event vocabulary.
GENERIC_CODES = {
    "InternalFailure": "AWS common error for an unexpected server fault (HTTP 500)",
    "UnrecognizedClientException": "AWS common error for an unknown access key (HTTP 403)",
    "RequestEntityTooLargeException": "AWS-wide 413 for an oversized body; CloudTrail's "
                                      "model has no size exception",
    "InvalidData": "a PutAuditEvents per-event errorCode, a value in the response, not an "
                   "exception shape",
    "RequestTimeoutException": "the edge's 408 for a body that did not arrive in time "
                               "(--body-timeout); CloudTrail's model has no such shape",
    "ServiceUnavailable": "AWS common error (HTTP 503, with Retry-After): the database "
                          "cannot be reached now (backends)",
    "ValidationException": "AWS-wide input validation error; EventBridge answers it for "
                           "malformed parameters though its model declares no such shape",
}


def _model_exceptions() -> set[str]:
    data = Path(botocore.__file__).parent / "data"
    names: set[str] = set()
    # organizations: the one Organizations call OpenTrail serves (DescribeOrganization).
    for service in ("cloudtrail", "cloudtrail-data", "organizations",
                    "events"):  # events: rules/ (AWSEvents.*)
        for model in (data / service).glob("*/service-2.json*"):
            opener: Any = gzip.open if model.suffix == ".gz" else open
            with opener(model, "rt") as fh:
                shapes = json.load(fh)["shapes"]
            names |= {k for k, shape in shapes.items() if shape.get("exception")}
    return names


def _declared_codes() -> dict[str, str]:
    return {cls.__name__: str(cls.code)
            for cls in vars(opentrail.errors).values()
            if inspect.isclass(cls) and issubclass(cls, opentrail.errors.OpenTrailError)}


@pytest.mark.parametrize(("name", "code"), sorted(_declared_codes().items()))
def test_every_declared_code_is_cloudtrails(name: str, code: str) -> None:
    assert code in _model_exceptions() or code in GENERIC_CODES, (name, code)
