"""Seeded generator of realistic CloudTrail activity.

Used by the README quick start (demo data to look at), the ingest benchmarks (millions of
records, so the hot path only copies a prepared template and fills in the fields that
change) and the Insights benchmark (`burst_plan` says where the injected error spike is).

Shapes follow real trails (the invictus-aws sample in shared/datasets): IAM users, assumed
roles with session contexts, root, AWS services calling on someone's behalf, console
sign-ins, S3/Lambda data events, service events and a realistic share of errors.
The same arguments always give the same records, eventIDs included.

Nested values (userIdentity, requestParameters, resources, tlsDetails, ...) are shared
between records made from the same template, which is what keeps generation fast: treat
the records as read-only, or copy a nested value before changing it. Top-level dicts are
never shared.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import random
import re
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from string import Template
from typing import Any

__all__ = ["DemoAccount", "DemoBurst", "burst_plan", "demo_batches", "generate"]

DEFAULT_ACCOUNT = "123456789012"

# ---------------------------------------------------------------------------------------
# Public value types
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoAccount:
    """An account (and its home region) that demo activity is generated for."""

    account_id: str
    region: str = "us-east-1"


@dataclass(frozen=True)
class DemoBurst:
    """Ground truth for the injected burst: one principal's spike of failed calls."""

    start: float  # epoch seconds of the first burst event
    end: float  # epoch seconds of the last burst event
    count: int  # records of the burst (included in `count`)
    principal_arn: str
    source_ip: str
    user_agent: str


# ---------------------------------------------------------------------------------------
# Tuning constants
# ---------------------------------------------------------------------------------------

_PICK_BITS = 14  # 16384-slot combo table: the rarest combo still gets a slot
_REGION_SLOTS = 64  # per-combo region table; enough slots for ~27 regions
_PRIMARY_SHARE = 0.6  # share of regional calls that go to the first region
_VARIANTS = 8  # parameter/resource variants per (combo, region); power of two
_ERR_SCALE = 1024  # error rates are compared against 10 random bits
_JITTER_MAX = 300.0  # ordered=False: records drift up to 5 min (one delivery interval)
_BURST_MAX = 600
_READ_ERRORS, _WRITE_ERRORS = 0.055, 0.09  # default failure rates (AccessDenied, throttling)
_SESSION_SKEW = 900  # sessions start up to 15 min before their first logged call

_SECS = tuple(f"{s:02d}Z" for s in range(60))
_UUID_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
# Two UUIDs from 256 random bits: clear, then set, the version (4) and variant (10) bits
# of both 128-bit halves, so they are valid version-4 UUIDs without string surgery.
_UUID_BITS = [(0xF << 76, 4 << 76), (0x3 << 62, 2 << 62)]
_UUID_CLEAR = ((1 << 256) - 1) ^ sum((m | m << 128) for m, _ in _UUID_BITS)
_UUID_SET = sum((v | v << 128) for _, v in _UUID_BITS)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Mostly 1.09/1.11 like current trails; picked per API so one API keeps one version.
_VERSIONS = ("1.11",) * 10 + ("1.09",) * 7 + ("1.08",) * 2 + ("1.10",)
_TLS = (
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256", "x25519"),
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256", "x25519"),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "secp256r1"),
)
# Activity by UTC hour for a company on US Eastern time; weekends are quieter.
_HOURLY = (0.7, 0.6, 0.5, 0.45, 0.4, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
           1.1, 1.4, 1.7, 1.9, 2.0, 2.0, 1.9, 1.8, 1.6, 1.3, 1.0, 0.8)
_WEEKEND = 0.5

# ---------------------------------------------------------------------------------------
# User agents and source addresses
# ---------------------------------------------------------------------------------------

_UA = {
    "cli-mac": "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 "
    "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
    "md/prompt#off",
    "cli-linux": "aws-cli/2.17.13 md/awscrt#0.20.11 ua/2.0 os/linux#6.8.0-1012-aws "
    "md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard "
    "md/installer#exe md/distrib#ubuntu.24 md/prompt#off",
    "cli-v1": "aws-cli/1.29.62 Python/3.8.10 Linux/5.4.0-1103-aws botocore/1.31.62",
    "boto3": "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#6.5.0-1018-aws "
    "md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#legacy "
    "Botocore/1.34.84",
    "boto3-mac": "Boto3/1.34.131 md/Botocore#1.34.131 ua/2.0 os/macos#23.5.0 md/arch#arm64 "
    "lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.131",
    "lambda": "Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.214-223.807.amzn2.x86_64 "
    "md/arch#x86_64 lang/python#3.12.3 md/pyimpl#CPython exec-env#AWS_Lambda_python3.12 "
    "cfg/retry-mode#legacy Botocore/1.34.42",
    "terraform": "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) "
    "terraform-provider-aws/5.44.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64",
    "terraform-old": "APN/1.0 HashiCorp/1.0 Terraform/1.3.9 (+https://www.terraform.io) "
    "terraform-provider-aws/4.67.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go/1.44.261 (go1.19.8; linux; amd64)",
    "ssm-agent": "aws-sdk-go/1.50.27 (go1.21.8; linux; amd64) amazon-ssm-agent/3.3.131.0",
    "gha": "configure-aws-credentials-for-github-actions",
    "browser": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "firefox": "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "s3console": "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.650 "
    "Linux/5.10.210-178.855.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.402-b08 "
    "java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard]",
    "internal": "AWS Internal",
}
_BURST_UAS = (
    "Boto3/1.28.62 Python/3.11.6 Linux/6.5.0-kali3-amd64 Botocore/1.31.62",
    "aws-cli/1.29.62 Python/3.11.6 Linux/6.5.0-kali3-amd64 botocore/1.31.62",
)
# Documentation ranges (RFC 5737) stand in for the company's own addresses.
_OFFICE_IPS = ("203.0.113.10", "203.0.113.11", "203.0.113.37")
_VPN_IP = "198.51.100.23"
_PUBLIC_FIRST = (24, 31, 46, 62, 73, 76, 81, 89, 95, 109, 151, 176, 188, 212, 213)
_CI_FIRST = (4, 13, 20, 40, 52, 104)  # where hosted CI runners usually come from
_AWS_FIRST = (3, 18, 34, 35, 44, 52, 54)
_HOSTING_FIRST = (5, 45, 91, 185, 193, 194)

# ---------------------------------------------------------------------------------------
# Services and errors
# ---------------------------------------------------------------------------------------

_DENY = ("User: ${arn} is not authorized to perform: ${action} on resource: ${resource} "
         "because no identity-based policy allows the ${action} action")
_DENY_EC2 = ("You are not authorized to perform this operation. User: ${arn} is not "
             "authorized to perform: ${action} because no identity-based policy allows "
             "the ${action} action")
_DENY_KMS = ("User: ${arn} is not authorized to perform: ${action} on resource: ${resource} "
             "because no resource-based policy allows the ${action} action")
_RATE = "Rate exceeded"


@dataclass(frozen=True, slots=True)
class _Svc:
    source: str
    host: str  # clientProvidedHostHeader template
    prefix: str  # IAM action prefix, for AccessDenied messages
    denied: tuple[str, str]
    throttled: tuple[str, str]
    api_version: str | None = None
    is_global: bool = False  # IAM-style: always logged in us-east-1


_SERVICES = {
    "s3": _Svc("s3.amazonaws.com", "${bucket}.s3.${region}.amazonaws.com", "s3",
               ("AccessDenied", "Access Denied"),
               ("SlowDown", "Please reduce your request rate.")),
    "ec2": _Svc("ec2.amazonaws.com", "ec2.${region}.amazonaws.com", "ec2",
                ("Client.UnauthorizedOperation", _DENY_EC2),
                ("Client.RequestLimitExceeded", "Request limit exceeded.")),
    "iam": _Svc("iam.amazonaws.com", "iam.amazonaws.com", "iam", ("AccessDenied", _DENY),
                ("Throttling", _RATE), is_global=True),
    "sts": _Svc("sts.amazonaws.com", "sts.${region}.amazonaws.com", "sts",
                ("AccessDenied", _DENY), ("Throttling", _RATE)),
    "kms": _Svc("kms.amazonaws.com", "kms.${region}.amazonaws.com", "kms",
                ("AccessDenied", _DENY_KMS),
                ("ThrottlingException", "You have exceeded the rate at which you may call "
                 "KMS. Reduce the frequency of your calls.")),
    "lambda": _Svc("lambda.amazonaws.com", "lambda.${region}.amazonaws.com", "lambda",
                   ("AccessDenied", _DENY), ("TooManyRequestsException", "Rate exceeded.")),
    "dynamodb": _Svc("dynamodb.amazonaws.com", "dynamodb.${region}.amazonaws.com", "dynamodb",
                     ("AccessDenied", _DENY), ("ThrottlingException", _RATE), "2012-08-10"),
    "cloudtrail": _Svc("cloudtrail.amazonaws.com", "cloudtrail.${region}.amazonaws.com",
                       "cloudtrail", ("AccessDenied", _DENY), ("ThrottlingException", _RATE)),
    "rds": _Svc("rds.amazonaws.com", "rds.${region}.amazonaws.com", "rds",
                ("AccessDenied", _DENY), ("Throttling", _RATE)),
    "ssm": _Svc("ssm.amazonaws.com", "ssm.${region}.amazonaws.com", "ssm",
                ("AccessDenied", _DENY), ("ThrottlingException", _RATE)),
    "secretsmanager": _Svc("secretsmanager.amazonaws.com",
                           "secretsmanager.${region}.amazonaws.com", "secretsmanager",
                           ("AccessDenied", _DENY), ("ThrottlingException", _RATE)),
    "logs": _Svc("logs.amazonaws.com", "logs.${region}.amazonaws.com", "logs",
                 ("AccessDenied", _DENY), ("ThrottlingException", _RATE), "20140328"),
    "monitoring": _Svc("monitoring.amazonaws.com", "monitoring.${region}.amazonaws.com",
                       "cloudwatch", ("AccessDenied", _DENY), ("Throttling", _RATE)),
    "route53": _Svc("route53.amazonaws.com", "route53.amazonaws.com", "route53",
                    ("AccessDenied", _DENY), ("Throttling", _RATE), "2013-04-01",
                    is_global=True),
    "signin": _Svc("signin.amazonaws.com", "signin.aws.amazon.com", "signin",
                   ("AccessDenied", _DENY), ("Throttling", _RATE), is_global=True),
}

