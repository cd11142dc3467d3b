"""The seeded demo generator: determinism, shape of the records, and the activity mix."""

from __future__ import annotations

import calendar
import collections
import hashlib
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

import opentrail
from opentrail.sources import DemoAccount, DemoBurst, burst_plan, demo_batches, generate

START = 1_717_200_000  # 2024-06-01T00:00:00Z
WEEK = 7 * 86_400
ACCOUNT = "123456789012"
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
EVENT_TYPES = {"AwsApiCall", "AwsServiceEvent", "AwsConsoleSignIn"}

Record = dict[str, Any]


def epoch(event_time: str) -> int:
    return calendar.timegm(time.strptime(event_time, "%Y-%m-%dT%H:%M:%SZ"))


def share(records: list[Record], pred: Any) -> float:
    return sum(1 for r in records if pred(r)) / len(records)


@pytest.fixture(scope="module")
def background() -> list[Record]:
    return list(generate(seed=11, count=20_000, start=START, end=START + WEEK, burst=False))


@pytest.fixture(scope="module")
def with_burst() -> list[Record]:
    return list(generate(seed=12, count=20_000, start=START, end=START + WEEK))


# --- determinism -----------------------------------------------------------------------


def test_same_seed_gives_identical_records() -> None:
    args: dict[str, Any] = {"count": 3000, "start": START, "end": START + WEEK,
                            "regions": ("us-east-1", "eu-west-1")}
    first = orjson.dumps(list(generate(seed=5, **args)))
    assert first == orjson.dumps(list(generate(seed=5, **args)))


def test_same_seed_gives_identical_records_in_another_process() -> None:
    # Nothing may depend on str hashing (randomised per process) or other process state.
    code = ("import hashlib, orjson; from opentrail.sources import generate; "
            f"print(hashlib.sha256(orjson.dumps(list(generate(seed=5, count=500, start={START},"
            f" end={START + WEEK}, regions=('us-east-1', 'eu-west-1'))))).hexdigest())")
    package_root = str(Path(opentrail.__file__).resolve().parents[1])
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": package_root}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True, timeout=120)
        digests.add(out.stdout.strip())
    here = list(generate(seed=5, count=500, start=START, end=START + WEEK,
                         regions=("us-east-1", "eu-west-1")))
    assert digests == {hashlib.sha256(orjson.dumps(here)).hexdigest()}


def test_different_seeds_give_different_records() -> None:
    a = list(generate(seed=1, count=2000, start=START, end=START + WEEK))
    b = list(generate(seed=2, count=2000, start=START, end=START + WEEK))
    assert not {r["eventID"] for r in a} & {r["eventID"] for r in b}
    assert [r["eventName"] for r in a] != [r["eventName"] for r in b]


def test_burst_plan_is_deterministic_and_matches_the_output() -> None:
    plan = burst_plan(seed=3, count=5000, start=START, end=START + WEEK)
    assert isinstance(plan, DemoBurst)
    assert plan == burst_plan(seed=3, count=5000, start=START, end=START + WEEK)
    assert plan != burst_plan(seed=4, count=5000, start=START, end=START + WEEK)


# --- count and time range ----------------------------------------------------------------


@pytest.mark.parametrize(("count", "start", "end"), [
    (0, START, START + WEEK),
    (1, START, START + WEEK),
    (7, START, START + 60),
    (500, START, START),  # a zero-length range: everything at one second
    (2500, START + 0.25, START + 3 * 3600 + 0.75),  # fractional bounds, partial hours
    (5000, START, START + 90 * 86_400),
])
@pytest.mark.parametrize("burst", [True, False])
def test_count_and_time_range_are_respected(count: int, start: float, end: float,
                                            burst: bool) -> None:
    records = list(generate(seed=9, count=count, start=start, end=end, burst=burst))
    assert len(records) == count
    times = [epoch(r["eventTime"]) for r in records]
    assert all(int(start) <= t <= int(end) for t in times)


def test_ordered_records_come_out_sorted(with_burst: list[Record]) -> None:
    times = [r["eventTime"] for r in with_burst]
    assert times == sorted(times)


