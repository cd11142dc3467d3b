"""One small error hierarchy for the whole core.

Each class carries the AWS error code and HTTP status it becomes at the edge; `api/`
turns any of them into the wire shape in one place. Messages are whole sentences that
name the field and the mistake.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AWSOrganizationsNotInUse",
    "AccessDenied",
    "AuthError",
    "ChannelExistsForEDS",
    "CloudTrailARNInvalid",
    "CloudWatchLogsDeliveryUnavailable",
    "EventDataStoreARNInvalid",
    "EventDataStoreAlreadyExists",
    "EventDataStoreMaxLimitExceeded",
    "EventDataStoreNotFound",
    "EventDataStoreTerminationProtected",
    "EventsAlreadyExists",
    "EventsLimitExceeded",
    "EventsNotFound",
    "EventsValidation",
    "InactiveEventDataStore",
    "InactiveQuery",
    "InsightNotEnabled",
    "InsufficientS3BucketPolicy",
    "InsufficientSnsTopicPolicy",
    "InvalidDateRange",
    "InvalidEventDataStoreCategory",
    "InvalidEventDataStoreStatus",
    "InvalidEventPattern",
    "InvalidEventSelectors",
    "InvalidHomeRegion",
    "InvalidInsightSelectors",
    "InvalidMaxResults",
    "InvalidNextToken",
    "InvalidParameterCombination",
    "InvalidQueryStatement",
    "InvalidQueryStatus",
    "InvalidRecord",
    "InvalidS3BucketName",
    "InvalidS3Prefix",
    "InvalidSnsTopicName",
    "InvalidTagParameter",
    "InvalidTrailName",
    "MaxConcurrentQueries",
    "MaximumNumberOfTrailsExceeded",
    "NotFound",
    "NotOrganizationMasterAccount",
    "OpenTrailError",
    "OrganizationsNotInUse",
    "PayloadTooLarge",
    "QueryIdNotFound",
    "RequestTimeout",
    "ResourceTypeNotSupported",
    "S3BucketDoesNotExist",
    "ServiceUnavailable",
    "TagsLimitExceeded",
    "Throttled",
    "TrailAlreadyExists",
    "TrailNotFound",
    "TrailNotProvided",
    "UnsupportedOperation",
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


class ServiceUnavailable(OpenTrailError):
    """The database cannot be reached now; nothing was changed or acknowledged. HTTP 503
    with Retry-After, which every AWS SDK retries."""

    code = "ServiceUnavailable"
    status = 503
    retry_after: ClassVar[int] = 5


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


# -- CloudTrail's error codes for trails, declared once ---------------------------------------
# Raise these instead of repeating a code string at each raise site; the test
# tests/trails/test_trails_cloudtrail_exact.py checks every code here against botocore's
# cloudtrail and cloudtrail-data models.

class TrailNotFound(NotFound):
    code = "TrailNotFoundException"


class InvalidTrailName(ValidationError):
    code = "InvalidTrailNameException"


class TrailNotProvided(ValidationError):
    code = "TrailNotProvidedException"


class CloudTrailARNInvalid(ValidationError):
    code = "CloudTrailARNInvalidException"


class TrailAlreadyExists(ValidationError):
    code = "TrailAlreadyExistsException"


class MaximumNumberOfTrailsExceeded(ValidationError):
    code = "MaximumNumberOfTrailsExceededException"


class InvalidParameterCombination(ValidationError):
    code = "InvalidParameterCombinationException"


class InvalidHomeRegion(ValidationError):
    code = "InvalidHomeRegionException"


class InvalidS3BucketName(ValidationError):
    code = "InvalidS3BucketNameException"


class InvalidS3Prefix(ValidationError):
    code = "InvalidS3PrefixException"


class S3BucketDoesNotExist(ValidationError):
    code = "S3BucketDoesNotExistException"


class InsufficientS3BucketPolicy(ValidationError):
    """The bucket is another account's (folder storage, trails/_buckets.py)."""

    code = "InsufficientS3BucketPolicyException"


class InvalidSnsTopicName(ValidationError):
    code = "InvalidSnsTopicNameException"


class InsufficientSnsTopicPolicy(ValidationError):
    """A missing SNS topic; raised once OpenTrail has SNS targets (docs/trails.md)."""

    code = "InsufficientSnsTopicPolicyException"


class InvalidEventSelectors(ValidationError):
    code = "InvalidEventSelectorsException"


class InvalidInsightSelectors(ValidationError):
    code = "InvalidInsightSelectorsException"


class InsightNotEnabled(ValidationError):
    code = "InsightNotEnabledException"