# Service-specific failures; "denied" and "throttled" resolve through _SERVICES.
_ERRORS: dict[str, tuple[str | None, str | None]] = {
    "no-policy": ("NoSuchBucketPolicy", "The bucket policy does not exist"),
    "no-pab": ("NoSuchPublicAccessBlockConfiguration",
               "The public access block configuration was not found"),
    "no-tags": ("NoSuchTagSet", "The TagSet does not exist"),
    "no-key": ("NoSuchKey", "The specified key does not exist."),
    "no-bucket": ("NoSuchBucket", "The specified bucket does not exist"),
    "bucket-owned": ("BucketAlreadyOwnedByYou", "Your previous request to create the named "
                     "bucket succeeded and you already own it."),
    "no-instance": ("Client.InvalidInstanceID.NotFound",
                    "The instance ID '${instance}' does not exist"),
    "vcpu": ("Client.VcpuLimitExceeded", "You have requested more vCPU capacity than your "
             "current vCPU limit of 32 allows for the instance bucket that the specified "
             "instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-"
             "request to request an adjustment to this limit."),
    "dup-rule": ("Client.InvalidPermission.Duplicate", "the specified rule \"peer: "
                 "203.0.113.0/24, TCP, from port: 443, to port: 443, ALLOW\" already exists"),
    "no-role": ("NoSuchEntityException", "The role with name ${role} cannot be found."),
    "no-user": ("NoSuchEntityException", "The user with name ${user} cannot be found."),
    "no-inline": ("NoSuchEntityException",
                  "The role policy with name ${role}-inline cannot be found."),
    "no-function": ("ResourceNotFoundException", "Function not found: "
                    "arn:aws:lambda:${region}:${acct}:function:${function}"),
    "no-table": ("ResourceNotFoundException",
                 "Requested resource not found: Table: ${table} not found"),
    "no-trail": ("TrailNotFoundException", "Unknown trail: ${trail_arn} for the user: ${acct}"),
    "no-db": ("DBInstanceNotFound", "DBInstance ${db} not found."),
    "no-param": ("ParameterNotFound", None),
    "no-secret": ("ResourceNotFoundException", "Secrets Manager can't find the specified "
                  "secret."),
    "no-group": ("ResourceNotFoundException", "The specified log group does not exist."),
    "stream-exists": ("ResourceAlreadyExistsException",
                      "The specified log stream already exists"),
    "login": (None, "Failed authentication"),
}

# ---------------------------------------------------------------------------------------
# API catalogue: request/response templates with ${placeholders} (see _world_values)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Api:
    key: str  # "service:eventName"
    read_only: bool
    params: Any = None  # requestParameters template
    response: Any = None  # responseElements template (writes only)
    res: tuple[str, ...] = ()  # kinds for the `resources` array, see _RESOURCES
    errors: tuple[str, ...] = ()  # error keys, repeated for weight; () -> denied/throttled
    error_rate: float | None = None  # None -> a default by read/write
    kind: str = "call"  # call | data | signin | service-event
    by: str = ""  # service-event: who invoked it (identity.invokedBy, IP, user agent)
    extra: Any = None  # serviceEventDetails (service events) / additionalEventData
    target: str = ""  # resource named in AccessDenied messages when `res` has none


_S3 = {"bucketName": "${bucket}", "Host": "${bucket}.s3.${region}.amazonaws.com"}
_INSTANCE_ITEMS = {"items": [{"instanceId": "${instance}"}]}
_CREDS = {"accessKeyId": "", "sessionToken": "${token}", "expiration": ""}
_POLICY_DOC = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":'
               '["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::${bucket}/*"}]}')
