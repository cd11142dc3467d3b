"""Proof routes: inclusion and consistency proofs, signed checkpoints, the public key.

JSON over GET, SigV4-signed like every other route, role reader. An inclusion proof is
given only for an event in an account the caller may read; to any other caller the
event does not exist. Errors have the AWS shape `{"__type", "message"}`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opentrail.api._request import read_signed, require
from opentrail.api._wire import error_response, json_response, new_request_id
from opentrail.auth import AuthContext, Role
from opentrail.errors import AccessDenied, NotFound, OpenTrailError, ValidationError
from opentrail.ledger import Checkpoint, Checkpointer, LedgerEntry
from opentrail.service import Service

__all__ = ["PROOFS_PREFIX", "REST_JSON", "proof_routes"]

log = logging.getLogger(__name__)

PROOFS_PREFIX = "/opentrail/v1"
REST_JSON = "application/json"
MAX_QUERY_BODY = 1024  # GET requests carry no body
MAX_TREE_SIZE = 2**63 - 1  # sequence numbers are SQLite integers

Params = Mapping[str, str]
Work = Callable[[Checkpointer, AuthContext, Params], dict[str, Any]]


def _size(params: Params, name: str, minimum: int = 1) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or not minimum <= int(raw) <= MAX_TREE_SIZE:
        raise ValidationError(f"{name} must be a whole number of events from {minimum} to "
                              f"{MAX_TREE_SIZE}; got {raw[:40]!r}.")
    return int(raw)


def _required_size(params: Params, name: str, minimum: int = 1) -> int:
    size = _size(params, name, minimum)
    if size is None:
        raise ValidationError(f"The {name} query parameter is required.")
    return size


def _find(checkpoints: Checkpointer, ctx: AuthContext, params: Params) -> LedgerEntry:
    event_id = params.get("eventId")
    if not event_id:
        raise ValidationError("The eventId query parameter is required.")
    account = params.get("accountId") or ctx.principal.account
    if account is not None and not ctx.principal.may_access(account):
        raise AccessDenied(f"Access key {ctx.principal.access_key_id} may not read account "
                           f"{account}.")
    accounts = [account] if account is not None else checkpoints.tree.accounts()
    found = [e for a in accounts if (e := checkpoints.tree.entry(a, event_id)) is not None]
    if not found:
        where = f" in account {account}" if account else ""
        raise NotFound(f"No event with eventId {event_id}{where} is in the ledger.")
    if len(found) > 1:
        raise ValidationError(f"The eventId {event_id} exists in several accounts; name one "
                              "with the accountId query parameter.")
    return found[0]


def inclusion(checkpoints: Checkpointer, ctx: AuthContext, params: Params) -> dict[str, Any]:
    entry = _find(checkpoints, ctx, params)
    size = _size(params, "treeSize")
    checkpoint: Checkpoint | None
    if size is None:  # the latest checkpoint, or a fresh one when the event is newer
        checkpoint = checkpoints.covering(entry.seq)
        size = checkpoint.size
    elif size <= entry.seq:
        raise ValidationError(f"treeSize {size} does not hold this event (leaf index "
                              f"{entry.seq}); it must be at least {entry.seq + 1}.")
    else:
        checkpoint = checkpoints.checkpoint_at(size)
    note = checkpoint.note if checkpoint else None
    hashes = checkpoints.tree.inclusion(entry.seq, size)
    return {"eventId": params["eventId"], "accountId": entry.account, "leafIndex": entry.seq,
            "treeSize": size, "leafHash": entry.leaf.hex(), "hashes": [h.hex() for h in hashes],
            "checkpoint": note, "event": None if entry.body is None else entry.body.decode()}


def consistency(checkpoints: Checkpointer, ctx: AuthContext, params: Params) -> dict[str, Any]:
    first = _required_size(params, "first")
    second = _size(params, "second") or checkpoints.latest_checkpoint().size
    if first > second:
        raise ValidationError(f"first ({first}) must not be larger than second ({second}).")
    hashes = checkpoints.tree.consistency(first, second)
    notes = [checkpoints.checkpoint_at(n) for n in (first, second)]
    return {"first": first, "second": second, "hashes": [h.hex() for h in hashes],
            "firstCheckpoint": notes[0].note if notes[0] else None,
            "secondCheckpoint": notes[1].note if notes[1] else None}


def latest(checkpoints: Checkpointer, ctx: AuthContext, params: Params) -> dict[str, Any]:
    return checkpoints.latest_checkpoint().to_json()


def public_key(checkpoints: Checkpointer, ctx: AuthContext, params: Params) -> dict[str, Any]:
    key = checkpoints.public_key
    return {"publicKey": key.text(), "keyName": key.name, "keyId": key.key_id.hex(),
            "algorithm": "Ed25519", "publicKeyPem": key.pem()}


def by_size(checkpoints: Checkpointer, ctx: AuthContext, params: Params) -> dict[str, Any]:
    size = _required_size(params, "treeSize", minimum=0)  # the empty tree has one too
    checkpoint = checkpoints.checkpoint_at(size)
    if checkpoint is None:
        raise NotFound(f"No checkpoint was published at treeSize {size}; GET "
                       f"{PROOFS_PREFIX}/checkpoints/latest names the newest.")
    return checkpoint.to_json()


def _endpoint(service: Service, work: Work, what: str) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        request_id = new_request_id()
        try:
            ctx, _ = await read_signed(service, request, MAX_QUERY_BODY)
            require(ctx, Role.READER, what)
            if service.checkpoints is None:
                raise OpenTrailError("This server does not keep a Merkle tree.")
            params = {**request.query_params, **request.path_params}
            result = await run_in_threadpool(work, service.checkpoints, ctx,
                                             {k: str(v) for k, v in params.items()})
        except OpenTrailError as err:
            return error_response(err, request_id, content_type=REST_JSON)
        return json_response(result, request_id, content_type=REST_JSON)

    return endpoint


def proof_routes(service: Service) -> list[Route]:
    p = PROOFS_PREFIX
    table: list[tuple[str, Work, str]] = [
        (f"{p}/proofs/inclusion", inclusion, "an inclusion proof"),
        (f"{p}/proofs/consistency", consistency, "a consistency proof"),
        (f"{p}/checkpoints/latest", latest, "reading checkpoints"),
        (f"{p}/checkpoints/public-key", public_key, "reading the checkpoint key"),
        (f"{p}/checkpoints/{{treeSize:int}}", by_size, "reading checkpoints"),
    ]
    return [Route(path, _endpoint(service, work, what), methods=["GET"])
            for path, work, what in table]
