"""The AWS wire shapes of responses: JSON 1.1 bodies, error bodies, request ids."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.responses import Response

from opentrail.errors import OpenTrailError, ServiceUnavailable

__all__ = ["JSON_11", "error_response", "json_response", "new_request_id"]

JSON_11 = "application/x-amz-json-1.1"


def new_request_id() -> str:
    return str(uuid.uuid4())


def json_response(body: Any, request_id: str, *, status: int = 200,
                  content_type: str = JSON_11) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=content_type,
                    headers={"x-amzn-RequestId": request_id})


def error_response(err: OpenTrailError, request_id: str, *,
                   content_type: str = JSON_11) -> Response:
    """`{"__type", "message"}` with the error's status; x-amzn-ErrorType for rest-json."""
    response = json_response({"__type": err.code, "message": err.message}, request_id,
                             status=err.status, content_type=content_type)
    response.headers["x-amzn-ErrorType"] = err.code
    if isinstance(err, ServiceUnavailable):
        response.headers["Retry-After"] = str(err.retry_after)
    return response