_BUCKET_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
    "Resource": ["arn:aws:s3:::${bucket}", "arn:aws:s3:::${bucket}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
_FUNCTION_CONFIG = {
    "functionName": "${function}",
    "functionArn": "arn:aws:lambda:${region}:${acct}:function:${function}",
    "runtime": "python3.12", "role": "arn:aws:iam::${acct}:role/app-api-lambda-role",
    "handler": "app.handler", "codeSize": 4187733, "timeout": 30, "memorySize": 512,
    "version": "$LATEST", "state": "Active", "lastUpdateStatus": "InProgress",
    "packageType": "Zip", "architectures": ["arm64"]}

_APIS: tuple[_Api, ...] = (
    # --- S3 management (bucket level) ---
    _Api("s3:ListBuckets", True, {"Host": "s3.${region}.amazonaws.com"}),
    _Api("s3:GetBucketAcl", True, {**_S3, "acl": ""}, res=("bucket",)),
    _Api("s3:GetBucketPolicy", True, {**_S3, "policy": ""}, res=("bucket",),
         errors=("no-policy",) * 6 + ("denied",), error_rate=0.3),
    _Api("s3:GetBucketLocation", True, {**_S3, "location": ""}, res=("bucket",)),
    _Api("s3:GetBucketVersioning", True, {**_S3, "versioning": ""}, res=("bucket",)),
    _Api("s3:GetBucketEncryption", True, {**_S3, "encryption": ""}, res=("bucket",)),
    _Api("s3:GetBucketPublicAccessBlock", True, {**_S3, "publicAccessBlock": ""},
         res=("bucket",), errors=("no-pab",) * 3 + ("denied",), error_rate=0.2),
    _Api("s3:GetBucketTagging", True, {**_S3, "tagging": ""}, res=("bucket",),
         errors=("no-tags",) * 3 + ("denied",), error_rate=0.25),
    _Api("s3:PutBucketPolicy", False, {**_S3, "bucketPolicy": _BUCKET_POLICY, "policy": ""},
         res=("bucket",)),
    _Api("s3:PutBucketTagging", False, {**_S3, "Tagging": {"TagSet": {"Tag": [
        {"Key": "team", "Value": "platform"}, {"Key": "env", "Value": "prod"}]}},
        "tagging": ""}, res=("bucket",)),
    _Api("s3:CreateBucket", False, {**_S3, "x-amz-acl": "private"}, res=("bucket",),
         errors=("bucket-owned", "denied")),
    # --- S3 data events (object level) ---
    _Api("s3:GetObject", True, {**_S3, "key": "${obj}"}, res=("object", "bucket"),
         errors=("no-key", "no-key", "denied"), error_rate=0.04, kind="data"),
    _Api("s3:PutObject", False, {**_S3, "key": "${obj}"}, res=("object", "bucket"),
         kind="data"),
    # --- EC2 ---
    _Api("ec2:DescribeInstances", True, {"instancesSet": {}, "filterSet": {}}),
    _Api("ec2:DescribeSecurityGroups", True,
         {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}),
    _Api("ec2:DescribeVpcs", True, {"vpcSet": {}, "filterSet": {}}),
    _Api("ec2:DescribeSubnets", True, {"subnetSet": {}, "filterSet": {"items": [
        {"name": "vpc-id", "valueSet": {"items": [{"value": "${vpc}"}]}}]}}),
    _Api("ec2:DescribeVolumes", True, {"volumeSet": {}, "filterSet": {}}),
    _Api("ec2:DescribeNetworkInterfaces", True, {"networkInterfaceIdSet": {}, "filterSet": {
        "items": [{"name": "vpc-id", "valueSet": {"items": [{"value": "${vpc}"}]}}]}}),
    _Api("ec2:DescribeImages", True, {"executableBySet": {}, "imagesSet": {"items": [
        {"imageId": "${ami}"}]}, "ownersSet": {}, "includeDeprecated": False,
        "includeDisabled": False}),
    _Api("ec2:DescribeAccountAttributes", True, {"accountAttributeNameSet": {"items": [
        {"attributeName": "supported-platforms"}]}, "filterSet": {}}),
    _Api("ec2:CreateTags", False, {"resourcesSet": _INSTANCE_ITEMS, "tagSet": {"items": [
        {"key": "owner", "value": "platform-team"}]}}, {"_return": True},
         errors=("no-instance", "denied")),
    _Api("ec2:StopInstances", False, {"instancesSet": _INSTANCE_ITEMS, "force": False},
         {"instancesSet": {"items": [{"instanceId": "${instance}", "currentState": {
             "code": 64, "name": "stopping"}, "previousState": {"code": 16,
                                                                "name": "running"}}]}},
         errors=("no-instance", "denied")),
    _Api("ec2:StartInstances", False, {"instancesSet": _INSTANCE_ITEMS},
         {"instancesSet": {"items": [{"instanceId": "${instance}", "currentState": {
             "code": 0, "name": "pending"}, "previousState": {"code": 80,
                                                              "name": "stopped"}}]}},
         errors=("no-instance", "denied")),
    _Api("ec2:RunInstances", False, {
        "instancesSet": {"items": [{"imageId": "${ami}", "minCount": 1, "maxCount": 1}]},
        "instanceType": "t3.medium", "blockDeviceMapping": {}, "monitoring": {
            "enabled": False}, "disableApiTermination": False, "subnetId": "${subnet}",
        "iamInstanceProfile": {"name": "ec2-worker-profile"}},
         {"reservationId": "r-${instance}", "ownerId": "${acct}", "groupSet": {},
          "instancesSet": {"items": [{"instanceId": "${instance}", "imageId": "${ami}",
                                      "instanceState": {"code": 0, "name": "pending"},
                                      "privateIpAddress": "${private_ip}",
                                      "instanceType": "t3.medium", "subnetId": "${subnet}",
                                      "vpcId": "${vpc}"}]}},
         errors=("vcpu", "denied")),
    _Api("ec2:AuthorizeSecurityGroupIngress", False, {"groupId": "${sg}", "ipPermissions": {
        "items": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": {
            "items": [{"cidrIp": "203.0.113.0/24"}]}}]}},
         {"_return": True, "securityGroupRuleSet": {"items": [{"groupOwnerId": "${acct}",
                                                               "groupId": "${sg}"}]}},
         errors=("dup-rule", "dup-rule", "denied")),
    # --- IAM (global) ---
    _Api("iam:GetUser", True, {"userName": "${user}"}, errors=("no-user", "denied")),
    _Api("iam:ListUsers", True, target="arn:aws:iam::${acct}:user/"),
    _Api("iam:ListRoles", True, target="arn:aws:iam::${acct}:role/"),
    _Api("iam:ListGroups", True, target="arn:aws:iam::${acct}:group/"),
    _Api("iam:ListPolicies", True, {"scope": "Local", "onlyAttached": False},
         target="arn:aws:iam::${acct}:policy/"),
    _Api("iam:GetRole", True, {"roleName": "${role}"}, errors=("no-role", "denied"),
         target="arn:aws:iam::${acct}:role/${role}"),
    _Api("iam:ListAttachedRolePolicies", True, {"roleName": "${role}"},
         target="arn:aws:iam::${acct}:role/${role}"),
    _Api("iam:ListRolePolicies", True, {"roleName": "${role}"},
         target="arn:aws:iam::${acct}:role/${role}"),
    _Api("iam:GetRolePolicy", True, {"roleName": "${role}", "policyName": "${role}-inline"},
         errors=("no-inline", "no-inline", "denied"), error_rate=0.08,
         target="arn:aws:iam::${acct}:role/${role}"),
    _Api("iam:GetPolicy", True, {"policyArn": "${policy_arn}"}, target="${policy_arn}"),
    _Api("iam:GetPolicyVersion", True, {"policyArn": "${policy_arn}", "versionId": "v3"},
         target="${policy_arn}"),
    _Api("iam:ListAccessKeys", True, {"userName": "${user}"},
         target="arn:aws:iam::${acct}:user/${user}"),
    _Api("iam:ListMFADevices", True, {"userName": "${user}"},
         target="arn:aws:iam::${acct}:user/${user}"),
    _Api("iam:ListAttachedUserPolicies", True, {"userName": "${user}"},
         target="arn:aws:iam::${acct}:user/${user}"),
    _Api("iam:GetAccountSummary", True),
    _Api("iam:GetAccountAuthorizationDetails", True,
         {"filter": ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]}),
    _Api("iam:AttachRolePolicy", False, {"roleName": "${role}", "policyArn": "${policy_arn}"},
         target="arn:aws:iam::${acct}:role/${role}"),
    _Api("iam:PutRolePolicy", False, {"roleName": "${role}", "policyName": "${role}-inline",
                                      "policyDocument": _POLICY_DOC},
         target="arn:aws:iam::${acct}:role/${role}"),
    # --- STS ---
    _Api("sts:GetCallerIdentity", True, error_rate=0.005),
    _Api("sts:AssumeRole", True, {
        "roleArn": "arn:aws:iam::${acct}:role/${role_path}${role}",
        "roleSessionName": "${role_session}", "durationSeconds": 3600},
         {"credentials": _CREDS, "assumedRoleUser": {
             "assumedRoleId": "${role_id}:${role_session}",
             "arn": "arn:aws:sts::${acct}:assumed-role/${role}/${role_session}"}},
         res=("role",), error_rate=0.01),
    _Api("sts:AssumeRoleWithWebIdentity", True, {
        "roleArn": "arn:aws:iam::${acct}:role/github-actions-deploy",
        "roleSessionName": "GitHubActions", "durationSeconds": 3600},
         {"credentials": _CREDS,
          "subjectFromWebIdentityToken": "repo:acme/infrastructure:ref:refs/heads/main",
          "assumedRoleUser": {
              "assumedRoleId": "${gha_role_id}:GitHubActions",
              "arn": "arn:aws:sts::${acct}:assumed-role/github-actions-deploy/GitHubActions"},
          "provider": "arn:aws:iam::${acct}:oidc-provider/token.actions.githubusercontent.com",
          "audience": "sts.amazonaws.com"},
         res=("gha-role",), error_rate=0.005),
    # --- KMS ---
    _Api("kms:Decrypt", True, {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}, res=("key",),
         error_rate=0.01),
    _Api("kms:Encrypt", True, {"keyId": "${alias}", "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
         res=("key",)),
    _Api("kms:GenerateDataKey", True, {"keyId": "${key_arn}", "keySpec": "AES_256"},
         res=("key",)),
    _Api("kms:DescribeKey", True, {"keyId": "${key_id}"}, res=("key",)),
    _Api("kms:GetKeyRotationStatus", True, {"keyId": "${key_id}"}, res=("key",)),
    _Api("kms:ListKeys", True, {"limit": 1000}),
    _Api("kms:ListAliases", True, {"limit": 100}),
    # --- Lambda (management event names carry the API version) ---
    _Api("lambda:ListFunctions20150331", True),
    _Api("lambda:GetFunction20150331v2", True, {"functionName": "${function}"},
         errors=("no-function", "denied")),
    _Api("lambda:GetFunctionConfiguration20150331v2", True, {"functionName": "${function}"},
         errors=("no-function", "denied")),
    _Api("lambda:ListVersionsByFunction20150331", True, {"functionName": "${function}"}),
    _Api("lambda:GetPolicy20150331v2", True, {"functionName": "${function}"},
         errors=("no-function",) * 3 + ("denied",), error_rate=0.15),
    _Api("lambda:UpdateFunctionCode20150331v2", False, {
        "functionName": "${function}", "publish": False, "dryRun": False,
        "s3Bucket": "${bucket}", "s3Key": "builds/${function}/${build}.zip"},
         _FUNCTION_CONFIG, errors=("no-function", "denied")),
    _Api("lambda:UpdateFunctionConfiguration20150331v2", False, {
        "functionName": "${function}", "timeout": 30, "memorySize": 512},
         _FUNCTION_CONFIG),
    _Api("lambda:Invoke", False, {"functionName": "${function_arn}"}, res=("function",),
         kind="data", extra={"functionVersion": "${function_arn}:$LATEST"}),
    # --- DynamoDB ---
    _Api("dynamodb:ListTables", True),
    _Api("dynamodb:DescribeTable", True, {"tableName": "${table}"},
         errors=("no-table", "denied")),
    _Api("dynamodb:DescribeContinuousBackups", True, {"tableName": "${table}"}),
    _Api("dynamodb:DescribeTimeToLive", True, {"tableName": "${table}"}),
    _Api("dynamodb:ListTagsOfResource", True, {"resourceArn": "${table_arn}"}),
    # --- CloudTrail ---
    _Api("cloudtrail:DescribeTrails", True, {"includeShadowTrails": True}),
    _Api("cloudtrail:ListTrails", True),
    _Api("cloudtrail:GetTrailStatus", True, {"name": "${trail_arn}"},
         errors=("no-trail", "denied")),
    _Api("cloudtrail:GetEventSelectors", True, {"trailName": "${trail}"}),
    _Api("cloudtrail:LookupEvents", True, {"lookupAttributes": [
        {"attributeKey": "EventName", "attributeValue": "ConsoleLogin"}], "maxResults": 50}),
    # --- RDS ---
    _Api("rds:DescribeDBInstances", True, {"dBInstanceIdentifier": "${db}"},
         errors=("no-db", "denied")),
    _Api("rds:DescribeDBClusters", True, {"includeShared": False}),
    _Api("rds:DescribeDBSnapshots", True, {"dBInstanceIdentifier": "${db}",
                                           "includeShared": False, "includePublic": False}),
    _Api("rds:CreateDBSnapshot", False, {"dBSnapshotIdentifier": "${db}-manual-${build}",
                                         "dBInstanceIdentifier": "${db}"},
         {"dBSnapshotIdentifier": "${db}-manual-${build}", "dBInstanceIdentifier": "${db}",
          "engine": "postgres", "status": "creating", "snapshotType": "manual"}),
    # --- SSM ---
    _Api("ssm:GetParameter", True, {"name": "${param}", "withDecryption": True},
         res=("param",), errors=("no-param", "denied", "throttled")),
    _Api("ssm:GetParametersByPath", True, {"path": "/prod/app", "recursive": True,
                                           "withDecryption": True}),
    _Api("ssm:DescribeParameters", True, {"parameterFilters": [
        {"key": "Name", "option": "BeginsWith", "values": ["/prod/"]}], "shared": False}),
    _Api("ssm:PutParameter", False, {
        "name": "${param}", "value": "HIDDEN_DUE_TO_SECURITY_REASONS",
        "type": "SecureString", "overwrite": True, "tier": "Standard"},
         {"version": 7, "tier": "Standard"}, res=("param",)),
    _Api("ssm:UpdateInstanceInformation", False, {
        "instanceId": "${instance}", "agentVersion": "3.3.131.0", "agentStatus": "Active",
        "platformType": "Linux", "platformName": "Amazon Linux", "platformVersion": "2023",
        "iPAddress": "${private_ip}", "computerName": "${hostname}",
        "agentName": "amazon-ssm-agent", "availabilityZone": "${az}"},
         errors=("throttled",), error_rate=0.01),
    _Api("ssm:ListInstanceAssociations", True, {"instanceId": "${instance}",
                                                "maxResults": 20}),
    # --- Secrets Manager ---
    _Api("secretsmanager:GetSecretValue", True, {"secretId": "${secret_arn}"},
         errors=("no-secret", "denied")),
    _Api("secretsmanager:DescribeSecret", True, {"secretId": "${secret_arn}"}),
    _Api("secretsmanager:ListSecrets", True, {"maxResults": 100}),
    _Api("secretsmanager:PutSecretValue", False, {
        "secretId": "${secret_arn}", "clientRequestToken": "${token_id}"},
         {"arn": "${secret_arn}"}),
    # --- CloudWatch Logs ---
    _Api("logs:DescribeLogGroups", True, {"logGroupNamePrefix": "/aws/lambda/"}),
    _Api("logs:DescribeLogStreams", True, {
        "logGroupName": "${loggroup}", "orderBy": "LastEventTime", "descending": True,
        "limit": 50}, errors=("no-group", "denied")),
    _Api("logs:FilterLogEvents", True, {"logGroupName": "${loggroup}",
                                        "filterPattern": "ERROR", "interleaved": True}),
    _Api("logs:CreateLogStream", False, {"logGroupName": "${loggroup}",
                                         "logStreamName": "${stream}"},
         errors=("stream-exists", "throttled"), error_rate=0.02),
    _Api("logs:PutRetentionPolicy", False, {"logGroupName": "${loggroup}",
                                            "retentionInDays": 30}),
    # --- CloudWatch ---
    _Api("monitoring:DescribeAlarms", True, {"alarmNames": ["${alarm}"]}),
    _Api("monitoring:GetMetricData", True, {"metricDataQueries": [{
        "id": "m1", "metricStat": {"metric": {"namespace": "AWS/Lambda",
                                              "metricName": "Errors", "dimensions": [
            {"name": "FunctionName", "value": "${function}"}]}, "period": 300,
            "stat": "Sum"}}], "scanBy": "TimestampDescending"}),
    _Api("monitoring:GetMetricStatistics", True, {
        "namespace": "AWS/EC2", "metricName": "CPUUtilization", "dimensions": [
            {"name": "InstanceId", "value": "${instance}"}], "period": 300,
        "statistics": ["Average"]}),
    _Api("monitoring:ListMetrics", True, {"namespace": "AWS/Lambda"}),
    _Api("monitoring:PutMetricAlarm", False, {
        "alarmName": "${alarm}", "metricName": "Errors", "namespace": "AWS/Lambda",
        "statistic": "Sum", "period": 300, "evaluationPeriods": 1, "threshold": 1.0,
        "comparisonOperator": "GreaterThanOrEqualToThreshold",
        "alarmActions": ["arn:aws:sns:${region}:${acct}:ops-alerts"]}),
    # --- Route 53 (global) ---
    _Api("route53:ListHostedZones", True),
    # --- Console sign-in ---
    _Api("signin:ConsoleLogin", False, None, {"ConsoleLogin": "Success"},
         errors=("login",), error_rate=0.08, kind="signin"),
    # --- Service events (no caller) ---
    _Api("kms:RotateKey", False, res=("key",), kind="service-event", by="AWS Internal",
         extra={"keyOrigin": "AWS_KMS", "rotationType": "AUTOMATIC"}),
    _Api("secretsmanager:RotationSucceeded", False, kind="service-event",
         by="secretsmanager.amazonaws.com", extra={"SecretId": "${secret_arn}"}),
    _Api("ec2:SharedSnapshotVolumeCreated", False, kind="service-event",
         by="ec2.amazonaws.com", extra={"snapshotId": "${snapshot}"}),
)
_API_BY_KEY = {a.key: a for a in _APIS}

