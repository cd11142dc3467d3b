"""Trail management through the unchanged boto3 `cloudtrail` client and the aws CLI.

One real server serves the module; each test gets a fresh account (trails are per
account), so tests stay independent without paying for a server start each.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server, free_port, moto_server, wait_until
from opentrail.auth import KeyStore, Role

pytestmark = pytest.mark.e2e

_ACCOUNTS = itertools.count(100000000001)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("trails-api") / "data", free_port())
    server.start()
    yield server
    server.kill(signal.SIGTERM)


@dataclass
class Tenant:
    """One account on the shared server, with real keys made in its key store."""

    server: Server
    account: str = field(default_factory=lambda: str(next(_ACCOUNTS)))
    keys: dict[tuple[str, bool], tuple[str, str]] = field(default_factory=dict)

    def key(self, role: str = "admin", organization: bool = False) -> tuple[str, str]:
        if (role, organization) not in self.keys:
            with KeyStore(self.server.data_dir) as store:
                principal, secret = store.create(
                    account=None if organization else self.account,
                    organization=organization, role=Role(role))
            self.keys[(role, organization)] = (principal.access_key_id, secret)
        return self.keys[(role, organization)]

    def client(self, role: str = "admin", region: str = "us-east-1",
               organization: bool = False) -> Any:
        import boto3

        key_id, secret = self.key(role, organization)
        return boto3.client("cloudtrail", endpoint_url=self.server.endpoint,
                            region_name=region, aws_access_key_id=key_id,
                            aws_secret_access_key=secret)

    @property
    def bucket(self) -> str:
        """This tenant's own bucket: a bucket belongs to the first account whose trail
        names it, and the tenants of this module share one server's bucket folders."""
        return f"bucket-{self.account}"

    def arn(self, name: str, region: str = "us-east-1") -> str:
        return f"arn:aws:cloudtrail:{region}:{self.account}:trail/{name}"


@pytest.fixture
def tenant(shared_server: Server) -> Tenant:
    return Tenant(shared_server)


