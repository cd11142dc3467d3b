"""Proofs end to end: a real server, real SigV4, `opentrail prove` and offline verification."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from conftest import ACCOUNT, Key, Server, make_event, post_records
from opentrail.cli.prove import verify_proof

pytestmark = pytest.mark.e2e

OTHER = "210987654321"


def signed_get(server: Server, path: str, key: Key, query: str = "") -> httpx.Response:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{server.endpoint}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method="GET", url=url, data=b"")
    SigV4Auth(Credentials(key.access_key_id, key.secret), "opentrail", "us-east-1").add_auth(
        request)
    return httpx.get(url, headers=dict(request.headers.items()), timeout=60)


def cli(server: Server, *args: str, role: str = "reader") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opentrail", *args], capture_output=True,
                          text=True, env=server.env(role), timeout=120)


def ingest(server: Server, count: int, account: str = ACCOUNT) -> list[str]:
    events = [make_event(f"Call{i}", account=account) for i in range(count)]
    result = post_records(server, events, account=account)
    assert result["accepted"] == count
    return [str(e["eventID"]) for e in events]


def test_prove_and_verify_offline_and_any_tampering_fails(live_server: Server,
                                                          tmp_path: Path) -> None:
    ids = ingest(live_server, 5)
    proof, key = tmp_path / "proof.json", tmp_path / "log.pub"
    made = cli(live_server, "prove", ids[3], "--endpoint-url", live_server.endpoint,
               "-o", str(proof), "--public-key-out", str(key))
    assert made.returncode == 0, made.stderr
    assert key.read_text() == (live_server.data_dir / "checkpoint.pub").read_text()
    doc = json.loads(proof.read_text())
    assert json.loads(doc["event"])["eventID"] == ids[3]
    ok = cli(live_server, "verify-proof", str(proof), "--public-key", str(key))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"VALID: event {ids[3]} is leaf ")
    tampered = proof.read_text().replace(doc["hashes"][0], _flip_hex(doc["hashes"][0]))
    bad = tmp_path / "bad.json"
    bad.write_text(tampered)
    failed = cli(live_server, "verify-proof", str(bad), "--public-key", str(key))
    assert failed.returncode == 1
    assert failed.stderr.startswith("INVALID: ")
    _every_byte_matters(proof, key)


def _flip_hex(text: str) -> str:
    return ("1" if text[0] == "0" else "0") + text[1:]


def _every_byte_matters(proof: Path, key: Path) -> None:
    """Change one value at a time, each by one byte: every change is caught offline."""
    doc: dict[str, Any] = json.loads(proof.read_text())
    event = doc["event"]
    changes = {
        "event": event.replace('"Call3"', '"Call4"'),
        "leafHash": _flip_hex(doc["leafHash"]),
        "hashes": [_flip_hex(doc["hashes"][0]), *doc["hashes"][1:]],
        "leafIndex": doc["leafIndex"] ^ 1,
        "treeSize": doc["treeSize"] + 1,
        "eventId": _flip_hex(doc["eventId"]),
        "accountId": "9" + doc["accountId"][1:],
        "checkpoint": doc["checkpoint"].replace("\n5\n", "\n6\n", 1),
    }
    signature = doc["checkpoint"].rstrip("\n")
    changes["signature"] = signature[:-3] + ("A" if signature[-3] != "A" else "B") + \
        signature[-2:] + "\n"
    runner = CliRunner()
    for field, value in changes.items():
        altered = dict(doc)
        altered["checkpoint" if field == "signature" else field] = value
        path = proof.with_name(f"{field}.json")
        path.write_text(json.dumps(altered))
        result = runner.invoke(verify_proof, [str(path), "--public-key", str(key)])
        assert result.exit_code == 1, (field, result.output)


def test_consistency_between_two_checkpoints_across_a_crash(live_server: Server,
                                                             tmp_path: Path) -> None:
    reader = live_server.key("reader")
    ingest(live_server, 3)
    first = signed_get(live_server, "/opentrail/v1/proofs/inclusion", reader,
                       "eventId=" + ingest(live_server, 1)[0]).json()["treeSize"]
    live_server.kill()  # SIGKILL: tree.db and checkpoints must survive it
    live_server.start()
    later = ingest(live_server, 4)
    second = signed_get(live_server, "/opentrail/v1/proofs/inclusion", reader,
                        f"eventId={later[-1]}").json()["treeSize"]
    assert second == first + 4
    proof, key = tmp_path / "c.json", tmp_path / "log.pub"
    made = cli(live_server, "prove", "--consistency", str(first), str(second),
               "--endpoint-url", live_server.endpoint, "-o", str(proof),
               "--public-key-out", str(key))
    assert made.returncode == 0, made.stderr
    ok = cli(live_server, "verify-proof", "--consistency", str(proof), "--public-key", str(key))
    assert ok.returncode == 0, ok.stderr
    assert f"extends the tree of size {first}" in ok.stdout
    doc = json.loads(proof.read_text())
    doc["hashes"][-1] = _flip_hex(doc["hashes"][-1])
    proof.write_text(json.dumps(doc))
    result = CliRunner().invoke(verify_proof, [str(proof), "--public-key", str(key)])
    assert result.exit_code == 1


def test_checkpoints_and_public_key(live_server: Server) -> None:
    reader = live_server.key("reader")
    ingest(live_server, 2)
    key = signed_get(live_server, "/opentrail/v1/checkpoints/public-key", reader).json()
    assert key["publicKey"] == (live_server.data_dir / "checkpoint.pub").read_text().strip()
    assert key["algorithm"] == "Ed25519"
    assert key["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    latest = signed_get(live_server, "/opentrail/v1/checkpoints/latest", reader).json()
    assert latest["checkpoint"].startswith(f"{key['keyName']}\n{latest['treeSize']}\n")
    by_size = signed_get(live_server, f"/opentrail/v1/checkpoints/{latest['treeSize']}",
                         reader)
    assert by_size.json() == latest
    missing = signed_get(live_server, "/opentrail/v1/checkpoints/999999", reader)
    assert missing.status_code == 400
    assert missing.json()["__type"] == "ResourceNotFoundException"


def test_proofs_are_scoped_to_the_callers_accounts(live_server: Server) -> None:
    mine = ingest(live_server, 1)[0]
    theirs = ingest(live_server, 1, account=OTHER)[0]
    reader = live_server.key("reader")
    path = "/opentrail/v1/proofs/inclusion"
    assert signed_get(live_server, path, reader, f"eventId={mine}").status_code == 200
    hidden = signed_get(live_server, path, reader, f"eventId={theirs}")
    assert hidden.json()["__type"] == "ResourceNotFoundException"
    denied = signed_get(live_server, path, reader, f"eventId={theirs}&accountId={OTHER}")
    assert denied.json()["__type"] == "AccessDeniedException"
    org = live_server.key("reader", account=None)
    found = signed_get(live_server, path, org, f"eventId={theirs}").json()
    assert found["accountId"] == OTHER


BAD_REQUESTS = [
    ("/opentrail/v1/proofs/inclusion", "", "InvalidParameterException", "eventId"),
    ("/opentrail/v1/proofs/inclusion", "eventId=nope", "ResourceNotFoundException", "nope"),
    ("/opentrail/v1/proofs/inclusion", "eventId={id}&treeSize=x", "InvalidParameterException",
     "treeSize"),
    ("/opentrail/v1/proofs/inclusion", "eventId={id}&treeSize=99999",
     "InvalidParameterException", "larger than the ledger"),
    ("/opentrail/v1/proofs/inclusion", "eventId={id}&treeSize=1", "InvalidParameterException",
     "does not hold this event"),
    ("/opentrail/v1/proofs/consistency", "second=2", "InvalidParameterException", "first"),
    ("/opentrail/v1/proofs/consistency", "first=3&second=2", "InvalidParameterException",
     "must not be larger"),
]


def test_bad_requests_get_aws_shaped_errors(live_server: Server) -> None:
    ids = ingest(live_server, 3)
    for path, query, code, words in BAD_REQUESTS:
        response = signed_get(live_server, path, live_server.key("reader"),
                              query.format(id=ids[2]))
        assert response.status_code == 400, (query, response.text)
        assert response.headers["x-amzn-ErrorType"] == code
        assert response.json()["__type"] == code
        assert words in response.json()["message"], (query, response.text)
    unsigned = httpx.get(f"{live_server.endpoint}/opentrail/v1/checkpoints/latest", timeout=30)
    assert unsigned.status_code == 403
