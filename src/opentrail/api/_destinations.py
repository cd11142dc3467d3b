"""EventBridge connections and API destinations (`AWSEvents.*Connection`,
`AWSEvents.*ApiDestination`): where webhooks go and how they authenticate.

Invariant: a connection's secrets (password, API key value, client secret, parameters
marked IsValueSecret) go into the store sealed and never come back out of this API;
endpoints are https:// (plain http:// only for loopback addresses).
"""

from __future__ import annotations

import uuid
from typing import Any

from opentrail.api._events import account_of, page, require_name
from opentrail.auth import AuthContext
from opentrail.errors import EventsAlreadyExists, EventsNotFound, EventsValidation
from opentrail.rules import RuleStore, check_auth, check_endpoint, merge, public
from opentrail.rules._model import ApiDestination, Connection

__all__ = ["DESTINATION_OPERATIONS"]

METHODS = ("POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE")


def _scope(service: Any, params: dict[str, Any],
           ctx: AuthContext) -> tuple[RuleStore, str, str, str]:
    store: RuleStore | None = service.rules
    if store is None:
        raise EventsValidation("Event rules are not available on this server.")
    return store, account_of(service, ctx), ctx.region, require_name(params)


def _description(params: dict[str, Any], default: str = "") -> str:
    value = params.get("Description", default)
    if not isinstance(value, str) or len(value) > 512:
        raise EventsValidation("Description must be a string of at most 512 characters.")
    return value


# -- connections -----------------------------------------------------------------------------

def _connection(store: RuleStore, account: str, region: str, name: str) -> Connection:
    conn = store.connection(account, region, name)
    if conn is None:
        raise EventsNotFound(f"Failed to describe the connection(s). Connection '{name}' "
                             "does not exist.")
    return conn


def _auth_params(params: dict[str, Any]) -> dict[str, Any]:
    _unsupported(params)
    auth = params.get("AuthParameters")
    if not isinstance(auth, dict):
        raise EventsValidation("AuthParameters must be an object.")
    if auth.get("ConnectivityParameters"):
        raise EventsValidation("OpenTrail does not reach private APIs through VPC Lattice; "
                               "leave AuthParameters.ConnectivityParameters out.")
    return auth


def _unsupported(params: dict[str, Any]) -> None:
    """Refuse what OpenTrail would silently not honour."""
    if params.get("InvocationConnectivityParameters"):
        raise EventsValidation("OpenTrail does not reach private APIs through VPC Lattice; "
                               "leave InvocationConnectivityParameters out.")
    if params.get("KmsKeyIdentifier"):
        raise EventsValidation("OpenTrail seals connection secrets with its own master key; "
                               "leave KmsKeyIdentifier out.")


def _summary(conn: Connection) -> dict[str, Any]:
    return {"ConnectionArn": conn.arn, "ConnectionState": conn.state,
            "CreationTime": conn.created, "LastModifiedTime": conn.modified,
            "LastAuthorizedTime": conn.authorized}


