"""SigV4Verifier against requests signed by botocore itself and by real boto3 clients."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.datastructures import Headers

from opentrail.auth import AuthContext, KeyStore, Role, SigV4Verifier
from opentrail.clock import ManualClock
from opentrail.errors import AuthError

from .conftest import ACCOUNT, ENDPOINT, Signer, Wire

Check = Callable[[Wire], AuthContext]

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided."
    " Check your AWS Secret Access Key and signing method."
)
CHANNEL_ARN = "arn:aws:cloudtrail:us-east-1:123456789012:channel/01234567-89ab-cdef"


def auth_error(check: Check, wire: Wire) -> AuthError:
    with pytest.raises(AuthError) as caught:
        check(wire)
    return caught.value


def assert_mismatch(check: Check, wire: Wire) -> None:
    error = auth_error(check, wire)
    assert (error.code, error.status, error.message) == (
        "InvalidSignatureException", 403, SIGNATURE_MISMATCH
    )


class CapturedError(Exception):
    """Raised from botocore's before-send hook so nothing goes on the network."""

    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def capture(client: Any, call: Callable[[], object]) -> Any:
    def stop(request: Any, **_: Any) -> None:
        raise CapturedError(request)

    client.meta.events.register("before-send", stop)
    with pytest.raises(CapturedError) as caught:
        call()
    return caught.value.request


def boto3_client(service: str, key: tuple[str, str], region: str = "us-east-1") -> Any:
    return boto3.client(
        service, endpoint_url=ENDPOINT, region_name=region,
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
    )


# --- requests that verify ---------------------------------------------------------------

def test_signed_request_verifies(sign: Signer, check: Check, key: tuple[str, str]) -> None:
    context = check(sign(headers={"X-Amz-Target": "CloudTrail_20131101.LookupEvents"}))
    assert context.principal.access_key_id == key[0]
    assert context.principal.account == ACCOUNT
    assert context.principal.role is Role.WRITER
    assert (context.region, context.service) == ("us-east-1", "cloudtrail")


def test_region_and_service_come_from_the_credential_scope(sign: Signer, check: Check) -> None:
    context = check(sign(region="eu-west-3", service="opentrail"))
    assert (context.region, context.service) == ("eu-west-3", "opentrail")


def test_boto3_cloudtrail_json_request_verifies(
    key: tuple[str, str], check: Check, wire_of: Callable[[Any], Wire]
) -> None:
    client = boto3_client("cloudtrail", key, region="ap-south-1")
    request = capture(client, lambda: client.lookup_events(MaxResults=5))
    wire = wire_of(request)
    assert wire.headers["X-Amz-Target"].endswith("CloudTrail_20131101.LookupEvents")
    assert check(wire).region == "ap-south-1"


def test_boto3_cloudtrail_data_encoded_arn_query_verifies(
    key: tuple[str, str], check: Check, wire_of: Callable[[Any], Wire]
) -> None:
    client = boto3_client("cloudtrail-data", key)
    request = capture(client, lambda: client.put_audit_events(
        auditEvents=[{"id": "1", "eventData": "{}"}],
        channelArn=CHANNEL_ARN, externalId="ext id/1",
    ))
    wire = wire_of(request)
    assert wire.path == "/PutAuditEvents"
    assert "channelArn=arn%3Aaws%3Acloudtrail%3Aus-east-1%3A123456789012" in wire.query
    assert check(wire).service == "cloudtrail-data"
    assert_mismatch(check, replace(wire, query=wire.query.replace("ext%20id", "ext%20ie")))


def test_query_parameters_in_any_order_verify(sign: Signer, check: Check) -> None:
    wire = sign(f"{ENDPOINT}/PutAuditEvents?z=1&channelArn=arn%3Aaws%3Ax&a=&a=b")
    assert check(wire)


def test_query_with_unencoded_characters_verifies(sign: Signer, check: Check) -> None:
    # A hand-built URL signed by botocore as is, without percent-encoding.
    wire = sign(f"{ENDPOINT}/PutAuditEvents?channelArn={CHANNEL_ARN}")
    assert wire.query == f"channelArn={CHANNEL_ARN}"
    assert check(wire)