# type (None: omitted, like SSM parameters), ARN template, carries accountId
_RESOURCES: dict[str, tuple[str | None, str, bool]] = {
    "bucket": ("AWS::S3::Bucket", "arn:aws:s3:::${bucket}", True),
    "object": ("AWS::S3::Object", "arn:aws:s3:::${bucket}/${obj}", False),
    "key": ("AWS::KMS::Key", "${key_arn}", True),
    "role": ("AWS::IAM::Role", "arn:aws:iam::${acct}:role/${role_path}${role}", True),
    "gha-role": ("AWS::IAM::Role", "arn:aws:iam::${acct}:role/github-actions-deploy", True),
    "function": ("AWS::Lambda::Function", "${function_arn}", True),
    "param": (None, "arn:aws:ssm:${region}:${acct}:parameter${param}", True),
}

# ---------------------------------------------------------------------------------------
# Principals ("actors") and what they do
# ---------------------------------------------------------------------------------------

_Profile = Mapping[str, float]


@dataclass(frozen=True, slots=True)
class _ActorSpec:
    name: str  # user name, role name or invoking service
    kind: str  # user | user-session | role | root | aws-service | web-identity | service
    weight: float  # share of all records (relative)
    profile: _Profile  # API key -> relative weight
    uas: tuple[str, ...] = ()  # keys of _UA
    ips: tuple[str, ...] = ()  # literal addresses or pools (@office, @ci, @aws, ...)
    session: str = ""  # role session name
    path: str = ""  # role path
    mfa: bool = False
    console: bool = False  # calls made from the console (sessionCredentialFromConsole)
    via: str = ""  # an AWS service calls on the actor's behalf
    vpce: bool = False  # calls go through an interface VPC endpoint
    period: int = 3600  # session length in seconds (temporary credentials)
    err_mult: float = 1.0
    ec2: bool = False  # ec2RoleDelivery in the session context
    oidc: bool = False  # web identity federation data in the session context
    vals: tuple[tuple[str, str], ...] = ()  # placeholder overrides ("their" resources)


_TERRAFORM_READS: _Profile = {
    "sts:GetCallerIdentity": 2, "ec2:DescribeInstances": 2, "ec2:DescribeSecurityGroups": 2,
    "ec2:DescribeVpcs": 1, "ec2:DescribeSubnets": 1, "ec2:DescribeImages": 1,
    "ec2:DescribeAccountAttributes": 1, "iam:GetRole": 3, "iam:ListAttachedRolePolicies": 1,
    "iam:GetRolePolicy": 1, "iam:GetPolicy": 1, "iam:GetPolicyVersion": 1,
    "lambda:GetFunction20150331v2": 2, "lambda:ListVersionsByFunction20150331": 1,
    "lambda:GetPolicy20150331v2": 1, "s3:GetBucketAcl": 1, "s3:GetBucketVersioning": 1,
    "s3:GetBucketPolicy": 1, "s3:GetBucketTagging": 1, "logs:DescribeLogGroups": 1,
    "dynamodb:DescribeTable": 1, "dynamodb:DescribeTimeToLive": 1,
    "dynamodb:DescribeContinuousBackups": 1, "dynamodb:ListTagsOfResource": 1,
    "kms:DescribeKey": 1, "kms:GetKeyRotationStatus": 1, "ssm:GetParameter": 1,
    "monitoring:DescribeAlarms": 1, "secretsmanager:DescribeSecret": 1,
}
_TERRAFORM_WRITES: _Profile = {
    "lambda:UpdateFunctionCode20150331v2": 3, "lambda:UpdateFunctionConfiguration20150331v2": 1,
    "s3:PutObject": 2, "iam:PutRolePolicy": 0.6, "iam:AttachRolePolicy": 0.4,
    "ec2:CreateTags": 1.2, "ec2:AuthorizeSecurityGroupIngress": 0.4, "ssm:PutParameter": 1.2,
    "logs:PutRetentionPolicy": 0.6, "monitoring:PutMetricAlarm": 0.6,
    "s3:PutBucketTagging": 0.4, "secretsmanager:PutSecretValue": 0.4,
}
_CONFIG_READS: _Profile = {
    "ec2:DescribeInstances": 3, "ec2:DescribeSecurityGroups": 3, "ec2:DescribeVpcs": 2,
    "ec2:DescribeSubnets": 2, "ec2:DescribeVolumes": 2, "ec2:DescribeNetworkInterfaces": 2,
    "iam:GetRole": 2, "iam:ListAttachedRolePolicies": 2, "iam:ListRolePolicies": 1,
    "iam:GetPolicy": 1, "s3:GetBucketAcl": 2, "s3:GetBucketPolicy": 2,
    "s3:GetBucketEncryption": 1, "s3:GetBucketPublicAccessBlock": 1,
    "s3:GetBucketVersioning": 1, "s3:GetBucketTagging": 1, "lambda:GetFunction20150331v2": 1,
    "lambda:GetPolicy20150331v2": 1, "kms:DescribeKey": 1, "rds:DescribeDBInstances": 1,
    "dynamodb:DescribeTable": 1, "dynamodb:DescribeContinuousBackups": 1,
    "logs:DescribeLogGroups": 1, "monitoring:DescribeAlarms": 1,
    "cloudtrail:DescribeTrails": 1, "cloudtrail:GetEventSelectors": 1,
    "secretsmanager:DescribeSecret": 1,
}
_AUDITOR: _Profile = {
    "iam:GetAccountSummary": 1, "iam:ListUsers": 2, "iam:ListRoles": 2, "iam:ListPolicies": 1,
    "iam:ListMFADevices": 1, "iam:ListAccessKeys": 2, "iam:GetAccountAuthorizationDetails": 0.3,
    "cloudtrail:DescribeTrails": 1, "cloudtrail:GetTrailStatus": 1,
    "cloudtrail:GetEventSelectors": 1, "cloudtrail:ListTrails": 1, "s3:GetBucketPolicy": 1,
    "s3:GetBucketAcl": 1, "s3:GetBucketEncryption": 1, "kms:ListKeys": 1,
    "kms:GetKeyRotationStatus": 1, "ec2:DescribeSecurityGroups": 1,
    "secretsmanager:ListSecrets": 1, "monitoring:DescribeAlarms": 1,
    "logs:DescribeLogGroups": 1, "signin:ConsoleLogin": 0.1,
}

