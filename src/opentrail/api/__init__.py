"""The HTTP edge: AWS JSON 1.1 and rest-json in, AWS-shaped answers and errors out."""

from opentrail.api._app import TARGET_PREFIX, build_app

__all__ = ["TARGET_PREFIX", "build_app"]