def _fails(code: str, call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["Error"]["Code"] == code, info.value.response["Error"]
    return str(info.value.response["Error"]["Message"])


def test_trail_lifecycle(tenant: Tenant) -> None:
    ct = tenant.client()
    created = ct.create_trail(Name="main", S3BucketName=tenant.bucket, S3KeyPrefix="logs",
                              IsMultiRegionTrail=True, EnableLogFileValidation=True,
                              TagsList=[{"Key": "team", "Value": "sec"}])
    arn = tenant.arn("main")
    assert created["TrailARN"] == arn
    assert created["LogFileValidationEnabled"] is True
    assert "HomeRegion" not in created and "KmsKeyId" not in created
    trail = ct.get_trail(Name="main")["Trail"]
    assert trail["HomeRegion"] == "us-east-1"
    assert trail["S3KeyPrefix"] == "logs"
    assert trail["HasCustomEventSelectors"] is False
    assert ct.get_trail(Name=arn)["Trail"]["Name"] == "main"

    updated = ct.update_trail(Name="main", S3KeyPrefix="", IsMultiRegionTrail=False)
    assert "S3KeyPrefix" not in updated and updated["IsMultiRegionTrail"] is False
    assert [t["Name"] for t in ct.list_trails()["Trails"]] == ["main"]
    assert ct.describe_trails(trailNameList=["main"])["trailList"][0]["TrailARN"] == arn

    ct.delete_trail(Name="main")
    message = _fails("TrailNotFoundException", ct.get_trail, Name="main")
    # Changed with issue 10: GetTrail, as CloudTrail, names the trail as the caller gave it
    # (other operations use the ARN; tests/trails/test_trails_cloudtrail_exact.py).
    assert message == f"Unknown trail: main for the user: {tenant.account}"
    assert ct.describe_trails()["trailList"] == []


def test_logging_and_status(tenant: Tenant) -> None:
    ct = tenant.client()
    ct.create_trail(Name="tr1", S3BucketName=tenant.bucket)
    status = ct.get_trail_status(Name="tr1")
    assert status["IsLogging"] is False
    assert "StartLoggingTime" not in status
    ct.start_logging(Name="tr1")
    status = ct.get_trail_status(Name="tr1")
    assert status["IsLogging"] is True
    started = status["StartLoggingTime"]
    assert status["TimeLoggingStarted"] == started.strftime("%Y-%m-%dT%H:%M:%SZ")
    ct.stop_logging(Name="tr1")
    status = ct.get_trail_status(Name="tr1")
    assert status["IsLogging"] is False
    assert status["StopLoggingTime"] >= started
    reader = tenant.client(role="reader")
    assert reader.get_trail_status(Name="tr1")["IsLogging"] is False
    assert _fails("AccessDeniedException", reader.start_logging, Name="tr1")


def test_validation_errors(tenant: Tenant) -> None:
    ct = tenant.client()
    _fails("InvalidTrailNameException", ct.create_trail, Name="my--trail", S3BucketName="b-1")
    _fails("InvalidTrailNameException", ct.create_trail, Name="10.0.0.1", S3BucketName="b-1")
    _fails("InvalidS3BucketNameException", ct.create_trail, Name="tr1", S3BucketName="Bad_B")
    _fails("InvalidS3PrefixException", ct.create_trail, Name="tr1", S3BucketName=tenant.bucket,
           S3KeyPrefix="p" * 201)
    _fails("InvalidParameterCombinationException", ct.create_trail, Name="tr1",
           S3BucketName=tenant.bucket, IsMultiRegionTrail=True, IncludeGlobalServiceEvents=False)
    _fails("TagsLimitExceededException", ct.create_trail, Name="tr1", S3BucketName=tenant.bucket,
           TagsList=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    _fails("UnsupportedOperationException", ct.create_trail, Name="tr1",
           S3BucketName=tenant.bucket, KmsKeyId="alias/trail")
    _fails("NotOrganizationMasterAccountException", ct.create_trail, Name="tr1",
           S3BucketName=tenant.bucket, IsOrganizationTrail=True)
    _fails("CloudTrailARNInvalidException", ct.get_trail, Name="arn:aws:cloudtrail:x")
    _fails("InvalidTrailNameException", ct.get_trail, Name="-bad")
    ct.create_trail(Name="tr1", S3BucketName=tenant.bucket)
    _fails("TrailAlreadyExistsException", ct.create_trail, Name="tr1", S3BucketName=tenant.bucket)
    assert ct.describe_trails(trailNameList=["nope"])["trailList"] == []


def test_five_trails_per_region_and_multi_region_counts_everywhere(tenant: Tenant) -> None:
    east = tenant.client()
    west = tenant.client(region="us-west-2")
    for i in range(4):
        west.create_trail(Name=f"west{i}", S3BucketName=tenant.bucket)
    east.create_trail(Name="global", S3BucketName=tenant.bucket, IsMultiRegionTrail=True)
    message = _fails("MaximumNumberOfTrailsExceededException", west.create_trail,
                     Name="west4", S3BucketName=tenant.bucket)
    assert "us-west-2" in message
    for i in range(4):
        east.create_trail(Name=f"east{i}", S3BucketName=tenant.bucket)
    _fails("MaximumNumberOfTrailsExceededException", east.create_trail, Name="east4",
           S3BucketName=tenant.bucket)


def test_home_region_and_shadow_trails(tenant: Tenant) -> None:
    east = tenant.client()
    west = tenant.client(region="us-west-2")
    east.create_trail(Name="org-wide", S3BucketName=tenant.bucket, IsMultiRegionTrail=True)
    west.create_trail(Name="local", S3BucketName=tenant.bucket)
    arn = tenant.arn("org-wide")
    names = sorted(t["Name"] for t in west.describe_trails()["trailList"])
    assert names == ["local", "org-wide"]
    shadowless = west.describe_trails(includeShadowTrails=False)["trailList"]
    assert [t["Name"] for t in shadowless] == ["local"]
    assert [t["Name"] for t in east.describe_trails()["trailList"]] == ["org-wide"]
    assert west.describe_trails(trailNameList=[arn])["trailList"][0]["HomeRegion"] == "us-east-1"
    for call in (west.start_logging, west.stop_logging, west.delete_trail):
        _fails("InvalidHomeRegionException", call, Name=arn)
    _fails("InvalidHomeRegionException", west.update_trail, Name=arn, S3KeyPrefix="x")
    _fails("InvalidHomeRegionException", west.put_event_selectors, TrailName=arn,
           EventSelectors=[{"ReadWriteType": "All"}])
    assert west.get_trail_status(Name=arn)["IsLogging"] is False
    east.start_logging(Name=arn)
    assert west.get_trail_status(Name=arn)["IsLogging"] is True


def test_accounts_are_isolated(tenant: Tenant) -> None:
    mine = tenant.client()
    other = Tenant(tenant.server)
    theirs = other.client()
    mine.create_trail(Name="private", S3BucketName=tenant.bucket)
    arn = tenant.arn("private")
    assert theirs.describe_trails()["trailList"] == []
    assert theirs.list_trails()["Trails"] == []
    _fails("TrailNotFoundException", theirs.get_trail, Name=arn)
    _fails("TrailNotFoundException", theirs.delete_trail, Name="private")
    _fails("ResourceNotFoundException", theirs.list_tags, ResourceIdList=[arn])
    theirs.create_trail(Name="private", S3BucketName=other.bucket)  # same name, other account
    assert len(mine.list_trails()["Trails"]) == 1
    org = tenant.client(organization=True)
    assert org.get_trail(Name=arn)["Trail"]["TrailARN"] == arn
    # An organization key's own trails belong to --organization-account.
    created = org.create_trail(Name="org-trail", S3BucketName="org-trail-bucket",
                               IsMultiRegionTrail=True, IsOrganizationTrail=True)
    assert created["TrailARN"] == "arn:aws:cloudtrail:us-east-1:000000000000:trail/org-trail"
    assert created["IsOrganizationTrail"] is True
    assert mine.describe_trails(trailNameList=["org-trail"])["trailList"] == []


def test_event_selectors(tenant: Tenant) -> None:
    ct = tenant.client()
    ct.create_trail(Name="sel", S3BucketName=tenant.bucket)
    default = ct.get_event_selectors(TrailName="sel")["EventSelectors"]
    assert default == [{"ReadWriteType": "All", "IncludeManagementEvents": True,
                        "DataResources": [], "ExcludeManagementEventSources": []}]
    basic = [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
              "DataResources": [{"Type": "AWS::S3::Object",
                                 "Values": ["arn:aws:s3:::bucket/"]}]}]
    answer = ct.put_event_selectors(TrailName="sel", EventSelectors=basic)
    assert answer["EventSelectors"][0]["DataResources"][0]["Values"] == ["arn:aws:s3:::bucket/"]
    assert ct.get_trail(Name="sel")["Trail"]["HasCustomEventSelectors"] is True
    advanced = [{"Name": "mgmt", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Management"]},
        {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]}]}]
    ct.put_event_selectors(TrailName="sel", AdvancedEventSelectors=advanced)
    got = ct.get_event_selectors(TrailName="sel")
    assert got["AdvancedEventSelectors"] == advanced and "EventSelectors" not in got
    _fails("InvalidEventSelectorsException", ct.put_event_selectors, TrailName="sel",
           EventSelectors=basic, AdvancedEventSelectors=advanced)
    _fails("InvalidEventSelectorsException", ct.put_event_selectors, TrailName="sel",
           EventSelectors=[{"ReadWriteType": "All"}] * 6)
    _fails("InvalidEventSelectorsException", ct.put_event_selectors, TrailName="sel",
           AdvancedEventSelectors=[{"FieldSelectors": [
               {"Field": "readOnly", "StartsWith": ["t"]},
               {"Field": "eventCategory", "Equals": ["Management"]}]}])
    _fails("TrailNotFoundException", ct.get_event_selectors, TrailName="none")