_GHA = (("role_session", "GitHubActions"),)
_ACTORS: tuple[_ActorSpec, ...] = (
    _ActorSpec("ec2-worker-role", "role", 14, {
        "ssm:UpdateInstanceInformation": 18, "ssm:ListInstanceAssociations": 6,
        "ssm:GetParameter": 5, "kms:Decrypt": 5, "s3:GetObject": 1, "s3:PutObject": 0.5,
        "logs:DescribeLogStreams": 2, "ec2:DescribeInstances": 2, "sts:GetCallerIdentity": 1,
        "monitoring:GetMetricStatistics": 1}, ("ssm-agent", "ssm-agent", "boto3"),
        ("${private_ip}",), session="${instance}", vpce=True, period=6 * 3600, ec2=True,
        err_mult=0.5, vals=(("instance", "${instance}"), ("private_ip", "${private_ip}"),
                            ("hostname", "${hostname}"), ("az", "${az}"))),
    _ActorSpec("app-api-lambda-role", "role", 16, {
        "kms:Decrypt": 6, "secretsmanager:GetSecretValue": 5, "ssm:GetParameter": 4,
        "ssm:GetParametersByPath": 2, "dynamodb:DescribeTable": 3, "logs:CreateLogStream": 6,
        "s3:GetObject": 1, "s3:PutObject": 0.5, "sts:GetCallerIdentity": 1,
        "lambda:Invoke": 0.6}, ("lambda",), ("@aws",), session="app-api-handler",
        period=4 * 3600, err_mult=0.6,
        vals=(("function", "app-api-handler"), ("loggroup", "/aws/lambda/app-api-handler"))),
    _ActorSpec("app-api-lambda-role", "role", 3, {"kms:Decrypt": 1}, session="app-api-handler",
               via="secretsmanager.amazonaws.com", period=4 * 3600, err_mult=0.3),
    _ActorSpec("AWSServiceRoleForConfig", "role", 9, _CONFIG_READS, session="AWSConfig-Describe",
               path="aws-service-role/config.amazonaws.com/", via="config.amazonaws.com",
               period=3600),
    _ActorSpec("github-actions-deploy", "role", 10, {**_TERRAFORM_READS, **_TERRAFORM_WRITES},
               ("terraform", "terraform", "cli-linux"), ("@ci",), session="GitHubActions",
               oidc=True, period=3600),
    _ActorSpec("deploy-bot", "user", 5, {
        **_TERRAFORM_READS, "iam:GetUser": 1, "ec2:RunInstances": 0.3,
        "ec2:StopInstances": 0.2, "ec2:StartInstances": 0.2, "s3:CreateBucket": 0.05,
        "rds:CreateDBSnapshot": 0.1, **_TERRAFORM_WRITES}, ("terraform-old",), ("@ci",)),
    _ActorSpec("alice", "user", 4, {
        "iam:ListUsers": 1, "iam:GetUser": 1, "iam:ListAccessKeys": 1, "iam:ListRoles": 1,
        "s3:ListBuckets": 2, "ec2:DescribeInstances": 2, "sts:GetCallerIdentity": 1,
        "cloudtrail:LookupEvents": 1, "logs:FilterLogEvents": 1, "sts:AssumeRole": 0.5,
        "kms:ListKeys": 0.5, "secretsmanager:ListSecrets": 0.5, "route53:ListHostedZones": 0.5,
        "rds:DescribeDBInstances": 0.5, "iam:AttachRolePolicy": 0.2, "ec2:StopInstances": 0.2},
        ("cli-mac",), ("@office", "@office", "@home"), mfa=True,
        vals=(("role", "OrganizationAccountAccessRole"), ("role_session", "alice"))),
    _ActorSpec("alice", "user-session", 5, {
        "signin:ConsoleLogin": 0.3, "ec2:DescribeInstances": 2,
        "ec2:DescribeSecurityGroups": 1, "ec2:DescribeVpcs": 1, "s3:ListBuckets": 2,
        "s3:GetBucketLocation": 1, "s3:GetBucketPolicy": 1, "s3:GetBucketPublicAccessBlock": 1,
        "iam:ListUsers": 1, "iam:ListRoles": 1, "iam:GetAccountSummary": 1,
        "monitoring:DescribeAlarms": 1, "monitoring:GetMetricData": 2,
        "cloudtrail:LookupEvents": 1, "lambda:ListFunctions20150331": 1,
        "rds:DescribeDBInstances": 1}, ("internal", "internal", "browser"),
        ("@office", "@office", "@home", "AWS Internal"), mfa=True, console=True,
        period=8 * 3600),
    _ActorSpec("bob", "user", 7, {
        "lambda:ListFunctions20150331": 2, "lambda:GetFunction20150331v2": 2,
        "lambda:GetFunctionConfiguration20150331v2": 1, "logs:DescribeLogGroups": 1,
        "logs:DescribeLogStreams": 2, "logs:FilterLogEvents": 3, "dynamodb:ListTables": 1,
        "dynamodb:DescribeTable": 2, "s3:ListBuckets": 1, "s3:GetObject": 1,
        "s3:PutObject": 0.5, "ssm:GetParameter": 1, "ssm:GetParametersByPath": 1,
        "secretsmanager:GetSecretValue": 1, "sts:GetCallerIdentity": 1, "lambda:Invoke": 0.5,
        "lambda:UpdateFunctionCode20150331v2": 0.3, "ssm:PutParameter": 0.3,
        "iam:ListRoles": 0.3, "ec2:DescribeInstances": 0.5, "signin:ConsoleLogin": 0.1},
        ("cli-linux", "boto3-mac"), ("@office", "@vpn", "@home"), err_mult=2.5),
    _ActorSpec("carol", "user", 5, {
        "s3:GetObject": 2, "s3:PutObject": 1, "s3:ListBuckets": 1, "dynamodb:DescribeTable": 1,
        "dynamodb:ListTables": 1, "rds:DescribeDBInstances": 1, "rds:DescribeDBSnapshots": 1,
        "rds:CreateDBSnapshot": 0.1, "kms:Decrypt": 1, "kms:GenerateDataKey": 0.5,
        "secretsmanager:GetSecretValue": 1, "monitoring:GetMetricStatistics": 1,
        "monitoring:ListMetrics": 0.5, "signin:ConsoleLogin": 0.15},
        ("boto3", "boto3", "cli-linux"), ("@office", "@home"), mfa=True),
    _ActorSpec("dave", "user", 3, _AUDITOR, ("cli-linux", "boto3"), ("@office", "@vpn"),
               mfa=True, err_mult=1.5),
    _ActorSpec("legacy-ci", "user", 0.5, {
        "sts:GetCallerIdentity": 1, "s3:ListBuckets": 1, "s3:PutObject": 2},
        ("cli-v1",), ("@legacy",)),
    _ActorSpec("AWSReservedSSO_AdministratorAccess_6c1f3e2a9b7d4e10", "role", 4, {
        "ec2:DescribeInstances": 2, "ec2:DescribeSecurityGroups": 1,
        "ec2:AuthorizeSecurityGroupIngress": 0.1, "ec2:StopInstances": 0.1,
        "iam:ListRoles": 1, "iam:GetRole": 1, "iam:ListAttachedRolePolicies": 1,
        "iam:AttachRolePolicy": 0.1, "s3:ListBuckets": 1, "s3:GetBucketPolicy": 1,
        "s3:PutBucketPolicy": 0.1, "cloudtrail:LookupEvents": 1, "monitoring:DescribeAlarms": 1,
        "monitoring:GetMetricData": 1, "kms:ListAliases": 1, "secretsmanager:ListSecrets": 1,
        "secretsmanager:GetSecretValue": 0.3, "rds:DescribeDBClusters": 0.5,
        "lambda:ListFunctions20150331": 1}, ("internal", "internal", "firefox"),
        ("@office", "@home", "AWS Internal"), session="erin@example.com",
        path="aws-reserved/sso.amazonaws.com/", console=True, period=8 * 3600),
    _ActorSpec("root", "root", 0.15, {
        "signin:ConsoleLogin": 1, "iam:GetAccountSummary": 1, "iam:ListMFADevices": 1,
        "iam:ListAccessKeys": 0.5, "s3:ListBuckets": 1}, ("internal", "browser"),
        ("@office",), mfa=True, console=True, period=3600),
    _ActorSpec("lambda.amazonaws.com", "aws-service", 1.5, {"sts:AssumeRole": 1},
               vals=(("role", "app-api-lambda-role"), ("role_session", "app-api-handler"))),
    _ActorSpec("ec2.amazonaws.com", "aws-service", 0.5, {"sts:AssumeRole": 1},
               vals=(("role", "ec2-worker-role"), ("role_session", "${instance}"))),
    _ActorSpec("config.amazonaws.com", "aws-service", 0.4, {"sts:AssumeRole": 1}, vals=(
        ("role", "AWSServiceRoleForConfig"), ("role_session", "AWSConfig-Describe"),
        ("role_path", "aws-service-role/config.amazonaws.com/"))),
    _ActorSpec("token.actions.githubusercontent.com", "web-identity", 0.4,
               {"sts:AssumeRoleWithWebIdentity": 1}, ("gha",), ("@ci",), vals=_GHA),
    _ActorSpec("service", "service", 0.6, {
        "kms:RotateKey": 0.2, "secretsmanager:RotationSucceeded": 0.3,
        "ec2:SharedSnapshotVolumeCreated": 0.1}),
)

# The burst: a leaked legacy-ci key enumerating the account from a hosting provider.
_BURST_PROFILE: _Profile = {
    "iam:ListUsers": 3, "iam:ListRoles": 3, "iam:ListPolicies": 2, "iam:ListGroups": 2,
    "iam:ListAccessKeys": 2, "iam:GetAccountAuthorizationDetails": 2,
    "iam:ListAttachedUserPolicies": 2, "iam:GetAccountSummary": 1, "s3:ListBuckets": 1,
    "s3:GetBucketPolicy": 1, "s3:GetBucketAcl": 1, "ec2:DescribeInstances": 1,
    "ec2:DescribeSecurityGroups": 1, "ec2:DescribeVpcs": 1, "secretsmanager:ListSecrets": 1,
    "lambda:ListFunctions20150331": 1, "kms:ListKeys": 1, "dynamodb:ListTables": 1,
    "rds:DescribeDBInstances": 1, "ssm:DescribeParameters": 1, "cloudtrail:DescribeTrails": 1,
    "logs:DescribeLogGroups": 1,
}
_BURST_ALLOWED = frozenset({"sts:GetCallerIdentity", "s3:ListBuckets"})
_BURST_ACTOR = "legacy-ci"

# ---------------------------------------------------------------------------------------
# The world: resource names and ids, fixed per (seed, account, region, variant)
# ---------------------------------------------------------------------------------------

_BUCKETS = ("assets", "data-lake-raw", "terraform-state", "app-uploads", "cloudtrail-archive")
_OBJECTS = ("uploads/2024/06/IMG_8813.jpg", "exports/orders/part-00017.snappy.parquet",
            "builds/app-api/7f3c2a1.zip", "reports/daily/summary.csv",
            "backups/db/orders-db-prod.sql.gz", "static/js/main.4f9e1b.js",
            "raw/events/dt=2024-06-01/events-0042.json.gz", "config/feature-flags.json")
_FUNCTIONS = ("app-api-handler", "image-resizer", "nightly-report", "slack-notifier")
_TABLES = ("orders", "sessions", "feature-flags")
_SECRETS = ("prod/app/db-credentials", "prod/stripe/api-key", "prod/slack/webhook")
_PARAMS = ("/prod/app/db-host", "/prod/app/feature-flags", "/shared/datadog/api-key",
           "/prod/app/sentry-dsn")
_ROLES = ("app-api-lambda-role", "ec2-worker-role", "github-actions-deploy",
          "ReadOnlyAuditor")
_USERS = ("alice", "bob", "carol", "dave", "deploy-bot", "legacy-ci")
_POLICIES = ("arn:aws:iam::aws:policy/ReadOnlyAccess",
             "arn:aws:iam::${acct}:policy/app-api-s3-access",
             "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
             "arn:aws:iam::${acct}:policy/ci-deploy")
_ALIASES = ("alias/app-secrets", "alias/data-lake", "alias/aws/ssm", "alias/aws/s3")
_DBS = ("orders-db-prod", "analytics-replica")
_ALARMS = ("app-api-5xx-rate", "orders-db-cpu-high", "image-resizer-errors")


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _stable_id(prefix: str, n: int, *parts: object) -> str:
    """An AWS-style unique id (AROA..., AIDA..., AKIA...) that depends only on `parts`."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=15).digest()
    return prefix + base64.b32encode(digest).decode()[:n]


def _uuid_of(rng: random.Random) -> str:
    return _uuid(f"{rng.getrandbits(128):032x}")


def _uuid(h: str) -> str:
    """Format 32 hex digits as a version-4 UUID (version and variant bits forced)."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_UUID_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def _world_values(rng: random.Random, salt: str, acct: str, region: str,
                  vi: int) -> dict[str, str]:
    """Names and ids for one variant; draws from `rng` in a fixed order."""
    fn, table, key_id = _FUNCTIONS[vi % 4], _TABLES[vi % 3], _uuid_of(rng)
    secret = _SECRETS[vi % 3]
    instance, ip = "i-0" + _hex(rng, 16), f"10.0.{rng.randrange(1, 64)}.{rng.randrange(4, 250)}"
    vals = {
        "acct": acct, "region": region, "bucket": f"acme-{_BUCKETS[vi % 5]}-{region}",
        "obj": _OBJECTS[vi], "instance": instance, "ami": "ami-0" + _hex(rng, 16),
        "vpc": "vpc-0" + _hex(rng, 16), "subnet": "subnet-0" + _hex(rng, 16),
        "sg": "sg-0" + _hex(rng, 16), "snapshot": "snap-0" + _hex(rng, 16),
        "az": region + "abc"[vi % 3], "private_ip": ip,
        "hostname": f"ip-{ip.replace('.', '-')}.{region}.compute.internal",
        "role": _ROLES[vi % 4], "role_path": "",
        "role_id": _stable_id("AROA", 17, salt, _ROLES[vi % 4]),
        "gha_role_id": _stable_id("AROA", 17, salt, "github-actions-deploy"),
        "role_session": ("app-api-handler", instance, "GitHubActions", "dave")[vi % 4],
        "user": _USERS[vi % 6], "policy_arn": _POLICIES[vi % 4].replace("${acct}", acct),
        "key_id": key_id, "key_arn": f"arn:aws:kms:{region}:{acct}:key/{key_id}",
        "alias": _ALIASES[vi % 4], "function": fn,
        "function_arn": f"arn:aws:lambda:{region}:{acct}:function:{fn}",
        "loggroup": f"/aws/lambda/{fn}", "stream": f"2024/06/01/[$LATEST]{_hex(rng, 32)}",
        "table": table, "table_arn": f"arn:aws:dynamodb:{region}:{acct}:table/{table}",
        "secret_arn": f"arn:aws:secretsmanager:{region}:{acct}:secret:{secret}-"
        + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
                  for _ in range(6)),
        "param": _PARAMS[vi % 4], "trail": "management-events",
        "trail_arn": f"arn:aws:cloudtrail:{region}:{acct}:trail/management-events",
        "db": _DBS[vi % 2], "alarm": _ALARMS[vi % 3], "build": _hex(rng, 7),
        "token_id": _uuid_of(rng).upper(),
        "token": base64.b64encode(rng.getrandbits(8 * 300).to_bytes(300, "big")).decode(),
    }
    return vals