def test_query_with_lowercase_escapes_verifies_as_sigv4_canonical(
    key: tuple[str, str], check: Check, wire_of: Callable[[Any], Wire]
) -> None:
    # Clients that follow the spec sign the re-encoded form (%3A), whatever they sent.
    request = AWSRequest(method="GET", url=f"{ENDPOINT}/x?arn=arn%3Aaws%3Ax")
    SigV4Auth(Credentials(*key), "cloudtrail", "us-east-1").add_auth(request)
    wire = wire_of(request)
    assert check(replace(wire, query="arn=arn%3aaws%3ax"))


def test_encoded_path_verifies(sign: Signer, check: Check) -> None:
    wire = sign(f"{ENDPOINT}/channels/a%20b%2Fc/events")
    assert wire.path == "/channels/a%20b%2Fc/events"
    assert check(wire)


def test_host_with_port_verifies_and_is_signed(sign: Signer, check: Check) -> None:
    wire = sign("http://localhost:8420/")
    assert wire.headers["Host"] == "localhost:8420"
    assert check(wire)
    assert_mismatch(check, wire.with_headers(Host="localhost:8421"))


def test_header_names_in_any_case_verify(sign: Signer, check: Check) -> None:
    wire = sign()
    lower = {name.lower(): value for name, value in wire.headers.items()}
    assert check(replace(wire, headers=lower))


def test_header_with_repeated_spaces_verifies(sign: Signer, check: Check) -> None:
    wire = sign(headers={"X-Note": "  several   spaces  here "})
    assert check(wire)
    assert check(wire.with_headers(X_Note="several spaces here"))  # a proxy may trim


def test_repeated_headers_verify_as_starlette_delivers_them(
    key: tuple[str, str], check: Check, wire_of: Callable[[Any], Wire]
) -> None:
    request = AWSRequest(method="POST", url=f"{ENDPOINT}/", data=b"{}")
    request.headers["X-Dup"] = "first"
    request.headers["X-Dup"] = "  second   value "  # HTTPHeaders keeps both
    SigV4Auth(Credentials(*key), "cloudtrail", "us-east-1").add_auth(request)
    wire = wire_of(request)
    raw = [(name.lower().encode(), value.encode()) for name, value in request.headers.items()]
    raw.append((b"host", wire.headers["Host"].encode()))
    assert check(replace(wire, headers=Headers(raw=raw)))


def test_unsigned_headers_may_change(sign: Signer, check: Check) -> None:
    wire = sign()
    assert check(wire.with_headers(User_Agent="something else", X_Forwarded_For="10.0.0.1"))


def test_content_sha256_header_verifies(sign: Signer, check: Check) -> None:
    body = b'{"Records": []}'
    digest = hashlib.sha256(body).hexdigest()
    wire = sign(body=body, headers={"X-Amz-Content-SHA256": digest})
    assert check(wire)
    error = auth_error(check, replace(wire, body=b'{"Records": [1]}'))
    assert error.code == "InvalidSignatureException"


