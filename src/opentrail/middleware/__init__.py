"""Record every request of a web application as a CloudTrail event (docs/applications.md).

    from opentrail.middleware import AuditMiddleware
    app.add_middleware(AuditMiddleware, app_name="myapp.example.com",
                       identity=lambda request: {"type": "AppUser", "userName": ...})

`AuditWSGIMiddleware` does the same for Flask and Django. Events go to an
`opentrail.client.EventBuffer`: the request never waits for OpenTrail.
"""

from opentrail.middleware._asgi import AuditMiddleware
from opentrail.middleware._options import ENDPOINT_ENV, make_recorder
from opentrail.middleware._recorder import DEFAULT_REDACT, HIDDEN, Identity, Recorder, error_code
from opentrail.middleware._wsgi import AuditWSGIMiddleware

__all__ = [
    "DEFAULT_REDACT",
    "ENDPOINT_ENV",
    "HIDDEN",
    "AuditMiddleware",
    "AuditWSGIMiddleware",
    "Identity",
    "Recorder",
    "error_code",
    "make_recorder",
]