def test_insight_selectors(tenant: Tenant) -> None:
    ct = tenant.client()
    ct.create_trail(Name="ins", S3BucketName=tenant.bucket)
    message = _fails("InsightNotEnabledException", ct.get_insight_selectors, TrailName="ins")
    assert message.startswith("Trail ins does not have Insights enabled.")
    selectors = [{"InsightType": "ApiCallRateInsight"}, {"InsightType": "ApiErrorRateInsight"}]
    assert ct.put_insight_selectors(TrailName="ins",
                                    InsightSelectors=selectors)["InsightSelectors"] == selectors
    assert ct.get_insight_selectors(TrailName="ins")["InsightSelectors"] == selectors
    assert ct.get_trail(Name="ins")["Trail"]["HasInsightSelectors"] is True
    _fails("InvalidInsightSelectorsException", ct.put_insight_selectors, TrailName="ins",
           InsightSelectors=[{"InsightType": "Nope"}])
    ct.put_insight_selectors(TrailName="ins", InsightSelectors=[])
    _fails("InsightNotEnabledException", ct.get_insight_selectors, TrailName="ins")


def test_tags(tenant: Tenant) -> None:
    ct = tenant.client()
    arn = ct.create_trail(Name="tagged", S3BucketName=tenant.bucket,
                          TagsList=[{"Key": "a", "Value": "1"}])["TrailARN"]
    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}])
    tags = ct.list_tags(ResourceIdList=[arn])["ResourceTagList"]
    assert tags == [{"ResourceId": arn, "TagsList": [{"Key": "a", "Value": "2"},
                                                     {"Key": "b", "Value": "3"}]}]
    ct.remove_tags(ResourceId=arn, TagsList=[{"Key": "a"}])
    assert ct.list_tags(ResourceIdList=[arn])["ResourceTagList"][0]["TagsList"] == [
        {"Key": "b", "Value": "3"}]
    _fails("TagsLimitExceededException", ct.add_tags, ResourceId=arn,
           TagsList=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    _fails("InvalidTagParameterException", ct.add_tags, ResourceId=arn,
           TagsList=[{"Key": "aws:reserved", "Value": "v"}])
    _fails("CloudTrailARNInvalidException", ct.add_tags, ResourceId="tagged",
           TagsList=[{"Key": "k", "Value": "v"}])
    _fails("ResourceNotFoundException", ct.list_tags,
           ResourceIdList=[arn.replace("tagged", "missing")])


def test_trail_calls_are_audited(tenant: Tenant) -> None:
    ct = tenant.client()
    ct.create_trail(Name="audited", S3BucketName=tenant.bucket)

    def found() -> list[Any]:
        return list(ct.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "CreateTrail"}])["Events"])

    wait_until(found, timeout=30)
    record = json.loads(found()[0]["CloudTrailEvent"])
    assert record["requestParameters"]["name"] == "audited"
    assert record["eventSource"] == "cloudtrail.amazonaws.com"
    assert record["recipientAccountId"] == tenant.account