def _fill(template: Any, vals: Mapping[str, str]) -> Any:
    """Substitute ${placeholders} in every string of a JSON-like template."""
    if isinstance(template, str):
        return Template(template).safe_substitute(vals) if "$" in template else template
    if isinstance(template, dict):
        return {k: _fill(v, vals) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, vals) for v in template]
    return template


def _public_ip(rng: random.Random, firsts: Sequence[int]) -> str:
    return (f"{rng.choice(firsts)}.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}."
            f"{rng.randrange(1, 255)}")


def _iso(sec: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sec))


def _java_time(sec: int) -> str:
    """STS `expiration` as AWS writes it: 'Jun 1, 2024, 3:04:05 PM'."""
    t = time.gmtime(sec)
    hour = t.tm_hour % 12 or 12
    half = "AM" if t.tm_hour < 12 else "PM"
    return (f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday}, {t.tm_year}, "
            f"{hour}:{t.tm_min:02d}:{t.tm_sec:02d} {half}")


def _crc(*parts: object) -> int:
    # zlib.crc32, not hash(): str hashes change between interpreter runs.
    return zlib.crc32("|".join(map(str, parts)).encode())


# ---------------------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------------------


class _Session:
    """Temporary credentials of one actor, renewed every `period` seconds.

    The identity for a period is derived from a hash, not the RNG, so it does not matter
    in which order (or how often) periods are visited.
    """

    __slots__ = ("base", "bucket", "ident", "mfa", "period", "salt")

    def __init__(self, base: dict[str, Any], period: int, mfa: bool, salt: str) -> None:
        self.base, self.period, self.salt = base, period, salt
        self.mfa = "true" if mfa else "false"
        self.bucket = -1
        self.ident: dict[str, Any] = base

    def at(self, sec: int) -> dict[str, Any]:
        bucket = sec // self.period
        if bucket != self.bucket:
            self._renew(bucket)
        return self.ident

    def _renew(self, bucket: int) -> None:
        digest = hashlib.blake2b(f"{self.salt}|{bucket}".encode(), digest_size=16).digest()
        created = max(0, bucket * self.period - int.from_bytes(digest[10:], "big") % _SESSION_SKEW)
        ident = dict(self.base)
        ident["accessKeyId"] = "ASIA" + base64.b32encode(digest[:10]).decode()
        context = dict(self.base["sessionContext"])
        context["attributes"] = {"creationDate": _iso(created), "mfaAuthenticated": self.mfa}
        ident["sessionContext"] = context
        self.bucket, self.ident = bucket, ident


@dataclass(slots=True)
class _Actor:
    spec: _ActorSpec
    arn: str  # for AccessDenied messages
    ident: dict[str, Any] | None  # static identity, or None when `session` is set
    login: dict[str, Any] | None  # identity on ConsoleLogin records
    session: _Session | None
    ips: tuple[str, ...]
    login_ips: tuple[str, ...]
    vals: dict[str, str] = field(default_factory=dict)


def _session_context(issuer: dict[str, Any], spec: _ActorSpec, acct: str) -> dict[str, Any]:
    fed: dict[str, Any] = {}
    if spec.oidc:
        fed = {"federatedProvider": f"arn:aws:iam::{acct}:oidc-provider/"
               "token.actions.githubusercontent.com", "attributes": {}}
    ctx: dict[str, Any] = {"sessionIssuer": issuer, "webIdFederationData": fed,
                           "attributes": {}}
    if spec.ec2:
        ctx["ec2RoleDelivery"] = "2.0"
    return ctx


def _role_identity(spec: _ActorSpec, acct: str, salt: str,
                   session: str) -> tuple[dict[str, Any], str]:
    role_id = _stable_id("AROA", 17, salt, spec.name)
    arn = f"arn:aws:sts::{acct}:assumed-role/{spec.name}/{session}"
    issuer = {"type": "Role", "principalId": role_id,
              "arn": f"arn:aws:iam::{acct}:role/{spec.path}{spec.name}",
              "accountId": acct, "userName": spec.name}
    ident = {"type": "AssumedRole", "principalId": f"{role_id}:{session}", "arn": arn,
             "accountId": acct, "accessKeyId": "",
             "sessionContext": _session_context(issuer, spec, acct)}
    return ident, arn


