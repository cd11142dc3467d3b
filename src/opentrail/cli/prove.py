"""`opentrail prove` and `opentrail verify-proof`: proofs you can check without the server.

`prove` fetches an inclusion proof (or a consistency proof) over the signed API and writes
a self-contained JSON file: the event's canonical bytes, the proof hashes and the signed
checkpoint. `verify-proof` checks such a file offline with nothing but the log's public
key: the leaf hash from the event bytes, the root from the path, the checkpoint's
signature. Exit codes: 0 valid, 1 anything else.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import click

from opentrail.cli._options import client_options

__all__ = ["prove", "verify_proof"]

INCLUSION_KIND = "opentrail/inclusion-proof/v1"
CONSISTENCY_KIND = "opentrail/consistency-proof/v1"
API = "/opentrail/v1"


class ProofFileError(Exception):
    """The proof file does not prove what it says; the message says why."""


# --- prove -----------------------------------------------------------------------------


def _get(endpoint: str, path: str, params: dict[str, str], profile: str | None,
         region: str | None) -> dict[str, Any]:
    """A SigV4-signed GET; the JSON answer, or a ClickException naming the AWS error."""
    import botocore.session
    import httpx

    from opentrail.client import IngestError, Signer, error_from_response

    url = f"{endpoint}{path}" + (f"?{urlencode(params, quote_via=quote)}" if params else "")
    try:
        signer = Signer(botocore.session.Session(profile=profile), region)
        response = httpx.get(url, headers=signer.sign("GET", url, {}, b""), timeout=60)
    except IngestError as exc:
        raise click.ClickException(exc.message) from exc
    except httpx.HTTPError as exc:
        raise click.ClickException(f"could not reach {endpoint}: {exc}") from exc
    if response.status_code != 200:
        err = error_from_response(response)
        raise click.ClickException(f"{err.code}: {err.message}")
    answer: dict[str, Any] = response.json()
    return answer


def _inclusion_file(answer: dict[str, Any], key: dict[str, Any]) -> dict[str, Any]:
    if not answer.get("checkpoint"):
        raise click.ClickException(
            f"no checkpoint was published at tree size {answer['treeSize']}, so the proof "
            "could not be checked offline; leave out --tree-size to use the latest.")
    return {"kind": INCLUSION_KIND, **answer, "publicKey": key["publicKey"]}


def _consistency_file(answer: dict[str, Any], key: dict[str, Any]) -> dict[str, Any]:
    for which, size in (("firstCheckpoint", "first"), ("secondCheckpoint", "second")):
        if not answer.get(which):
            raise click.ClickException(
                f"no checkpoint was published at tree size {answer[size]}; use sizes of "
                f"published checkpoints (GET {API}/checkpoints/latest).")
    return {"kind": CONSISTENCY_KIND, **answer, "publicKey": key["publicKey"]}


@click.command()
@click.argument("event_id", required=False)
@click.option("--consistency", nargs=2, type=click.IntRange(min=1), metavar="FIRST SECOND",
              help="Prove that the tree of size SECOND extends the tree of size FIRST "
                   "(both sizes of published checkpoints) instead of proving an event.")
@click.option("--tree-size", type=click.IntRange(min=1), metavar="N",
              help="Prove against the checkpoint of this tree size (default: the latest).")
@click.option("--account", "account_id", metavar="ACCOUNT",
              help="The event's account (needed only by organization keys when the same "
                   "eventID exists in several accounts).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the proof file here (default: standard output).")
@click.option("--public-key-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the server's checkpoint public key here. Check it against "
                   "the operator's copy before trusting it.")
@client_options
def prove(event_id: str | None, consistency: tuple[int, int] | None, tree_size: int | None,
          account_id: str | None, output: Path | None, public_key_out: Path | None,
          endpoint_url: str, profile: str | None, region: str | None) -> None:
    """Fetch a proof that EVENT_ID is in the ledger, as a self-contained file.

    The file holds the event's canonical bytes, its leaf index, the audit path and the
    signed checkpoint; `opentrail verify-proof FILE --public-key KEY` checks it offline.
    Credentials come from the standard AWS chain; a reader key is enough.
    """
    if (event_id is None) == (not consistency):
        raise click.UsageError("give an EVENT_ID, or --consistency FIRST SECOND.")
    key = _get(endpoint_url, f"{API}/checkpoints/public-key", {}, profile, region)
    if consistency:
        params = {"first": str(consistency[0]), "second": str(consistency[1])}
        answer = _get(endpoint_url, f"{API}/proofs/consistency", params, profile, region)
        document = _consistency_file(answer, key)
    else:
        params = {"eventId": str(event_id)}
        params.update({"treeSize": str(tree_size)} if tree_size else {})
        params.update({"accountId": account_id} if account_id else {})
        answer = _get(endpoint_url, f"{API}/proofs/inclusion", params, profile, region)
        document = _inclusion_file(answer, key)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if public_key_out is not None:
        public_key_out.write_text(key["publicKey"] + "\n")
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {_describe(document)} to {output}", err=True)


def _describe(document: dict[str, Any]) -> str:
    if document["kind"] == CONSISTENCY_KIND:
        return f"a consistency proof {document['first']} -> {document['second']}"
    return f"an inclusion proof of leaf {document['leafIndex']} in tree {document['treeSize']}"


# --- verify-proof ----------------------------------------------------------------------


def _field(doc: dict[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProofFileError(f"the field {name!r} is missing or not a {kind.__name__}.")
    return value


def _hashes(doc: dict[str, Any]) -> list[bytes]:
    try:
        return [bytes.fromhex(h) for h in _field(doc, "hashes", list)]
    except (TypeError, ValueError):
        raise ProofFileError("the field 'hashes' must be a list of hex strings.") from None


def _load_key(path: Path) -> Any:
    """The trusted key: a signed-note verifier key line (DATA_DIR/checkpoint.pub)."""
    from opentrail.ledger import NoteError, NoteVerifier

    text = path.read_text().strip()
    try:
        return NoteVerifier.parse(text)
    except NoteError as err:
        raise ProofFileError(f"{path} is not a checkpoint public key: {err}") from None


def _checkpoint(doc: dict[str, Any], name: str, key: Any, size: int) -> Any:
    from opentrail.ledger import NoteError, open_checkpoint

    try:
        checkpoint = open_checkpoint(_field(doc, name, str), key)
    except NoteError as err:
        raise ProofFileError(f"the checkpoint ({name}) does not verify: {err}") from None
    if checkpoint.size != size:
        raise ProofFileError(f"the checkpoint is for tree size {checkpoint.size}, the proof "
                             f"for {size}.")
    return checkpoint


def _leaf(doc: dict[str, Any]) -> tuple[bytes, str]:
    from opentrail.ledger import leaf_hash

    try:
        claimed = bytes.fromhex(_field(doc, "leafHash", str))
    except ValueError:
        raise ProofFileError("the field 'leafHash' is not hex.") from None
    event = doc.get("event")
    if event is None:
        return claimed, "its body has expired; only its leaf hash is proven"
    if not isinstance(event, str) or leaf_hash(event.encode()) != claimed:
        raise ProofFileError("the event bytes do not hash to the leaf hash.")
    _same_event(doc, event)
    return claimed, "its bytes match the leaf hash"


def _same_event(doc: dict[str, Any], event: str) -> None:
    """The file's eventId (and accountId, when the event names it) are the event's own."""
    try:
        record = json.loads(event)
        event_id, account = record.get("eventID"), record.get("recipientAccountId")
    except (ValueError, AttributeError):
        raise ProofFileError("the event is not a JSON object.") from None
    if event_id != doc.get("eventId"):
        raise ProofFileError(f"the event's eventID is {event_id!r}, but the proof is for "
                             f"{doc.get('eventId')!r}.")
    if account is not None and "accountId" in doc and account != doc["accountId"]:
        raise ProofFileError(f"the event's account is {account!r}, but the proof says "
                             f"{doc['accountId']!r}.")


def check_inclusion(doc: dict[str, Any], key: Any) -> str:
    """Verify an inclusion proof file; the success message, or ProofFileError."""
    from opentrail.ledger import ProofError, verify_inclusion

    index, size = _field(doc, "leafIndex", int), _field(doc, "treeSize", int)
    checkpoint = _checkpoint(doc, "checkpoint", key, size)
    leaf, how = _leaf(doc)
    try:
        verify_inclusion(index, size, leaf, _hashes(doc), checkpoint.root)
    except ProofError as err:
        raise ProofFileError(str(err)) from None
    return (f"event {doc.get('eventId')} is leaf {index} of the tree of size {size} "
            f"({how}); root {checkpoint.root.hex()} signed by {key.name} at "
            f"{checkpoint.to_json()['time']}.")


def check_consistency(doc: dict[str, Any], key: Any) -> str:
    """Verify a consistency proof file; the success message, or ProofFileError."""
    from opentrail.ledger import ProofError, verify_consistency

    first, second = _field(doc, "first", int), _field(doc, "second", int)
    old = _checkpoint(doc, "firstCheckpoint", key, first)
    new = _checkpoint(doc, "secondCheckpoint", key, second)
    try:
        verify_consistency(first, second, _hashes(doc), old.root, new.root)
    except ProofError as err:
        raise ProofFileError(str(err)) from None
    return (f"the tree of size {second} (root {new.root.hex()}) extends the tree of size "
            f"{first} (root {old.root.hex()}); both checkpoints signed by {key.name}.")


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as err:
        raise ProofFileError(f"{path} is not a JSON proof file ({err}).") from None
    if not isinstance(doc, dict) or doc.get("kind") not in (INCLUSION_KIND, CONSISTENCY_KIND):
        raise ProofFileError(f"{path} is not an OpenTrail proof file (no known 'kind').")
    return doc


@click.command("verify-proof")
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", "key_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The log's checkpoint public key (name+id+base64), from the operator.")
@click.option("--consistency", is_flag=True,
              help="Require PROOF_FILE to be a consistency proof (from `prove --consistency`).")
def verify_proof(proof_file: Path, key_file: Path, consistency: bool) -> None:
    """Check a proof file offline with only the public key. Exits 0 if valid, 1 if not."""
    try:
        key = _load_key(key_file)
        doc = _read(proof_file)
        if consistency and doc["kind"] != CONSISTENCY_KIND:
            raise ProofFileError(f"{proof_file} is an inclusion proof, not a consistency proof.")
        check = check_consistency if doc["kind"] == CONSISTENCY_KIND else check_inclusion
        message = check(doc, key)
    except ProofFileError as err:
        click.echo(f"INVALID: {err}", err=True)
        sys.exit(1)
    click.echo(f"VALID: {message}")
