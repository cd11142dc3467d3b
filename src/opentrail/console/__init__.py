"""The web console: server-rendered pages over event history, served beside the API.

Sign in with an access key; see, filter, page through, download and investigate exactly
the events that key may see. No CDN and no build step: Jinja2 templates, one stylesheet
and one small JavaScript module, shipped inside the package.
"""

from opentrail.console._routes import console_routes

__all__ = ["console_routes"]