def _user_identities(spec: _ActorSpec, acct: str,
                     salt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(API-call identity, ConsoleLogin identity) of an IAM user or root."""
    if spec.kind == "root":
        arn = f"arn:aws:iam::{acct}:root"
        base: dict[str, Any] = {"type": "Root", "principalId": acct, "arn": arn,
                                "accountId": acct}
        login = {**base, "accessKeyId": ""}
    else:
        pid = _stable_id("AIDA", 17, salt, spec.name)
        akid = _stable_id("AKIA", 16, salt, spec.name, "key")
        arn = f"arn:aws:iam::{acct}:user/{spec.name}"
        login = {"type": "IAMUser", "principalId": pid, "arn": arn, "accountId": acct,
                 "userName": spec.name}
        base = {**login, "accessKeyId": akid}
        base["userName"] = base.pop("userName")  # real records list userName last
    if spec.kind in ("root", "user-session"):
        base["accessKeyId"] = ""
        base["sessionContext"] = {"sessionIssuer": {}, "webIdFederationData": {},
                                  "attributes": {}}
    return base, login


def _web_identity(acct: str) -> dict[str, Any]:
    provider = f"arn:aws:iam::{acct}:oidc-provider/token.actions.githubusercontent.com"
    subject = "repo:acme/infrastructure:ref:refs/heads/main"
    return {"type": "WebIdentityUser", "principalId": f"{provider}:sts.amazonaws.com:{subject}",
            "userName": subject, "identityProvider": provider}


# ---------------------------------------------------------------------------------------
# Plan: everything that does not change per record
# ---------------------------------------------------------------------------------------


class _Plan:
    """Actors, combos (actor x API) and the weighted pick table for one generate() call."""

    def __init__(self, seed: int, account: str, regions: tuple[str, ...]) -> None:
        self.seed, self.account, self.regions = seed, account, regions
        wrng = random.Random(f"opentrail-demo|{seed}|{account}|world")
        self.salt = f"{seed}|{account}"
        self.worlds = [[_world_values(wrng, self.salt, account, r, vi)
                        for vi in range(_VARIANTS)] for r in regions]
        self.pools = _ip_pools(wrng)
        self.home = self.regions.index("us-east-1") if "us-east-1" in regions else 0
        self.actors = [_make_actor(self, s, wrng) for s in _ACTORS]
        combos, weights = [], []
        for actor in self.actors:
            total = sum(actor.spec.profile.values())
            for api_key, w in actor.spec.profile.items():
                combos.append(_Combo(self, actor, _API_BY_KEY[api_key]))
                weights.append(actor.spec.weight * w / total)
        self.table = _weighted_table(combos, weights, 1 << _PICK_BITS)

    def burst_combos(self, ip: str, ua: str) -> dict[str, _Combo]:
        base = next(a for a in self.actors if a.spec.name == _BURST_ACTOR)
        spec = _ActorSpec(_BURST_ACTOR, "user", 0, _BURST_PROFILE, err_mult=0)
        actor = _Actor(spec, base.arn, base.ident, base.login, None, (ip,), (ip,))
        keys = ["sts:GetCallerIdentity", *_BURST_PROFILE]
        out = {k: _Combo(self, actor, _API_BY_KEY[k], (ua,), regional=False) for k in keys}
        for k, combo in out.items():
            combo.erate = 0 if k in _BURST_ALLOWED else _ERR_SCALE
            combo.errors = (combo.svc.denied,) * 8
        return out


def _ip_pools(wrng: random.Random) -> dict[str, tuple[str, ...]]:
    return {
        "@office": _OFFICE_IPS, "@vpn": (_VPN_IP,),
        "@ci": tuple(_public_ip(wrng, _CI_FIRST) for _ in range(6)),
        "@aws": tuple(_public_ip(wrng, _AWS_FIRST) for _ in range(8)),
        "@legacy": (_public_ip(wrng, _AWS_FIRST),),
        "@private": tuple(f"10.0.{wrng.randrange(1, 64)}.{wrng.randrange(4, 250)}"
                          for _ in range(4)),
    }


def _resolve_ips(plan: _Plan, spec: _ActorSpec, wrng: random.Random) -> tuple[str, ...]:
    out: list[str] = []
    for token in spec.ips:
        if token == "@home":  # one residential address per person
            out.append(_public_ip(wrng, _PUBLIC_FIRST))
        elif token.startswith("@"):
            out.extend(plan.pools[token])
        else:
            out.append(_fill(token, plan.worlds[0][0]))
    return tuple(out)


def _make_actor(plan: _Plan, spec: _ActorSpec, wrng: random.Random) -> _Actor:
    acct, salt = plan.account, plan.salt
    ips = _resolve_ips(plan, spec, wrng)
    vals = {k: _fill(v, plan.worlds[0][0]) for k, v in spec.vals}
    if "role" in vals:
        vals["role_id"] = _stable_id("AROA", 17, salt, vals["role"])
    login = None
    if spec.kind in ("user", "user-session", "root"):
        ident, login = _user_identities(spec, acct, salt)
        arn = ident["arn"]
    elif spec.kind == "role":
        ident, arn = _role_identity(spec, acct, salt, _fill(spec.session, plan.worlds[0][0]))
    elif spec.kind == "aws-service":
        ident, arn = {"type": "AWSService", "invokedBy": spec.name}, spec.name
    elif spec.kind == "web-identity":
        ident = _web_identity(acct)
        arn = ident["principalId"]
    else:  # service events: the minimal identity of the API's invoking service
        ident, arn = {"accountId": acct}, acct
    if spec.via:
        ident["invokedBy"] = spec.via
        ips = (spec.via,)
    session = None
    if "sessionContext" in ident:
        session = _Session(ident, spec.period, spec.mfa, f"{salt}|{spec.name}")
    login_ips = tuple(ip for ip in ips if ip[0].isdigit()) or ips
    return _Actor(spec, arn, None if session else ident, login, session, ips, login_ips, vals)


def _weighted_table(items: list[_Combo], weights: list[float], size: int) -> list[_Combo]:
    """Expand weights into a list of `size` entries (index with random bits: O(1) pick)."""
    total = sum(weights)
    table: list[_Combo] = []
    acc = 0.0
    for item, w in zip(items, weights, strict=True):
        acc += w
        upto = max(round(acc / total * size), len(table) + 1)  # every combo gets a slot
        table.extend([item] * (upto - len(table)))
    return table[:size] + [table[-1]] * (size - len(table))


def _pad(values: Sequence[Any], size: int) -> tuple[Any, ...]:
    """Repeat `values` cyclically to `size` entries, so random bits can index them."""
    return tuple(itertools.islice(itertools.cycle(values), size))


# ---------------------------------------------------------------------------------------
# Combos: one actor calling one API; builds its templates lazily
# ---------------------------------------------------------------------------------------

_VERSIONED = re.compile(r"20\d{6}(v\d)?$")  # Lambda event names carry an API version
_Hook = Callable[[dict[str, Any], int, int, random.Random], None]


class _Combo:
    __slots__ = ("actor", "api", "erate", "errors", "hooks", "ips", "ok", "plan", "rid",
                 "session", "slots", "source", "svc", "uas", "version", "wrong")

    def __init__(self, plan: _Plan, actor: _Actor, api: _Api,
                 uas: Sequence[str] | None = None, regional: bool = True) -> None:
        svc_name = api.key.partition(":")[0]
        spec = actor.spec
        self.plan, self.actor, self.api, self.svc = plan, actor, api, _SERVICES[svc_name]
        self.source = self.svc.source
        self.session = None if api.kind == "signin" else actor.session
        self.version = _VERSIONS[_crc(api.key) % len(_VERSIONS)]
        self.slots = _region_slots(plan, self.svc.is_global, regional)
        self.ok: list[dict[str, Any] | None] = [None] * (len(plan.regions) * _VARIANTS)
        self.wrong: dict[int, dict[str, Any]] = {}
        default = _READ_ERRORS if api.read_only else _WRITE_ERRORS
        rate = default if api.error_rate is None else api.error_rate
        self.erate = min(_ERR_SCALE, round(rate * spec.err_mult * _ERR_SCALE))
        self.errors = _pad([_error(self.svc, e) for e in api.errors or
                            ("denied", "denied", "throttled")], 8)
        self.ips, self.uas = _endpoints(actor, api, svc_name, uas)
        self.rid = 0 if api.kind in ("signin", "service-event") else (2 if svc_name == "s3"
                                                                       else 1)
        self.hooks = _hooks(api, svc_name, actor.spec)

    def _values(self, key: int) -> dict[str, str]:
        vals = self.plan.worlds[key >> 3][key & 7]
        if self.actor.vals:
            vals = {**vals, **self.actor.vals}
        return vals

    def ok_template(self, key: int) -> dict[str, Any]:
        """Template of a successful call for region/variant `key` (built on first use)."""
        tmpl = _layout(self, self._values(key), None)
        self.ok[key] = tmpl
        return tmpl

    def error_template(self, key: int, which: int) -> dict[str, Any]:
        """Template of failed call for `key` with the combo's error number `which` (0-7)."""
        slot = key << 3 | which
        cached = self.wrong.get(slot)
        if cached is not None:
            return cached
        vals = self._values(key)
        code, message = self.errors[which]
        if message is not None:
            resource = _fill(self.api.target, vals) or next(
                (r["ARN"] for r in _resources(self.api, vals)), "*")
            action = f"{self.svc.prefix}:{_VERSIONED.sub('', self.api.key.partition(':')[2])}"
            message = Template(message).safe_substitute(vals, arn=self.actor.arn,
                                                        action=action, resource=resource)
        tmpl = _layout(self, vals, (code, message))
        self.wrong[slot] = tmpl
        return tmpl


def _region_slots(plan: _Plan, is_global: bool, regional: bool) -> tuple[int, ...]:
    """Region index << 3 for each of _REGION_SLOTS random values (first region favoured)."""
    n = len(plan.regions)
    if is_global:
        return (plan.home << 3,) * _REGION_SLOTS
    if not regional or n == 1:
        return (0,) * _REGION_SLOTS
    primary = round(_REGION_SLOTS * _PRIMARY_SHARE)
    rest = [1 + i % (n - 1) for i in range(_REGION_SLOTS - primary)]
    return tuple(i << 3 for i in [0] * primary + rest)


def _error(svc: _Svc, key: str) -> tuple[str | None, str | None]:
    if key == "denied":
        return svc.denied
    if key == "throttled":
        return svc.throttled
    return _ERRORS[key]


def _endpoints(actor: _Actor, api: _Api, svc_name: str,
               uas: Sequence[str] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(16 source IPs, 8 user agents) to index with random bits."""
    spec = actor.spec
    if api.kind == "service-event":
        return _pad([api.by], 16), _pad([api.by], 8)
    if spec.via or spec.kind == "aws-service":
        who = spec.via or spec.name
        return _pad([who], 16), _pad([who], 8)
    if api.kind == "signin":
        browser = [_UA[u] for u in spec.uas if _UA[u].startswith("Mozilla")]
        return _pad(actor.login_ips, 16), _pad(browser or [_UA["browser"]], 8)
    names = list(uas or [_UA[u] for u in spec.uas])
    if svc_name == "s3":  # S3 logs SDK user agents in brackets; the console has its own
        names = [_UA["s3console"]] if spec.console else [
            f"[{u}]" if "/" in u else u for u in names]
    return _pad(actor.ips, 16), _pad(names, 8)


def _resources(api: _Api, vals: Mapping[str, str]) -> list[dict[str, str]]:
    out = []
    for kind in api.res:
        rtype, arn, with_account = _RESOURCES[kind]
        item: dict[str, str] = {"accountId": vals["acct"]} if with_account else {}
        if rtype is not None:
            item["type"] = rtype
        item["ARN"] = Template(arn).safe_substitute(vals)
        out.append(item)
    return out


def _tls(combo: _Combo, vals: Mapping[str, str]) -> dict[str, str] | None:
    spec = combo.actor.spec
    if spec.via or spec.kind == "aws-service" or combo.api.kind == "service-event":
        return None  # absent when an AWS service made the call
    version, suite, exchange = _TLS[_crc(spec.name, combo.api.key) % len(_TLS)]
    tls = {"tlsVersion": version, "cipherSuite": suite,
           "clientProvidedHostHeader": Template(combo.svc.host).safe_substitute(vals)}
    if combo.version == "1.11":
        tls["keyExchange"] = exchange
    return tls


def _layout(combo: _Combo, vals: Mapping[str, str],
            error: tuple[str | None, str | None] | None) -> dict[str, Any]:
    """A record template in the key order AWS uses; per-record fields are None here."""
    api, actor = combo.api, combo.actor
    ident = actor.login if api.kind == "signin" else actor.ident
    if api.kind == "service-event":
        ident = {"accountId": vals["acct"], "invokedBy": api.by}
    rec: dict[str, Any] = {
        "eventVersion": combo.version, "userIdentity": ident, "eventTime": None,
        "eventSource": combo.source, "eventName": api.key.partition(":")[2],
        "awsRegion": vals["region"], "sourceIPAddress": None, "userAgent": None}
    if error is not None:
        code, message = error
        if code is not None:
            rec["errorCode"] = code
        if message is not None:
            rec["errorMessage"] = message
    throttled = error is not None and error[0] == combo.svc.throttled[0]
    rec["requestParameters"] = None if throttled else _fill(api.params, vals)
    rec["responseElements"] = _response(api, vals, error)
    _layout_tail(combo, rec, vals)
    return rec


def _response(api: _Api, vals: Mapping[str, str],
              error: tuple[str | None, str | None] | None) -> Any:
    if api.kind == "signin":
        return {"ConsoleLogin": "Failure" if error else "Success"}
    return None if error is not None else _fill(api.response, vals)


def _layout_tail(combo: _Combo, rec: dict[str, Any], vals: Mapping[str, str]) -> None:
    api, spec = combo.api, combo.actor.spec
    if api.kind == "signin":
        rec["additionalEventData"] = {
            "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23"
            "&isauthcode=true", "MobileVersion": "No",
            # a wrong password fails before the MFA step
            "MFAUsed": "Yes" if spec.mfa and "errorMessage" not in rec else "No"}
    elif api.kind != "service-event" and api.extra is not None:
        rec["additionalEventData"] = _fill(api.extra, vals)
    elif combo.svc.prefix == "s3":
        rec["additionalEventData"] = None  # filled per record by _s3_extra
    if combo.rid:
        rec["requestID"] = None
    rec["eventID"] = None
    rec["readOnly"] = api.read_only
    resources = _resources(api, vals)
    if resources:
        rec["resources"] = resources
    rec["eventType"] = {"signin": "AwsConsoleSignIn",
                        "service-event": "AwsServiceEvent"}.get(api.kind, "AwsApiCall")
    if combo.svc.api_version and api.kind == "call":
        rec["apiVersion"] = combo.svc.api_version
    rec["managementEvent"] = api.kind != "data"
    rec["recipientAccountId"] = vals["acct"]
    if spec.kind == "aws-service":
        rec["sharedEventID"] = None
    _layout_endpoint(combo, rec, vals)


def _layout_endpoint(combo: _Combo, rec: dict[str, Any], vals: Mapping[str, str]) -> None:
    api, spec = combo.api, combo.actor.spec
    if spec.vpce and not combo.svc.is_global:
        digest = hashlib.blake2b(f"{vals['acct']}|{vals['region']}|{combo.source}".encode(),
                                 digest_size=8).hexdigest()
        rec["vpcEndpointId"] = f"vpce-0{digest}"
        if int(combo.version.split(".")[1]) >= 9:
            rec["vpcEndpointAccountId"] = vals["acct"]
    if api.kind == "service-event" and api.extra is not None:
        rec["serviceEventDetails"] = _fill(api.extra, vals)
    rec["eventCategory"] = "Data" if api.kind == "data" else "Management"
    tls = _tls(combo, vals)
    if tls is not None:
        rec["tlsDetails"] = tls
    if spec.console and api.kind == "call":
        rec["sessionCredentialFromConsole"] = "true"


# ---------------------------------------------------------------------------------------
# Per-record hooks for the few fields that must differ between records
# ---------------------------------------------------------------------------------------


def _s3_extra(rec: dict[str, Any], sec: int, r: int, rng: random.Random) -> None:
    size = 200 + (r >> 29) % 3_000_000
    name = rec["eventName"]
    tls = rec.get("tlsDetails")
    rec["additionalEventData"] = {
        "SignatureVersion": "SigV4",
        "CipherSuite": tls["cipherSuite"] if tls else "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": size if name == "PutObject" else 0,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": base64.b64encode(rng.getrandbits(448).to_bytes(56, "big")).decode(),
        "bytesTransferredOut": 0 if name == "PutObject" else (
            size if name == "GetObject" else 200 + size % 1800),
    }


def _sts_credentials(rec: dict[str, Any], sec: int, r: int, rng: random.Random) -> None:
    resp = rec["responseElements"]
    if resp is None:
        return
    resp = dict(resp)
    resp["credentials"] = {
        "accessKeyId": "ASIA" + base64.b32encode(rng.getrandbits(80).to_bytes(10, "big")).decode(),
        "sessionToken": resp["credentials"]["sessionToken"],
        "expiration": _java_time(sec + 3600)}
    rec["responseElements"] = resp


def _shared_event_id(rec: dict[str, Any], sec: int, r: int, rng: random.Random) -> None:
    rec["sharedEventID"] = _uuid_of(rng)


def _hooks(api: _Api, svc_name: str, spec: _ActorSpec) -> tuple[_Hook, ...]:
    hooks: list[_Hook] = []
    if svc_name == "s3":
        hooks.append(_s3_extra)
    if api.key.startswith("sts:AssumeRole"):
        hooks.append(_sts_credentials)
    if spec.kind == "aws-service":  # a service acting across accounts gets a shared id
        hooks.append(_shared_event_id)
    return tuple(hooks)


# ---------------------------------------------------------------------------------------
# Event times
# ---------------------------------------------------------------------------------------


def _density(start: float, end: float, diurnal: bool) -> tuple[list[float], list[float]]:
    """Hour-aligned bin edges over [start, end] and the cumulative weight at each edge."""
    edges = [start]
    edge = (int(start) // 3600 + 1) * 3600
    while edge < end:
        edges.append(float(edge))
        edge += 3600
    edges.append(end)
    cum = [0.0]
    for lo, hi in itertools.pairwise(edges):
        weight = 1.0
        if diurnal:
            hour = int(lo) // 3600
            weekend = (hour // 24 + 3) % 7 >= 5  # 1970-01-01 was a Thursday
            weight = _HOURLY[hour % 24] * (_WEEKEND if weekend else 1.0)
        cum.append(cum[-1] + weight * (hi - lo))
    return edges, cum


def _schedule(rng: random.Random, table: list[_Combo], n: int, start: float, end: float, *,
              ordered: bool, diurnal: bool,
              burst: Iterator[tuple[int, _Combo]]) -> Iterator[tuple[int, _Combo]]:
    """(second, combo) for each record. The `n` background times follow the activity
    density, stratified so they are spread evenly and come out sorted (ordered=False adds
    delivery-like jitter); the already sorted burst records are merged in."""
    edges, cum = _density(start, end, diurnal)
    slopes = [(e1 - e0) / (c1 - c0) if c1 > c0 else 0.0 for e0, e1, c0, c1 in
              zip(edges, edges[1:], cum, cum[1:], strict=False)]
    jitter = 0.0 if ordered else min(_JITTER_MAX, (end - start) * 0.01)
    rand, grb, step, last = rng.random, rng.getrandbits, cum[-1] / max(n, 1), len(slopes) - 1
    j, base, low, high, slope = 0, edges[0], cum[0], cum[1], slopes[0]
    never = (1 << 62, table[0])
    nxt = next(burst, never)
    for i in range(n):
        u = (i + rand()) * step
        while u >= high and j < last:  # stratified u only grows: walk the bins once
            j += 1
            base, low, high, slope = edges[j], cum[j], cum[j + 1], slopes[j]
        t = base + (u - low) * slope
        if jitter:
            t = min(max(t + (rand() * 2.0 - 1.0) * jitter, start), end)
        sec = int(t)
        while nxt[0] <= sec:
            yield nxt
            nxt = next(burst, never)
        yield sec, table[grb(_PICK_BITS)]
    if nxt is not never:
        yield nxt
        yield from burst


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def _burst_size(count: int) -> int:
    return min(count // 4, max(10, min(count // 50, _BURST_MAX)))


def burst_plan(*, seed: int, count: int, start: float, end: float,
               account: str = DEFAULT_ACCOUNT) -> DemoBurst | None:
    """Where generate(..., burst=True) puts its burst, or None when `count` is too small."""
    n = _burst_size(count)
    if n <= 0:
        return None
    rng = random.Random(f"opentrail-demo|{seed}|burst")
    span = end - start
    duration = min(rng.uniform(180.0, 480.0), span / 2)
    lo, hi = start + 0.1 * span, end - 0.1 * span - duration
    first = rng.uniform(lo, hi) if hi > lo else start
    ip = _public_ip(rng, _HOSTING_FIRST)
    return DemoBurst(start=first, end=first + duration, count=n,
                     principal_arn=f"arn:aws:iam::{account}:user/{_BURST_ACTOR}",
                     source_ip=ip, user_agent=rng.choice(_BURST_UAS))


def _burst_events(plan: _Plan, burst: DemoBurst, seed: int) -> Iterator[tuple[int, _Combo]]:
    """(time, combo) of each burst record, sorted; starts with the caller check."""
    rng = random.Random(f"opentrail-demo|{seed}|burst-events")
    combos = plan.burst_combos(burst.source_ip, burst.user_agent)
    keys = list(_BURST_PROFILE)
    pick = _weighted_table([combos[k] for k in keys], [_BURST_PROFILE[k] for k in keys], 256)
    span = burst.end - burst.start
    times = sorted(burst.start + rng.random() * span for _ in range(burst.count - 1))
    yield int(burst.start), combos["sts:GetCallerIdentity"]
    for t in times:
        yield int(t), pick[rng.getrandbits(8)]


def _validate(count: int, start: float, end: float, account: str,
              regions: Sequence[str]) -> None:
    if count < 0:
        raise ValueError("count must be >= 0")
    if not (math.isfinite(start) and math.isfinite(end) and 0 <= start <= end):
        raise ValueError("need finite 0 <= start <= end (epoch seconds)")
    if not re.fullmatch(r"\d{12}", account):
        raise ValueError(f"account must be 12 digits, got {account!r}")
    if not regions or isinstance(regions, str):
        raise ValueError("regions must be a non-empty sequence of region names")
    for region in regions:
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", region):
            raise ValueError(f"not a region name: {region!r}")


def generate(*, seed: int, count: int, start: float, end: float,
             account: str = DEFAULT_ACCOUNT, regions: Sequence[str] = ("us-east-1",),
             burst: bool = True, ordered: bool = True,
             diurnal: bool = True) -> Iterator[dict[str, Any]]:
    """Yield `count` CloudTrail records with eventTime in [start, end] (epoch seconds).

    Deterministic for a given set of arguments. `ordered` yields non-decreasing eventTime;
    otherwise records drift a few minutes like in real log files. `diurnal` makes
    business hours busier than nights and weekends. With `burst`, `burst_plan()` records
    (same seed/count/start/end/account) are an enumeration spike of one principal.
    Records share nested values: copy before mutating them.
    """
    _validate(count, start, end, account, regions)
    plan = _Plan(seed, account, tuple(regions))
    spike = burst_plan(seed=seed, count=count, start=start, end=end,
                       account=account) if burst else None
    return _stream(plan, seed=seed, count=count, start=start, end=end, spike=spike,
                   ordered=ordered, diurnal=diurnal)


def _stream(plan: _Plan, *, seed: int, count: int, start: float, end: float,
            spike: DemoBurst | None, ordered: bool, diurnal: bool) -> Iterator[dict[str, Any]]:
    """The record loop: copy the combo's template, then fill the per-record fields.
    Deliberately inlined: this loop is nearly the whole cost of generation."""
    rng = random.Random(seed)
    grb, secs, minutes = rng.getrandbits, _SECS, _MinuteCache()
    clear, set_bits = _UUID_CLEAR, _UUID_SET
    burst = _burst_events(plan, spike, seed) if spike else iter(())
    main = count - (spike.count if spike else 0)
    for sec, combo in _schedule(rng, plan.table, main, start, end, ordered=ordered,
                                diurnal=diurnal, burst=burst):
        r = grb(64)
        key = combo.slots[r & 63] | ((r >> 6) & 7)
        if ((r >> 9) & 1023) < combo.erate:
            rec = combo.error_template(key, (r >> 19) & 7).copy()
        else:
            rec = (combo.ok[key] or combo.ok_template(key)).copy()
        minute = sec // 60
        rec["eventTime"] = (minutes.get(minute) or minutes.add(minute)) + secs[sec % 60]
        h = ((grb(256) & clear) | set_bits).to_bytes(32, "big").hex()
        rec["eventID"] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        if combo.rid == 1:
            rec["requestID"] = f"{h[32:40]}-{h[40:44]}-{h[44:48]}-{h[48:52]}-{h[52:]}"
        elif combo.rid == 2:
            rec["requestID"] = h[32:48].upper()  # S3 request ids are 16 characters
        rec["sourceIPAddress"] = combo.ips[(r >> 22) & 15]
        rec["userAgent"] = combo.uas[(r >> 26) & 7]
        session = combo.session
        if session is not None:
            rec["userIdentity"] = (session.ident if sec // session.period == session.bucket
                                   else session.at(sec))
        if combo.hooks:
            for hook in combo.hooks:
                hook(rec, sec, r, rng)
        yield rec


class _MinuteCache(dict[int, str]):
    """"YYYY-MM-DDTHH:MM:" per epoch minute; bounded for very long unordered runs."""

    def add(self, minute: int) -> str:
        if len(self) >= 1 << 17:
            self.clear()
        prefix = self[minute] = time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))
        return prefix


def demo_batches(*, seed: int, count: int, start: float, end: float, batch_size: int = 1000,
                 account: str = DEFAULT_ACCOUNT, regions: Sequence[str] = ("us-east-1",),
                 burst: bool = True, ordered: bool = True,
                 diurnal: bool = True) -> Iterator[list[dict[str, Any]]]:
    """generate() in lists of up to `batch_size` records (e.g. one ingest request each)."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    records = generate(seed=seed, count=count, start=start, end=end, account=account,
                       regions=regions, burst=burst, ordered=ordered, diurnal=diurnal)
    while batch := list(itertools.islice(records, batch_size)):
        yield batch