def test_unordered_records_drift_a_little_but_stay_in_range() -> None:
    records = list(generate(seed=4, count=5000, start=START, end=START + WEEK, ordered=False))
    times = [epoch(r["eventTime"]) for r in records]
    assert times != sorted(times)
    assert all(START <= t <= START + WEEK for t in times)
    assert max(abs(a - b) for a, b in zip(times, sorted(times), strict=True)) <= 600


def test_times_spread_over_the_whole_range(background: list[Record]) -> None:
    days = collections.Counter((epoch(r["eventTime"]) - START) // 86_400 for r in background)
    assert sorted(days) == list(range(7))
    assert min(days.values()) > len(background) / 7 / 3  # quieter weekends, never empty


def test_diurnal_pattern_can_be_switched_off() -> None:
    def hourly_spread(diurnal: bool) -> float:
        records = generate(seed=6, count=8000, start=START, end=START + 86_400,
                           burst=False, diurnal=diurnal)
        hours = collections.Counter(epoch(r["eventTime"]) // 3600 for r in records)
        return max(hours.values()) / min(hours.values())

    assert hourly_spread(True) > 3.0
    assert hourly_spread(False) < 1.5


# --- record shape -------------------------------------------------------------------------


def check_record(r: Record, regions: Iterable[str]) -> None:
    assert TIME_RE.match(r["eventTime"])
    assert r["eventVersion"] in {"1.08", "1.09", "1.10", "1.11"}
    assert isinstance(r["eventSource"], str)
    assert r["eventSource"].endswith(".amazonaws.com")
    assert isinstance(r["eventName"], str)
    assert r["eventName"]
    assert UUID4_RE.match(r["eventID"])
    assert r["awsRegion"] in regions
    assert isinstance(r["userIdentity"], dict)
    assert isinstance(r["readOnly"], bool)
    assert r["eventType"] in EVENT_TYPES
    assert isinstance(r["sourceIPAddress"], str)
    assert isinstance(r["userAgent"], str)
    assert r["recipientAccountId"] == ACCOUNT
    assert "requestParameters" in r
    assert "responseElements" in r
    assert isinstance(r["managementEvent"], bool)
    assert r["eventCategory"] == ("Management" if r["managementEvent"] else "Data")
    if "errorCode" in r:  # SSM leaves the message out for a missing parameter
        assert "errorMessage" in r or r["errorCode"] == "ParameterNotFound"
    for resource in r.get("resources", ()):
        assert resource["ARN"].startswith("arn:aws:")
        assert set(resource) <= {"ARN", "accountId", "type"}
    if "requestID" in r:
        assert isinstance(r["requestID"], str)
        assert r["requestID"]


def test_records_have_the_required_fields(background: list[Record]) -> None:
    for r in background:
        check_record(r, {"us-east-1"})


def test_event_ids_are_unique_uuids(with_burst: list[Record]) -> None:
    ids = [r["eventID"] for r in with_burst]
    assert len(set(ids)) == len(ids)


def test_records_are_serialisable_and_realistically_sized(background: list[Record]) -> None:
    sizes = [len(orjson.dumps(r)) for r in background]
    assert max(sizes) < 256 * 1024
    assert 800 <= statistics.median(sizes) <= 1600
    assert b"${" not in orjson.dumps(background)  # every template placeholder was filled


def test_regions_are_used_and_global_services_stay_in_us_east_1() -> None:
    regions = ("us-east-1", "eu-west-1", "ap-southeast-2")
    records = list(generate(seed=8, count=6000, start=START, end=START + WEEK, regions=regions))
    for r in records:
        check_record(r, regions)
    assert {r["awsRegion"] for r in records} == set(regions)
    assert {r["awsRegion"] for r in records
            if r["eventSource"] in ("iam.amazonaws.com", "signin.amazonaws.com")} == {"us-east-1"}


def test_without_us_east_1_global_services_use_the_first_region() -> None:
    records = list(generate(seed=8, count=3000, start=START, end=START + WEEK,
                            regions=("eu-central-1", "eu-west-1")))
    iam = {r["awsRegion"] for r in records if r["eventSource"] == "iam.amazonaws.com"}
    assert iam == {"eu-central-1"}


def test_records_do_not_share_their_top_level_dict() -> None:
    first, second = generate(seed=1, count=2, start=START, end=START)
    first["annotation"] = "changed"
    assert "annotation" not in second


# --- realism --------------------------------------------------------------------------------


def test_read_write_error_and_data_mix(background: list[Record]) -> None:
    assert 0.72 <= share(background, lambda r: r["readOnly"]) <= 0.90
    assert 0.04 <= share(background, lambda r: "errorCode" in r) <= 0.10
    assert 0.01 <= share(background, lambda r: r["eventCategory"] == "Data") <= 0.08


def test_read_only_is_consistent_per_api(background: list[Record]) -> None:
    flags = collections.defaultdict(set)
    for r in background:
        flags[(r["eventSource"], r["eventName"])].add(r["readOnly"])
    assert all(len(v) == 1 for v in flags.values())
    for (_, name), (flag,) in flags.items():
        if name.startswith(("Describe", "List", "Get")) and name != "GetObject":
            assert flag is True, name
        if name.startswith(("Put", "Create", "Update", "Delete", "Run", "Stop", "Start")):
            assert flag is False, name
    assert flags[("s3.amazonaws.com", "GetObject")] == {True}
    assert flags[("lambda.amazonaws.com", "Invoke")] == {False}


def test_many_services_and_principal_kinds(background: list[Record]) -> None:
    sources = {r["eventSource"].split(".")[0] for r in background}
    assert {"s3", "ec2", "iam", "sts", "kms", "lambda", "dynamodb", "cloudtrail", "rds", "ssm",
            "secretsmanager", "logs", "monitoring", "signin"} <= sources
    kinds = collections.Counter(r["userIdentity"].get("type") for r in background)
    assert {"IAMUser", "AssumedRole", "Root", "AWSService", None} <= set(kinds)
    users = {r["userIdentity"].get("userName") for r in background}
    assert {"alice", "bob", "carol", "deploy-bot"} <= users
    assert kinds["Root"] < len(background) * 0.01


def test_assumed_roles_carry_session_contexts(background: list[Record]) -> None:
    roles = [r for r in background if r["userIdentity"].get("type") == "AssumedRole"]
    assert roles
    for r in roles:
        ident = r["userIdentity"]
        context = ident["sessionContext"]
        assert context["sessionIssuer"]["type"] == "Role"
        assert ident["principalId"].startswith(context["sessionIssuer"]["principalId"] + ":")
        assert ident["accessKeyId"].startswith("ASIA")
        attributes = context["attributes"]
        assert attributes["mfaAuthenticated"] in ("true", "false")
        assert TIME_RE.match(attributes["creationDate"])
        assert epoch(attributes["creationDate"]) <= epoch(r["eventTime"])


def test_service_events_have_the_minimal_identity(background: list[Record]) -> None:
    events = [r for r in background if r["eventType"] == "AwsServiceEvent"]
    assert events
    for r in events:
        assert set(r["userIdentity"]) == {"accountId", "invokedBy"}
        assert "tlsDetails" not in r


def test_console_sign_ins(background: list[Record]) -> None:
    logins = [r for r in background if r["eventName"] == "ConsoleLogin"]
    assert logins
    for r in logins:
        assert r["eventSource"] == "signin.amazonaws.com"
        assert r["eventType"] == "AwsConsoleSignIn"
        assert set(r["additionalEventData"]) >= {"MFAUsed", "LoginTo", "MobileVersion"}
        outcome = r["responseElements"]["ConsoleLogin"]
        assert outcome == ("Failure" if "errorMessage" in r else "Success")


def test_data_events_name_their_resources(background: list[Record]) -> None:
    data = [r for r in background if r["eventCategory"] == "Data"]
    assert {r["eventName"] for r in data} == {"GetObject", "PutObject", "Invoke"}
    for r in data:
        assert r["managementEvent"] is False
        types = {res.get("type") for res in r["resources"]}
        assert types & {"AWS::S3::Object", "AWS::Lambda::Function"}


def test_errors_look_like_aws_errors(background: list[Record]) -> None:
    codes = collections.Counter(r["errorCode"] for r in background if "errorCode" in r)
    assert {"AccessDenied", "Client.UnauthorizedOperation", "NoSuchBucketPolicy"} <= set(codes)
    assert any(c.startswith("Throttl") or c == "ThrottlingException" for c in codes)
    denied = next(r for r in background if r.get("errorCode") == "AccessDenied"
                  and r["eventSource"] == "iam.amazonaws.com")
    assert denied["userIdentity"]["arn"] in denied["errorMessage"]
    assert all(r["responseElements"] is None for r in background
               if "errorCode" in r and r["eventName"] != "ConsoleLogin")


def test_endpoints_look_real(background: list[Record]) -> None:
    agents = " ".join({r["userAgent"] for r in background})
    for marker in ("aws-cli/2.", "Boto3/1.", "Terraform/", "AWS Internal", "S3Console"):
        assert marker in agents
    addresses = {r["sourceIPAddress"] for r in background}
    assert "AWS Internal" in addresses
    assert any(a.endswith(".amazonaws.com") for a in addresses)
    assert sum(1 for a in addresses if a[0].isdigit()) >= 10
    calls = [r for r in background if r["userIdentity"].get("type") == "IAMUser"
             and r["eventType"] == "AwsApiCall"]
    assert all("tlsDetails" in r for r in calls)
    assert {r["apiVersion"] for r in background if "apiVersion" in r} >= {"20140328"}


# --- the burst -------------------------------------------------------------------------------


def test_burst_is_a_spike_of_failed_calls_by_one_principal(with_burst: list[Record]) -> None:
    plan = burst_plan(seed=12, count=20_000, start=START, end=START + WEEK)
    assert plan is not None
    spike = [r for r in with_burst if r["sourceIPAddress"] == plan.source_ip]
    assert len(spike) == plan.count
    assert {r["userIdentity"]["arn"] for r in spike} == {plan.principal_arn}
    assert all(int(plan.start) <= epoch(r["eventTime"]) <= plan.end for r in spike)
    assert plan.end - plan.start <= 10 * 60
    assert share(spike, lambda r: "errorCode" in r) >= 0.9
    assert {r["eventSource"] for r in spike} >= {"iam.amazonaws.com", "s3.amazonaws.com"}
    # Per minute, the spike's errors dwarf the background's.
    minutes = collections.Counter(epoch(r["eventTime"]) // 60 for r in with_burst
                                  if "errorCode" in r)
    busiest = max(minutes.values())
    typical = statistics.median(minutes.values())
    assert busiest > 10 * typical


def test_no_burst_when_not_asked(background: list[Record]) -> None:
    plan = burst_plan(seed=11, count=20_000, start=START, end=START + WEEK)
    assert plan is not None
    assert not [r for r in background if r["sourceIPAddress"] == plan.source_ip]


def test_tiny_counts_have_no_burst() -> None:
    assert burst_plan(seed=1, count=3, start=START, end=START + WEEK) is None
    assert len(list(generate(seed=1, count=3, start=START, end=START + WEEK))) == 3


# --- API details -------------------------------------------------------------------------------


def test_batches_concatenate_to_the_stream() -> None:
    args: dict[str, Any] = {"seed": 3, "count": 2345, "start": START, "end": START + WEEK}
    batches = list(demo_batches(batch_size=1000, **args))
    assert [len(b) for b in batches] == [1000, 1000, 345]
    assert orjson.dumps([r for b in batches for r in b]) == orjson.dumps(list(generate(**args)))


@pytest.mark.parametrize("kwargs", [
    {"count": -1},
    {"start": START + 10, "end": START},
    {"end": float("inf")},
    {"start": float("nan")},
    {"account": "1234"},
    {"regions": ()},
    {"regions": "us-east-1"},
    {"regions": ("US East",)},
])
def test_bad_arguments_are_rejected_eagerly(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"seed": 1, "count": 10, "start": START, "end": START + 60, **kwargs}
    with pytest.raises(ValueError):
        generate(**args)


def test_demo_account_value() -> None:
    account = DemoAccount("210987654321")
    assert account.region == "us-east-1"
    records = list(generate(seed=1, count=50, start=START, end=START + 3600,
                            account=account.account_id, regions=(account.region,)))
    assert {r["recipientAccountId"] for r in records} == {"210987654321"}
