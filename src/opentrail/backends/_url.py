"""Database URLs as OpenTrail shows them: never with their password.

Every message, log line and health answer that names a database goes through
`redact_url`; `scrub` also removes the password from a driver's error text.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["SCHEMES", "is_database_url", "redact_url", "scrub"]

SCHEMES = ("postgresql", "postgres")
_SECRET_PARAMS = {"password", "sslpassword"}


def is_database_url(value: str) -> bool:
    return urlsplit(value).scheme in SCHEMES


def redact_url(url: str) -> str:
    """`url` with its password (in the user part or the query) shown as ***; the rest
    as given."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(k in _SECRET_PARAMS for k, _ in pairs):
        query = urlencode([(k, "***" if k in _SECRET_PARAMS else v) for k, v in pairs],
                          safe="*/")
    shown = f"{parts.scheme}://{netloc}{parts.path}"
    shown += f"?{query}" if query else ""
    return shown + (f"#{parts.fragment}" if parts.fragment else "")


def scrub(text: str, url: str) -> str:
    """`text` (a driver's error) without any password `url` carries."""
    parts = urlsplit(url)
    secrets = [parts.password or ""]
    secrets += [v for k, v in parse_qsl(parts.query) if k in _SECRET_PARAMS]
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
