"""One small error hierarchy for the whole core.

Each class carries the AWS error code and HTTP status it becomes at the edge; `api/`
turns any of them into the wire shape in one place. Messages are whole sentences that
name the field and the mistake.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AccessDenied",
    "AuthError",
    "InvalidRecord",
    "NotFound",
    "OpenTrailError",
    "PayloadTooLarge",
    "RequestTimeout",
    "Throttled",
    "ValidationError",
]


class OpenTrailError(Exception):
    """Base of every error the service reports to a client."""

    code: str = "InternalFailure"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ValidationError(OpenTrailError):
    """The request is malformed or a parameter is out of range (HTTP 400)."""

    code = "InvalidParameterException"
    status = 400


class PayloadTooLarge(ValidationError):
    """The request is over a size or count limit (HTTP 413)."""

    code = "RequestEntityTooLargeException"
    status = 413


class RequestTimeout(OpenTrailError):
    """The client did not send its request body in the time allowed (HTTP 408)."""

    code = "RequestTimeoutException"
    status = 408


class NotFound(OpenTrailError):
    """A named resource does not exist (HTTP 400, as CloudTrail answers)."""

    code = "ResourceNotFoundException"
    status = 400


class AccessDenied(OpenTrailError):
    """The caller is authenticated but its role or account does not allow this."""

    code = "AccessDeniedException"
    status = 400


class AuthError(OpenTrailError):
    """The request is not authenticated: missing, unknown or bad signature (HTTP 403)."""

    code = "UnrecognizedClientException"
    status = 403


class Throttled(OpenTrailError):
    """Back-pressure: the writer is full. HTTP 400 so botocore's legacy mode retries it."""

    code = "ThrottlingException"
    status = 400


class InvalidRecord(OpenTrailError):
    """One event of a batch is rejected; its neighbours are not affected.

    `code` uses PutAuditEvents' per-event vocabulary: FieldNotFound, InvalidData,
    FieldTooLong, InvalidChecksum, InvalidRecipient.
    """

    code = "InvalidData"
    status = 400

    def __init__(self, field: str, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field