class InvalidTagParameter(ValidationError):
    code = "InvalidTagParameterException"


class TagsLimitExceeded(ValidationError):
    code = "TagsLimitExceededException"


class ResourceTypeNotSupported(ValidationError):
    code = "ResourceTypeNotSupportedException"


class UnsupportedOperation(ValidationError):
    code = "UnsupportedOperationException"


class CloudWatchLogsDeliveryUnavailable(ValidationError):
    code = "CloudWatchLogsDeliveryUnavailableException"


class NotOrganizationMasterAccount(ValidationError):
    code = "NotOrganizationMasterAccountException"


class AWSOrganizationsNotInUse(ValidationError):
    """AWS Organizations' own code (DescribeOrganization), not CloudTrail's."""

    code = "AWSOrganizationsNotInUseException"


class OrganizationsNotInUse(ValidationError):
    """The server runs without an organization (`--organization-id none`)."""

    code = "OrganizationsNotInUseException"


# -- CloudTrail Lake's query errors (spec lake.md §10) ----------------------------------------

class InvalidQueryStatement(ValidationError):
    """The query statement has validation errors, or uses incorrect syntax or unsupported
    keywords."""

    code = "InvalidQueryStatementException"


class MaxConcurrentQueries(ValidationError):
    """The account already has 10 queued or running queries."""

    code = "MaxConcurrentQueriesException"


class QueryIdNotFound(NotFound):
    """The query ID does not exist or does not map to a query."""

    code = "QueryIdNotFoundException"


class InactiveQuery(ValidationError):
    """The query cannot be cancelled: it is FINISHED, FAILED, TIMED_OUT or CANCELLED."""

    code = "InactiveQueryException"


class InvalidDateRange(ValidationError):
    code = "InvalidDateRangeException"


class InvalidQueryStatus(ValidationError):
    code = "InvalidQueryStatusException"


# -- CloudTrail Lake: event data stores (spec lake.md §3, §10) ---------------------------------

class EventDataStoreNotFound(NotFound):
    code = "EventDataStoreNotFoundException"


class EventDataStoreARNInvalid(ValidationError):
    code = "EventDataStoreARNInvalidException"


class EventDataStoreAlreadyExists(ValidationError):
    code = "EventDataStoreAlreadyExistsException"


class EventDataStoreMaxLimitExceeded(ValidationError):
    code = "EventDataStoreMaxLimitExceededException"


class EventDataStoreTerminationProtected(ValidationError):
    code = "EventDataStoreTerminationProtectedException"


class ChannelExistsForEDS(ValidationError):
    code = "ChannelExistsForEDSException"


class InactiveEventDataStore(ValidationError):
    code = "InactiveEventDataStoreException"


class InvalidEventDataStoreStatus(ValidationError):
    code = "InvalidEventDataStoreStatusException"


class InvalidEventDataStoreCategory(ValidationError):
    code = "InvalidEventDataStoreCategoryException"


class InvalidMaxResults(ValidationError):
    code = "InvalidMaxResultsException"


class InvalidNextToken(ValidationError):
    code = "InvalidNextTokenException"


# -- CloudTrail Lake: imports (spec lake.md §8, §10) -------------------------------------------

class AccountHasOngoingImport(ValidationError):
    """A new import is started while a previous one of the account is still in progress."""

    code = "AccountHasOngoingImportException"


class ImportNotFound(NotFound):
    """The specified import was not found."""

    code = "ImportNotFoundException"


class InvalidImportSource(ValidationError):
    """The source S3 bucket is not valid for import."""

    code = "InvalidImportSourceException"


class EventDataStoreHasOngoingImport(ValidationError):
    """An event data store is updated or deleted while an import into it is in progress."""

    code = "EventDataStoreHasOngoingImportException"


# -- EventBridge (the `events` service model): event rules, connections, API destinations ------
# tests/rules/test_errors.py checks every code here against botocore's events model.

class InvalidEventPattern(ValidationError):
    """The event pattern is not valid JSON or breaks EventBridge's pattern grammar."""

    code = "InvalidEventPatternException"


class EventsNotFound(NotFound):
    """A rule, connection or API destination that does not exist."""

    code = "ResourceNotFoundException"


class EventsAlreadyExists(ValidationError):
    """A connection or API destination of that name already exists."""

    code = "ResourceAlreadyExistsException"


class EventsLimitExceeded(ValidationError):
    """A limit of EventBridge (targets per rule, rules per account) was reached."""

    code = "LimitExceededException"


class EventsValidation(ValidationError):
    """A parameter is missing or out of range (EventBridge's generic validation error)."""

    code = "ValidationException"
