"""Connection authorisation: EventBridge's AuthParameters, split into what may be shown and
what must stay sealed, and turned into request headers by the sender.

Invariant: `public` never contains a password, an API key value, a client secret or a
parameter marked IsValueSecret; those live only in the sealed copy of the whole
AuthParameters, which `merge` updates the way UpdateConnection does (members given
replace, members not given stay).
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from opentrail.errors import EventsValidation

__all__ = ["AUTH_TYPES", "check_auth", "check_endpoint", "merge", "public"]

AUTH_TYPES = {"BASIC": "BasicAuthParameters", "API_KEY": "ApiKeyAuthParameters",
              "OAUTH_CLIENT_CREDENTIALS": "OAuthParameters"}
REQUIRED = {"BasicAuthParameters": ("Username", "Password"),
            "ApiKeyAuthParameters": ("ApiKeyName", "ApiKeyValue"),
            "OAuthParameters": ("ClientParameters", "AuthorizationEndpoint", "HttpMethod")}
SECRET_MEMBERS = {"Password", "ApiKeyValue", "ClientSecret"}
HTTP_LISTS = ("HeaderParameters", "QueryStringParameters", "BodyParameters")


def check_endpoint(url: str, what: str) -> None:
    """https only; plain http only to a loopback address (a local relay, tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return
    raise EventsValidation(f"{what} {url!r} must be an https:// URL (plain http:// is "
                           "accepted only for loopback addresses).")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth(auth_type: str, params: dict[str, Any]) -> None:
    """The block AuthorizationType names is there and complete."""
    block = AUTH_TYPES.get(auth_type)
    if block is None:
        raise EventsValidation(f"AuthorizationType must be one of {', '.join(AUTH_TYPES)}.")
    section = params.get(block)
    if not isinstance(section, dict):
        raise EventsValidation(f"AuthorizationType {auth_type} needs AuthParameters.{block}.")
    for member in REQUIRED[block]:
        if section.get(member) in (None, "", {}):
            raise EventsValidation(f"AuthParameters.{block}.{member} is required.")
    if block == "OAuthParameters":
        client = section["ClientParameters"]
        if not isinstance(client, dict) or not client.get("ClientID") or not client.get(
                "ClientSecret"):
            raise EventsValidation("AuthParameters.OAuthParameters.ClientParameters needs "
                                   "ClientID and ClientSecret.")
        check_endpoint(str(section["AuthorizationEndpoint"]), "AuthorizationEndpoint")


def merge(old: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """UpdateConnection: nested members given replace those stored; lists replace."""
    out = copy.deepcopy(old)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def public(params: dict[str, Any]) -> dict[str, Any]:
    """AuthParameters as DescribeConnection shows them: secrets left out."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in SECRET_MEMBERS:
            continue
        if key in HTTP_LISTS and isinstance(value, list):
            out[key] = [_shown(item) for item in value if isinstance(item, dict)]
        elif isinstance(value, dict):
            out[key] = public(value)
        else:
            out[key] = value
    return out


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    if item.get("IsValueSecret"):
        return {k: v for k, v in item.items() if k != "Value"}
    return dict(item)