def test_aws_cli_create_trail(tenant: Tenant) -> None:
    key_id, secret = tenant.key()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)

    def aws(*args: str) -> dict[str, Any]:
        proc = subprocess.run(
            [sys.executable, "-m", "awscli", "cloudtrail", *args,
             "--endpoint-url", tenant.server.endpoint, "--output", "json"],
            capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        result: dict[str, Any] = json.loads(proc.stdout or "{}")
        return result

    created = aws("create-trail", "--name", "cli-trail", "--s3-bucket-name", "cli-bucket",
                  "--is-multi-region-trail", "--enable-log-file-validation")
    assert created["TrailARN"] == tenant.arn("cli-trail")
    aws("start-logging", "--name", "cli-trail")
    assert aws("get-trail-status", "--name", "cli-trail")["IsLogging"] is True
    # Without shadows: this module's server also holds an organization trail, which every
    # member account sees as a shadow trail.
    [trail] = aws("describe-trails", "--no-include-shadow-trails")["trailList"]
    assert trail["IsMultiRegionTrail"] is True and trail["LogFileValidationEnabled"] is True


@pytest.fixture
def moto_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's standalone S3 server on loopback; OpenTrail reaches it with env credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto_server(tmp_path / "moto.log") as url:
        yield url


def test_bucket_must_exist_in_s3(tmp_path: Path, moto_s3: str) -> None:
    import boto3

    server = Server(tmp_path / "s3-data", free_port(),
                    extra_args=("--trail-storage", "s3", "--s3-endpoint-url", moto_s3))
    server.start()
    try:
        ct: Any = server.client()
        message = _fails("S3BucketDoesNotExistException", ct.create_trail, Name="s3-trail",
                         S3BucketName="not-there")
        assert "not-there" in message
        boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1").create_bucket(
            Bucket="is-there")
        ct.create_trail(Name="s3-trail", S3BucketName="is-there")
        _fails("S3BucketDoesNotExistException", ct.update_trail, Name="s3-trail",
               S3BucketName="still-not-there")
        assert ct.get_trail(Name="s3-trail")["Trail"]["S3BucketName"] == "is-there"
    finally:
        server.kill()
