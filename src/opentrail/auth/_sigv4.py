"""SigV4 header authentication, checked by recomputing the client's signature.

Canonicalisation is botocore's own (`SigV4Auth.canonical_request` / `string_to_sign`),
fed what the client actually sent: the raw path, the query pairs, exactly the headers
named in SignedHeaders and the client's timestamp. Only the signing key is derived here,
so it can be cached per (secret, date, region, service).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import NamedTuple
from urllib.parse import unquote

from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest

from opentrail.auth._keys import KeyStore
from opentrail.auth._principal import AuthContext, Principal
from opentrail.clock import Clock
from opentrail.errors import AuthError

__all__ = ["IncompleteSignatureError", "PendingSignature", "SigV4Verifier"]

ALGORITHM = "AWS4-HMAC-SHA256"
MISSING_TOKEN = "MissingAuthenticationTokenException"
UNRECOGNIZED_CLIENT = "UnrecognizedClientException"
INVALID_SIGNATURE = "InvalidSignatureException"

_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided."
    " Check your AWS Secret Access Key and signing method."
)
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
_PRESIGN_PARAMS = frozenset({"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm"})
_HEX = frozenset("0123456789abcdef")
_SCOPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_SIGNING_KEY_CACHE_LIMIT = 1024
# The canonical request takes the host from the signed Host header, never from this URL.
_URL_BASE = "http://opentrail.invalid"


class IncompleteSignatureError(AuthError):
    """The Authorization header or its companions are malformed (HTTP 400, as AWS)."""

    code = "IncompleteSignatureException"
    status = 400


@dataclass(frozen=True, slots=True)
class _Authorization:
    """The parsed `Authorization: AWS4-HMAC-SHA256 ...` header."""

    access_key_id: str
    date: str  # YYYYMMDD from the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


class SigV4Verifier:
    """Checks SigV4 header signatures against the keys in a KeyStore."""

    def __init__(self, keys: KeyStore, clock: Clock, max_skew: float = 900) -> None:
        self._keys = keys
        self._clock = clock
        self._max_skew = max_skew
        self._signing_keys: dict[tuple[str, str, str, str], bytes] = {}

    def verify(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> AuthContext:
        """Authenticate one request; raises AuthError with the AWS code on failure.

        `path` and `query` are the raw, still percent-encoded request target as sent
        (ASGI `raw_path` and `query_string`), split at the first "?". `headers` may
        repeat a name in `items()` (Starlette's Headers do); values are then joined.
        """
        return self.check_headers(method, path, query, headers).verify(body)

    def check_headers(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
    ) -> PendingSignature:
        """Everything that can be checked before the body is read: the Authorization
        header's form and credential scope, a known and active access key, X-Amz-Date
        within the allowed skew. The signature itself covers the body, so the returned
        `PendingSignature` finishes the check once the body is in."""
        lower = _lower_headers(headers)
        pairs = _query_pairs(query)
        auth = _parse_authorization(_authorization_header(lower, pairs))
        amz_date, signed_at = _amz_date(lower, auth)
        found = self._keys.lookup(auth.access_key_id)
        if found is None:
            raise AuthError(
                "The security token included in the request is invalid.",
                code=UNRECOGNIZED_CLIENT,
            )
        principal, secret = found
        self._check_skew(amz_date, signed_at)
        signed = _SignedHeaders(
            (name, lower[name]) for name in auth.signed_headers if name in lower
        )
        request = _SignedRequest(method, path, query, pairs, amz_date, lower)
        return PendingSignature(auth, principal, self._signing_key(secret, auth), signed,
                                request)

    def _check_skew(self, amz_date: str, signed_at: float) -> None:
        now = self._clock.now()
        minutes = f"{self._max_skew / 60:g} min."
        if signed_at < now - self._max_skew:
            raise AuthError(
                f"Signature expired: {amz_date} is now earlier than"
                f" {_format(now - self._max_skew)} ({_format(now)} - {minutes})",
                code=INVALID_SIGNATURE,
            )
        if signed_at > now + self._max_skew:
            raise AuthError(
                f"Signature not yet current: {amz_date} is still later than"
                f" {_format(now + self._max_skew)} ({_format(now)} + {minutes})",
                code=INVALID_SIGNATURE,
            )

    def _signing_key(self, secret: str, auth: _Authorization) -> bytes:
        """kSigning of the SigV4 spec; changes once a day per key, region and service."""
        cache_key = (secret, auth.date, auth.region, auth.service)
        key = self._signing_keys.get(cache_key)
        if key is None:
            key = ("AWS4" + secret).encode()
            for part in (auth.date, auth.region, auth.service, "aws4_request"):
                key = hmac.new(key, part.encode(), sha256).digest()
            if len(self._signing_keys) >= _SIGNING_KEY_CACHE_LIMIT:
                self._signing_keys.clear()
            self._signing_keys[cache_key] = key
        return key


class _SignedRequest(NamedTuple):
    """What the client sent, apart from the body."""

    method: str
    path: str
    query: str
    pairs: list[tuple[str, str]]
    amz_date: str
    lower: dict[str, str]


class PendingSignature:
    """A request whose headers passed every check; `verify(body)` checks the signature."""

    def __init__(self, auth: _Authorization, principal: Principal, signing_key: bytes,
                 signed: _SignedHeaders, request: _SignedRequest) -> None:
        self._auth = auth
        self._principal = principal
        self._signing_key = signing_key
        self._signed = signed
        self._request = request

    def verify(self, body: bytes) -> AuthContext:
        """The AuthContext if the client's signature covers this body; else AuthError."""
        auth, sent = self._auth, self._request
        signer = _ServerSigner(
            auth, self._signing_key, self._signed, _payload_hash(sent.lower, body)
        )
        for expected in signer.candidates(sent.method, sent.path, sent.query, sent.pairs,
                                          sent.amz_date):
            if hmac.compare_digest(expected, auth.signature):
                return AuthContext(self._principal, auth.region, auth.service)
        raise AuthError(_SIGNATURE_MISMATCH, code=INVALID_SIGNATURE)


class _SignedHeaders(dict[str, str]):
    """The part of botocore's HTTPHeaders that canonical_headers uses, without the
    cost of email.message; values of repeated headers arrive already comma-joined."""

    def get_all(self, name: str) -> list[str]:
        return [self[name]]


class _ServerSigner(SigV4Auth):  # type: ignore[misc]  # botocore ships no types
    """botocore's signer, told what the client sent instead of deciding like a client."""

    def __init__(
        self,
        auth: _Authorization,
        signing_key: bytes,
        signed: _SignedHeaders,
        payload_hash: str,
    ) -> None:
        super().__init__(None, auth.service, auth.region)
        self._signed = signed
        self._signing_key = signing_key
        self._payload_hash = payload_hash

    def candidates(
        self,
        method: str,
        path: str,
        query: str,
        pairs: list[tuple[str, str]],
        amz_date: str,
    ) -> Iterator[str]:
        """The signatures the client may have made, by botocore's canonicalisation.

        First the SigV4 form: botocore re-encodes the decoded pairs (RFC 3986, sorted),
        which is what SDKs sign and equals the raw query whenever the client encoded it
        so. Then, only if it differs, the query exactly as sent: what botocore's signer
        makes of a hand-built URL with unencoded characters (`?arn=arn:aws:...`).
        """
        url = _URL_BASE + (path or "/")
        canonical = self._canonical(method, url, pairs, amz_date)
        yield canonical[1]
        if query:
            raw = self._canonical(method, f"{url}?{query}", [], amz_date)
            if raw[0] != canonical[0]:
                yield raw[1]

    def _canonical(
        self, method: str, url: str, pairs: list[tuple[str, str]], amz_date: str
    ) -> tuple[str, str]:
        """(canonical request, signature) for a request rebuilt from what was sent:
        only the signed headers, and the client's time rather than now."""
        request = AWSRequest(method=method, url=url, headers=self._signed, params=pairs)
        request.context["timestamp"] = amz_date
        canonical = str(self.canonical_request(request))
        return canonical, str(self.signature(self.string_to_sign(request, canonical), request))

    def headers_to_sign(self, request: AWSRequest) -> _SignedHeaders:
        # Exactly the client's SignedHeaders: botocore's client-side skip list
        # (user-agent, expect, ...) must not drop a header another client chose to sign.
        return self._signed

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash

    def signature(self, string_to_sign: str, request: AWSRequest) -> str:
        return str(self._sign(self._signing_key, string_to_sign, hex=True))


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Names lowercased; a repeated header becomes one value, comma-joined after
    trimming each, as the SigV4 canonical form writes it."""
    lower: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in lower:
            lower[key] = f"{' '.join(lower[key].split())},{' '.join(value.split())}"
        else:
            lower[key] = value
    return lower


def _authorization_header(lower: Mapping[str, str], pairs: list[tuple[str, str]]) -> str:
    if _PRESIGN_PARAMS.intersection(key for key, _ in pairs):
        raise IncompleteSignatureError(
            "Query-string (presigned URL) authentication is not supported; sign the"
            " request with SigV4 in the Authorization header."
        )
    header = lower.get("authorization")
    if header is None:
        raise AuthError("Request is missing Authentication Token", code=MISSING_TOKEN)
    return header


def _query_pairs(query: str) -> list[tuple[str, str]]:
    if not query:
        return []
    pairs = []
    for item in query.split("&"):
        key, _, value = item.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


def _parse_authorization(header: str) -> _Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureError(
            f"Unsupported authorization algorithm {algorithm!r}; sign requests with"
            f" {ALGORITHM} (Signature Version 4) in the Authorization header."
        )
    params: dict[str, str] = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        params[name] = value
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not params.get(n)]
    if missing:
        raise IncompleteSignatureError(
            " ".join(f"Authorization header requires '{n}' parameter." for n in missing)
        )
    signature = params["Signature"]
    if len(signature) != 64 or not _HEX.issuperset(signature):
        raise IncompleteSignatureError("Signature must be 64 lowercase hexadecimal characters.")
    signed_headers = tuple(params["SignedHeaders"].split(";"))
    if "host" not in signed_headers:
        raise IncompleteSignatureError("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    key_id, date, region, service = _parse_credential(params["Credential"])
    return _Authorization(key_id, date, region, service, signed_headers, signature)


def _parse_credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not parts[0]:
        raise IncompleteSignatureError(
            "Credential must have the form"
            f" ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request, not {credential!r}."
        )
    key_id, date, region, service, terminator = parts
    if terminator != "aws4_request":
        raise IncompleteSignatureError(
            f"Credential should be scoped with a valid terminator: 'aws4_request',"
            f" not {terminator!r}."
        )
    if len(date) != 8 or not (date.isascii() and date.isdigit()):
        raise IncompleteSignatureError(f"Credential scope date must be YYYYMMDD, not {date!r}.")
    for label, value in (("region", region), ("service", service)):
        if not value or not _SCOPE_CHARS.issuperset(value):
            raise IncompleteSignatureError(
                f"Credential should be scoped to a valid {label}, not {value!r}."
            )
    return key_id, date, region, service


def _amz_date(lower: Mapping[str, str], auth: _Authorization) -> tuple[str, float]:
    """X-Amz-Date as sent, and as epoch seconds."""
    amz_date = lower.get("x-amz-date")
    if amz_date is None:
        raise IncompleteSignatureError(
            "Authorization header requires existence of a 'X-Amz-Date' header."
        )
    match = _AMZ_DATE.fullmatch(amz_date)
    try:
        if match is None:
            raise ValueError(amz_date)
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        signed_at = datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    except ValueError:
        raise IncompleteSignatureError(
            f"X-Amz-Date must be in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z'), not {amz_date!r}."
        ) from None
    if amz_date[:8] != auth.date:
        raise AuthError(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of"
            f" date from HTTP: '{auth.date}' != '{amz_date[:8]}', from 'X-Amz-Date'.",
            code=INVALID_SIGNATURE,
        )
    return amz_date, signed_at


def _payload_hash(lower: Mapping[str, str], body: bytes) -> str:
    """What the client put in the canonical request for the body, checked against it."""
    declared = lower.get("x-amz-content-sha256")
    if declared is None:
        return sha256(body).hexdigest()
    if declared == UNSIGNED_PAYLOAD:
        return declared  # the client chose not to sign the body
    if len(declared) != 64 or not _HEX.issuperset(declared):
        raise IncompleteSignatureError(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or the lowercase hex SHA-256 of"
            f" the body; {declared!r} is not supported."
        )
    if not hmac.compare_digest(declared, sha256(body).hexdigest()):
        raise AuthError(
            "The x-amz-content-sha256 header does not match the SHA-256 of the request body.",
            code=INVALID_SIGNATURE,
        )
    return declared


def _format(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(_AMZ_DATE_FORMAT)
