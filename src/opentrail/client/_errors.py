"""The errors an ingest request can end with, and how a response becomes one."""

from __future__ import annotations

import httpx
import orjson

__all__ = ["IngestAuthError", "IngestConnectionError", "IngestError", "error_from_response"]

# Codes that mean "try again later": botocore's legacy and standard retry modes agree on these.
_RETRYABLE_CODES = frozenset({
    "ThrottlingException", "Throttling", "TooManyRequestsException",
    "RequestLimitExceeded", "ServiceUnavailable", "InternalFailure",
})
# 403s and AccessDenied: the key is unknown, the signature is wrong, or the role is too small.
_AUTH_CODES = frozenset({"AccessDeniedException", "AccessDenied"})


class IngestError(Exception):
    """A request-level failure: the server answered with an error, or could not be reached."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again later may succeed."""
        return self.code in _RETRYABLE_CODES or self.status in (429, 509) or (
            self.status is not None and self.status >= 500
        )


class IngestConnectionError(IngestError):
    """The server could not be reached, or the connection broke before an answer came."""

    @property
    def retryable(self) -> bool:
        return True


class IngestAuthError(IngestError):
    """No credentials, or the server rejected them (unknown key, bad signature, role)."""

    @property
    def retryable(self) -> bool:
        return False


def _code_from(header: str | None, body_type: object, status: int) -> str:
    # botocore's rule: header first, then __type; drop any ":..." suffix and "ns#" prefix.
    raw = header or (body_type if isinstance(body_type, str) else "") or str(status)
    return raw.split(":", 1)[0].rsplit("#", 1)[-1]


def error_from_response(response: httpx.Response) -> IngestError:
    """Turn a non-200 answer with an AWS JSON error body (or any other body) into an error."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        body = {"message": response.text[:500] or response.reason_phrase}
    code = _code_from(response.headers.get("x-amzn-ErrorType"), body.get("__type"),
                      response.status_code)
    message = str(body.get("message") or body.get("Message") or "")
    kind = IngestAuthError if response.status_code == 403 or code in _AUTH_CODES else IngestError
    return kind(code, message, status=response.status_code)