def test_unsigned_payload_verifies_any_body(sign: Signer, check: Check) -> None:
    wire = sign(body=b"original", headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert check(wire)
    assert check(replace(wire, body=b"the client chose not to sign the body"))


def test_empty_body_get_verifies(sign: Signer, check: Check) -> None:
    assert check(sign(f"{ENDPOINT}/health?verbose=1", method="GET", body=b""))


def test_organization_key_verifies(store: KeyStore, sign: Signer, check: Check) -> None:
    principal, secret = store.create(account=None, organization=True, role=Role.ADMIN)
    context = check(sign(credentials=(principal.access_key_id, secret)))
    assert context.principal.organization
    assert context.principal.may_access("999999999999")


def test_repeated_verification_reuses_the_signing_key(sign: Signer, check: Check) -> None:
    first, second = sign(), sign(body=b'{"other": true}')
    assert check(first) == check(second) == check(first)


# --- tampering --------------------------------------------------------------------------

def test_tampered_body_is_rejected(sign: Signer, check: Check) -> None:
    wire = sign(body=b'{"MaxResults": 5}')
    assert_mismatch(check, replace(wire, body=b'{"MaxResults": 50}'))


def test_tampered_signed_header_is_rejected(sign: Signer, check: Check) -> None:
    wire = sign(headers={"X-Amz-Target": "CloudTrail_20131101.LookupEvents"})
    assert_mismatch(check, wire.with_headers(X_Amz_Target="CloudTrail_20131101.DeleteTrail"))


def test_missing_signed_header_is_rejected(sign: Signer, check: Check) -> None:
    wire = sign(headers={"X-Amz-Target": "CloudTrail_20131101.LookupEvents"})
    headers = {k: v for k, v in wire.headers.items() if k != "X-Amz-Target"}
    assert_mismatch(check, replace(wire, headers=headers))


def test_tampered_query_is_rejected(sign: Signer, check: Check) -> None:
    wire = sign(f"{ENDPOINT}/PutAuditEvents?channelArn=arn%3Aaws%3Aa")
    assert_mismatch(check, replace(wire, query="channelArn=arn%3Aaws%3Ab"))
    assert_mismatch(check, replace(wire, query=wire.query + "&extra=1"))


def test_tampered_path_and_method_are_rejected(sign: Signer, check: Check) -> None:
    wire = sign(f"{ENDPOINT}/PutAuditEvents")
    assert_mismatch(check, replace(wire, path="/DeleteChannel"))
    assert_mismatch(check, replace(wire, method="PUT"))


def test_wrong_secret_is_rejected(sign: Signer, check: Check, key: tuple[str, str]) -> None:
    assert_mismatch(check, sign(credentials=(key[0], "x" * 40)))


def test_body_not_matching_content_sha256_is_rejected(sign: Signer, check: Check) -> None:
    wire = sign(body=b"a", headers={"X-Amz-Content-SHA256": "0" * 64})
    error = auth_error(check, wire)
    assert error.code == "InvalidSignatureException"
    assert "x-amz-content-sha256" in error.message


# --- unknown and deleted keys -----------------------------------------------------------

def test_unknown_key_is_unrecognized(sign: Signer, check: Check) -> None:
    for key_id in ("OTAKAAAAAAAAAAAAAAAA", "AKIAIOSFODNN7EXAMPLE"):
        error = auth_error(check, sign(credentials=(key_id, "x" * 40)))
        assert (error.code, error.status) == ("UnrecognizedClientException", 403)
        assert error.message == "The security token included in the request is invalid."


def test_deleted_key_stops_working_at_once(
    store: KeyStore, sign: Signer, check: Check, key: tuple[str, str]
) -> None:
    wire = sign()
    assert check(wire)
    assert store.delete(key[0])
    assert auth_error(check, wire).code == "UnrecognizedClientException"


# --- clock skew -------------------------------------------------------------------------

def test_small_skew_is_accepted_both_ways(sign: Signer, check: Check, clock: ManualClock) -> None:
    wire = sign()
    clock.advance(14 * 60)
    assert check(wire)
    clock.advance(-28 * 60)
    assert check(wire)


def test_old_signature_has_expired(sign: Signer, check: Check, clock: ManualClock) -> None:
    wire = sign()
    clock.advance(16 * 60)
    error = auth_error(check, wire)
    assert (error.code, error.status) == ("InvalidSignatureException", 403)
    amz_date = wire.headers["X-Amz-Date"]
    assert error.message.startswith(f"Signature expired: {amz_date} is now earlier than ")
    assert error.message.endswith(" - 15 min.)")


def test_future_signature_is_not_yet_current(
    sign: Signer, check: Check, clock: ManualClock
) -> None:
    wire = sign()
    clock.advance(-16 * 60)
    error = auth_error(check, wire)
    assert (error.code, error.status) == ("InvalidSignatureException", 403)
    amz_date = wire.headers["X-Amz-Date"]
    assert error.message.startswith(f"Signature not yet current: {amz_date} is still later than ")
    assert error.message.endswith(" + 15 min.)")


def test_max_skew_is_configurable(store: KeyStore, sign: Signer, clock: ManualClock) -> None:
    wire = sign()
    clock.advance(61)
    strict = SigV4Verifier(store, clock, max_skew=60)
    with pytest.raises(AuthError, match=r"^Signature expired: .* - 1 min\.\)$"):
        strict.verify(wire.method, wire.path, wire.query, wire.headers, wire.body)


# --- missing and malformed authentication -----------------------------------------------

def test_missing_authorization_header(sign: Signer, check: Check) -> None:
    wire = sign(f"{ENDPOINT}/PutAuditEvents?channelArn=x")
    headers = {k: v for k, v in wire.headers.items() if k != "Authorization"}
    error = auth_error(check, replace(wire, headers=headers))
    assert (error.code, error.status) == ("MissingAuthenticationTokenException", 403)
    assert error.message == "Request is missing Authentication Token"


def incomplete(check: Check, wire: Wire, message_part: str) -> None:
    error = auth_error(check, wire)
    assert (error.code, error.status) == ("IncompleteSignatureException", 400)
    assert message_part in error.message


@pytest.mark.parametrize(
    ("authorization", "message_part"),
    [
        ("AWS AKIDEXAMPLE:c2lnbmF0dXJl", "Unsupported authorization algorithm 'AWS'"),
        ("AWS4-HMAC-SHA256", "requires 'Credential' parameter"),
        ("AWS4-HMAC-SHA256 Credential=OTAKAAAAAAAAAAAAAAAA/20240101/us-east-1/x/aws4_request",
         "requires 'SignedHeaders' parameter"),
        ("AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/x/aws4_request, "
         "SignedHeaders=host, Signature=nothex", "64 lowercase hexadecimal"),
        ("AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/aws4_request, "
         "SignedHeaders=host, Signature=" + "0" * 64, "Credential must have the form"),
        ("AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/x/aws5_request, "
         "SignedHeaders=host, Signature=" + "0" * 64, "valid terminator"),
        ("AWS4-HMAC-SHA256 Credential=A/2024-1-1/us-east-1/x/aws4_request, "
         "SignedHeaders=host, Signature=" + "0" * 64, "YYYYMMDD"),
        ("AWS4-HMAC-SHA256 Credential=A/20240101/US East/x/aws4_request, "
         "SignedHeaders=host, Signature=" + "0" * 64, "valid region"),
        ("AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/x/aws4_request, "
         "SignedHeaders=x-amz-date, Signature=" + "0" * 64, "'Host' must be a 'SignedHeader'"),
    ],
)
def test_malformed_authorization_is_incomplete(
    sign: Signer, check: Check, authorization: str, message_part: str
) -> None:
    incomplete(check, sign().with_headers(Authorization=authorization), message_part)


def test_missing_or_malformed_amz_date_is_incomplete(sign: Signer, check: Check) -> None:
    wire = sign()
    headers = {k: v for k, v in wire.headers.items() if k != "X-Amz-Date"}
    incomplete(check, replace(wire, headers=headers), "'X-Amz-Date'")
    incomplete(check, wire.with_headers(X_Amz_Date="2024-01-01T00:00:00Z"), "ISO 8601 basic")
    incomplete(check, wire.with_headers(X_Amz_Date="20241301T000000Z"), "ISO 8601 basic")


def test_amz_date_outside_the_credential_scope_is_rejected(sign: Signer, check: Check) -> None:
    wire = sign()
    error = auth_error(check, wire.with_headers(X_Amz_Date="20000101T000000Z"))
    assert error.code == "InvalidSignatureException"
    assert "Date in Credential scope does not match" in error.message


def test_presigned_url_is_not_supported(
    key: tuple[str, str], check: Check, wire_of: Callable[[Any], Wire]
) -> None:
    request = AWSRequest(method="GET", url=f"{ENDPOINT}/?Action=LookupEvents")
    SigV4QueryAuth(Credentials(*key), "cloudtrail", "us-east-1").add_auth(request)
    wire = wire_of(request)
    assert "X-Amz-Signature=" in wire.query
    incomplete(check, wire, "Authorization header")


def test_unsupported_content_sha256_is_incomplete(sign: Signer, check: Check) -> None:
    wire = sign(headers={"X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"})
    incomplete(check, wire, "x-amz-content-sha256")


def test_incomplete_signature_is_an_auth_error_with_status_400(sign: Signer, check: Check) -> None:
    error = auth_error(check, sign().with_headers(Authorization="AWS4-HMAC-SHA256"))
    assert isinstance(error, AuthError)
    assert type(error).status == 400
    assert AuthError.status == 403