def create_connection(service: Any, params: dict[str, Any],
                      ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    auth_type = str(params.get("AuthorizationType", ""))
    auth = _auth_params(params)
    check_auth(auth_type, auth)
    if store.connection(account, region, name) is not None:
        raise EventsAlreadyExists(f"Connection {name} already exists.")
    now = service.clock.now()
    conn = Connection(account, region, name, str(uuid.uuid4()), auth_type, public(auth),
                      _description(params), "AUTHORIZED", now, now, now)
    store.save_connection(conn, auth)
    out = _summary(conn)
    del out["LastAuthorizedTime"]
    return out


def describe_connection(service: Any, params: dict[str, Any],
                        ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    conn = _connection(store, account, region, name)
    out = {**_summary(conn), "Name": conn.name, "AuthorizationType": conn.auth_type,
           "AuthParameters": conn.params}
    if conn.description:
        out["Description"] = conn.description
    return out


def list_connections(service: Any, params: dict[str, Any],
                     ctx: AuthContext) -> dict[str, Any]:
    store = service.rules
    account = account_of(service, ctx)
    prefix = require_name(params, "NamePrefix") if "NamePrefix" in params else ""
    state = params.get("ConnectionState")
    found = [c for c in store.connections(account, ctx.region, prefix)
             if state is None or c.state == state]
    conns, token = page(found, params)
    out: dict[str, Any] = {"Connections": [
        {**_summary(c), "Name": c.name, "AuthorizationType": c.auth_type} for c in conns]}
    if token:
        out["NextToken"] = token
    return out


def update_connection(service: Any, params: dict[str, Any],
                      ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    conn = _connection(store, account, region, name)
    _unsupported(params)
    auth = store.secrets(conn)
    auth_type = str(params.get("AuthorizationType", conn.auth_type))
    if "AuthParameters" in params:
        auth = merge(auth, _auth_params(params))
    if auth_type != conn.auth_type:  # the other type's block is dropped
        auth = {k: v for k, v in auth.items()
                if k not in ("BasicAuthParameters", "ApiKeyAuthParameters",
                             "OAuthParameters") or k == _block(auth_type)}
    check_auth(auth_type, auth)
    conn.auth_type, conn.params = auth_type, public(auth)
    conn.description = _description(params, conn.description)
    conn.modified = conn.authorized = service.clock.now()
    store.save_connection(conn, auth)
    return _summary(conn)


def _block(auth_type: str) -> str:
    from opentrail.rules import AUTH_TYPES

    return AUTH_TYPES.get(auth_type, "")


def delete_connection(service: Any, params: dict[str, Any],
                      ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    conn = _connection(store, account, region, name)
    store.delete_connection(account, region, name)
    conn.state = "DELETING"
    return _summary(conn)


# -- API destinations ------------------------------------------------------------------------

def _destination(store: RuleStore, account: str, region: str, name: str) -> ApiDestination:
    dest = store.destination(account, region, name)
    if dest is None:
        raise EventsNotFound(f"Failed to describe the api-destination(s). An api-destination "
                             f"'{name}' does not exist.")
    return dest


def _check_destination(store: RuleStore, dest: ApiDestination) -> None:
    check_endpoint(dest.endpoint, "InvocationEndpoint")
    if dest.method not in METHODS:
        raise EventsValidation(f"HttpMethod must be one of {', '.join(METHODS)}.")
    if dest.rate is not None and (not isinstance(dest.rate, int) or dest.rate < 1):
        raise EventsValidation("InvocationRateLimitPerSecond must be at least 1.")
    name = dest.connection_arn.rsplit("/", 2)[-2] if dest.connection_arn.count("/") >= 2 \
        else ""
    conn = store.connection(dest.account, dest.region, name) if name else None
    if conn is None or conn.arn != dest.connection_arn:
        raise EventsNotFound(f"Connection {dest.connection_arn} does not exist.")


def _dest_summary(dest: ApiDestination) -> dict[str, Any]:
    return {"ApiDestinationArn": dest.arn, "ApiDestinationState": dest.state,
            "CreationTime": dest.created, "LastModifiedTime": dest.modified}


def create_api_destination(service: Any, params: dict[str, Any],
                           ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    if store.destination(account, region, name) is not None:
        raise EventsAlreadyExists(f"An api-destination {name} already exists.")
    now = service.clock.now()
    dest = ApiDestination(account, region, name, str(uuid.uuid4()),
                          str(params.get("ConnectionArn", "")),
                          str(params.get("InvocationEndpoint", "")),
                          str(params.get("HttpMethod", "")),
                          params.get("InvocationRateLimitPerSecond"), _description(params),
                          now, now)
    _check_destination(store, dest)
    store.save_destination(dest)
    return _dest_summary(dest)


def _dest_shape(dest: ApiDestination) -> dict[str, Any]:
    out = {**_dest_summary(dest), "Name": dest.name, "ConnectionArn": dest.connection_arn,
           "InvocationEndpoint": dest.endpoint, "HttpMethod": dest.method}
    if dest.rate is not None:
        out["InvocationRateLimitPerSecond"] = dest.rate
    return out


def describe_api_destination(service: Any, params: dict[str, Any],
                             ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    dest = _destination(store, account, region, name)
    out = _dest_shape(dest)
    if dest.description:
        out["Description"] = dest.description
    return out


def list_api_destinations(service: Any, params: dict[str, Any],
                          ctx: AuthContext) -> dict[str, Any]:
    account = account_of(service, ctx)
    prefix = require_name(params, "NamePrefix") if "NamePrefix" in params else ""
    conn = params.get("ConnectionArn")
    found = service.rules.destinations(account, ctx.region, prefix,
                                       conn if isinstance(conn, str) else None)
    dests, token = page(found, params)
    out: dict[str, Any] = {"ApiDestinations": [_dest_shape(d) for d in dests]}
    if token:
        out["NextToken"] = token
    return out


def update_api_destination(service: Any, params: dict[str, Any],
                           ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    dest = _destination(store, account, region, name)
    dest.connection_arn = str(params.get("ConnectionArn", dest.connection_arn))
    dest.endpoint = str(params.get("InvocationEndpoint", dest.endpoint))
    dest.method = str(params.get("HttpMethod", dest.method))
    dest.rate = params.get("InvocationRateLimitPerSecond", dest.rate)
    dest.description = _description(params, dest.description)
    dest.modified = service.clock.now()
    _check_destination(store, dest)
    store.save_destination(dest)
    return _dest_summary(dest)


def delete_api_destination(service: Any, params: dict[str, Any],
                           ctx: AuthContext) -> dict[str, Any]:
    store, account, region, name = _scope(service, params, ctx)
    _destination(store, account, region, name)
    store.delete_destination(account, region, name)
    return {}


DESTINATION_OPERATIONS = {
    "CreateConnection": create_connection, "DescribeConnection": describe_connection,
    "ListConnections": list_connections, "UpdateConnection": update_connection,
    "DeleteConnection": delete_connection, "CreateApiDestination": create_api_destination,
    "DescribeApiDestination": describe_api_destination,
    "ListApiDestinations": list_api_destinations,
    "UpdateApiDestination": update_api_destination,
    "DeleteApiDestination": delete_api_destination,
}
